/*
 * export.c -- an export job from request to archive.
 *
 * xp_export_prepare checks what a client asked for and turns it into a
 * queued job row; xp_export_run is what a worker thread does with it:
 * one read transaction on the data source, every section streamed to its
 * own temp file (counting rows and bytes and hashing on the way), then
 * the archive assembled from those files into <id>.part and renamed into
 * exports/ only once it is complete and on disk.
 *
 * Why temp files first: the manifest (which leads the archive) carries
 * each section's count, size and SHA-256, known only after reading it.
 * The temp file already holds the section's entry data compressed
 * (gzip members, zip deflate pieces or a zstd frame, made by other
 * threads while the rows are read: two cores, reading and compressing at
 * once), so assembling is copying. The bare formats (ndjson, json: one
 * section, no manifest) and format=document need no temp file: their
 * rows go straight into <id>.part as they are read (json made an array
 * on the way; the document through src/engine/document.c).
 *
 * Whatever ends a run early (an error, cancel, timeout, shutdown, the size
 * limit) leaves nothing behind: every file this run created is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "xp_export.h"
#include "xp_source.h"
#include "xp_filter.h"
#include "xp_archive.h"
#include "xp_manifest.h"
#include "xp_hash.h"
#include "xp_rowjson.h"
#include "xp_document.h"
#include "xp_count.h"

#define XP_EXPORT_MAX_TEXT 200       /* file_name, source_system, ... */
#define XP_EXPORT_BUF (256 * 1024)   /* row writer buffer */
#define XP_EXPORT_FLUSH (192 * 1024) /* ... written out past this much */

/* ------------------------------------------------------------------ */
/* Request validation                                                   */
/* ------------------------------------------------------------------ */

static xp_errcode_e bad(xp_error_t *err, apr_pool_t *p, const char *field,
                        const char *fmt, const char *a, const char *b)
{
    xp_error_set(err, p, XP_EINVAL, fmt, a, b);
    if (err)
        err->field = field;
    return XP_EINVAL;
}

