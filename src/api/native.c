/*
 * api_native.c -- the native REST API (SPEC section 3): routes below the
 * <Location> turned into job store, export and import engine calls, and
 * the job record every route answers with. HTTP mechanics (problems,
 * bodies, connections, visibility) come from http.c, upload streaming
 * from upload.c; no SQL here.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_buckets.h>
#include <apr_file_io.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_http.h"
#include "xp_archive.h"
#include "xp_export.h"
#include "xp_hash.h"
#include "xp_import.h"
#include "xport_upload.h"

#define ALLOW_COLLECTION "GET, HEAD, POST"
#define ALLOW_ITEM "GET, HEAD, PATCH, DELETE"
#define ALLOW_DOWNLOAD "GET, HEAD"

#define PER_PAGE_DEFAULT 20
#define PER_PAGE_MAX 100
#define PAGE_MAX 1000000

#define CANCEL_POLL (apr_time_from_msec(100))
#define CANCEL_WAIT (apr_time_from_sec(10))

/* ------------------------------------------------------------------ */
/* The job record                                                      */
/* ------------------------------------------------------------------ */

/* JSON text kept on the job, compact, or an empty object/array when
 * absent or unreadable. */
static const char *stored_json(apr_pool_t *p, const char *text, int array)
{
    const char *empty = array ? "[]" : "{}";
    xp_json_t *j;
    xp_error_t err = {0};

    if (!text || !*text || !strcmp(text, empty)) {
        return empty;
    }
    j = xp_json_parse(p, text, strlen(text), &err);
    if (!j || (array ? !xp_json_is_array(j) : !xp_json_is_object(j))) {
        return empty;
    }
    return xp_json_dump(p, j);
}

static double percentage(const xp_job_t *job)
{
    double v;

    if (job->status == XP_ST_COMPLETED) {
        return 100.0;
    }
    if (job->progress_total <= 0) {
        return 0.0;
    }
    v = (double)job->progress_done * 100.0 / (double)job->progress_total;
    v = floor(v * 10.0 + 0.5) / 10.0; /* one decimal */
    return v > 100.0 ? 100.0 : v;
}

/* Seconds the job ran (or has been running). */
static double duration(const xp_job_t *job, apr_int64_t now_ms)
{
    apr_int64_t end;

    if (job->started_at <= 0) {
        return 0.0;
    }
    if (job->status == XP_ST_RUNNING) {
        end = now_ms;
    } else {
        end = job->finished_at > 0 ? job->finished_at : job->started_at;
    }
    return end > job->started_at ? (double)(end - job->started_at) / 1000.0
                                 : 0.0;
}

/*
 * The record is written as text, not built as a JSON tree and dumped: a
 * status poll is the API's most frequent request, and the tree was about
 * a quarter of its time. The text is what the tree gave: compact, keys
 * in order, reals as jansson writes them at 15 digits.
 */
static void rec_key(xp_buf_t *b, const char *key)
{
    if (b->len && b->data[b->len - 1] != '{') {
        xp_buf_addc(b, ',');
    }
    xp_buf_addc(b, '"');
    xp_buf_adds(b, key); /* the keys below need no escaping */
    xp_buf_add(b, "\":", 2);
}

static void rec_str(xp_buf_t *b, const char *key, const char *v)
{
    rec_key(b, key);
    if (v) {
        xp_buf_add_json_str(b, v, strlen(v));
    } else {
        xp_buf_add(b, "null", 4);
    }
}

static void rec_int(xp_buf_t *b, const char *key, apr_int64_t v)
{
    char n[32];

    rec_key(b, key);
    xp_buf_add(b, n, apr_snprintf(n, sizeof(n), "%" APR_INT64_T_FMT, v));
}

/* As jansson at JSON_REAL_PRECISION(15): "%.15g", and ".0" when that
 * reads as an integer. The record's reals (a percentage with one
 * decimal, seconds with three) never take an exponent. */
static void rec_real(xp_buf_t *b, const char *key, double v)
{
    char n[64];

    snprintf(n, sizeof(n), "%.15g", v);
    rec_key(b, key);
    xp_buf_adds(b, n);
    if (!strpbrk(n, ".e")) {
        xp_buf_add(b, ".0", 2);
    }
}

static void rec_raw(xp_buf_t *b, const char *key, const char *json)
{
    rec_key(b, key);
    xp_buf_adds(b, json);
}

