/*
 * native.c -- the native REST API (SPEC section 3, `XportAPI native`):
 * its routes below the <Location> mapped to the use cases (xport_jobs.h),
 * the job record every route answers with, and RFC 9457 problem+json
 * errors. HTTP mechanics come from http.c; no SQL and no job logic here.
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
#include "xport_jobs.h"

#define ALLOW_COLLECTION "GET, HEAD, POST"
#define ALLOW_ITEM "GET, HEAD, PATCH, DELETE"
#define ALLOW_DOWNLOAD "GET, HEAD"

#define PER_PAGE_DEFAULT 20
#define PER_PAGE_MAX 100
#define PAGE_MAX 1000000


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

/* error_messages: each as one sentence naming section, line and key. */
static void rec_errors(xp_buf_t *b, apr_pool_t *p, const xp_job_t *job)
{
    apr_array_header_t *all = xport_view_errors(p, job);
    int i;

    rec_key(b, "error_messages");
    xp_buf_addc(b, '[');
    for (i = 0; i < all->nelts; i++) {
        const char *t = APR_ARRAY_IDX(all, i, xport_row_error_t).text;
        if (i) {
            xp_buf_addc(b, ',');
        }
        xp_buf_add_json_str(b, t, strlen(t));
    }
    xp_buf_addc(b, ']');
}

/* The record of SPEC section 3, keys in its order, appended to b. */
static void job_record(xp_buf_t *b, apr_pool_t *p, xp_job_t *j)
{
    xport_view_t v;
    const xp_job_t *job = j;

    xport_view_make(&v, j);

    xp_buf_addc(b, '{');
    rec_str(b, "_id", job->id);
    rec_str(b, "id", job->id);
    rec_str(b, "kind", xp_kind_name(job->kind));
    rec_str(b, "api", job->api ? job->api : "native");
    rec_str(b, "status", xp_status_name(job->status));
    rec_str(b, "filter", job->filter);
    rec_str(b, "format", job->format);
    rec_str(b, "user_id", job->user_id);
    rec_raw(b, "count", stored_json(p, job->counts, 0));
    rec_raw(b, "progress", "{");
    rec_int(b, "done", v.done);
    rec_int(b, "total", v.total);
    rec_real(b, "percentage", v.percentage);
    xp_buf_addc(b, '}');
    rec_real(b, "duration", v.duration);
    if (job->file_size >= 0) {
        rec_int(b, "file_size", job->file_size);
    } else {
        rec_raw(b, "file_size", "null");
    }
    rec_str(b, "sha256", job->sha256);
    rec_raw(b, "finished", v.finished ? "true" : "false");
    rec_raw(b, "success", v.success ? "true" : "false");
    rec_errors(b, p, job);
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

static int send_record(xport_req_t *q, int status, xp_job_t *job)
{
    xp_buf_t b;

    if (q->r->header_only) {
        return xport_send_json(q, status, NULL);
    }
    xp_buf_init(&b, q->r->pool, 1024);
    job_record(&b, q->r->pool, job);
    return xport_send_json_text(q, status, b.data, b.len);
}

/* ------------------------------------------------------------------ */
/* GET /exports, GET /imports                                          */
/* ------------------------------------------------------------------ */

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
    apr_array_header_t *jobs;
    apr_int64_t total = 0;
    const char *status;
    int rc, page, per_page, i;
    xp_buf_t list;

    if ((rc = xport_read_query(q, &f)) != OK || !f) {
        return rc;
    }
    if ((page = query_int(f, "page", 1, PAGE_MAX)) < 0) {
        return xport_field_error(q, "page",
                                 "page must be an integer from 1 to 1000000.");
    }
    if ((per_page = query_int(f, "per_page", PER_PAGE_DEFAULT, PER_PAGE_MAX)) <
        0) {
        return xport_field_error(q, "per_page",
                                 "per_page must be an integer from 1 to 100.");
    }
    if ((status = apr_table_get(f, "status"))) {
        if (xp_status_parse(status, &sq.status) != 0) {
            return xport_field_error(q, "status",
                                     "status must be one of queued, running, "
                                     "completed, failed, cancelled, "
                                     "timed_out.");
        }
        sq.has_status = 1;
    }
    sq.kind = kind;
    sq.offset = (page - 1) * per_page;
    sq.limit = per_page;
    if ((rc = xport_jobs_list(q, &sq, &jobs, &total)) != OK || !jobs) {
        return rc;
    }
    set_paging_headers(q, &sq, page, per_page, total);
    if (r->header_only) {
        return xport_send_json(q, HTTP_OK, NULL);
    }
    xp_buf_init(&list, r->pool, 1024 * (apr_size_t)(jobs->nelts + 1));
    xp_buf_addc(&list, '[');
    for (i = 0; i < jobs->nelts; i++) {
        if (i) {
            xp_buf_addc(&list, ',');
        }
        job_record(&list, r->pool, APR_ARRAY_IDX(jobs, i, xp_job_t *));
    }
    xp_buf_addc(&list, ']');
    return xport_send_json_text(q, HTTP_OK, list.data, list.len);
}