/* At most XP_EXPORT_MAX_TEXT bytes, no control characters. */
static xp_errcode_e check_text(apr_pool_t *p, const char *field, const char *s,
                               xp_error_t *err)
{
    const unsigned char *c;

    if (!s)
        return XP_OK;
    if (strlen(s) > XP_EXPORT_MAX_TEXT)
        return bad(err, p, field, "%s is longer than 200 characters%s", field,
                   "");
    for (c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return bad(err, p, field,
                       "%s contains a control character; use printable "
                       "text%s",
                       field, "");
    return XP_OK;
}

/* [A-Za-z0-9._-], at most 200 characters, no leading dot; the format's
 * extension is appended when missing. */
static xp_errcode_e check_file_name(apr_pool_t *p, const char *name,
                                    xp_format_e fmt, const char **out,
                                    xp_error_t *err)
{
    const char *ext = xp_format_ext(fmt), *c;
    apr_size_t n = strlen(name), el = strlen(ext);

    if (n == 0 || n > XP_EXPORT_MAX_TEXT)
        return bad(err, p, "file_name",
                   "file_name must have 1 to 200 characters%s%s", "", "");
    if (name[0] == '.')
        return bad(err, p, "file_name",
                   "file_name \"%s\" must not start with a dot%s", name, "");
    for (c = name; *c; c++)
        if (!apr_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
            return bad(err, p, "file_name",
                       "file_name \"%s\" may only contain letters, digits, "
                       "'.', '_' and '-' (found '%s')",
                       name, apr_pstrndup(p, c, 1));
    if (n > el + 1 && name[n - el - 1] == '.' && !strcmp(name + n - el, ext))
        *out = name;
    else
        *out = apr_pstrcat(p, name, ".", ext, NULL);
    return XP_OK;
}

/* Normalised ISO 8601 text of a since/until field (NULL if absent). */
static xp_errcode_e check_time(apr_pool_t *p, const char *field, const char *s,
                               const char **norm, apr_time_t *t,
                               xp_error_t *err)
{
    const char *msg;

    *norm = NULL;
    if (!s || !*s)
        return XP_OK;
    if ((msg = xp_parse_iso8601(p, s, t)) != NULL)
        return bad(err, p, field, "%s: %s", field, msg);
    *norm = xp_iso8601(p, *t);
    return XP_OK;
}

/* The instance name as it may appear in a file name. */
static const char *safe_instance(apr_pool_t *p, const char *instance)
{
    char *s = apr_pstrdup(p, instance && *instance ? instance : "xport"), *c;

    for (c = s; *c; c++)
        if (!apr_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
            *c = '-';
    return s;
}

static xp_errcode_e prepare_format(apr_pool_t *p, const xp_sections_t *secs,
                                   const xp_export_params_t *in,
                                   const xp_filter_t *f, int closure,
                                   xp_format_e *fmt, xp_error_t *err)
{
    const char *name = in->format && *in->format ? in->format : "tar.gz";
    apr_array_header_t *sel;

    if (xp_format_parse(name, fmt) != 0)
        return bad(err, p, "format",
                   "format \"%s\" is not supported (use tar.gz, tar.zst, "
                   "zip, ndjson, json or document)%s",
                   name, "");
    if (xp_format_is_archive(*fmt))
        return XP_OK;
    if (*fmt == XP_FMT_DOCUMENT)
        return xp_document_check(p, xp_document_sections(p, f, secs, closure),
                                 err);
    sel = xp_filter_sections(p, f, secs, closure);
    if (sel->nelts != 1)
        return bad(err, p, "format",
                   "format %s holds exactly one section, but the export "
                   "covers %s; use an archive format (tar.gz, tar.zst, zip) "
                   "or document",
                   name,
                   apr_psprintf(p, "%d sections%s", sel->nelts,
                                closure ? " (with closure)" : ""));
    return XP_OK;
}

xp_errcode_e xp_export_prepare(apr_pool_t *p, const xp_sections_t *secs,
                               const char *instance,
                               const xp_export_params_t *in, xp_job_t **out,
                               xp_error_t *err)
{
    xp_job_t *job;
    xp_filter_t *f;
    xp_format_e fmt;
    xp_json_t *opt;
    const char *since, *until, *path = NULL;
    apr_time_t ts = 0, tu = 0;
    int closure;
    xp_errcode_e rc;

    *out = NULL;
    if (!in->filter || !*in->filter)
        return bad(err, p, "filter",
                   "filter is required: name the sections to export, e.g. "
                   "\"users\" or \"all\"%s%s",
                   "", "");
    if ((rc = xp_filter_parse(p, in->filter, secs, &f, err)) != XP_OK) {
        if (err)
            err->field = "filter";
        return rc;
    }
    if (xp_parse_bool(in->closure, &closure) != 0)
        return bad(err, p, "closure",
                   "closure must be true or false, not \"%s\"%s", in->closure,
                   "");
    if ((rc = prepare_format(p, secs, in, f, closure, &fmt, err)) != XP_OK ||
        (rc = check_time(p, "since", in->since, &since, &ts, err)) ||
        (rc = check_time(p, "until", in->until, &until, &tu, err)))
        return rc;
    if (since && until && ts >= tu)
        return bad(err, p, "until", "until (%s) must be later than since (%s)",
                   until, since);
    if (in->file_name && *in->file_name &&
        (rc = check_file_name(p, in->file_name, fmt, &path, err)) != XP_OK)
        return rc;
    if ((rc = check_text(p, "source_system", in->source_system, err)) ||
        (rc = check_text(p, "correlation_id", in->correlation_id, err)))
        return rc;
    if (in->tenant && !xp_tenant_valid(in->tenant))
        return bad(err, p, "tenant",
                   "tenant \"%s\" is not a tenant name (1 to 200 letters, "
                   "digits, '.', '_', '~' or '-')%s",
                   in->tenant, "");

    job = apr_pcalloc(p, sizeof(*job));
    job->id = xp_new_id(p);
    job->kind = XP_KIND_EXPORT;
    job->status = XP_ST_QUEUED;
    job->filter = apr_pstrdup(p, in->filter);
    job->format = xp_format_name(fmt);
    opt = xp_json_object(p);
    xp_json_set_str(opt, "since", since);
    xp_json_set_str(opt, "until", until);
    xp_json_set_bool(opt, "closure", closure);
    xp_json_set_str(opt, "file_name", path);
    if ((rc = xp_json_set_api_data(p, opt, in->api_data, err)) != XP_OK)
        return rc;
    if (in->tenant)
        xp_json_set_str(opt, "tenant", in->tenant);
    job->options = xp_json_dump(p, opt);
    job->tenant = in->tenant;
    job->source_system = in->source_system;
    job->correlation_id = in->correlation_id;
    job->created_at = job->updated_at = xp_now_ms();
    job->path = path ? path
                     : apr_psprintf(p, "export-%s-%" APR_INT64_T_FMT ".%s",
                                    safe_instance(p, instance), job->created_at,
                                    xp_format_ext(fmt));
    job->file_size = -1;
    *out = job;
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Writing one section's rows as NDJSON                                 */
/* ------------------------------------------------------------------ */

typedef struct export_run_t export_run_t;

typedef struct {
    export_run_t *run;
    const xp_section_t *sec;
    const char *path;
    xp_acomp_t *comp; /* the entry's compressor; NULL: into run->bare */
    xp_buf_t buf;
    xp_sha256_t *sha;
    apr_int64_t rows, bytes;
    xp_rowjson_t *enc;
} sec_writer_t;

struct export_run_t {
    apr_pool_t *pool;
    const xp_export_env_t *env;
    xp_job_t *job;
    const xp_job_ctl_t *ctl;
    apr_int64_t done, total;
    apr_off_t raw_limit; /* bare ndjson: the file is the output */
    xp_awriter_t *bare;  /* ndjson / json: the file, written while read */
    sec_writer_t *cur;
    apr_array_header_t *temps; /* const char *: files to remove */
    xp_counter_t *counter;     /* counting the total beside the read */
    int counted;               /* total is known, or will not be */
};

/* The buffered rows to the section's compressor (which hashes them for
 * the manifest) or into the bare file (no manifest: the file's own
 * SHA-256 is the writer's). */
static xp_errcode_e sw_flush(sec_writer_t *w, xp_error_t *err)
{
    xp_errcode_e rc;

    if (w->buf.len == 0)
        return XP_OK;
    rc = w->comp ? xp_acomp_write(w->comp, w->buf.data, w->buf.len, err)
                 : xp_awriter_write(w->run->bare, w->buf.data, w->buf.len,
                                    err);
    if (rc != XP_OK)
        return rc;
    w->bytes += w->buf.len;
    xp_buf_reset(&w->buf);
    return XP_OK;
}

static xp_errcode_e sw_row(void *baton, const char *const *values, int ncols,
                           xp_error_t *err)
{
    sec_writer_t *w = baton;

    xp_rowjson_write(w->enc, &w->buf, values, ncols);
    xp_buf_addc(&w->buf, '\n');
    w->rows++;
    w->run->done++;
    if (w->run->raw_limit &&
        w->bytes + (apr_off_t)w->buf.len > w->run->raw_limit)
        return xp_error_set(err, w->run->pool, XP_ELIMIT,
                            "the export is larger than XportMaxArchiveSize "
                            "(%" APR_OFF_T_FMT " bytes); narrow the filter "
                            "or raise the limit",
                            w->run->raw_limit);
    if (w->buf.len >= XP_EXPORT_FLUSH)
        return sw_flush(w, err);
    return XP_OK;
}

static const char *stop_reason(xp_errcode_e rc)
{
    switch (rc) {
    case XP_ECANCEL:
        return "the export was cancelled";
    case XP_ETIMEOUT:
        return "the export ran longer than XportJobTimeout";
    case XP_ESHUTDOWN:
        return "the server is shutting down; the export will run again";
    default:
        return "the export was stopped";
    }
}

/* Progress is reported once the total is known (src/engine/count.c),
 * so that no reader sees rows done of a total of none; a count that
 * failed leaves the total at 0 and progress goes on without it. */
static int run_counted(export_run_t *run)
{
    apr_int64_t n;
    int state;

    if (run->counted || !run->counter)
        return run->counted;
    if ((state = xp_counter_total(run->counter, &n)) != 0) {
        run->total = state > 0 ? run->total + n : 0;
        run->counted = 1;
    }
    return run->counted;
}

/* Between batches: report progress, free the batch's scratch, ask the
 * worker whether to go on. */
static xp_errcode_e run_check(void *baton)
{
    export_run_t *run = baton;

    if (run->cur)
        xp_rowjson_clear(run->cur->enc);
    if (run->ctl && run->ctl->progress && run_counted(run))
        run->ctl->progress(run->ctl->baton, run->done, run->total);
    if (run->ctl && run->ctl->check)
        return run->ctl->check(run->ctl->baton);
    return XP_OK;
}

static xp_errcode_e run_stop_check(export_run_t *run, xp_error_t *err)
{
    xp_errcode_e rc = run_check(run);

    if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", stop_reason(rc));
    return XP_OK;
}

static void sw_setup(export_run_t *run, sec_writer_t *w,
                     const xp_section_t *sec, apr_pool_t *p)
{
    memset(w, 0, sizeof(*w));
    w->run = run;
    w->sec = sec;
    w->enc = xp_rowjson_make(p, sec);
    xp_buf_init(&w->buf, p, XP_EXPORT_BUF);
    w->sha = xp_sha256_make(p);
}

/* Remove path if a crashed earlier attempt of this job left it. */
static void remove_stale(apr_pool_t *p, const char *path)
{
    apr_file_remove(path, p);
}

/* ------------------------------------------------------------------ */
/* Running an export                                                    */
/* ------------------------------------------------------------------ */

/* One section of the export: what to read and what came out. */
typedef struct {
    const xp_section_t *sec;
    const char *where; /* NULL: no rows */
    apr_array_header_t *args;
    xp_mf_section_t mf;
    const char *tmp;  /* its compressed entry data (not for bare formats) */
    apr_off_t csize;  /* pipelined formats: bytes in tmp */
    apr_uint32_t crc; /* ... zip: CRC-32 of its data */
} sec_plan_t;

/* What the job row says to do. */
typedef struct {
    xp_filter_t *filter;
    xp_window_t win;
    int closure;
    const char *tenant; /* NULL: every tenant's rows */
    xp_format_e fmt;
    apr_array_header_t *plans; /* sec_plan_t */
} run_spec_t;

static xp_errcode_e run_spec(apr_pool_t *p, const xp_export_env_t *env,
                             const xp_job_t *job, run_spec_t *rs,
                             xp_error_t *err)
{
    xp_json_t *opt = NULL;
    apr_array_header_t *secs;
    xp_errcode_e rc;
    int i;

    memset(rs, 0, sizeof(*rs));
    if (job->options && *job->options &&
        !(opt = xp_json_parse(p, job->options, strlen(job->options), err)))
        return xp_error_set(err, p, XP_EINVAL,
                            "job %s: its stored options are not JSON", job->id);
    if (opt) {
        rs->win.since = xp_json_get_str(opt, "since");
        rs->win.until = xp_json_get_str(opt, "until");
        rs->closure = xp_json_get_bool(opt, "closure", 0);
        rs->tenant = xp_json_get_str(opt, "tenant");
    }
    if (job->tenant)
        rs->tenant = job->tenant;
    if (!job->format || xp_format_parse(job->format, &rs->fmt) != 0)
        return xp_error_set(err, p, XP_EINVAL, "job %s: unknown format \"%s\"",
                            job->id, job->format ? job->format : "");
    /* the configuration may have changed since the job was queued */
    rc = xp_filter_parse(p, job->filter ? job->filter : "", env->secs,
                         &rs->filter, err);
    if (rc != XP_OK)
        return rc;
    secs = (rs->fmt == XP_FMT_DOCUMENT
                ? xp_document_sections
                : xp_filter_sections)(p, rs->filter, env->secs, rs->closure);
    if (rs->fmt == XP_FMT_DOCUMENT &&
        (rc = xp_document_check(p, secs, err)) != XP_OK)
        return rc;
    if (!xp_format_is_archive(rs->fmt) && rs->fmt != XP_FMT_DOCUMENT &&
        secs->nelts != 1)
        return xp_error_set(err, p, XP_EINVAL,
                            "job %s: format %s needs exactly one section, "
                            "the filter now covers %d",
                            job->id, job->format, secs->nelts);
    rs->plans = apr_array_make(p, secs->nelts, sizeof(sec_plan_t));
    for (i = 0; i < secs->nelts; i++) {
        sec_plan_t *sp = apr_array_push(rs->plans);
        memset(sp, 0, sizeof(*sp));
        sp->sec = APR_ARRAY_IDX(secs, i, xp_section_t *);
    }
    return XP_OK;
}

/* The names of sec's columns in its file. */
static apr_array_header_t *section_names(apr_pool_t *p, const xp_section_t *sec)
{
    apr_array_header_t *a =
        apr_array_make(p, sec->columns->nelts + 1, sizeof(const char *));
    int i;

    for (i = 0; i < sec->columns->nelts; i++)
        APR_ARRAY_PUSH(a, const char *) = xp_section_name_at(sec, i);
    return a;
}

/* The rows of sections [from, to) counted on the reading connection
 * before the read. */
static xp_errcode_e run_count(export_run_t *run, xp_source_t *src,
                              run_spec_t *rs, int from, int to, xp_error_t *err)
{
    xp_errcode_e rc;
    int i;

    for (i = from; i < to; i++) {
        sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, i, sec_plan_t);
        apr_int64_t n = 0;

        rc = xp_source_count(src, run->pool, sp->sec, sp->where, sp->args, &n,
                             err);
        if (rc != XP_OK)
            return rc;
        run->total += n;
        sp->mf.count = n; /* until the rows written say */
    }
    return XP_OK;
}

/* The rows of sections [from, ...) counted on a connection and thread of
 * their own while the rows are read; before the read when no thread is
 * to be had. */
static xp_errcode_e run_count_beside(export_run_t *run, xp_source_t *src,
                                     run_spec_t *rs, int from, xp_error_t *err)
{
    int i, n = rs->plans->nelts - from;
    xp_count_part_t *parts = apr_pcalloc(run->pool, sizeof(*parts) * (n + 1));

    for (i = 0; i < n; i++) {
        const sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, from + i, sec_plan_t);
        parts[i].sec = sp->sec;
        parts[i].where = sp->where;
        parts[i].args = sp->args;
    }
    if (xp_counter_start(run->pool, run->env->source_driver,
                         run->env->source_params, parts, n, &run->counter,
                         err) == XP_OK)
        return XP_OK;
    run->counted = 1;
    return run_count(run, src, rs, from, rs->plans->nelts, err);
}

/* Plan each section's query; count the rows (progress total). */
static xp_errcode_e run_plan(export_run_t *run, xp_source_t *src,
                             run_spec_t *rs, xp_error_t *err)
{
    apr_pool_t *p = run->pool;
    xp_errcode_e rc;
    int i, first;

    run->total = 0;
    for (i = 0; i < rs->plans->nelts; i++) {
        sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, i, sec_plan_t);
        const xp_section_t *sec = sp->sec;
        /* a document's root is never windowed (document.c) */
        int windowed = !(rs->fmt == XP_FMT_DOCUMENT && i == 0);

        sp->args = apr_array_make(p, 4, sizeof(const char *));
        sp->where = xp_filter_where(
            p, rs->filter, run->env->secs, sec, windowed ? &rs->win : NULL,
            rs->closure, rs->tenant, xp_source_dialect(src), sp->args);
        sp->mf.name = sec->name;
        sp->mf.file = apr_pstrcat(p, "data/", sec->name, ".ndjson", NULL);
        /* the file's own names (fields=), which an import reads */
        sp->mf.key = xp_section_field(sec, sec->key);
        sp->mf.columns = section_names(p, sec);
        sp->mf.windowed =
            windowed && sec->updated && (rs->win.since || rs->win.until);
        sp->mf.since = sp->mf.windowed ? rs->win.since : NULL;
        sp->mf.until = sp->mf.windowed ? rs->win.until : NULL;
    }
    /* a document checks its root's count before it writes anything */
    first = rs->fmt == XP_FMT_DOCUMENT ? 1 : 0;
    if (!xp_source_count_beside(src) || first >= rs->plans->nelts) {
        run->counted = 1;
        return run_count(run, src, rs, 0, rs->plans->nelts, err);
    }
    if ((rc = run_count(run, src, rs, 0, first, err)) != XP_OK)
        return rc;
    return run_count_beside(run, src, rs, first, err);
}

/* Where a section's rows go: tar.gz / tar.zst / zip compress them on
 * other threads while they are read (the archive is assembled from the
 * compressed entries afterwards); ndjson and json write them into the
 * file itself (run->bare). */
static xp_errcode_e sw_open(export_run_t *run, sec_writer_t *w, sec_plan_t *sp,
                            const char *tmpdir, xp_format_e fmt,
                            apr_pool_t *sp_pool, xp_error_t *err)
{
    if (run->bare) {
        w->path = sp->mf.file;
        return xp_awriter_begin(run->bare, sp->mf.file, err);
    }
    sp->tmp = apr_psprintf(run->pool, "%s/%s.%s.%s", tmpdir, run->job->id,
                           sp->sec->name, xp_format_ext(fmt));
    w->path = sp->tmp;
    APR_ARRAY_PUSH(run->temps, const char *) = sp->tmp;
    remove_stale(sp_pool, sp->tmp);
    return xp_acomp_start(sp_pool, fmt, sp->tmp, run->env->max_archive_size,
                          w->sha, &w->comp, err);
}

static xp_errcode_e sw_close(export_run_t *run, sec_writer_t *w, sec_plan_t *sp,
                             xp_error_t *err)
{
    apr_off_t raw = 0;
    xp_errcode_e rc;

    if (!w->comp) /* the bare file: closed with the run */
        return XP_OK;
    rc = xp_acomp_finish(w->comp, &raw, &sp->csize, &sp->crc, err);
    if (rc == XP_OK && raw != w->bytes)
        rc = xp_error_set(err, run->pool, XP_EIO,
                          "%s: compressed %" APR_OFF_T_FMT " bytes of "
                          "%" APR_INT64_T_FMT,
                          sp->tmp, raw, w->bytes);
    return rc;
}

/* An error's message outlives the pool it was made in; a stop (cancel,
 * timeout, shutdown) is told the same way whichever section it hit. */
static void run_keep_error(export_run_t *run, xp_errcode_e rc, xp_error_t *err)
{
    if (!err || !err->message)
        return;
    if (rc == XP_ECANCEL || rc == XP_ETIMEOUT || rc == XP_ESHUTDOWN)
        err->message = stop_reason(rc);
    else
        err->message = apr_pstrdup(run->pool, err->message);
}

static xp_errcode_e run_section(export_run_t *run, xp_source_t *src,
                                sec_plan_t *sp, const char *tmpdir,
                                xp_format_e fmt, xp_error_t *err)
{
    apr_pool_t *sp_pool;
    xp_job_ctl_t batch_ctl;
    sec_writer_t w;
    xp_errcode_e rc;

    apr_pool_create(&sp_pool, run->pool);
    sw_setup(run, &w, sp->sec, sp_pool);
    if ((rc = sw_open(run, &w, sp, tmpdir, fmt, sp_pool, err)) != XP_OK) {
        if (err && err->message)
            err->message = apr_pstrdup(run->pool, err->message);
        apr_pool_destroy(sp_pool);
        return rc;
    }
    run->cur = &w;
    memset(&batch_ctl, 0, sizeof(batch_ctl));
    batch_ctl.baton = run;
    batch_ctl.check = run_check;
    rc = xp_source_scan(src, sp_pool, sp->sec, sp->where, sp->args,
                        run->env->batch_rows > 0 ? run->env->batch_rows : 1000,
                        sw_row, &w, &batch_ctl, err);
    run->cur = NULL;
    if (rc == XP_OK)
        rc = sw_flush(&w, err);
    if (rc == XP_OK)
        rc = sw_close(run, &w, sp, err);
    if (rc == XP_OK) {
        sp->mf.count = w.rows;
        sp->mf.bytes = w.bytes;
        sp->mf.sha256 =
            run->bare ? NULL : xp_sha256_final(w.sha, run->pool, NULL);
    } else
        run_keep_error(run, rc, err);
    /* also stops a compressor thread still running after an error */
    apr_pool_destroy(sp_pool);
    return rc;
}

/* format=document: the rows go straight into the zip (document.c), which
 * is complete when the read ends. */
static xp_errcode_e run_document(export_run_t *run, xp_source_t *src,
                                 run_spec_t *rs, const char *part,
                                 xp_error_t *err)
{
    xp_job_ctl_t batch_ctl = {.baton = run, .check = run_check};
    xp_doc_job_t dj = {.src = src,
                       .path = part,
                       .max_size = run->env->max_archive_size,
                       .batch_rows = run->env->batch_rows,
                       .ctl = &batch_ctl,
                       .done = &run->done,
                       .nparts = rs->plans->nelts};
    xp_errcode_e rc;
    int i;

    dj.parts = apr_pcalloc(run->pool, sizeof(*dj.parts) * (dj.nparts + 1));
    for (i = 0; i < dj.nparts; i++) {
        const sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, i, sec_plan_t);
        dj.parts[i].sec = sp->sec;
        dj.parts[i].where = sp->where;
        dj.parts[i].args = sp->args;
        dj.parts[i].count = sp->mf.count;
    }
    remove_stale(run->pool, part);
    if ((rc = xp_document_write(run->pool, &dj, err)) != XP_OK) {
        run_keep_error(run, rc, err);
        return rc;
    }
    for (i = 0; i < dj.nparts; i++)
        APR_ARRAY_IDX(rs->plans, i, sec_plan_t).mf.count = dj.parts[i].rows;
    run->job->file_size = dj.size;
    run->job->sha256 = dj.sha256;
    return XP_OK;
}

