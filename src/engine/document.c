/*
 * document.c -- format=document: an export as one JSON document.
 *
 * Some APIs hand out one object rather than a set of files: a repository
 * version with its concepts and mappings, say. Any export can take that
 * shape. The section the filter names first is the root; it must select
 * exactly one row, whose fields become the document's top-level members
 * in column order, under their fields= names. Every other section becomes
 * one more member, named after the section, holding the array of its
 * rows in key order, each row the very object the other formats write
 * (src/engine/rowjson.c):
 *
 *     {"id":"v1","released":true,
 *     "concepts":[
 *     {"id":"c1",...},
 *     {"id":"c2",...}
 *     ],
 *     "mappings":[]
 *     }
 *
 * The window (since/until) never narrows the root, which xp_export_run
 * plans without it: "this version and what changed in it since T" keeps
 * the version row, whenever it was last updated.
 *
 * The document is the one entry export.json of a zip. Rows go from the
 * database through a small buffer into the zip's compressor as they are
 * read; the entry's size is not known beforehand (xp_awriter_begin
 * compresses it beside the archive until it ends). No whole document in
 * memory. The entry's mtime is fixed, so unchanged data exports to the
 * same bytes (on a server in the same time zone: a zip stores local time).
 */
#include <string.h>

#include <apr_strings.h>

#include "xp_document.h"
#include "xp_archive.h"
#include "xp_rowjson.h"

#define XP_DOC_FLUSH (64 * 1024) /* buffered bytes given to the zip */
/* 1980-01-01T00:00:00Z, the first moment a zip's date can hold */
#define XP_DOC_MTIME APR_INT64_C(315532800)

apr_array_header_t *xp_document_sections(apr_pool_t *p, const xp_filter_t *f,
                                         const xp_sections_t *secs, int closure)
{
    apr_array_header_t *all = xp_filter_sections(p, f, secs, closure);
    apr_array_header_t *out =
        apr_array_make(p, all->nelts + 1, sizeof(xp_section_t *));
    int i;

    for (i = 0; i < f->named->nelts; i++)
        APR_ARRAY_PUSH(out, xp_section_t *) =
            APR_ARRAY_IDX(f->named, i, xp_fsel_t *)->section;
    for (i = 0; i < all->nelts; i++) {
        xp_section_t *s = APR_ARRAY_IDX(all, i, xp_section_t *);
        if (!apr_hash_get(f->by_section, s->name, APR_HASH_KEY_STRING))
            APR_ARRAY_PUSH(out, xp_section_t *) = s;
    }
    return out;
}

xp_errcode_e xp_document_check(apr_pool_t *p,
                               const apr_array_header_t *sections,
                               xp_error_t *err)
{
    const xp_section_t *root, *s;
    int i, j;

    if (sections->nelts == 0)
        return XP_OK;
    root = APR_ARRAY_IDX(sections, 0, const xp_section_t *);
    for (i = 1; root->columns && i < sections->nelts; i++) {
        s = APR_ARRAY_IDX(sections, i, const xp_section_t *);
        for (j = 0; j < root->columns->nelts; j++) {
            if (strcmp(xp_section_name_at(root, j), s->name))
                continue;
            xp_error_set(err, p, XP_EINVAL,
                         "format document: section \"%s\" would be a member "
                         "of the same name as a field of the root section "
                         "\"%s\" (the section the filter names first); give "
                         "that column another name with fields=",
                         s->name, root->name);
            if (err)
                err->field = "filter";
            return XP_EINVAL;
        }
    }
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    apr_pool_t *pool;
    xp_doc_job_t *dj;
    xp_awriter_t *w;
    xp_buf_t buf;
    const xp_doc_part_t *part;
    xp_rowjson_t *enc; /* the part's row encoder */
    int root;          /* writing the root row */
    apr_int64_t rows;  /* rows of the part so far */
} doc_writer_t;

static xp_errcode_e doc_flush(doc_writer_t *d, xp_error_t *err)
{
    xp_errcode_e rc;

    if (d->buf.len == 0)
        return XP_OK;
    rc = xp_awriter_write(d->w, d->buf.data, d->buf.len, err);
    xp_buf_reset(&d->buf);
    return rc;
}