/* ------------------------------------------------------------------ */
/* POST /exports                                                       */
/* ------------------------------------------------------------------ */

static const char *const export_fields[] = {
    "filter",    "format",        "since",          "until",  "closure",
    "file_name", "source_system", "correlation_id", "tenant", NULL};

/* 1 if the caller may not act for tenant (NULL: none asked for): with an
 * API key (AuthType xport-token) the key's tenants decide, otherwise only
 * supervisors pick a tenant. */
static int tenant_refused(xport_req_t *q, const char *tenant)
{
    if (!tenant) {
        return 0;
    }
    if (xport_token_tenants(q->r)) {
        return !xport_token_tenant_allowed(q->r, tenant);
    }
    return !q->supervisor;
}

static int tenant_forbidden(xport_req_t *q, const char *tenant)
{
    return xport_error(
        q, HTTP_FORBIDDEN,
        apr_psprintf(q->r->pool,
                     "You may not act for tenant \"%s\": an API key acts "
                     "for the tenants it lists, other callers need to be "
                     "supervisors (XportSupervisor).",
                     tenant));
}

static int exports_create(xport_req_t *q)
{
    request_rec *r = q->r;
    apr_table_t *f;
    xp_export_params_t in = {0};
    xp_job_t *job;
    int rc;

    if ((rc = xport_read_fields(q, export_fields, &f)) != OK || !f) {
        return rc;
    }
    if (!(in.filter = apr_table_get(f, "filter"))) {
        return xport_field_error(q, "filter",
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
    in.tenant = apr_table_get(f, "tenant");
    if (tenant_refused(q, in.tenant)) {
        return tenant_forbidden(q, in.tenant);
    }
    if ((rc = xport_jobs_export(q, &in, NULL, &job)) != OK || !job) {
        return rc;
    }
    apr_table_setn(
        r->headers_out, "Location",
        xport_url(q, apr_pstrcat(r->pool, "/exports/", job->id, NULL)));
    return send_record(q, HTTP_ACCEPTED, job);
}

/* ------------------------------------------------------------------ */
/* Cancel (PATCH, DELETE)                                              */
/* ------------------------------------------------------------------ */

static int job_cancel(xport_req_t *q, xp_job_t *job)
{
    static const char *const names[] = {"status", NULL};
    apr_table_t *f;
    const char *status;
    int rc;

    if ((rc = xport_read_fields(q, names, &f)) != OK || !f) {
        return rc;
    }
    status = apr_table_get(f, "status");
    if (!status || strcmp(status, "cancelled")) {
        return xport_field_error(q, "status",
                                 "status must be \"cancelled\": cancelling "
                                 "is the only change a job accepts.");
    }
    if ((rc = xport_jobs_cancel(q, &job)) != OK || !job) {
        return rc;
    }
    return send_record(q, HTTP_OK, job);
}

static int job_delete(xport_req_t *q, xp_job_t *job)
{
    xp_job_t *gone;
    int rc;

    if ((rc = xport_jobs_delete(q, job, &gone)) != OK || !gone) {
        return rc;
    }
    return xport_send_empty(q, HTTP_NO_CONTENT);
}

/* ------------------------------------------------------------------ */
/* POST /imports                                                       */
/* ------------------------------------------------------------------ */

static const char *const import_options[] = {
    "dry_run", "on_conflict", "sections", "unknown_columns", "tenant",
    "rewrite", NULL};

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
                           &in->unknown_columns, &in->tenant, &in->rewrite};
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
    return xport_error(
        q, HTTP_UNSUPPORTED_MEDIA_TYPE,
        apr_psprintf(q->r->pool,
                     "Content-Type %s is not accepted for an import; send "
                     "multipart/form-data with the archive in the field "
                     "\"import\", or the archive itself as the body with "
                     "one of: %s.",
                     mt ? mt : "(none)", raw));
}