/* The record of SPEC section 3, keys in its order, appended to b. */
static void job_record(xp_buf_t *b, apr_pool_t *p, const xp_job_t *job)
{
    int finished = xp_status_finished(job->status);

    xp_buf_addc(b, '{');
    rec_str(b, "_id", job->id);
    rec_str(b, "id", job->id);
    rec_str(b, "kind", xp_kind_name(job->kind));
    rec_str(b, "status", xp_status_name(job->status));
    rec_str(b, "filter", job->filter);
    rec_str(b, "format", job->format);
    rec_str(b, "user_id", job->user_id);
    rec_raw(b, "count", stored_json(p, job->counts, 0));
    rec_raw(b, "progress", "{");
    rec_int(b, "done", job->progress_done);
    rec_int(b, "total", job->progress_total);
    rec_real(b, "percentage", percentage(job));
    xp_buf_addc(b, '}');
    rec_real(b, "duration", duration(job, xp_now_ms()));
    if (job->file_size >= 0) {
        rec_int(b, "file_size", job->file_size);
    } else {
        rec_raw(b, "file_size", "null");
    }
    rec_str(b, "sha256", job->sha256);
    rec_raw(b, "finished", finished ? "true" : "false");
    rec_raw(b, "success", job->status == XP_ST_COMPLETED ? "true" : "false");
    rec_raw(b, "error_messages", stored_json(p, job->error_messages, 1));
    rec_int(b, "errors_total", job->errors_total);
    rec_str(b, "path", job->path);
    rec_str(b, "source_system", job->source_system);
    rec_str(b, "correlation_id", job->correlation_id);
    switch (job->kind) {
    case XP_KIND_IMPORT: {
        xp_json_t *opts = NULL;
        const char *oc = NULL;
        if (job->options && *job->options) {
            opts = xp_json_parse(p, job->options, strlen(job->options), NULL);
        }
        oc = opts ? xp_json_get_str(opts, "on_conflict") : NULL;
        rec_raw(b, "dry_run",
                opts && xp_json_get_bool(opts, "dry_run", 0) ? "true"
                                                             : "false");
        rec_str(b, "on_conflict", oc ? oc : "update");
        rec_raw(b, "changes", stored_json(p, job->changes, 0));
        break;
    }
    case XP_KIND_EXPORT:
        break;
    }
    /* job times are milliseconds, xp_iso8601 takes an apr_time_t */
    rec_str(b, "createdAt", xp_iso8601(p, apr_time_from_msec(job->created_at)));
    rec_str(b, "updatedAt", xp_iso8601(p, apr_time_from_msec(job->updated_at)));
    xp_buf_addc(b, '}');
}

/* Running jobs: the status table is fresher than the store. */
static void live_progress(xp_job_t *job)
{
    apr_int64_t done, total;

    if (!xp_status_finished(job->status) &&
        xport_live_lookup(job->id, &done, &total)) {
        job->progress_done = done;
        job->progress_total = total;
    }
}

static int send_record(xport_req_t *q, int status, xp_job_t *job)
{
    xp_buf_t b;

    if (q->r->header_only) {
        return xport_send_json(q, status, NULL);
    }
    live_progress(job);
    xp_buf_init(&b, q->r->pool, 1024);
    job_record(&b, q->r->pool, job);
    return xport_send_json_text(q, status, b.data, b.len);
}

/* ------------------------------------------------------------------ */
/* GET /exports, GET /imports                                          */
/* ------------------------------------------------------------------ */

static int field_problem(xport_req_t *q, const char *field, const char *msg)
{
    xp_error_t err = {0};

    err.code = XP_EINVAL;
    err.field = field;
    err.message = msg;
    return xport_problem_err(q, HTTP_BAD_REQUEST, &err);
}

/* A positive integer query parameter; -1 when malformed. */
static int query_int(apr_table_t *f, const char *name, int dflt, int max)
{
    const char *v = apr_table_get(f, name);
    char *end;
    apr_int64_t n;

    if (!v) {
        return dflt;
    }
    if (!apr_isdigit(*v)) {
        return -1;
    }
    n = apr_strtoi64(v, &end, 10);
    return (*end || n < 1 || n > max) ? -1 : (int)n;
}

/* The query of the paging links, ending in '&': rebuilt from the
 * validated parameters only, never copied from the request, whose other
 * bytes (quotes, '<', '>') would otherwise reach the Link header. */
static const char *paging_query(apr_pool_t *p, const xp_store_query_t *sq,
                                int per_page)
{
    return apr_psprintf(p, "%s%s%sper_page=%d&",
                        sq->has_status ? "status=" : "",
                        sq->has_status ? xp_status_name(sq->status) : "",
                        sq->has_status ? "&" : "", per_page);
}