static xp_errcode_e doc_row(void *baton, const char *const *values, int ncols,
                            xp_error_t *err)
{
    doc_writer_t *d = baton;

    if (d->root && d->rows > 0)
        return xp_error_set(err, d->pool, XP_EINVAL,
                            "format document: the root section \"%s\" gave "
                            "a second row while being read",
                            d->part->sec->name);
    if (!d->root)
        xp_buf_add(&d->buf, d->rows ? ",\n" : "\n", d->rows ? 2 : 1);
    xp_rowjson_write(d->enc, &d->buf, values, ncols);
    if (d->root) /* its members follow: the object stays open */
        d->buf.data[--d->buf.len] = '\0';
    d->rows++;
    (*d->dj->done)++;
    if (d->buf.len >= XP_DOC_FLUSH)
        return doc_flush(d, err);
    return XP_OK;
}

/* Between batches: free the batch's values, ask whether to go on. */
static xp_errcode_e doc_check(void *baton)
{
    doc_writer_t *d = baton;
    const xp_job_ctl_t *ctl = d->dj->ctl;

    xp_rowjson_clear(d->enc);
    return ctl && ctl->check ? ctl->check(ctl->baton) : XP_OK;
}

/* One section: the root's fields, or one member and its array. */
static xp_errcode_e doc_part(doc_writer_t *d, xp_doc_part_t *part,
                             xp_error_t *err)
{
    xp_job_ctl_t batch = {0};
    apr_pool_t *sp;
    xp_errcode_e rc = XP_OK;

    apr_pool_create(&sp, d->pool);
    d->part = part;
    d->root = part == d->dj->parts;
    d->rows = 0;
    d->enc = xp_rowjson_make(sp, part->sec);
    if (!d->root) {
        xp_buf_add(&d->buf, ",\n", 2);
        xp_buf_add_json_str(&d->buf, part->sec->name, strlen(part->sec->name));
        xp_buf_add(&d->buf, ":[", 2);
    }
    batch.baton = d;
    batch.check = doc_check;
    if (part->where)
        rc = xp_source_scan(d->dj->src, sp, part->sec, part->where, part->args,
                            d->dj->batch_rows > 0 ? d->dj->batch_rows : 1000,
                            doc_row, d, &batch, err);
    if (rc == XP_OK && !d->root)
        xp_buf_adds(&d->buf, d->rows ? "\n]" : "]");
    if (rc == XP_OK && d->root && d->rows != 1)
        rc = xp_error_set(err, d->pool, XP_EINVAL,
                          "format document: the root section \"%s\" gave "
                          "no row while being read",
                          part->sec->name);
    part->rows = d->rows;
    if (rc != XP_OK && err && err->message) /* sp goes */
        err->message = apr_pstrdup(d->pool, err->message);
    apr_pool_destroy(sp);
    return rc;
}

static xp_errcode_e doc_root_count(apr_pool_t *p, const xp_doc_job_t *dj,
                                   xp_error_t *err)
{
    const xp_doc_part_t *root = dj->parts;

    if (dj->nparts < 1)
        return xp_error_set(err, p, XP_EINVAL,
                            "format document: the filter names no section");
    if (root->count == 1)
        return XP_OK;
    return xp_error_set(err, p, XP_EINVAL,
                        "format document: the root section \"%s\" (the "
                        "section the filter names first) selects "
                        "%" APR_INT64_T_FMT " rows; it must select exactly "
                        "one, e.g. %s/%s=<value>",
                        root->sec->name, root->count, root->sec->name,
                        root->sec->key);
}

xp_errcode_e xp_document_write(apr_pool_t *p, xp_doc_job_t *dj, xp_error_t *err)
{
    doc_writer_t d;
    xp_errcode_e rc;
    int i;

    if ((rc = doc_root_count(p, dj, err)) != XP_OK)
        return rc;
    memset(&d, 0, sizeof(d));
    d.pool = p;
    d.dj = dj;
    xp_buf_init(&d.buf, p, 2 * XP_DOC_FLUSH);
    rc = xp_awriter_open(p, dj->path, XP_FMT_ZIP, dj->max_size,
                         apr_time_from_sec(XP_DOC_MTIME), &d.w, err);
    if (rc != XP_OK)
        return rc;
    rc = xp_awriter_begin(d.w, XP_DOC_ENTRY, err);
    for (i = 0; rc == XP_OK && i < dj->nparts; i++)
        rc = doc_part(&d, &dj->parts[i], err);
    if (rc == XP_OK) {
        xp_buf_adds(&d.buf, dj->nparts > 1 ? "\n}\n" : "}\n");
        rc = doc_flush(&d, err);
    }
    if (rc == XP_OK)
        rc = xp_awriter_close(d.w, &dj->size, &dj->sha256, err);
    if (rc != XP_OK)
        xp_awriter_abort(d.w);
    return rc;
}
