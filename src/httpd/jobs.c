/*
 * jobs.c -- the use cases every API calls (xport_jobs.h): start an export
 * within the caller's limits, receive an import, list, cancel, delete and
 * serve a job's file, and the dialect-neutral view of a job. Errors are
 * answered through the request's API (xport_error*), so each API keeps
 * its own shape; results go back to the API to render. No SQL here: the
 * job store (xp_store.h) and the engine do the work.
 */
#include <math.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_buckets.h>
#include <apr_file_io.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_jobs.h"
#include "xp_source.h" /* xp_db_lost */
#include "xp_archive.h"
#include "xp_hash.h"

#define CANCEL_WAIT (apr_time_from_sec(10))
/* A request waiting for a job learns of its changes from the live
 * table's journal; it reads the job store when one is noted, and at
 * least this often (a change made on another node). */
#define WAIT_RECHECK (apr_time_from_sec(1))

/* ------------------------------------------------------------------ */
/* The view                                                            */
/* ------------------------------------------------------------------ */

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

void xport_view_make(xport_view_t *v, xp_job_t *job)
{
    live_progress(job);
    v->job = job;
    v->done = job->progress_done;
    v->total = job->progress_total;
    v->percentage = percentage(job);
    v->duration = duration(job, xp_now_ms());
    v->finished = xp_status_finished(job->status);
    v->success = job->status == XP_ST_COMPLETED;
}

/* A stored message: a string (job-wide), or a rejected row's object
 * {"section", "line", "column", "key", "message"} (src/engine/import.c). */
static void error_of(apr_pool_t *p, const xp_json_t *m, xport_row_error_t *e)
{
    memset(e, 0, sizeof(*e));
    if (xp_json_is_string(m)) {
        e->message = e->text = xp_json_str_value(m);
        return;
    }
    e->section = xp_json_get_str(m, "section");
    e->line = (long)xp_json_get_int(m, "line", 0);
    e->column = xp_json_get_str(m, "column");
    e->key = xp_json_get_str(m, "key");
    e->message = xp_json_get_str(m, "message");
    if (!e->message) {
        e->message = "";
    }
    if (e->key && e->column) {
        e->text = apr_psprintf(p, "%s line %ld (%s=%s): %s", e->section,
                               e->line, e->column, e->key, e->message);
    } else {
        e->text = apr_psprintf(p, "%s line %ld: %s", e->section, e->line,
                               e->message);
    }
}

