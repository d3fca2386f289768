/*
 * qiscus.c -- the chat service's backup and import API (SPEC 8.1,
 * `XportAPI qiscus`): /exports and /imports below the <Location> mapped
 * to the use cases (xport_jobs.h), its backup_history records, its
 * {"results": ..., "status": 200} bodies and {"status", "error"} errors.
 * An export is one section (`type`) as a JSON array file; an import is
 * such a file, insert-only, unknown keys dropped. The rules of the data
 * (who may be a participant, what a reply holds) are the administrator's
 * section options, views and triggers: none of them is here.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_jobs.h"

#define ALLOW_COLLECTION "GET, HEAD, POST"
#define ALLOW_EXPORT "GET, HEAD, DELETE"
#define ALLOW_READ "GET, HEAD"

#define PER_PAGE 20
#define PAGE_MAX 1000000
#define UPLOAD_LIMIT (4 * 1024 * 1024) /* "limit 4 MB each import" */

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* 32 hex digits -> 8-4-4-4-12. */
static const char *uuid_of(apr_pool_t *p, const char *id)
{
    if (!id || strlen(id) != 32) {
        return id ? id : "";
    }
    return apr_psprintf(p, "%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12,
                        id + 16, id + 20);
}

/* "2017-07-17T10:19:44+07:00": seconds, the server's UTC offset. */
static const char *local_time(apr_pool_t *p, apr_int64_t ms)
{
    apr_time_exp_t t;
    long off;

    apr_time_exp_lt(&t, apr_time_from_msec(ms));
    off = t.tm_gmtoff / 60;
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                        t.tm_min, t.tm_sec, off < 0 ? '-' : '+',
                        labs(off) / 60, labs(off) % 60);
}

/* started while queued or running, then finished or failed */
static const char *state_of(const xp_job_t *job)
{
    switch (job->status) {
    case XP_ST_QUEUED:
    case XP_ST_RUNNING:
        return "started";
    case XP_ST_COMPLETED:
        return "finished";
    default:
        return "failed";
    }
}

/* The section an export or import is about. */
static const char *type_of(apr_pool_t *p, const xp_job_t *job)
{
    xp_json_t *o, *secs;

    if (job->kind == XP_KIND_EXPORT) {
        return job->filter ? job->filter : "";
    }
    o = job->options ? xp_json_parse(p, job->options, strlen(job->options),
                                     NULL)
                     : NULL;
    secs = o ? xp_json_get(p, o, "sections") : NULL;
    if (secs && xp_json_size(secs) > 0) {
        const char *s = xp_json_str_value(xp_json_at(p, secs, 0));
        return s ? s : "";
    }
    return "";
}

static const char *export_filename(apr_pool_t *p, const xp_job_t *job)
{
    return apr_pstrcat(p, local_time(p, job->created_at), "_exported_",
                       type_of(p, job), ".json", NULL);
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

/* The first of the job's error messages, or "". */
static const char *first_error(apr_pool_t *p, const xp_job_t *job)
{
    apr_array_header_t *all = xport_view_errors(p, job);

    return all->nelts ? APR_ARRAY_IDX(all, 0, xport_row_error_t).text : "";
}

static xp_json_t *export_record(xport_req_t *q, xp_job_t *job)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p);
    xport_view_t v;

    xport_view_make(&v, job);
    xp_json_set_str(o, "created_at", local_time(p, job->created_at));
    xp_json_set_str(o, "download_url",
                    v.success ? xport_jobs_link(q, job, export_filename(p, job))
                              : "");
    xp_json_set_str(o, "error_message",
                    job->status == XP_ST_FAILED ||
                            job->status == XP_ST_TIMED_OUT
                        ? first_error(p, job)
                        : job->status == XP_ST_CANCELLED ? "cancelled" : "");
    xp_json_set_str(o, "original_filename", export_filename(p, job));
    xp_json_set_int(o, "percentage", (apr_int64_t)floor(v.percentage));
    xp_json_set_str(o, "resource_name", type_of(p, job));
    xp_json_set_int(o, "size",
                    v.success && job->file_size > 0 ? job->file_size : 0);
    xp_json_set_str(o, "status", state_of(job));
    xp_json_set_int(o, "total_rows", v.done);
    xp_json_set_str(o, "unique_id", uuid_of(p, job->id));
    return o;
}

