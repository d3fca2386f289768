/*
 * spill.c -- rows of (name, key, line) in a temporary file until they are
 * wanted (include/xp_spill.h).
 *
 * An import remembers every key it has shown, so that a key shown twice
 * is named with the line it first came on. Writing them into the seen
 * table of the database as they come costs as much again as writing the
 * rows; appending them to a buffered file costs little, and a clean
 * import into empty tables never looks one up. The file holds records
 * of a fixed header (name length, key length, line) and the two strings;
 * it is only appended to and read from the front, and a mark (two
 * offsets) is enough to undo what a savepoint undoes.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_file_io.h>

#include "xp_spill.h"

typedef struct {
    apr_uint32_t nlen, klen;
    apr_int64_t line;
} spill_rec_t;

struct xp_spill_t {
    apr_pool_t *p;
    apr_file_t *f;   /* NULL until the first row */
    apr_off_t end;   /* bytes of rows added */
    apr_off_t taken; /* bytes of rows taken */
    apr_off_t pos;   /* the file's offset, -1 when not known */
};

xp_spill_t *xp_spill_make(apr_pool_t *p)
{
    xp_spill_t *sp = apr_pcalloc(p, sizeof(*sp));

    sp->p = p;
    return sp;
}

static xp_errcode_e spill_fail(xp_spill_t *sp, const char *what,
                               apr_status_t rv, xp_error_t *err)
{
    char ebuf[120];

    return xp_error_set(err, sp->p, XP_EIO, "%s the import's key list: %s",
                        what, apr_strerror(rv, ebuf, sizeof(ebuf)));
}

static xp_errcode_e spill_open(xp_spill_t *sp, xp_error_t *err)
{
    const char *dir = NULL, *id;
    char *path;
    apr_status_t rv;

    if ((rv = apr_temp_dir_get(&dir, sp->p)) != APR_SUCCESS)
        return spill_fail(sp, "no temporary directory for", rv, err);
    /* a name no one can guess (a job id's 128 random bits), created
     * only if it does not exist yet */
    if (!(id = xp_new_id(sp->p)))
        return spill_fail(sp, "no random name for", APR_ENOTIMPL, err);
    path = apr_pstrcat(sp->p, dir, "/xport-keys-", id, NULL);
    rv = apr_file_open(&sp->f, path,
                       APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE |
                           APR_FOPEN_EXCL | APR_FOPEN_BUFFERED,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, sp->p);
    if (rv != APR_SUCCESS)
        return spill_fail(
            sp, apr_pstrcat(sp->p, "cannot create ", path, " for", NULL), rv,
            err);
    /* nameless from now on: nothing is left behind, even by a worker
     * that is killed */
    apr_file_remove(path, sp->p);
    sp->pos = 0;
    return XP_OK;
}

/* Put the file's offset at off. */
static xp_errcode_e spill_seek(xp_spill_t *sp, apr_off_t off, xp_error_t *err)
{
    apr_off_t at = off;
    apr_status_t rv;

    if (sp->pos == off)
        return XP_OK;
    if ((rv = apr_file_seek(sp->f, APR_SET, &at)) != APR_SUCCESS)
        return spill_fail(sp, "cannot seek in", rv, err);
    sp->pos = off;
    return XP_OK;
}

xp_errcode_e xp_spill_add(xp_spill_t *sp, const char *name, int n,
                          const char *const *keys, const long *lines,
                          xp_error_t *err)
{
    apr_size_t nlen = strlen(name);
    apr_status_t rv = APR_SUCCESS;
    spill_rec_t h;
    xp_errcode_e rc;
    int i;

    if (!sp->f && (rc = spill_open(sp, err)) != XP_OK)
        return rc;
    if ((rc = spill_seek(sp, sp->end, err)) != XP_OK)
        return rc;
    h.nlen = (apr_uint32_t)nlen;
    for (i = 0; i < n && rv == APR_SUCCESS; i++) {
        h.klen = (apr_uint32_t)strlen(keys[i]);
        h.line = lines[i];
        rv = apr_file_write_full(sp->f, &h, sizeof(h), NULL);
        if (rv == APR_SUCCESS)
            rv = apr_file_write_full(sp->f, name, nlen, NULL);
        if (rv == APR_SUCCESS)
            rv = apr_file_write_full(sp->f, keys[i], h.klen, NULL);
        sp->end += sizeof(h) + nlen + h.klen;
    }
    sp->pos = sp->end;
    if (rv != APR_SUCCESS) {
        sp->pos = -1;
        return spill_fail(sp, "cannot write", rv, err);
    }
    return XP_OK;
}

/* The next record's strings, from p; *same 0 when its name is not name
 * (then it is left for the next take). */
static xp_errcode_e spill_read(xp_spill_t *sp, apr_pool_t *p, const char *name,
                               int *same, char **nm, char **key, long *line,
                               xp_error_t *err)
{
    apr_off_t start = sp->pos;
    spill_rec_t h;
    apr_status_t rv;

    rv = apr_file_read_full(sp->f, &h, sizeof(h), NULL);
    *nm = apr_palloc(p, h.nlen + 1);
    if (rv == APR_SUCCESS)
        rv = apr_file_read_full(sp->f, *nm, h.nlen, NULL);
    if (rv != APR_SUCCESS) {
        sp->pos = -1;
        return spill_fail(sp, "cannot read", rv, err);
    }
    (*nm)[h.nlen] = '\0';
    sp->pos = start + sizeof(h) + h.nlen;
    if ((*same = !name || !strcmp(name, *nm)) == 0)
        return spill_seek(sp, start, err);
    *key = apr_palloc(p, h.klen + 1);
    if ((rv = apr_file_read_full(sp->f, *key, h.klen, NULL)) != APR_SUCCESS) {
        sp->pos = -1;
        return spill_fail(sp, "cannot read", rv, err);
    }
    (*key)[h.klen] = '\0';
    *line = (long)h.line;
    sp->pos += h.klen;
    sp->taken = sp->pos;
    return XP_OK;
}

xp_errcode_e xp_spill_take(xp_spill_t *sp, apr_pool_t *p, int max,
                           const char **name, int *n, const char ***keys,
                           long **lines, xp_error_t *err)
{
    xp_errcode_e rc;
    int same = 1;
    char *nm;

    *n = 0;
    *name = NULL;
    if (!xp_spill_pending(sp))
        return XP_OK;
    if ((rc = spill_seek(sp, sp->taken, err)) != XP_OK)
        return rc;
    *keys = apr_palloc(p, sizeof(**keys) * max);
    *lines = apr_palloc(p, sizeof(**lines) * max);
    while (*n < max && sp->taken < sp->end && same) {
        char *key = NULL;
        if ((rc = spill_read(sp, p, *name, &same, &nm, &key, &(*lines)[*n],
                             err)) != XP_OK)
            return rc;
        if (same) {
            *name = *name ? *name : nm;
            (*keys)[(*n)++] = key;
        }
    }
    return XP_OK;
}

int xp_spill_pending(const xp_spill_t *sp)
{
    return sp->taken < sp->end;
}

void xp_spill_mark(const xp_spill_t *sp, xp_spill_mark_t *m)
{
    m->end = sp->end;
    m->taken = sp->taken;
}

void xp_spill_restore(xp_spill_t *sp, const xp_spill_mark_t *m)
{
    sp->end = m->end;
    sp->taken = m->taken;
}

void xp_spill_close(xp_spill_t *sp)
{
    if (sp->f)
        apr_file_close(sp->f);
    sp->f = NULL;
    sp->end = sp->taken = 0;
}
