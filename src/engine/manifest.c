/*
 * manifest.c -- renders manifest.json, the first entry of every archive
 * (SPEC 5, archive format version 1), and parses and validates it again
 * when an archive is imported (SPEC 6.2).
 *
 * The key order is part of the format: people diff manifests, and an
 * import reads "format" and "version" first. jansson keeps insertion
 * order, so the order below is the order on disk; do not reorder.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>

#include "xp_manifest.h"

static void mf_set_columns(apr_pool_t *p, xp_json_t *o,
                           const apr_array_header_t *cols)
{
    xp_json_t *a = xp_json_array(p);
    int i;

    for (i = 0; cols && i < cols->nelts; i++)
        xp_json_append_str(a, APR_ARRAY_IDX(cols, i, const char *));
    xp_json_set(o, "columns", a);
}

static xp_json_t *mf_section(apr_pool_t *p, const xp_mf_section_t *s)
{
    xp_json_t *o = xp_json_object(p), *win;

    xp_json_set_str(o, "name", s->name);
    xp_json_set_str(o, "file", s->file);
    xp_json_set_str(o, "key", s->key);
    mf_set_columns(p, o, s->columns);
    xp_json_set_int(o, "count", s->count);
    xp_json_set_int(o, "bytes", s->bytes);
    xp_json_set_str(o, "sha256", s->sha256);
    /* null says "exported whole" (the section has no updated= column or
     * no window was asked for); an object gives the bounds applied. */
    if (!s->windowed) {
        xp_json_set_null(o, "window");
    } else {
        win = xp_json_object(p);
        xp_json_set_str(win, "since", s->since);
        xp_json_set_str(win, "until", s->until);
        xp_json_set(o, "window", win);
    }
    return o;
}

const char *xp_manifest_render(apr_pool_t *p, const xp_manifest_t *m)
{
    apr_pool_t *tmp;
    xp_json_t *o, *secs;
    const char *text;
    int i;

    /* The json values are only scaffolding for the text: build them in a
     * subpool and release them before returning. */
    if (apr_pool_create(&tmp, p) != APR_SUCCESS)
        return NULL;
    o = xp_json_object(tmp);
    xp_json_set_str(o, "format", "xport-archive");
    xp_json_set_int(o, "version", XPORT_ARCHIVE_VERSION);
    xp_json_set_str(o, "generator", XPORT_GENERATOR);
    xp_json_set_str(o, "created_at", m->created_at);
    xp_json_set_str(o, "instance", m->instance);
    xp_json_set_str(o, "filter", m->filter);
    xp_json_set_str(o, "since", m->since);
    xp_json_set_str(o, "until", m->until);
    xp_json_set_bool(o, "closure", m->closure);
    secs = xp_json_array(tmp);
    for (i = 0; m->sections && i < m->sections->nelts; i++)
        xp_json_append(secs, mf_section(tmp, &APR_ARRAY_IDX(m->sections, i,
                                                            xp_mf_section_t)));
    xp_json_set(o, "sections", secs);
    text = xp_json_dump_pretty(tmp, o);
    /* A text file ends with a newline; cat and diff stay quiet. */
    text = text ? apr_pstrcat(p, text, "\n", NULL) : NULL;
    apr_pool_destroy(tmp);
    return text;
}

/* ------------------------------------------------------------------ */
/* Parsing (imports)                                                    */
/* ------------------------------------------------------------------ */

/*
 * The manifest comes from an upload: every field is checked for type and
 * shape before anything trusts it, and each message names the section and
 * the field, so that a person fixing a hand-made archive knows where to
 * look. The json tree lives in a subpool; what is kept is copied to p.
 */
typedef struct mf_parse_t {
    apr_pool_t *p, *tmp;
    xp_error_t *err;
    const char *where; /* "manifest.json: section \"users\"" */
} mf_parse_t;

static xp_errcode_e mf_bad(mf_parse_t *mp, const char *what)
{
    return xp_error_set(mp->err, mp->p, XP_EINVAL, "%s: %s", mp->where, what);
}

/* A string member or NULL (absent or JSON null); *bad set when present
 * with another type. */
static const char *mf_opt_str(mf_parse_t *mp, const xp_json_t *o,
                              const char *key, int *bad)
{
    xp_json_t *v = xp_json_get(mp->tmp, o, key);
    xp_json_kind_e k = xp_json_kind(v);

    *bad = 0;
    if (!v || k == XP_JSON_NULL)
        return NULL;
    if (k != XP_JSON_STRING) {
        *bad = 1;
        return NULL;
    }
    return apr_pstrdup(mp->p, xp_json_str_value(v));
}