static const char *collection(xp_kind_e kind)
{
    return kind == XP_KIND_IMPORT ? "/imports" : "/exports";
}

static void set_paging_headers(xport_req_t *q, const xp_store_query_t *sq,
                               int page, int per_page, apr_int64_t total)
{
    request_rec *r = q->r;
    const char *url =
        apr_pstrcat(r->pool, xport_url(q, collection(sq->kind)), "?",
                    paging_query(r->pool, sq, per_page), NULL);
    const char *link = NULL;

    apr_table_setn(r->headers_out, "X-Total-Count",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, total));
    if ((apr_int64_t)page * per_page < total) {
        link =
            apr_psprintf(r->pool, "<%spage=%d>; rel=\"next\"", url, page + 1);
    }
    if (page > 1) {
        const char *prev =
            apr_psprintf(r->pool, "<%spage=%d>; rel=\"prev\"", url, page - 1);
        link = link ? apr_pstrcat(r->pool, link, ", ", prev, NULL) : prev;
    }
    if (link) {
        apr_table_setn(r->headers_out, "Link", link);
    }
}

static int jobs_list(xport_req_t *q, xp_kind_e kind)
{
    request_rec *r = q->r;
    apr_table_t *f;
    xp_store_query_t sq = {0};
    xp_store_t *st;
    xp_error_t err = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = 0;
    const char *status;
    int rc, page, per_page, i;
    xp_buf_t list;

    if ((rc = xport_read_query(q, &f)) != OK || !f) {
        return rc;
    }
    if ((page = query_int(f, "page", 1, PAGE_MAX)) < 0) {
        return field_problem(q, "page",
                             "page must be an integer from 1 to 1000000.");
    }
    if ((per_page = query_int(f, "per_page", PER_PAGE_DEFAULT, PER_PAGE_MAX)) <
        0) {
        return field_problem(q, "per_page",
                             "per_page must be an integer from 1 to 100.");
    }
    if ((status = apr_table_get(f, "status"))) {
        if (xp_status_parse(status, &sq.status) != 0) {
            return field_problem(q, "status",
                                 "status must be one of queued, running, "
                                 "completed, failed, cancelled, timed_out.");
        }
        sq.has_status = 1;
    }
    sq.kind = kind;
    sq.user_id = q->supervisor ? NULL : q->caller;
    sq.offset = (page - 1) * per_page;
    sq.limit = per_page;
    if (!(st = xport_store(q))) {
        return OK;
    }
    rc = xp_store_list(st, r->pool, &sq, &jobs, &total, &err);
    if (rc == XP_EDB) { /* maybe a connection that died idle: once more */
        if (!(st = xport_store_renew(q, &err))) {
            return OK;
        }
        rc = xp_store_list(st, r->pool, &sq, &jobs, &total, &err);
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    set_paging_headers(q, &sq, page, per_page, total);
    if (r->header_only) {
        return xport_send_json(q, HTTP_OK, NULL);
    }
    xp_buf_init(&list, r->pool, 1024 * (apr_size_t)(jobs->nelts + 1));
    xp_buf_addc(&list, '[');
    for (i = 0; i < jobs->nelts; i++) {
        xp_job_t *job = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        live_progress(job);
        if (i) {
            xp_buf_addc(&list, ',');
        }
        job_record(&list, r->pool, job);
    }
    xp_buf_addc(&list, ']');
    return xport_send_json_text(q, HTTP_OK, list.data, list.len);
}

/* ------------------------------------------------------------------ */
/* POST /exports                                                       */
/* ------------------------------------------------------------------ */

static const char *const export_fields[] = {
    "filter",    "format",        "since",          "until", "closure",
    "file_name", "source_system", "correlation_id", NULL};

static int exports_create(xport_req_t *q)
{
    request_rec *r = q->r;
    apr_table_t *f;
    xp_export_params_t in = {0};
    const xp_sections_t *secs = q->cfg->sections;
    xp_error_t err = {0};
    xp_job_t *job;
    xp_store_t *st;
    int rc, max;

    if ((rc = xport_read_fields(q, export_fields, &f)) != OK || !f) {
        return rc;
    }
    if (!(in.filter = apr_table_get(f, "filter"))) {
        return field_problem(q, "filter",
                             "filter is required: one line per section, "
                             "e.g. \"users\" or \"all\".");
    }
    in.format = apr_table_get(f, "format");
    in.since = apr_table_get(f, "since");
    in.until = apr_table_get(f, "until");
    in.closure = apr_table_get(f, "closure");
    in.file_name = apr_table_get(f, "file_name");
    in.source_system = apr_table_get(f, "source_system");
    in.correlation_id = apr_table_get(f, "correlation_id");
    if (!secs) {
        secs = xp_sections_make(r->pool); /* every filter names an
                                             unknown section: a 400 */
    }
    rc = xp_export_prepare(r->pool, secs, xport_cfg_instance(q->cfg, r->server),
                           &in, &job, &err);
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    job->user_id = q->caller;
    job->server = xport_server_key(r->pool, r->server);
    if (!(st = xport_store(q))) {
        return OK;
    }
    max = xport_cfg_max_jobs_per_user(q->cfg);
    if ((rc = xp_store_insert(st, r->pool, job, max, &err)) == XP_ELIMIT) {
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return xport_problem(
            q, HTTP_TOO_MANY_REQUESTS,
            apr_psprintf(r->pool,
                         "You already have %d queued or running job%s, the "
                         "limit set by XportMaxJobsPerUser; wait for one to "
                         "finish or cancel it.",
                         max, max == 1 ? "" : "s"));
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    xport_live_wake();
    apr_table_setn(
        r->headers_out, "Location",
        xport_url(q, apr_pstrcat(r->pool, "/exports/", job->id, NULL)));
    return send_record(q, HTTP_ACCEPTED, job);
}

/* ------------------------------------------------------------------ */
/* Cancel (PATCH, DELETE)                                              */
/* ------------------------------------------------------------------ */

/* Cancel a queued or running job and wait (bounded) until a running one
 * has stopped, so the answer shows how it ended. *job is the job
 * afterwards. XP_ECONFLICT when it had already finished. */
static xp_errcode_e cancel_and_wait(xport_req_t *q, xp_store_t *st,
                                    xp_job_t **job, xp_error_t *err)
{
    request_rec *r = q->r;
    const char *id = (*job)->id;
    apr_time_t deadline = apr_time_now() + CANCEL_WAIT;
    apr_pool_t *poll;
    xp_job_t *now;
    xp_error_t ignored = {0};
    xp_errcode_e rc;
    int running = 1;

    if ((rc = xp_store_cancel(st, r->pool, id, &now, err)) != XP_OK) {
        if (rc == XP_ECONFLICT &&
            xp_store_get(st, r->pool, id, &now, &ignored) == XP_OK) {
            *job = now; /* finished meanwhile: say how */
        }
        return rc;
    }
    xport_live_request_cancel(id);
    *job = now;
    if (now->status != XP_ST_RUNNING) {
        return XP_OK;
    }
    /* poll in a pool of its own: up to 100 reads, none of them kept */
    apr_pool_create(&poll, r->pool);
    while (running && apr_time_now() < deadline) {
        apr_sleep(CANCEL_POLL);
        apr_pool_clear(poll);
        rc = xp_store_get(st, poll, id, &now, &ignored);
        running = rc == XP_OK && now->status == XP_ST_RUNNING;
    }
    apr_pool_destroy(poll);
    if (rc == XP_ENOTFOUND) {
        return XP_OK; /* deleted meanwhile: the last state we saw stands */
    }
    if (running) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "XP0610: job %s still running 10 s after its cancel "
                      "was requested; is the worker process alive?",
                      id);
    }
    return xp_store_get(st, r->pool, id, job, err);
}