/* Tell the runner the connection the job may wait on (NULL: closing). */
static void run_source(export_run_t *run, xp_source_t *src)
{
    if (run->ctl && run->ctl->source)
        run->ctl->source(run->ctl->baton, src);
}

/* The read phase: one transaction over every section. */
static xp_errcode_e run_read(export_run_t *run, run_spec_t *rs,
                             const char *tmpdir, const char *part,
                             xp_error_t *err)
{
    xp_source_t *src = NULL;
    apr_pool_t *p = run->pool;
    xp_errcode_e rc;
    int i;

    rc = xp_source_open(p, run->env->source_driver, run->env->source_params,
                        &src, err);
    if (rc != XP_OK)
        return rc;
    run_source(run, src);
    if ((rc = xp_source_begin_read(src, err)) != XP_OK) {
        run_source(run, NULL);
        xp_source_close(src);
        return rc;
    }
    rc = run_plan(run, src, rs, err);
    if (rc == XP_OK)
        rc = run_stop_check(run, err);
    if (rc == XP_OK && !xp_format_pipelined(rs->fmt) &&
        rs->fmt != XP_FMT_DOCUMENT) { /* ndjson, json: straight into part */
        remove_stale(p, part);
        rc = xp_awriter_open(p, part, rs->fmt, run->env->max_archive_size,
                             apr_time_now(), &run->bare, err);
    }
    if (rc == XP_OK && rs->fmt == XP_FMT_DOCUMENT)
        rc = run_document(run, src, rs, part, err);
    for (i = 0;
         rc == XP_OK && rs->fmt != XP_FMT_DOCUMENT && i < rs->plans->nelts; i++)
        rc = run_section(run, src, &APR_ARRAY_IDX(rs->plans, i, sec_plan_t),
                         tmpdir, rs->fmt, err);
    /* every row read, the total is what was read, counted or not */
    xp_counter_stop(run->counter);
    if (rc == XP_OK) {
        run->total = run->done;
        run->counted = 1;
    }
    run_source(run, NULL);
    xp_source_end_read(src);
    xp_source_close(src);
    return rc;
}

