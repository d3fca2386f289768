/*
 * rows.c -- a few rows of a section read in a request: one repository
 * version by its key, the versions of one repository. The glue never
 * builds SQL, so it says which rows it wants in the filter language
 * (values quoted with xp_filter_quote) and gets them through the very
 * read an export uses (xp_filter_where, xp_source_scan).
 *
 * A limit is kept by stopping the scan from the row callback. The scan
 * is stopped only when a row past the limit arrives, not on the last
 * one wanted: a read that selects no more rows than the limit (a lookup
 * by key, the usual case) then ends on its own, and on PostgreSQL no
 * COPY has to be cancelled (which the server would log as an error).
 *
 * A row as JSON (xp_row_json) is the export's own encoder (rowjson.c)
 * made for one row, so that an API's answer and an export of the same
 * row say the same bytes.
 */
#include <apr_strings.h>

#include "xp_rows.h"
#include "xp_filter.h"
#include "xp_rowjson.h"

typedef struct {
    xp_row_fn fn;
    void *baton;
    int limit;   /* > 0: at most this many rows */
    int seen;    /* rows passed to fn */
    int stopped; /* the scan was stopped for the limit, not by fn */
} rows_run_t;

static xp_errcode_e rows_one(void *baton, const char *const *values, int ncols,
                             xp_error_t *err)
{
    rows_run_t *run = baton;

    if (run->limit > 0 && run->seen >= run->limit) {
        /* any code stops the scan; the flag tells it from fn's own */
        run->stopped = 1;
        return XP_ECANCEL;
    }
    run->seen++;
    return run->fn(run->baton, values, ncols, err);
}

/* XP_EINVAL unless every line of f selects rows of sec. */
static xp_errcode_e rows_check_filter(apr_pool_t *p, const xp_filter_t *f,
                                      const xp_section_t *sec, xp_error_t *err)
{
    int i;

    for (i = 0; i < f->order->nelts; i++) {
        const xp_fsel_t *sel = APR_ARRAY_IDX(f->order, i, xp_fsel_t *);
        int line;

        if (sel->section == sec)
            continue;
        line = APR_ARRAY_IDX(sel->lines, 0, xp_fline_t).line;
        if (err) {
            err->line = line;
            err->column = 1;
            err->field = "filter";
        }
        return xp_error_set(err, p, XP_EINVAL,
                            "line %d, column 1: only rows of section \"%s\" "
                            "can be read here, not of \"%s\"",
                            line, sec->name, sel->section->name);
    }
    return XP_OK;
}

/* The section, its filter and the WHERE that selects its rows. */
static xp_errcode_e rows_plan(apr_pool_t *p, const xp_sections_t *secs,
                              const char *section, const char *filter,
                              const char *tenant, xp_dialect_e dialect, const xp_section_t **sec,
                              const char **where, apr_array_header_t *args,
                              xp_error_t *err)
{
    xp_filter_t *f;
    xp_errcode_e rc;

    if (!section || !(*sec = xp_sections_find(secs, section)))
        return xp_error_set(err, p, XP_EINVAL, "unknown section \"%s\"",
                            section ? section : "");
    if (!(*sec)->columns)
        return xp_error_set(err, p, XP_EINVAL,
                            "section \"%s\": its columns are not known yet "
                            "(discover them from the data source first)",
                            section);
    rc = xp_filter_parse(p, filter ? filter : (*sec)->name, secs, &f, err);
    if (rc == XP_OK)
        rc = rows_check_filter(p, f, *sec, err);
    if (rc != XP_OK)
        return rc;
    *where = xp_filter_where(p, f, secs, *sec, NULL, 0, tenant, dialect, args);
    return XP_OK;
}

xp_errcode_e xp_rows_select(apr_pool_t *p, const char *driver,
                            const char *params, const xp_sections_t *secs,
                            const char *section, const char *filter,
                            const char *tenant, int limit, xp_row_fn fn,
                            void *baton, xp_error_t *err)
{
    apr_array_header_t *args;
    const xp_section_t *sec = NULL;
    const char *where = NULL;
    xp_source_t *src = NULL;
    rows_run_t run;
    apr_pool_t *sp;
    xp_errcode_e rc;

    /* the connection and the read's memory go with sp; what the caller
     * keeps (an error's message) is copied to p */
    apr_pool_create(&sp, p);
    args = apr_array_make(sp, 4, sizeof(const char *));
    rc = xp_source_open(sp, driver, params, &src, err);
    if (rc == XP_OK)
        rc = rows_plan(sp, secs, section, filter, tenant,
                       xp_source_dialect(src), &sec, &where, args, err);
    if (rc == XP_OK) {
        run.fn = fn;
        run.baton = baton;
        run.limit = limit;
        run.seen = run.stopped = 0;
        rc = xp_source_scan(src, sp, sec, where, args, 0, rows_one, &run, NULL,
                            err);
        if (rc != XP_OK && run.stopped)
            rc = XP_OK;
    }
    if (src)
        xp_source_close(src);
    if (rc != XP_OK && err && err->message)
        err->message = apr_pstrdup(p, err->message);
    apr_pool_destroy(sp);
    return rc;
}

void xp_row_json(xp_buf_t *b, const xp_section_t *sec,
                 const char *const *values)
{
    apr_pool_t *tmp; /* the encoder and the json= values it parses */

    apr_pool_create(&tmp, b->pool);
    xp_rowjson_write(xp_rowjson_make(tmp, sec), b, values, sec->columns->nelts);
    apr_pool_destroy(tmp);
}