static int job_cancel(xport_req_t *q, xp_job_t *job)
{
    request_rec *r = q->r;
    static const char *const names[] = {"status", NULL};
    apr_table_t *f;
    const char *status;
    xp_store_t *st;
    xp_error_t err = {0};
    int rc;

    if ((rc = xport_read_fields(q, names, &f)) != OK || !f) {
        return rc;
    }
    status = apr_table_get(f, "status");
    if (!status || strcmp(status, "cancelled")) {
        return field_problem(q, "status",
                             "status must be \"cancelled\": cancelling is "
                             "the only change a job accepts.");
    }
    if (!(st = xport_store(q))) {
        return OK;
    }
    rc = cancel_and_wait(q, st, &job, &err);
    if (rc == XP_ECONFLICT) {
        return xport_problem(
            q, HTTP_CONFLICT,
            apr_psprintf(r->pool,
                         "The job has already finished (%s); only queued or "
                         "running jobs can be cancelled.",
                         xp_status_name(job->status)));
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    return send_record(q, HTTP_OK, job);
}

/* <storage>/<job->file> (an export's archive, an import's upload),
 * refusing anything that leaves the storage. */
static const char *job_file_path(xport_req_t *q, const xp_job_t *job)
{
    char *path;

    if (!job->file || !*job->file ||
        apr_filepath_merge(&path, xport_cfg_storage(q->cfg), job->file,
                           APR_FILEPATH_SECUREROOT,
                           q->r->pool) != APR_SUCCESS) {
        return NULL;
    }
    return path;
}

static void remove_job_file(xport_req_t *q, const xp_job_t *job)
{
    const char *path = job_file_path(q, job);
    apr_status_t rv;

    if (path && (rv = apr_file_remove(path, q->r->pool)) != APR_SUCCESS &&
        !APR_STATUS_IS_ENOENT(rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, q->r,
                      "XP0611: job %s: cannot remove its file %s; the "
                      "retention purge will not see it again, remove it "
                      "by hand",
                      job->id, path);
    }
}

static int job_delete(xport_req_t *q, xp_job_t *job)
{
    xp_store_t *st;
    xp_error_t err = {0};
    xp_job_t *before = job;
    xp_errcode_e rc;

    ap_discard_request_body(q->r);
    if (!(st = xport_store(q))) {
        return OK;
    }
    if (!xp_status_finished(job->status)) {
        rc = cancel_and_wait(q, st, &job, &err);
        if (rc != XP_OK && rc != XP_ECONFLICT && rc != XP_ENOTFOUND) {
            return xport_fail(q, rc, &err);
        }
    }
    remove_job_file(q, before);
    if (job != before && job->file &&
        (!before->file || strcmp(job->file, before->file))) {
        remove_job_file(q, job);
    }
    rc = xp_store_delete(st, q->r->pool, before->id, &err);
    if (rc != XP_OK && rc != XP_ENOTFOUND) {
        return xport_fail(q, rc, &err);
    }
    return xport_send_empty(q, HTTP_NO_CONTENT);
}

/* ------------------------------------------------------------------ */
/* GET /exports/<id>/download                                          */
/* ------------------------------------------------------------------ */

/* Keep [A-Za-z0-9._-] only: nothing that could break the header. */
static const char *safe_filename(apr_pool_t *p, const char *name)
{
    char *out = apr_palloc(p, (name ? strlen(name) : 0) + 8), *o = out;

    for (; name && *name; name++) {
        if (apr_isalnum(*name) || *name == '.' || *name == '_' ||
            *name == '-') {
            *o++ = *name;
        }
    }
    *o = '\0';
    return *out ? out : "export";
}

static void set_download_headers(xport_req_t *q, const xp_job_t *job,
                                 const apr_finfo_t *fi)
{
    request_rec *r = q->r;
    xp_format_e fmt;

    ap_set_content_type(r, job->format && !xp_format_parse(job->format, &fmt)
                               ? xp_format_mime(fmt)
                               : "application/octet-stream");
    ap_set_content_length(r, fi->size);
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "attachment; filename=\"%s\"",
                                safe_filename(r->pool, job->path)));
    if (job->sha256) {
        const char *b64 = xp_sha256_hex_to_b64(r->pool, job->sha256);
        apr_table_setn(r->headers_out, "ETag",
                       apr_psprintf(r->pool, "\"%s\"", job->sha256));
        if (b64) {
            apr_table_setn(r->headers_out, "Repr-Digest",
                           apr_psprintf(r->pool, "sha-256=:%s:", b64));
        }
    }
    apr_table_setn(r->headers_out, "Accept-Ranges", "bytes");
    apr_table_setn(r->headers_out, "Cache-Control", "private");
    ap_update_mtime(r, fi->mtime);
    ap_set_last_modified(r);
    /* the bytes are already compressed, and ETag/Range name these bytes */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
}