/* What went wrong, in a sentence: the fault of the file as a whole, or
 * how many rows were refused. */
static const char *error_summary(apr_pool_t *p, const xp_job_t *job,
                                 const apr_array_header_t *rows)
{
    const xport_row_error_t *first =
        rows->nelts ? &APR_ARRAY_IDX(rows, 0, xport_row_error_t) : NULL;

    if (first && !first->section) {
        return apr_pstrcat(p, "Nothing was imported: ", first->message, NULL);
    }
    return apr_psprintf(p, "%ld row%s could not be imported; nothing was "
                           "imported",
                        job->errors_total, job->errors_total == 1 ? "" : "s");
}

/* {"Message": "", "Data": null} without errors ({} in lists), else the
 * summary and the rows' line, key and message. */
static xp_json_t *import_errors(apr_pool_t *p, const xp_job_t *job, int list)
{
    xp_json_t *o = xp_json_object(p);
    apr_array_header_t *rows;
    xp_json_t *data;
    int i;

    if (job->errors_total <= 0) {
        if (!list) {
            xp_json_set_str(o, "Message", "");
            xp_json_set_null(o, "Data");
        }
        return o;
    }
    data = xp_json_array(p);
    rows = xport_view_errors(p, job);
    for (i = 0; i < rows->nelts; i++) {
        const xport_row_error_t *e = &APR_ARRAY_IDX(rows, i, xport_row_error_t);
        xp_json_t *d = xp_json_object(p);
        xp_json_set_int(d, "line", e->line);
        xp_json_set_str(d, "key", e->key ? e->key : "");
        xp_json_set_str(d, "message", e->message);
        xp_json_append(data, d);
    }
    xp_json_set_str(o, "Message", error_summary(p, job, rows));
    xp_json_set(o, "Data", data);
    return o;
}

static xp_json_t *import_record(xport_req_t *q, xp_job_t *job, int list)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p);
    xport_view_t v;

    xport_view_make(&v, job);
    xp_json_set_str(o, "created_at", local_time(p, job->created_at));
    xp_json_set(o, "errors", import_errors(p, job, list));
    xp_json_set_str(o, "original_filename", job->path ? job->path : "");
    xp_json_set_str(o, "resource_name", type_of(p, job));
    xp_json_set_int(o, "size", job->file_size > 0 ? job->file_size : 0);
    xp_json_set_str(o, "status", state_of(job));
    xp_json_set_int(o, "total_rows", v.done);
    xp_json_set_str(o, "unique_id", uuid_of(p, job->id));
    return o;
}

static xp_json_t *record(xport_req_t *q, xp_job_t *job, int list)
{
    return job->kind == XP_KIND_EXPORT ? export_record(q, job)
                                       : import_record(q, job, list);
}

/* {"results": results, "status": 200} */
static int send_results(xport_req_t *q, xp_json_t *results)
{
    xp_json_t *o = xp_json_object(q->r->pool);

    xp_json_set(o, "results", results);
    xp_json_set_int(o, "status", HTTP_OK);
    return xport_send_json(q, HTTP_OK, o);
}

/* {"results": {"backup_history": record}, "status": 200} */
static int send_history(xport_req_t *q, xp_job_t *job)
{
    xp_json_t *o = xp_json_object(q->r->pool);

    xp_json_set(o, "backup_history", record(q, job, 0));
    return send_results(q, o);
}

/* ------------------------------------------------------------------ */
/* GET /exports, GET /imports                                          */
/* ------------------------------------------------------------------ */

static int jobs_list(xport_req_t *q, xp_kind_e kind)
{
    apr_table_t *f;
    xp_store_query_t sq = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = 0;
    const char *page = NULL;
    xp_json_t *list, *o;
    char *end;
    apr_int64_t n = 1;
    int rc, i;

    if ((rc = xport_read_query(q, &f)) != OK || !f) {
        return rc;
    }
    if ((page = apr_table_get(f, "page")) && *page) {
        n = apr_isdigit(*page) ? apr_strtoi64(page, &end, 10) : -1;
        if (!apr_isdigit(*page) || *end || n < 1 || n > PAGE_MAX) {
            return xport_field_error(q, "page",
                                     "page must be a whole number from 1.");
        }
    }
    sq.kind = kind;
    sq.offset = (int)(n - 1) * PER_PAGE;
    sq.limit = PER_PAGE;
    if ((rc = xport_jobs_list(q, &sq, &jobs, &total)) != OK || !jobs) {
        return rc;
    }
    list = xp_json_array(q->r->pool);
    for (i = 0; i < jobs->nelts; i++) {
        xp_json_append(list,
                       record(q, APR_ARRAY_IDX(jobs, i, xp_job_t *), 1));
    }
    o = xp_json_object(q->r->pool);
    xp_json_set(o, "backup_histories", list);
    return send_results(q, o);
}