apr_array_header_t *xport_view_errors(apr_pool_t *p, const xp_job_t *job)
{
    const char *t = job->error_messages;
    xp_json_t *a = t && *t ? xp_json_parse(p, t, strlen(t), NULL) : NULL;
    apr_size_t i, n = a && xp_json_is_array(a) ? xp_json_size(a) : 0;
    apr_array_header_t *out =
        apr_array_make(p, (int)n + 1, sizeof(xport_row_error_t));

    for (i = 0; i < n; i++) {
        xp_json_t *m = xp_json_at(p, a, i);
        if (m && (xp_json_is_string(m) || xp_json_is_object(m))) {
            error_of(p, m, apr_array_push(out));
        }
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* List                                                                */
/* ------------------------------------------------------------------ */

int xport_jobs_list(xport_req_t *q, xp_store_query_t *sq,
                    apr_array_header_t **jobs, apr_int64_t *total)
{
    xp_store_t *st;
    xp_error_t err = {0};
    xp_errcode_e rc;
    int i;

    *jobs = NULL;
    sq->user_id = q->supervisor ? NULL : q->caller;
    if (!(st = xport_store(q))) {
        return OK;
    }
    rc = xp_store_list_api(st, q->r->pool, sq, xport_api_scope(q), jobs,
                           total, &err);
    if (rc == XP_EDB) { /* maybe a connection that died idle: once more */
        if (!(st = xport_store_renew(q, &err))) {
            return OK;
        }
        rc = xp_store_list_api(st, q->r->pool, sq, xport_api_scope(q), jobs,
                               total, &err);
    }
    if (rc != XP_OK) {
        *jobs = NULL;
        return xport_fail(q, rc, &err);
    }
    for (i = 0; i < (*jobs)->nelts; i++) {
        live_progress(APR_ARRAY_IDX(*jobs, i, xp_job_t *));
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/* The limits a job of this request meets: XportMaxJobsPerUser, and
 * XportMaxJobsPerTenant (the Location's, else its API's default). */
static xp_store_limits_t job_limits(xport_req_t *q)
{
    xp_store_limits_t lim;

    lim.per_user = xport_cfg_max_jobs_per_user(q->cfg);
    lim.per_tenant = xport_cfg_max_jobs_per_tenant(q->r, q->api->tenant_jobs);
    return lim;
}

/* 429 for the limit named by field (as xp_store_insert_limits sets it). */
static int too_many_jobs(xport_req_t *q, const xp_store_limits_t *lim,
                         const char *field, const char *tenant,
                         const char *tail)
{
    int by_tenant = field && !strcmp(field, "XportMaxJobsPerTenant");
    int max = by_tenant ? lim->per_tenant : lim->per_user;

    apr_table_setn(q->r->headers_out, "Retry-After", "5");
    return xport_error(
        q, HTTP_TOO_MANY_REQUESTS,
        apr_psprintf(q->r->pool,
                     "%s already %s %d queued or running job%s, the limit "
                     "set by %s; wait for %s to finish or cancel %s.%s",
                     by_tenant ? apr_psprintf(q->r->pool, "Tenant \"%s\"",
                                              tenant)
                               : "You",
                     by_tenant ? "has" : "have", max, max == 1 ? "" : "s",
                     by_tenant ? "XportMaxJobsPerTenant"
                               : "XportMaxJobsPerUser",
                     max == 1 ? "it" : "one", max == 1 ? "it" : "one", tail));
}

/* The number of active jobs of the caller (tenant NULL), or of tenant's
 * jobs of kind; -1 when the store cannot tell. */
static apr_int64_t active_jobs(xport_req_t *q, xp_store_t *st, xp_kind_e kind,
                               const char *tenant)
{
    xp_store_query_t sq = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = -1;
    xp_error_t err = {0};
    apr_pool_t *p;

    apr_pool_create(&p, q->r->pool);
    sq.kind = kind;
    sq.user_id = tenant ? NULL : q->caller;
    sq.tenant = tenant;
    sq.active = 1;
    sq.limit = 1;
    if (xp_store_list(st, p, &sq, &jobs, &total, &err) != XP_OK)
        total = -1;
    apr_pool_destroy(p);
    return total;
}

/* The directive whose limit a new import of tenant would pass: refused
 * before a large upload is read, not after (the insert still decides for
 * good). NULL when there is room or the store cannot tell; "" when no
 * store connection could be had (a 503 has been sent). */
static const char *at_job_limit(xport_req_t *q, const xp_store_limits_t *lim,
                                const char *tenant)
{
    apr_int64_t n;
    xp_store_t *st;

    if (lim->per_user <= 0 && (lim->per_tenant <= 0 || !tenant))
        return NULL;
    if (!(st = xport_store(q)))
        return "";
    if (lim->per_user > 0 &&
        (n = active_jobs(q, st, XP_KIND_EXPORT, NULL)) >= 0 &&
        n + active_jobs(q, st, XP_KIND_IMPORT, NULL) >= lim->per_user)
        return "XportMaxJobsPerUser";
    if (lim->per_tenant > 0 && tenant &&
        active_jobs(q, st, XP_KIND_IMPORT, tenant) >= lim->per_tenant)
        return "XportMaxJobsPerTenant";
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Start an export                                                     */

/* Store a new job within the caller's limits; *rc is the store's
 * answer. A connection that died idle in the pool (a database restart)
 * fails before its statement ran: the insert is tried once more on a
 * fresh one. -1 when no connection could be had (a 503 has been
 * answered), else 0. */
static int job_insert(xport_req_t *q, xp_job_t *job,
                      const xp_store_limits_t *lim, xp_errcode_e *rc,
                      xp_error_t *err)
{
    xp_store_t *st = xport_store(q);

    if (!st) {
        return -1;
    }
    *rc = xp_store_insert_limits(st, q->r->pool, job, lim, err);
    if (xp_db_lost(*rc, err)) {
        if (!(st = xport_store_renew(q, err))) {
            return -1;
        }
        memset(err, 0, sizeof(*err));
        *rc = xp_store_insert_limits(st, q->r->pool, job, lim, err);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

int xport_jobs_export(xport_req_t *q, const xp_export_params_t *in,
                      const char *key, xp_job_t **job)
{
    request_rec *r = q->r;
    const xp_sections_t *secs = q->cfg->sections;
    xp_error_t err = {0};
    xp_job_t *j;
    xp_store_limits_t lim;
    xp_errcode_e rc;

    *job = NULL;
    if (!secs) {
        secs = xp_sections_make(r->pool); /* every filter names an
                                             unknown section: a 400 */
    }
    rc = xp_export_prepare(r->pool, secs, xport_cfg_instance(q->cfg, r->server),
                           in, &j, &err);
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    j->user_id = q->caller;
    j->api = q->api->name;
    j->key = key;
    j->server = xport_server_key(r->pool, r->server);
    lim = job_limits(q);
    if (job_insert(q, j, &lim, &rc, &err) < 0) {
        return OK;
    }
    if (rc == XP_ELIMIT) {
        return too_many_jobs(q, &lim, err.field, j->tenant, "");
    }
    if (rc == XP_ECONFLICT) { /* an active job has this key (a race) */
        return xport_error(q, HTTP_CONFLICT,
                           "The same job is already being made.");
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    xport_live_note(j);
    xport_live_wake();
    *job = j;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Cancel, delete                                                      */
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
    apr_uint32_t seq = xport_live_seq();
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
    xport_live_note(now);
    *job = now;
    if (now->status != XP_ST_RUNNING) {
        return XP_OK;
    }
    /* read in a pool of its own: none of the reads is kept */
    apr_pool_create(&poll, r->pool);
    while (running && apr_time_now() < deadline) {
        xport_live_await(id, &seq, WAIT_RECHECK);
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

int xport_jobs_cancel(xport_req_t *q, xp_job_t **job)
{
    xp_store_t *st;
    xp_error_t err = {0};
    xp_job_t *j = *job;
    int rc;

    *job = NULL;
    if (!(st = xport_store(q))) {
        return OK;
    }
    rc = cancel_and_wait(q, st, &j, &err);
    if (rc == XP_ECONFLICT) {
        return xport_error(
            q, HTTP_CONFLICT,
            apr_psprintf(q->r->pool,
                         "The job has already finished (%s); only queued or "
                         "running jobs can be cancelled.",
                         xp_status_name(j->status)));
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    *job = j;
    return OK;
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

int xport_jobs_delete(xport_req_t *q, xp_job_t *job, xp_job_t **gone)
{
    xp_store_t *st;
    xp_error_t err = {0};
    xp_job_t *before = job;
    xp_errcode_e rc;

    *gone = NULL;
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
    xport_live_note(before);
    *gone = before;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Serve a job's file                                                  */
/* ------------------------------------------------------------------ */

/* Keep letters, digits and ._-+: only (a time with its offset names the
 * chat service's files): nothing that could break the header. */
static const char *safe_filename(apr_pool_t *p, const char *name)
{
    char *out = apr_palloc(p, (name ? strlen(name) : 0) + 8), *o = out;

    for (; name && *name; name++) {
        if (apr_isalnum(*name) || strchr("._-+:", *name)) {
            *o++ = *name;
        }
    }
    *o = '\0';
    return *out ? out : "export";
}

static void set_download_headers(xport_req_t *q, const xp_job_t *job,
                                 const xport_file_in_t *how,
                                 const apr_finfo_t *fi)
{
    request_rec *r = q->r;
    const char *name = how->filename ? how->filename : job->path;
    xp_format_e fmt;

    if (how->content_type) {
        ap_set_content_type(r, how->content_type);
    } else {
        ap_set_content_type(r,
                            job->format && !xp_format_parse(job->format, &fmt)
                                ? xp_format_mime(fmt)
                                : "application/octet-stream");
    }
    ap_set_content_length(r, fi->size);
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "attachment; filename=\"%s\"",
                                safe_filename(r->pool, name)));
    /* the bytes are already compressed, and ETag/Range name these bytes */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    apr_table_setn(r->headers_out, "Cache-Control", "private");
    if (!how->validators) {
        return;
    }
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
    ap_update_mtime(r, fi->mtime);
    ap_set_last_modified(r);
}

/* 0 when the job has a file to serve, else the answer has been sent. */
static int download_refused(xport_req_t *q, const xp_job_t *job)
{
    request_rec *r = q->r;

    switch (job->status) {
    case XP_ST_QUEUED:
    case XP_ST_RUNNING:
        apr_table_setn(r->headers_out, "Retry-After", "2");
        xport_error(q, HTTP_CONFLICT,
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
        xport_error(
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

int xport_jobs_send_file(xport_req_t *q, const xp_job_t *job,
                         const xport_file_in_t *how)
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
        return xport_error(q, HTTP_GONE,
                             "The archive is gone (purged after "
                             "XportRetention or removed).");
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XP0612: job %s: cannot read its archive %s "
                      "(file %s under XportStorage)",
                      job->id, path ? path : "(invalid)", job->file);
        return xport_error(q, HTTP_INTERNAL_SERVER_ERROR,
                             "The archive cannot be read; the error log "
                             "has the details.");
    }
    set_download_headers(q, job, how, &fi);
    if (how->validators && (rc = ap_meets_conditions(r)) != OK) {
        if (rc == HTTP_PRECONDITION_FAILED) {
            return xport_error(q, rc,
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
/* Receive an import                                                   */
/* ------------------------------------------------------------------ */

/* Insert the job for a stored upload; the upload goes when that fails. */
static int import_insert(xport_req_t *q, xp_job_t *job,
                         const xport_upload_t *up, int keep_filename,
                         xp_job_t **out)
{
    request_rec *r = q->r;
    xp_error_t err = {0};
    xp_store_limits_t lim;
    xp_errcode_e rc;

    job->id = up->id;
    job->user_id = q->caller;
    job->api = q->api->name;
    job->server = xport_server_key(r->pool, r->server);
    job->file = up->file;
    job->file_size = up->size;
    job->sha256 = up->sha256;
    if (keep_filename && up->filename) {
        job->path = up->filename;
    }
    lim = job_limits(q);
    if (job_insert(q, job, &lim, &rc, &err) < 0) {
        xport_upload_remove(q, up);
        return OK;
    }
    if (rc != XP_OK) {
        xport_upload_remove(q, up);
    }
    if (rc == XP_ELIMIT) {
        return too_many_jobs(q, &lim, err.field, job->tenant,
                             " The upload was not kept.");
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    xport_live_note(job);
    xport_live_wake();
    *out = job;
    return OK;
}

/* Before the body is read: the job limit, and for a raw body (whose
 * options are all known) the options. *job is set for a raw body. */
static int import_precheck(xport_req_t *q, const xport_import_in_t *in,
                           const xp_sections_t *secs, xp_job_t **job,
                           int *ok)
{
    request_rec *r = q->r;
    xp_store_limits_t lim = job_limits(q);
    const char *full = at_job_limit(q, &lim, in->params.tenant);
    xp_error_t err = {0};
    int rc;

    *ok = 0;
    if (full) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return *full ? too_many_jobs(q, &lim, full, in->params.tenant, "")
                     : OK;
    }
    if (!in->multipart &&
        (rc = xp_import_prepare(r->pool, secs, &in->params, job, &err)) !=
            XP_OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return xport_fail(q, rc, &err);
    }
    *ok = 1;
    return OK;
}

int xport_jobs_import(xport_req_t *q, const xport_import_in_t *in,
                      xp_job_t **job, const xport_upload_t **stored)
{
    request_rec *r = q->r;
    const xp_sections_t *secs = q->cfg->sections;
    xp_import_params_t params = in->params;
    xport_upload_t *up;
    xp_job_t *j = NULL;
    xp_error_t err = {0};
    int rc, ok;

    *job = NULL;
    if (stored) {
        *stored = NULL;
    }
    if (!secs) {
        secs = xp_sections_make(r->pool); /* any sections= is unknown */
    }
    if ((rc = import_precheck(q, in, secs, &j, &ok)) != OK || !ok) {
        return rc;
    }
    xport_store_done(q); /* not held while the body streams in */
    rc = xport_upload_receive(q, j ? j->id : xp_new_id(r->pool), in->multipart,
                              in->file_field, &up);
    if (rc != OK || !up) {
        return rc;
    }
    if (in->multipart) {
        if ((rc = in->from_form(q, up, &params, &ok, in->baton)) != OK ||
            !ok) {
            xport_upload_remove(q, up);
            return rc;
        }
        if ((rc = xp_import_prepare(r->pool, secs, &params, &j, &err)) !=
            XP_OK) {
            xport_upload_remove(q, up);
            return xport_fail(q, rc, &err);
        }
    }
    if (stored) {
        *stored = up;
    }
    return import_insert(q, j, up, in->keep_filename, job);
}

/* ------------------------------------------------------------------ */
/* Signed links                                                        */
/* ------------------------------------------------------------------ */

const char *xport_jobs_link(xport_req_t *q, const xp_job_t *job,
                            const char *file)
{
    return xport_jobs_link_for(q, job, file, 0);
}

const char *xport_jobs_link_for(xport_req_t *q, const xp_job_t *job,
                                const char *file, apr_interval_time_t lifetime)
{
    const char *url;

    if (xport_link_make(q->r, q->base, job->id, job->user_id, file, lifetime,
                        &url) != OK) {
        return ""; /* logged: no secret in the job store */
    }
    return ap_construct_url(q->r->pool, url, q->r);
}

/* The link's job, whoever asks: the signature is the permission. */
static int link_job(xport_req_t *q, const xport_link_t *l, xp_job_t **job)
{
    xp_error_t err = {0};
    xp_errcode_e rc;

    if (xport_store_get(q, l->job_id, job, &rc, &err) < 0) {
        return OK;
    }
    if (rc == XP_ENOTFOUND || (rc == XP_OK && (*job)->kind != XP_KIND_EXPORT)) {
        *job = NULL;
        return xport_error(q, HTTP_GONE,
                           "The export this link was made for is gone.");
    }
    if (rc != XP_OK) {
        *job = NULL;
        return xport_fail(q, rc, &err);
    }
    return OK;
}

/* The request's signed link checked: OK with *l filled, or answered. */
static int link_checked(xport_req_t *q, xport_link_t *l, int *ok)
{
    int rc = xport_link_check(q->r, l);

    *ok = rc == OK;
    switch (rc) {
    case OK:
        return OK;
    case HTTP_GONE:
        return xport_error(q, rc,
                           "This download link has expired; ask for the "
                           "job again to get a new one.");
    case DECLINED: /* not a signed link at all */
    case HTTP_NOT_FOUND:
        return xport_not_found(q);
    default:
        return xport_error(q, HTTP_INTERNAL_SERVER_ERROR,
                           "The server cannot check download links; the "
                           "error log has the details.");
    }
}

static int link_send(xport_req_t *q, const xport_link_t *l,
                     const xport_file_in_t *how)
{
    xport_file_in_t named = *how;
    xp_job_t *job;
    int rc;

    if ((rc = link_job(q, l, &job)) != OK || !job) {
        return rc;
    }
    named.filename = l->file; /* the name the link's path ends with */
    return xport_jobs_send_file(q, job, &named);
}

int xport_jobs_send_link(xport_req_t *q, const xport_file_in_t *how)
{
    xport_link_t l;
    int ok, rc = link_checked(q, &l, &ok);

    return ok ? link_send(q, &l, how) : rc;
}

int xport_jobs_send_link_once(xport_req_t *q, const xport_file_in_t *how)
{
    xport_link_t l;
    xp_store_t *st;
    xp_error_t err = {0};
    int ok, used = 0, rc = link_checked(q, &l, &ok);

    if (!ok) {
        return rc;
    }
    if (!(st = xport_store(q))) {
        return OK;
    }
    if (xp_store_link_use(st, q->r->pool, l.sig, l.expires, &used, &err) !=
        XP_OK) {
        return xport_fail(q, XP_EDB, &err);
    }
    if (used) {
        return xport_error(q, HTTP_GONE,
                           "This download link has been used; links are "
                           "good for one download: ask for a new one.");
    }
    return link_send(q, &l, how);
}

/* ------------------------------------------------------------------ */
/* Jobs by key, waiting for a job                                      */
/* ------------------------------------------------------------------ */

xp_job_t *xport_jobs_by_key(xport_req_t *q, const char *key, int *failed)
{
    xp_store_t *st;
    xp_error_t err = {0};
    xp_job_t *job = NULL;
    xp_errcode_e rc;

    *failed = 1;
    if (!(st = xport_store(q))) {
        return NULL;
    }
    rc = xp_store_find_key(st, q->r->pool, key, &job, &err);
    if (rc == XP_EDB && (st = xport_store_renew(q, &err))) {
        rc = xp_store_find_key(st, q->r->pool, key, &job, &err);
    }
    if (rc != XP_OK) {
        xport_fail(q, rc, &err);
        return NULL;
    }
    *failed = 0;
    /* a key names one thing whoever asks (a version's export): the
     * API's scope holds, the caller's does not */
    return job && (!xport_api_scope(q) || (job->api && !strcmp(
                       job->api, xport_api_scope(q))))
               ? job
               : NULL;
}

int xport_jobs_wait(xport_req_t *q, xp_job_t **job, apr_interval_time_t wait)
{
    apr_time_t deadline = apr_time_now() + wait, left;
    apr_uint32_t seq = xport_live_seq();
    const char *id = (*job)->id;
    apr_pool_t *poll;
    xp_error_t err = {0};
    xp_job_t *now = *job;
    xp_store_t *st;

    apr_pool_create(&poll, q->r->pool);
    while (!xp_status_finished(now->status) &&
           (left = deadline - apr_time_now()) > 0) {
        xport_live_await(id, &seq, left < WAIT_RECHECK ? left : WAIT_RECHECK);
        apr_pool_clear(poll);
        if (!(st = xport_store(q)) ||
            xp_store_get(st, poll, id, &now, &err) != XP_OK) {
            *job = NULL;
            return st ? xport_fail(q, XP_EDB, &err) : OK;
        }
    }
    if (!xp_status_finished(now->status)) {
        *job = NULL;
        apr_table_setn(q->r->headers_out, "Retry-After", "30");
        return xport_error(q, HTTP_SERVICE_UNAVAILABLE,
                           "The export is still being made (XportSyncWait); "
                           "ask again in a while.");
    }
    apr_pool_destroy(poll);
    st = xport_store(q);
    if (!st || xp_store_get(st, q->r->pool, id, job, &err) != XP_OK) {
        *job = NULL;
        return st ? xport_fail(q, XP_EDB, &err) : OK;
    }
    return OK;
}