/* 0 when the job has a file to serve, else the answer has been sent. */
static int download_refused(xport_req_t *q, const xp_job_t *job)
{
    request_rec *r = q->r;

    switch (job->status) {
    case XP_ST_QUEUED:
    case XP_ST_RUNNING:
        apr_table_setn(r->headers_out, "Retry-After", "2");
        xport_problem(q, HTTP_CONFLICT,
                      apr_psprintf(r->pool,
                                   "The export is %s; its archive can be "
                                   "downloaded once it has completed.",
                                   xp_status_name(job->status)));
        return 1;
    case XP_ST_COMPLETED:
        if (job->file && *job->file) {
            return 0;
        }
        /* fall through */
    default:
        xport_problem(
            q, HTTP_GONE,
            apr_psprintf(
                r->pool,
                "The export %s; there is no archive to "
                "download.",
                job->status == XP_ST_COMPLETED   ? "has no archive any more"
                : job->status == XP_ST_CANCELLED ? "was cancelled"
                : job->status == XP_ST_TIMED_OUT ? "timed out (XportJobTimeout)"
                                                 : "failed"));
        return 1;
    }
}

static int export_download(xport_req_t *q, xp_job_t *job)
{
    request_rec *r = q->r;
    const char *path;
    apr_finfo_t fi;
    apr_file_t *fd;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int rc;

    ap_discard_request_body(r);
    if (download_refused(q, job)) {
        return OK;
    }
    xport_store_done(q); /* not held while a slow client downloads */
    path = job_file_path(q, job);
    rv = path ? apr_stat(&fi, path,
                         APR_FINFO_SIZE | APR_FINFO_MTIME | APR_FINFO_TYPE,
                         r->pool)
              : APR_EINVAL;
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        rv = APR_EINVAL;
    }
    if (APR_STATUS_IS_ENOENT(rv)) {
        return xport_problem(q, HTTP_GONE,
                             "The archive is gone (purged after "
                             "XportRetention or removed).");
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XP0612: job %s: cannot read its archive %s "
                      "(file %s under XportStorage)",
                      job->id, path ? path : "(invalid)", job->file);
        return xport_problem(q, HTTP_INTERNAL_SERVER_ERROR,
                             "The archive cannot be read; the error log "
                             "has the details.");
    }
    set_download_headers(q, job, &fi);
    if ((rc = ap_meets_conditions(r)) != OK) {
        if (rc == HTTP_PRECONDITION_FAILED) {
            return xport_problem(q, rc,
                                 "A precondition (If-Match, "
                                 "If-Unmodified-Since) failed.");
        }
        return rc; /* 304: httpd answers with the validators set above */
    }
    if (r->header_only) {
        return OK;
    }
    rv = apr_file_open(&fd, path,
                       APR_FOPEN_READ | APR_FOPEN_BINARY |
                           APR_FOPEN_SENDFILE_ENABLED,
                       0, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XP0613: job %s: cannot open its archive %s", job->id,
                      path);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    /* a file bucket: sendfile where possible, and httpd's byterange
     * filter cuts Range requests out of it */
    apr_brigade_insert_file(bb, fd, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                      "XP0614: job %s: download interrupted", job->id);
        return AP_FILTER_ERROR;
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* POST /imports                                                       */
/* ------------------------------------------------------------------ */