/* ------------------------------------------------------------------ */
/* POST /exports                                                       */
/* ------------------------------------------------------------------ */

/* A 400 unless type names a configured section. */
static int type_refused(xport_req_t *q, const char *type)
{
    const xp_sections_t *secs = q->cfg->sections;
    apr_array_header_t *names = apr_array_make(q->r->pool, 4, sizeof(char *));
    int i;

    if (type && *type && secs && xp_sections_find(secs, type)) {
        return 0;
    }
    for (i = 0; secs && i < secs->list->nelts; i++) {
        APR_ARRAY_PUSH(names, const char *) =
            APR_ARRAY_IDX(secs->list, i, xp_section_t *)->name;
    }
    xport_field_error(
        q, "type",
        apr_psprintf(q->r->pool, "%s; permitted values are: %s.",
                     type && *type
                         ? apr_psprintf(q->r->pool,
                                        "type \"%s\" is not a resource "
                                        "that can be exported or imported",
                                        type)
                         : "type is required",
                     apr_array_pstrcat(q->r->pool, names, ',')));
    return 1;
}

/* YYYY-MM-DD as the instant its day starts in the server's time zone,
 * plus `days`, as ISO 8601; NULL when it is not such a date. */
static const char *day_start(apr_pool_t *p, const char *s, int days)
{
    struct tm tm = {0};
    int y, m, d;
    char tail;
    time_t t;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 ||
        m > 12 || d < 1 || d > 31) {
        return NULL;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_isdst = -1;
    if ((t = mktime(&tm)) == (time_t)-1 || tm.tm_mday != d) {
        return NULL; /* 2026-02-30 came back as March */
    }
    tm.tm_mday += days;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    return xp_iso8601(p, apr_time_from_sec(t));
}

/* start_date and end_date (inclusive) as the window [since, until). */
static int window(xport_req_t *q, apr_table_t *f, xp_export_params_t *in)
{
    const char *start = apr_table_get(f, "start_date");
    const char *end = apr_table_get(f, "end_date");

    if (start && *start && !(in->since = day_start(q->r->pool, start, 0))) {
        xport_field_error(q, "start_date",
                          "start_date must be a date as YYYY-MM-DD.");
        return -1;
    }
    if (end && *end && !(in->until = day_start(q->r->pool, end, 1))) {
        xport_field_error(q, "end_date",
                          "end_date must be a date as YYYY-MM-DD.");
        return -1;
    }
    if (in->since && in->until && strcmp(in->since, in->until) >= 0) {
        xport_field_error(q, "end_date",
                          "end_date must not be before start_date.");
        return -1;
    }
    return 0;
}

static int exports_create(xport_req_t *q)
{
    static const char *const names[] = {"type", "start_date", "end_date",
                                        NULL};
    apr_table_t *f;
    xp_export_params_t in = {0};
    xp_job_t *job;
    int rc;

    if ((rc = xport_read_fields(q, names, &f)) != OK || !f) {
        return rc;
    }
    in.filter = apr_table_get(f, "type");
    if (type_refused(q, in.filter) || window(q, f, &in) < 0) {
        return OK;
    }
    in.format = "json";
    if ((rc = xport_jobs_export(q, &in, NULL, &job)) != OK || !job) {
        return rc;
    }
    return send_results(q, record(q, job, 0)); /* flat, as the API has it */
}

/* ------------------------------------------------------------------ */
/* POST /imports                                                       */
/* ------------------------------------------------------------------ */

/* type and file: one section's JSON array, insert-only, keys the section
 * does not have dropped. */