/* A multipart body's options: its text fields, else the query string;
 * the file part's type or name says whether it is a bare file. */
static int import_form(xport_req_t *q, const xport_upload_t *up,
                       xp_import_params_t *in, int *ok, void *baton)
{
    import_params(in, up->fields, baton);
    in->raw_format = part_raw_format(q->r->pool, up);
    if (tenant_refused(q, in->tenant)) {
        *ok = 0;
        return tenant_forbidden(q, in->tenant);
    }
    *ok = 1;
    return OK;
}

static int imports_create(xport_req_t *q)
{
    request_rec *r = q->r;
    const char *mt = xport_media_type(r);
    xport_import_in_t in = {0};
    apr_table_t *query;
    xp_job_t *job;
    int rc;

    in.multipart = mt && !strcmp(mt, "multipart/form-data");
    if (!in.multipart && (!mt || !raw_type(mt, &in.params.raw_format))) {
        return unsupported_type(q, mt);
    }
    if ((rc = xport_read_query(q, &query)) != OK || !query) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return rc;
    }
    in.file_field = "import";
    in.from_form = import_form;
    in.baton = query;
    if (!in.multipart) { /* options known: refused before the upload */
        import_params(&in.params, NULL, query);
        if (tenant_refused(q, in.params.tenant)) {
            r->connection->keepalive = AP_CONN_CLOSE; /* body unread */
            return tenant_forbidden(q, in.params.tenant);
        }
    }
    if ((rc = xport_jobs_import(q, &in, &job, NULL)) != OK || !job) {
        return rc;
    }
    apr_table_setn(
        r->headers_out, "Location",
        xport_url(q, apr_pstrcat(r->pool, "/imports/", job->id, NULL)));
    return send_record(q, HTTP_ACCEPTED, job);
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
        static const xport_file_in_t archive = {NULL, NULL, 1};
        return xport_jobs_send_file(q, job, &archive);
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

static int native_handle(xport_req_t *q)
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

/* ------------------------------------------------------------------ */
/* Errors: RFC 9457 problem+json                                       */
/* ------------------------------------------------------------------ */

static void native_error(xport_req_t *q, int status, const xp_error_t *err)
{
    request_rec *r = q->r;
    apr_pool_t *p = r->pool;
    xp_json_t *j = xp_json_object(p);
    const char *line = ap_get_status_line(status);

    xp_json_set_str(j, "type", "about:blank");
    /* "404 Not Found" -> "Not Found" */
    xp_json_set_str(j, "title", strlen(line) > 4 ? line + 4 : line);
    xp_json_set_int(j, "status", status);
    xp_json_set_str(j, "detail", err->message);
    if (err->field || err->line > 0) {
        xp_json_t *errors = xp_json_array(p), *e = xp_json_object(p);
        xp_json_set_str(e, "field", err->field);
        xp_json_set_str(e, "detail", err->message);
        if (err->line > 0) {
            xp_json_set_int(e, "line", err->line);
            xp_json_set_int(e, "column", err->column);
        }
        xp_json_append(errors, e);
        xp_json_set(j, "errors", errors);
    }
    ap_set_content_type(r, "application/problem+json");
    ap_rputs(xp_json_dump(p, j), r);
    ap_rputc('\n', r);
}

/* Behind a LocationMatch: the leftmost "exports" or "imports" segment
 * that leaves a route shape after it (collection, item, item/download,
 * item/events). */
static int native_locate(const apr_array_header_t *all)
{
    int i, n = all->nelts;

    for (i = n > 3 ? n - 3 : 0; i < n; i++) {
        const char *seg = APR_ARRAY_IDX(all, i, const char *);
        const char *last = APR_ARRAY_IDX(all, n - 1, const char *);

        if ((!strcmp(seg, "exports") || !strcmp(seg, "imports")) &&
            (n - i < 3 || !strcmp(last, "download") ||
             !strcmp(last, "events"))) {
            return i;
        }
    }
    return -1;
}

/* The event streams' data: the record of SPEC section 3. */
static void native_record(xport_req_t *q, xp_job_t *job, xp_buf_t *b)
{
    job_record(b, q->r->pool, job);
}

const xport_api_t xport_api_native = {
    "native", native_handle, native_error, native_locate, -1, 1,
    0,        native_record,
};