static const char *const import_options[] = {
    "dry_run", "on_conflict", "sections", "unknown_columns", NULL};

/* Raw bodies: archives (raw_format NULL) and bare files. 0 when the type
 * is not one of them. */
static int raw_type(const char *mt, const char **raw_format)
{
    static const char *const archives[] = {
        "application/gzip", "application/x-gzip", "application/zstd",
        "application/zip",  "application/x-tar",  NULL};
    int i;

    *raw_format = NULL;
    for (i = 0; archives[i]; i++) {
        if (!strcmp(mt, archives[i])) {
            return 1;
        }
    }
    if (!strcmp(mt, "application/json")) {
        *raw_format = "json";
        return 1;
    }
    if (!strcmp(mt, "application/x-ndjson")) {
        *raw_format = "ndjson";
        return 1;
    }
    return 0;
}

/* The file part of a form: a bare file when its type or name says so. */
static const char *part_raw_format(apr_pool_t *p, const xport_upload_t *up)
{
    const char *ct = up->content_type, *fn = up->filename, *dot;
    const char *rf = NULL;

    if (ct) {
        char *mt = apr_pstrdup(p, ct);
        if (strchr(mt, ';')) {
            *strchr(mt, ';') = '\0';
        }
        apr_collapse_spaces(mt, mt);
        ap_str_tolower(mt);
        if (raw_type(mt, &rf) && rf) {
            return rf;
        }
    }
    dot = fn ? strrchr(fn, '.') : NULL;
    if (dot && (!strcasecmp(dot, ".ndjson") || !strcasecmp(dot, ".jsonl"))) {
        return "ndjson";
    }
    if (dot && !strcasecmp(dot, ".json")) {
        return "json";
    }
    return NULL;
}

/* Options from a table (form fields), else from the query string. */
static void import_params(xp_import_params_t *in, apr_table_t *form,
                          apr_table_t *query)
{
    const char **slot[] = {&in->dry_run, &in->on_conflict, &in->sections,
                           &in->unknown_columns};
    int i;

    for (i = 0; import_options[i]; i++) {
        const char *v = form ? apr_table_get(form, import_options[i]) : NULL;
        *slot[i] = v ? v : apr_table_get(query, import_options[i]);
    }
}