static int import_form(xport_req_t *q, const xport_upload_t *up,
                       xp_import_params_t *in, int *ok, void *baton)
{
    const char *type = apr_table_get(up->fields, "type");

    (void)baton;
    *ok = 0;
    if (type_refused(q, type)) {
        return OK;
    }
    in->sections = type;
    in->raw_format = "json";
    in->on_conflict = "fail";
    in->unknown_columns = "ignore";
    *ok = 1;
    return OK;
}

static int imports_create(xport_req_t *q)
{
    const char *mt = xport_media_type(q->r);
    xport_import_in_t in = {0};
    xp_job_t *job;
    int rc;

    if (!mt || strcmp(mt, "multipart/form-data")) {
        q->r->connection->keepalive = AP_CONN_CLOSE;
        return xport_error(q, HTTP_UNSUPPORTED_MEDIA_TYPE,
                           "Send the import as multipart/form-data with the "
                           "fields \"type\" and \"file\".");
    }
    in.multipart = 1;
    in.file_field = "file";
    in.from_form = import_form;
    in.keep_filename = 1;
    if ((rc = xport_jobs_import(q, &in, &job, NULL)) != OK || !job) {
        return rc;
    }
    return send_history(q, job);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static int job_item(xport_req_t *q, xp_kind_e kind, const char *seg)
{
    int m = q->r->method_number, rc;
    const char *id = xp_id_parse(q->r->pool, seg);
    xp_job_t *job, *gone;

    if (m != M_GET && !(kind == XP_KIND_EXPORT && m == M_DELETE)) {
        return xport_not_allowed(q, kind == XP_KIND_EXPORT ? ALLOW_EXPORT
                                                           : ALLOW_READ);
    }
    if ((rc = xport_load_job(q, kind, id ? id : "", &job)) != OK || !job) {
        return rc;
    }
    if (m == M_GET) {
        ap_discard_request_body(q->r);
        return send_history(q, job);
    }
    if ((rc = xport_jobs_delete(q, job, &gone)) != OK || !gone) {
        return rc;
    }
    return send_history(q, gone);
}

static int collection(xport_req_t *q, xp_kind_e kind)
{
    switch (q->r->method_number) {
    case M_GET:
        return jobs_list(q, kind);
    case M_POST:
        return kind == XP_KIND_EXPORT ? exports_create(q) : imports_create(q);
    default:
        return xport_not_allowed(q, ALLOW_COLLECTION);
    }
}

static int qiscus_handle(xport_req_t *q)
{
    apr_array_header_t *s = q->segs;
    const char *first = s->nelts > 0 ? APR_ARRAY_IDX(s, 0, const char *) : "";
    xp_kind_e kind = XP_KIND_EXPORT;

    if (!strcmp(first, "files") && s->nelts == 3) {
        static const xport_file_in_t array = {"application/json", NULL, 0};
        if (q->r->method_number != M_GET) {
            return xport_not_allowed(q, ALLOW_READ);
        }
        return xport_jobs_send_link(q, &array);
    }
    if (!strcmp(first, "imports")) {
        kind = XP_KIND_IMPORT;
    } else if (strcmp(first, "exports")) {
        return xport_not_found(q);
    }
    if (s->nelts == 1) {
        return collection(q, kind);
    }
    if (s->nelts == 2) {
        return job_item(q, kind, APR_ARRAY_IDX(s, 1, const char *));
    }
    return xport_not_found(q);
}

/* {"status": <code>, "error": {"message": "<what was wrong>"}} */
static void qiscus_error(xport_req_t *q, int status, const xp_error_t *err)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p), *e = xp_json_object(p);

    xp_json_set_str(e, "message", err->message);
    xp_json_set_int(o, "status", status);
    xp_json_set(o, "error", e);
    ap_set_content_type(q->r, "application/json");
    ap_rputs(xp_json_dump(p, o), q->r);
    ap_rputc('\n', q->r);
}

/* The event streams' data: the backup or import record as GET shows
 * it (results.backup_history, results.import). */
static void qiscus_record(xport_req_t *q, xp_job_t *job, xp_buf_t *b)
{
    xp_buf_adds(b, xp_json_dump(q->r->pool, record(q, job, 0)));
}

const xport_api_t xport_api_qiscus = {
    "qiscus", qiscus_handle, qiscus_error, NULL, UPLOAD_LIMIT, 0,
    0,        qiscus_record,
};