static xp_errcode_e fsync_dir(apr_pool_t *p, const char *dir, xp_error_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rv;

    if (fd < 0)
        return xp_error_set(err, p, XP_EIO, "cannot open %s: %s", dir,
                            strerror(errno));
    rv = fsync(fd);
    close(fd);
    if (rv != 0)
        return xp_error_set(err, p, XP_EIO, "cannot sync %s: %s", dir,
                            strerror(errno));
    return XP_OK;
}

static const char *run_manifest(export_run_t *run, const run_spec_t *rs)
{
    xp_manifest_t m;
    int i;

    memset(&m, 0, sizeof(m));
    m.created_at = xp_iso8601(run->pool, apr_time_now());
    m.instance = run->env->instance;
    m.filter = run->job->filter;
    m.since = rs->win.since;
    m.until = rs->win.until;
    m.closure = rs->closure;
    m.sections =
        apr_array_make(run->pool, rs->plans->nelts, sizeof(xp_mf_section_t));
    for (i = 0; i < rs->plans->nelts; i++)
        APR_ARRAY_PUSH(m.sections, xp_mf_section_t) =
            APR_ARRAY_IDX(rs->plans, i, sec_plan_t).mf;
    return xp_manifest_render(run->pool, &m);
}

/* The finished <id>.part goes under its final name. */
static xp_errcode_e run_publish(export_run_t *run, const char *part,
                                const char *final, xp_error_t *err)
{
    apr_status_t rv = apr_file_rename(part, final, run->pool);
    char e[120];

    if (rv != APR_SUCCESS)
        return xp_error_set(err, run->pool, XP_EIO, "cannot move %s to %s: %s",
                            part, final, apr_strerror(rv, e, sizeof(e)));
    return XP_OK;
}