static int unsupported_type(xport_req_t *q, const char *mt)
{
    static const char raw[] =
        "application/gzip, application/zstd, application/zip, "
        "application/x-tar, application/json, application/x-ndjson";

    q->r->connection->keepalive = AP_CONN_CLOSE; /* don't read the body */
    apr_table_setn(q->r->headers_out, "Accept-Post",
                   apr_pstrcat(q->r->pool, "multipart/form-data, ", raw, NULL));
    return xport_problem(
        q, HTTP_UNSUPPORTED_MEDIA_TYPE,
        apr_psprintf(q->r->pool,
                     "Content-Type %s is not accepted for an import; send "
                     "multipart/form-data with the archive in the field "
                     "\"import\", or the archive itself as the body with "
                     "one of: %s.",
                     mt ? mt : "(none)", raw));
}

static int too_many_jobs(xport_req_t *q, int max, const char *tail)
{
    apr_table_setn(q->r->headers_out, "Retry-After", "5");
    return xport_problem(
        q, HTTP_TOO_MANY_REQUESTS,
        apr_psprintf(q->r->pool,
                     "You already have %d queued or running job%s, the "
                     "limit set by XportMaxJobsPerUser; wait for one to "
                     "finish or cancel it.%s",
                     max, max == 1 ? "" : "s", tail));
}

/* 1 if the caller is already at XportMaxJobsPerUser: refused before a
 * large upload is read, not after (the insert still decides for good).
 * 0 also when a query fails; -1 when no store connection could be had
 * (a 503 has been sent). */
static int at_job_limit(xport_req_t *q, int max)
{
    static const xp_kind_e kinds[] = {XP_KIND_EXPORT, XP_KIND_IMPORT};
    static const xp_status_e active[] = {XP_ST_QUEUED, XP_ST_RUNNING};
    apr_int64_t n = 0, total;
    xp_store_t *st;
    apr_pool_t *p;
    int k, a;

    if (max <= 0) {
        return 0;
    }
    if (!(st = xport_store(q))) {
        return -1;
    }
    apr_pool_create(&p, q->r->pool);
    for (k = 0; k < 2; k++) {
        for (a = 0; a < 2; a++) {
            xp_store_query_t sq = {kinds[k], q->caller, 1, active[a], 0, 1};
            apr_array_header_t *jobs;
            xp_error_t err = {0};

            if (xp_store_list(st, p, &sq, &jobs, &total, &err) != XP_OK) {
                apr_pool_destroy(p);
                return 0;
            }
            n += total;
        }
    }
    apr_pool_destroy(p);
    return n >= max;
}