/* A string member that valid() accepts; else "<key> must be <what>". */
static xp_errcode_e mf_name(mf_parse_t *mp, const xp_json_t *o, const char *key,
                            int (*valid)(const char *), const char *what,
                            const char **out)
{
    int bad;

    *out = mf_opt_str(mp, o, key, &bad);
    if (!*out || !valid(*out))
        return mf_bad(mp, apr_psprintf(mp->p, "\"%s\" must be %s", key, what));
    return XP_OK;
}

#define MF_IDENT "a name of letters, digits and _"
/* A column's name in the file (fields=): any short UTF-8 text without
 * control characters. It is only ever compared with the names this
 * server's sections give their columns, never put into SQL. */
#define MF_FIELD "a column name (1 to 255 bytes, no control characters)"

static xp_errcode_e mf_count(mf_parse_t *mp, const xp_json_t *o,
                             const char *key, apr_int64_t *out)
{
    xp_json_t *v = xp_json_get(mp->tmp, o, key);

    if (xp_json_kind(v) != XP_JSON_INT ||
        (*out = xp_json_get_int(o, key, -1)) < 0)
        return mf_bad(
            mp, apr_psprintf(mp->p, "\"%s\" must be an integer >= 0", key));
    return XP_OK;
}

static xp_errcode_e mf_columns(mf_parse_t *mp, const xp_json_t *o,
                               xp_mf_section_t *s)
{
    xp_json_t *a = xp_json_get(mp->tmp, o, "columns");
    apr_size_t i, n = xp_json_size(a);
    const char *c;
    int k;

    if (!xp_json_is_array(a) || n == 0)
        return mf_bad(mp, "\"columns\" must be a non-empty array of "
                          "column names");
    s->columns = apr_array_make(mp->p, (int)n, sizeof(const char *));
    for (i = 0; i < n; i++) {
        c = xp_json_str_value(xp_json_at(mp->tmp, a, i));
        if (!c || !xp_field_name_valid(c))
            return mf_bad(mp, apr_psprintf(mp->p,
                                           "columns[%" APR_SIZE_T_FMT "] "
                                           "must be " MF_FIELD,
                                           i));
        for (k = 0; k < s->columns->nelts; k++)
            if (!strcmp(APR_ARRAY_IDX(s->columns, k, const char *), c))
                return mf_bad(mp, apr_psprintf(mp->p,
                                               "column \"%s\" is listed "
                                               "twice",
                                               c));
        APR_ARRAY_PUSH(s->columns, const char *) = apr_pstrdup(mp->p, c);
    }
    for (k = 0; k < s->columns->nelts; k++)
        if (!strcmp(APR_ARRAY_IDX(s->columns, k, const char *), s->key))
            return XP_OK;
    return mf_bad(mp, apr_psprintf(mp->p,
                                   "the key \"%s\" is not among its "
                                   "\"columns\"",
                                   s->key));
}

static xp_errcode_e mf_sha256(mf_parse_t *mp, const xp_json_t *o,
                              xp_mf_section_t *s)
{
    const char *h = xp_json_get_str(o, "sha256");
    char *low;
    int i;

    if (!h || strlen(h) != 64)
        return mf_bad(mp, "\"sha256\" must be 64 hexadecimal digits");
    low = apr_pstrdup(mp->p, h);
    for (i = 0; i < 64; i++) {
        if (!apr_isxdigit(low[i]))
            return mf_bad(mp, "\"sha256\" must be 64 hexadecimal digits");
        low[i] = (char)apr_tolower(low[i]);
    }
    s->sha256 = low;
    return XP_OK;
}

static xp_errcode_e mf_window(mf_parse_t *mp, const xp_json_t *o,
                              xp_mf_section_t *s)
{
    xp_json_t *w = xp_json_get(mp->tmp, o, "window");
    int bad1, bad2;

    if (!w || xp_json_kind(w) == XP_JSON_NULL)
        return XP_OK;
    if (!xp_json_is_object(w))
        return mf_bad(mp, "\"window\" must be null or an object");
    s->windowed = 1;
    s->since = mf_opt_str(mp, w, "since", &bad1);
    s->until = mf_opt_str(mp, w, "until", &bad2);
    if (bad1 || bad2)
        return mf_bad(mp, "\"window\" bounds must be strings or null");
    return XP_OK;
}