/* Close the finished file w (<id>.part) and rename it into place. */
static xp_errcode_e run_close(export_run_t *run, xp_awriter_t *w,
                              const char *part, const char *final,
                              xp_error_t *err)
{
    const char *sha = NULL;
    apr_off_t size = 0;
    xp_errcode_e rc;

    if ((rc = xp_awriter_close(w, &size, &sha, err)) != XP_OK) {
        xp_awriter_abort(w);
        return rc;
    }
    run->job->file_size = size;
    run->job->sha256 = sha;
    return run_publish(run, part, final, err);
}

/* The write phase of an archive: <id>.part in tmp/, assembled from the
 * manifest and the sections' compressed entries, then renamed into
 * exports/. A bare format's file was written while the rows were read. */
static xp_errcode_e run_archive(export_run_t *run, const run_spec_t *rs,
                                const char *part, const char *final,
                                xp_error_t *err)
{
    apr_pool_t *p = run->pool;
    xp_awriter_t *w = NULL;
    const char *mf;
    xp_errcode_e rc;
    int i;

    if (run->bare)
        return run_close(run, run->bare, part, final, err);
    remove_stale(p, part);
    rc = xp_awriter_open_pipelined(p, part, rs->fmt, run->env->max_archive_size,
                                   apr_time_now(), &w, err);
    if (rc == XP_OK) {
        mf = run_manifest(run, rs);
        rc = xp_awriter_add_mem(w, "manifest.json", mf, strlen(mf), err);
    }
    for (i = 0; rc == XP_OK && i < rs->plans->nelts; i++) {
        const sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, i, sec_plan_t);
        rc = xp_awriter_add_compressed(w, sp->mf.file, sp->mf.bytes, sp->tmp,
                                       sp->csize, sp->crc, run->ctl, err);
    }
    if (rc != XP_OK) {
        xp_awriter_abort(w);
        return rc;
    }
    return run_close(run, w, part, final, err);
}