/* Insert the job for a stored upload; the upload goes when that fails. */
static int import_insert(xport_req_t *q, xp_job_t *job,
                         const xport_upload_t *up)
{
    request_rec *r = q->r;
    xp_store_t *st;
    xp_error_t err = {0};
    int rc, max;

    job->id = up->id;
    job->user_id = q->caller;
    job->server = xport_server_key(r->pool, r->server);
    job->file = up->file;
    job->file_size = up->size;
    job->sha256 = up->sha256;
    if (!(st = xport_store(q))) {
        xport_upload_remove(q, up);
        return OK;
    }
    max = xport_cfg_max_jobs_per_user(q->cfg);
    rc = xp_store_insert(st, r->pool, job, max, &err);
    if (rc != XP_OK) {
        xport_upload_remove(q, up);
    }
    if (rc == XP_ELIMIT) {
        return too_many_jobs(q, max, " The upload was not kept.");
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    xport_live_wake();
    apr_table_setn(
        r->headers_out, "Location",
        xport_url(q, apr_pstrcat(r->pool, "/imports/", job->id, NULL)));
    return send_record(q, HTTP_ACCEPTED, job);
}

static int imports_create(xport_req_t *q)
{
    request_rec *r = q->r;
    const char *mt = xport_upload_media_type(r);
    const xp_sections_t *secs = q->cfg->sections;
    xp_import_params_t in = {0};
    apr_table_t *query;
    xport_upload_t *up;
    xp_job_t *job = NULL;
    xp_error_t err = {0};
    int rc, multipart = mt && !strcmp(mt, "multipart/form-data");

    if (!multipart && (!mt || !raw_type(mt, &in.raw_format))) {
        return unsupported_type(q, mt);
    }
    if ((rc = xport_read_query(q, &query)) != OK || !query) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return rc;
    }
    if ((rc = at_job_limit(q, xport_cfg_max_jobs_per_user(q->cfg))) != 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return rc < 0
                   ? OK
                   : too_many_jobs(q, xport_cfg_max_jobs_per_user(q->cfg), "");
    }
    if (!secs) {
        secs = xp_sections_make(r->pool); /* any sections= is unknown */
    }
    if (!multipart) { /* options known: refuse bad ones before the upload */
        import_params(&in, NULL, query);
        if ((rc = xp_import_prepare(r->pool, secs, &in, &job, &err)) != XP_OK) {
            r->connection->keepalive = AP_CONN_CLOSE;
            return xport_fail(q, rc, &err);
        }
    }
    xport_store_done(q); /* not held while the body streams in */
    rc = xport_upload_receive(q, job ? job->id : xp_new_id(r->pool), multipart,
                              "import", &up);
    if (rc != OK || !up) {
        return rc;
    }
    if (multipart) {
        import_params(&in, up->fields, query);
        in.raw_format = part_raw_format(r->pool, up);
        if ((rc = xp_import_prepare(r->pool, secs, &in, &job, &err)) != XP_OK) {
            xport_upload_remove(q, up);
            return xport_fail(q, rc, &err);
        }
    }
    return import_insert(q, job, up);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static int imports_item(xport_req_t *q, const char *id)
{
    request_rec *r = q->r;
    xp_job_t *job;
    int rc, m = r->method_number;

    if (m != M_GET && m != M_PATCH && m != M_DELETE) {
        return xport_not_allowed(q, ALLOW_ITEM);
    }
    if ((rc = xport_load_job(q, XP_KIND_IMPORT, id, &job)) != OK || !job) {
        return rc;
    }
    switch (m) {
    case M_PATCH:
        return job_cancel(q, job);
    case M_DELETE: /* the upload goes with the record */
        return job_delete(q, job);
    default:
        ap_discard_request_body(r);
        return send_record(q, HTTP_OK, job);
    }
}

/* GET /imports, POST /imports, /imports/<id>. */
static int imports_route(xport_req_t *q)
{
    apr_array_header_t *s = q->segs;

    if (s->nelts == 1) {
        switch (q->r->method_number) {
        case M_GET:
            return jobs_list(q, XP_KIND_IMPORT);
        case M_POST:
            return imports_create(q);
        default:
            return xport_not_allowed(q, ALLOW_COLLECTION);
        }
    }
    if (s->nelts == 2) {
        return imports_item(q, APR_ARRAY_IDX(s, 1, const char *));
    }
    return xport_not_found(q);
}

static int exports_item(xport_req_t *q, const char *id, int download)
{
    request_rec *r = q->r;
    xp_job_t *job;
    int rc, m = r->method_number;

    if (download ? m != M_GET : (m != M_GET && m != M_PATCH && m != M_DELETE)) {
        return xport_not_allowed(q, download ? ALLOW_DOWNLOAD : ALLOW_ITEM);
    }
    if ((rc = xport_load_job(q, XP_KIND_EXPORT, id, &job)) != OK || !job) {
        return rc;
    }
    if (download) {
        return export_download(q, job);
    }
    switch (m) {
    case M_PATCH:
        return job_cancel(q, job);
    case M_DELETE:
        return job_delete(q, job);
    default:
        ap_discard_request_body(r);
        return send_record(q, HTTP_OK, job);
    }
}

int xport_native_handle(xport_req_t *q)
{
    request_rec *r = q->r;
    apr_array_header_t *s = q->segs;
    const char *first = s->nelts > 0 ? APR_ARRAY_IDX(s, 0, const char *) : "";

    if (!strcmp(first, "imports")) {
        return imports_route(q);
    }
    if (strcmp(first, "exports")) {
        return xport_not_found(q);
    }
    if (s->nelts == 1) {
        switch (r->method_number) {
        case M_GET:
            return jobs_list(q, XP_KIND_EXPORT);
        case M_POST:
            return exports_create(q);
        default:
            return xport_not_allowed(q, ALLOW_COLLECTION);
        }
    }
    if (s->nelts == 2) {
        return exports_item(q, APR_ARRAY_IDX(s, 1, const char *), 0);
    }
    if (s->nelts == 3 &&
        !strcmp(APR_ARRAY_IDX(s, 2, const char *), "download")) {
        return exports_item(q, APR_ARRAY_IDX(s, 1, const char *), 1);
    }
    return xport_not_found(q);
}
