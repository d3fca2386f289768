/*
 * apeek.c -- a look into a stored upload before it is imported
 * (xp_apeek.h): its manifest, then the rows of the sections asked for,
 * read entry by entry with the import's own reader and cut into lines
 * with the import's own line reader, so that what a peek accepts the
 * import reads the same way. Nothing is written and no SHA-256 is
 * checked (the import does that); reading stops at the last section
 * asked for, so a peek at the users of a large archive does not
 * decompress its messages.
 */
#include <string.h>

#include <apr_strings.h>

#include "xp_apeek.h"
#include "xp_ndjson.h"

xp_errcode_e xp_apeek_manifest(apr_pool_t *p, xp_areader_t *r,
                               xp_manifest_t **out, xp_error_t *err)
{
    xp_aentry_t e;
    xp_buf_t text;
    const char *buf;
    apr_size_t len;
    xp_errcode_e rc;

    rc = xp_areader_next(r, &e, err);
    if (rc == XP_ENOTFOUND)
        return xp_error_set(err, p, XP_EINVAL,
                            "the archive is empty; it needs manifest.json "
                            "and its data files");
    if (rc != XP_OK)
        return rc;
    if (strcmp(e.name, "manifest.json"))
        return xp_error_set(err, p, XP_EINVAL,
                            "manifest.json must be the archive's first "
                            "entry, but \"%s\" comes first",
                            e.name);
    xp_buf_init(&text, p, 8192);
    for (;;) {
        if ((rc = xp_areader_read(r, &buf, &len, err)) != XP_OK)
            return rc;
        if (len == 0)
            break;
        if (text.len + len > XP_APEEK_MAX_MANIFEST)
            return xp_error_set(err, p, XP_EINVAL,
                                "manifest.json is larger than 4 MiB");
        xp_buf_add(&text, buf, len);
    }
    return xp_manifest_parse(p, text.data ? text.data : "", text.len, out, err);
}

/* One peek: what is asked for, and the entry being read. */
typedef struct {
    apr_pool_t *p;     /* the peek's */
    apr_pool_t *lp;    /* one line's, cleared after each */
    apr_hash_t *files; /* data/<section>.ndjson -> section name, or "" when
                          listed but not asked for */
    int left;          /* sections asked for and not read yet */
    const char *section, *file;
    xp_apeek_fn fn;
    void *baton;
} peek_t;

static xp_errcode_e peek_line(void *baton, const char *line, apr_size_t len,
                              long lineno, xp_error_t *err)
{
    peek_t *pk = baton;
    xp_error_t e = {0};
    xp_json_t *o;
    xp_errcode_e rc;

    apr_pool_clear(pk->lp);
    if (!(o = xp_json_parse(pk->lp, line, len, &e)))
        return xp_error_set(err, pk->p, XP_EINVAL, "%s line %ld: %s", pk->file,
                            lineno, e.message);
    if (!xp_json_is_object(o))
        return xp_error_set(err, pk->p, XP_EINVAL,
                            "%s line %ld: not a JSON object", pk->file, lineno);
    rc = pk->fn(pk->baton, pk->section, lineno, o, err);
    apr_pool_clear(pk->lp);
    return rc;
}

/* The current entry's rows, line by line. */
static xp_errcode_e peek_entry(peek_t *pk, xp_areader_t *r, xp_error_t *err)
{
    apr_pool_t *ep;
    xp_lines_t *lines;
    const char *buf;
    apr_size_t len;
    xp_errcode_e rc;
    int eof = 0;

    /* the line buffer (up to 16 MiB) goes with the entry */
    apr_pool_create(&ep, pk->p);
    apr_pool_create(&pk->lp, ep);
    lines = xp_lines_make(ep, XP_NDJSON_MAX_LINE);
    do {
        if ((rc = xp_areader_read(r, &buf, &len, err)) != XP_OK)
            break;
        eof = len == 0;
        rc = xp_lines_feed(lines, buf, len, eof, peek_line, pk, err);
        /* a line too long is the file's fault, not a limit of the server */
        if (rc == XP_ELIMIT)
            rc = xp_error_set(err, pk->p, XP_EINVAL, "%s: %s", pk->file,
                              err->message);
    } while (rc == XP_OK && !eof);
    apr_pool_destroy(ep);
    return rc;
}

/* Which entries are asked for (pk->files); pk->left of them. */
static void peek_plan(peek_t *pk, const xp_manifest_t *m,
                      const char *const *sections)
{
    int i, k;

    pk->files = apr_hash_make(pk->p);
    for (i = 0; i < m->sections->nelts; i++) {
        const xp_mf_section_t *s =
            &APR_ARRAY_IDX(m->sections, i, xp_mf_section_t);
        const char *as = "";
        for (k = 0; sections && sections[k]; k++)
            if (!strcmp(sections[k], s->name))
                as = s->name;
        pk->left += *as != '\0';
        apr_hash_set(pk->files, s->file, APR_HASH_KEY_STRING, as);
    }
}

/* A file asked for and not read: the archive ended before it. */
static const char *peek_missing(peek_t *pk)
{
    apr_hash_index_t *hi;
    const void *file;
    void *as;

    for (hi = apr_hash_first(pk->p, pk->files); hi; hi = apr_hash_next(hi)) {
        apr_hash_this(hi, &file, NULL, &as);
        if (*(const char *)as)
            return file;
    }
    return "";
}

/* The entries after the manifest, until every one asked for is read. */
static xp_errcode_e peek_entries(peek_t *pk, xp_areader_t *r, xp_error_t *err)
{
    xp_aentry_t e;
    xp_errcode_e rc;

    while (pk->left > 0) {
        rc = xp_areader_next(r, &e, err);
        if (rc == XP_ENOTFOUND)
            return xp_error_set(err, pk->p, XP_EINVAL,
                                "manifest.json lists \"%s\", which the "
                                "archive does not hold",
                                peek_missing(pk));
        if (rc != XP_OK)
            return rc;
        if (!(pk->section =
                  apr_hash_get(pk->files, e.name, APR_HASH_KEY_STRING)))
            return xp_error_set(err, pk->p, XP_EINVAL,
                                "the archive holds \"%s\", which "
                                "manifest.json does not list",
                                e.name);
        if (!*pk->section)
            continue;
        pk->file = apr_pstrdup(pk->p, e.name);
        /* read once: a second entry of the name is the reader's fault */
        apr_hash_set(pk->files, pk->file, APR_HASH_KEY_STRING, "");
        if ((rc = peek_entry(pk, r, err)) != XP_OK)
            return rc;
        pk->left--;
    }
    return XP_OK;
}

xp_errcode_e xp_apeek_rows(apr_pool_t *p, const char *path,
                           apr_off_t max_uncompressed,
                           const char *const *sections, xp_apeek_fn fn,
                           void *baton, xp_error_t *err)
{
    xp_areader_t *r;
    xp_manifest_t *m;
    xp_errcode_e rc;
    peek_t pk;

    memset(&pk, 0, sizeof(pk));
    pk.fn = fn;
    pk.baton = baton;
    /* the archive stays open as long as pk.p: closed before returning */
    apr_pool_create(&pk.p, p);
    rc = xp_areader_open(pk.p, path, NULL, max_uncompressed, &r, err);
    if (rc == XP_OK)
        rc = xp_apeek_manifest(pk.p, r, &m, err);
    if (rc == XP_OK) {
        peek_plan(&pk, m, sections);
        rc = peek_entries(&pk, r, err);
    }
    if (rc != XP_OK && err && err->message)
        err->message = apr_pstrdup(p, err->message);
    apr_pool_destroy(pk.p);
    return rc;
}