static void run_fill_job(export_run_t *run, const run_spec_t *rs,
                         const char *file)
{
    xp_json_t *counts = xp_json_object(run->pool);
    int i;

    for (i = 0; i < rs->plans->nelts; i++) {
        const sec_plan_t *sp = &APR_ARRAY_IDX(rs->plans, i, sec_plan_t);
        xp_json_set_int(counts, sp->sec->name, sp->mf.count);
    }
    run->job->counts = xp_json_dump(run->pool, counts);
    run->job->file = file;
    run->job->progress_done = run->done;
    run->job->progress_total = run->done;
}

static xp_errcode_e make_dir(apr_pool_t *p, const char *dir, xp_error_t *err)
{
    apr_status_t rv = apr_dir_make_recursive(
        dir, APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE, p);
    char e[120];

    if (rv != APR_SUCCESS)
        return xp_error_set(err, p, XP_EIO, "cannot create directory %s: %s",
                            dir, apr_strerror(rv, e, sizeof(e)));
    return XP_OK;
}

xp_errcode_e xp_export_run(apr_pool_t *p, const xp_export_env_t *env,
                           xp_job_t *job, const xp_job_ctl_t *ctl,
                           xp_error_t *err)
{
    export_run_t run;
    run_spec_t rs;
    const char *tmpdir, *expdir, *part, *rel, *final;
    xp_errcode_e rc;
    int i;

    memset(&run, 0, sizeof(run));
    run.pool = p;
    run.env = env;
    run.job = job;
    run.ctl = ctl;
    run.temps = apr_array_make(p, 8, sizeof(const char *));
    if ((rc = run_spec(p, env, job, &rs, err)) != XP_OK)
        return rc;
    if (rs.fmt == XP_FMT_NDJSON)
        run.raw_limit = env->max_archive_size;
    tmpdir = apr_pstrcat(p, env->storage, "/tmp", NULL);
    expdir = apr_pstrcat(p, env->storage, "/exports", NULL);
    if ((rc = make_dir(p, tmpdir, err)) || (rc = make_dir(p, expdir, err)))
        return rc;
    part = apr_psprintf(p, "%s/%s.part", tmpdir, job->id);
    rel = apr_psprintf(p, "exports/%s.%s", job->id, xp_format_ext(rs.fmt));
    final = apr_pstrcat(p, env->storage, "/", rel, NULL);

    rc = run_read(&run, &rs, tmpdir, part, err);
    if (rc == XP_OK)
        rc = run_stop_check(&run, err);
    if (rc == XP_OK)
        rc = rs.fmt == XP_FMT_DOCUMENT
                 ? run_publish(&run, part, final, err)
                 : run_archive(&run, &rs, part, final, err);
    if (rc == XP_OK && (rc = fsync_dir(p, expdir, err)) != XP_OK)
        apr_file_remove(final, p);
    for (i = 0; i < run.temps->nelts; i++)
        apr_file_remove(APR_ARRAY_IDX(run.temps, i, const char *), p);
    if (rc != XP_OK) {
        xp_awriter_abort(run.bare);
        apr_file_remove(part, p);
        job->file_size = -1;
        job->sha256 = NULL;
        return rc;
    }
    run_fill_job(&run, &rs, rel);
    if (ctl && ctl->progress)
        ctl->progress(ctl->baton, run.done, run.done);
    return XP_OK;
}