static xp_errcode_e mf_section_parse(mf_parse_t *mp, const xp_json_t *o,
                                     apr_size_t idx, xp_mf_section_t *s)
{
    xp_errcode_e rc;
    int bad;

    mp->where = apr_psprintf(
        mp->p, "manifest.json: sections[%" APR_SIZE_T_FMT "]", idx);
    if (!xp_json_is_object(o))
        return mf_bad(mp, "must be an object");
    if ((rc = mf_name(mp, o, "name", xp_ident_valid, MF_IDENT, &s->name)) !=
        XP_OK)
        return rc;
    mp->where = apr_psprintf(mp->p, "manifest.json: section \"%s\"", s->name);
    s->file = mf_opt_str(mp, o, "file", &bad);
    if (!s->file ||
        strcmp(s->file, apr_psprintf(mp->p, "data/%s.ndjson", s->name)))
        return mf_bad(mp,
                      apr_psprintf(mp->p, "\"file\" must be \"data/%s.ndjson\"",
                                   s->name));
    if ((rc = mf_name(mp, o, "key", xp_field_name_valid, MF_FIELD, &s->key)) !=
            XP_OK ||
        (rc = mf_columns(mp, o, s)) != XP_OK ||
        (rc = mf_count(mp, o, "count", &s->count)) != XP_OK ||
        (rc = mf_count(mp, o, "bytes", &s->bytes)) != XP_OK ||
        (rc = mf_sha256(mp, o, s)) != XP_OK)
        return rc;
    return mf_window(mp, o, s);
}

/* format, version and the optional top-level fields */
static xp_errcode_e mf_head(mf_parse_t *mp, const xp_json_t *j,
                            xp_manifest_t *m)
{
    const char *fmt = xp_json_get_str(j, "format");
    xp_json_t *v;
    int b1, b2, b3, b4, b5;

    if (!fmt || strcmp(fmt, "xport-archive"))
        return mf_bad(mp, "\"format\" must be \"xport-archive\" (is this "
                          "an archive made by mod_xport?)");
    v = xp_json_get(mp->tmp, j, "version");
    if (xp_json_kind(v) != XP_JSON_INT)
        return mf_bad(mp, "\"version\" must be a number");
    if (xp_json_get_int(j, "version", 0) != XPORT_ARCHIVE_VERSION)
        return xp_error_set(mp->err, mp->p, XP_EINVAL,
                            "unsupported archive version %" APR_INT64_T_FMT
                            " (this server reads %d)",
                            xp_json_get_int(j, "version", 0),
                            XPORT_ARCHIVE_VERSION);
    m->created_at = mf_opt_str(mp, j, "created_at", &b1);
    m->instance = mf_opt_str(mp, j, "instance", &b2);
    m->filter = mf_opt_str(mp, j, "filter", &b3);
    m->since = mf_opt_str(mp, j, "since", &b4);
    m->until = mf_opt_str(mp, j, "until", &b5);
    if (b1 || b2 || b3 || b4 || b5)
        return mf_bad(mp, "created_at, instance, filter, since and until "
                          "must be strings or null");
    m->closure = xp_json_get_bool(j, "closure", 0);
    return XP_OK;
}

static xp_errcode_e mf_parse(mf_parse_t *mp, const char *text, apr_size_t len,
                             xp_manifest_t *m)
{
    xp_json_t *j, *secs;
    xp_mf_section_t *s;
    apr_size_t i, n;
    xp_errcode_e rc;
    int k;

    if (!(j = xp_json_parse(mp->tmp, text, len, mp->err)))
        return xp_error_set(mp->err, mp->p, XP_EINVAL, "manifest.json: %s",
                            mp->err ? mp->err->message : "invalid JSON");
    if (!xp_json_is_object(j))
        return mf_bad(mp, "must be a JSON object");
    if ((rc = mf_head(mp, j, m)) != XP_OK)
        return rc;
    secs = xp_json_get(mp->tmp, j, "sections");
    if (!xp_json_is_array(secs))
        return mf_bad(mp, "\"sections\" must be an array");
    n = xp_json_size(secs);
    m->sections = apr_array_make(mp->p, (int)n + 1, sizeof(xp_mf_section_t));
    for (i = 0; i < n; i++) {
        s = apr_array_push(m->sections);
        memset(s, 0, sizeof(*s));
        if ((rc = mf_section_parse(mp, xp_json_at(mp->tmp, secs, i), i, s)) !=
            XP_OK)
            return rc;
        for (k = 0; k < m->sections->nelts - 1; k++)
            if (!strcmp(APR_ARRAY_IDX(m->sections, k, xp_mf_section_t).name,
                        s->name))
                return mf_bad(mp, "is listed twice");
    }
    return XP_OK;
}

xp_errcode_e xp_manifest_parse(apr_pool_t *p, const char *text, apr_size_t len,
                               xp_manifest_t **out, xp_error_t *err)
{
    xp_manifest_t *m = apr_pcalloc(p, sizeof(*m));
    mf_parse_t mp;
    xp_errcode_e rc;

    *out = NULL;
    mp.p = p;
    mp.err = err;
    mp.where = "manifest.json";
    if (apr_pool_create(&mp.tmp, p) != APR_SUCCESS)
        return xp_error_set(err, p, XP_EIO, "out of memory");
    rc = mf_parse(&mp, text, len, m);
    apr_pool_destroy(mp.tmp);
    if (rc == XP_OK)
        *out = m;
    return rc;
}
