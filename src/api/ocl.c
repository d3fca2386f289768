/*
 * ocl.c -- the terminology server's repository-version export API (SPEC
 * 8.2, `XportAPI ocl`): /:ownerType/:owner/:repoType/:repo/:version/export/
 * answered with 303 / 204 / 202 / 409 as its clients expect, the versions
 * of a repository, and the updatedSince snapshot a subscriber syncs with.
 * The model is the administrator's section roles (XportOCLVersions,
 * XportOCLContent): a version is a row of the versions section whose key
 * is its URL path; nothing here knows what the content is.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_jobs.h"
#include "xp_rows.h"
#include "xp_rowjson.h"
#include "xp_filter.h"

#define ALLOW_EXPORT "GET, HEAD, POST, DELETE"
#define ALLOW_READ "GET, HEAD"
#define LINK_LIFETIME apr_time_from_sec(60) /* single use, SPEC 8.2 */
#define DOCUMENT_FORMAT "document"
#define NO_CACHE "no-cache, no-store, must-revalidate"

/* The repository (and version) a path names. */
typedef struct ocl_path_t {
    const char *owner_type, *owner, *repo_type, *repo;
    const char *repo_path;    /* "/orgs/CIEL/sources/CIEL/" */
    const char *version;      /* NULL: none in the path */
    apr_array_header_t *rest; /* segments after the version (or repo) */
} ocl_path_t;

/* A version: its row of the versions section. */
typedef struct ocl_version_t {
    const char *key;          /* its URL path */
    const char *last_updated; /* the section's updated= value, or NULL */
    const char *json;         /* the row as its API shows it */
} ocl_version_t;

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

static const char *seg(const apr_array_header_t *s, int i)
{
    return i < s->nelts ? APR_ARRAY_IDX(s, i, const char *) : NULL;
}

/* ownerType/owner/repoType/repo[/rest...], or user/repoType/repo/...
 * (the caller's own). 0, or -1 when it is no such path. */
static int parse_path(xport_req_t *q, ocl_path_t *o)
{
    const apr_array_header_t *s = q->segs;
    int i = 0, k;

    memset(o, 0, sizeof(*o));
    if (seg(s, 0) && !strcmp(seg(s, 0), "user")) {
        o->owner_type = "users";
        o->owner = q->caller;
        i = 1;
    } else if (seg(s, 0) &&
               (!strcmp(seg(s, 0), "orgs") || !strcmp(seg(s, 0), "users")) &&
               seg(s, 1)) {
        o->owner_type = seg(s, 0);
        o->owner = seg(s, 1);
        i = 2;
    } else {
        return -1;
    }
    o->repo_type = seg(s, i);
    o->repo = seg(s, i + 1);
    if (!o->repo_type || !o->repo ||
        (strcmp(o->repo_type, "sources") &&
         strcmp(o->repo_type, "collections")))
        return -1;
    o->repo_path = apr_psprintf(q->r->pool, "/%s/%s/%s/%s/", o->owner_type,
                                o->owner, o->repo_type, o->repo);
    o->rest = apr_array_make(q->r->pool, 2, sizeof(const char *));
    for (k = i + 2; k < s->nelts; k++)
        APR_ARRAY_PUSH(o->rest, const char *) = seg(s, k);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The model: section roles                                            */
/* ------------------------------------------------------------------ */

static const xp_section_t *versions_section(xport_req_t *q)
{
    apr_array_header_t *r = xport_cfg_roles(q->cfg, q->r->pool, "ocl.versions");

    return r->nelts && q->cfg->sections
               ? xp_sections_find(q->cfg->sections,
                                  APR_ARRAY_IDX(r, 0, xport_role_t).section)
               : NULL;
}

typedef struct version_scan {
    apr_pool_t *p;
    const xp_section_t *sec;
    const char *prefix;      /* keep keys starting so (a repository) */
    apr_array_header_t *out; /* ocl_version_t */
    xp_rowjson_t *rj;
} version_scan;

static xp_errcode_e version_row(void *baton, const char *const *values,
                                int ncols, xp_error_t *err)
{
    version_scan *vs = baton;
    int k = xp_section_column_index(vs->sec, vs->sec->key),
        u = xp_section_column_index(vs->sec, vs->sec->updated);
    ocl_version_t *v;
    xp_buf_t b;

    (void)err;
    if (k < 0 || !values[k] ||
        (vs->prefix && strncmp(values[k], vs->prefix, strlen(vs->prefix))))
        return XP_OK;
    xp_buf_init(&b, vs->p, 512);
    xp_rowjson_write(vs->rj, &b, values, ncols);
    v = apr_array_push(vs->out);
    v->key = apr_pstrdup(vs->p, values[k]);
    v->last_updated =
        u >= 0 && values[u] ? apr_pstrdup(vs->p, values[u]) : NULL;
    v->json = b.data;
    return XP_OK;
}

/* Versions by key (one) or by repository (prefix), read from the data
 * source. OK with *out set, or an error has been answered. */
static int versions_read(xport_req_t *q, const char *key, const char *prefix,
                         apr_array_header_t **out)
{
    const xp_section_t *sec = versions_section(q);
    version_scan vs = {q->r->pool, sec, prefix, NULL, NULL};
    xp_error_t err = {0};
    const char *filter;
    xp_errcode_e rc;

    *out = NULL;
    if (!sec) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r,
                      "XP0801: XportAPI ocl at %s needs XportOCLVersions "
                      "naming a declared section",
                      q->r->uri);
        return xport_error(q, HTTP_INTERNAL_SERVER_ERROR,
                           "The server is not configured for this API.");
    }
    vs.out = apr_array_make(q->r->pool, 8, sizeof(ocl_version_t));
    vs.rj = xp_rowjson_make(q->r->pool, sec);
    filter = key ? apr_psprintf(q->r->pool, "%s/%s=%s", sec->name, sec->key,
                                xp_filter_quote(q->r->pool, key))
                 : sec->name;
    rc = xp_rows_select(q->r->pool, q->cfg->source_driver,
                        q->cfg->source_params, q->cfg->sections, sec->name,
                        filter, NULL, key ? 1 : 0, version_row, &vs, &err);
    if (rc != XP_OK)
        return xport_fail(q, rc == XP_EINVAL ? XP_EDB : rc, &err);
    *out = vs.out;
    return OK;
}

/* The version a path names; 404 when the owner, repository (its HEAD) or
 * version is unknown. *v NULL when an error has been answered. */
static int version_of(xport_req_t *q, const ocl_path_t *o, const char *version,
                      ocl_version_t **v)
{
    apr_array_header_t *found;
    const char *key = apr_pstrcat(q->r->pool, o->repo_path, version, "/", NULL);
    int rc;

    *v = NULL;
    if ((rc = versions_read(q, key, NULL, &found)) != OK || !found)
        return rc;
    if (found->nelts == 0)
        return xport_error(
            q, HTTP_NOT_FOUND,
            apr_psprintf(q->r->pool, "No such repository version: %s", key));
    *v = &APR_ARRAY_IDX(found, 0, ocl_version_t);
    return OK;
}

/* ------------------------------------------------------------------ */
/* The export of a version                                             */
/* ------------------------------------------------------------------ */

/* The export's filter: the version row, then every content section's
 * rows that hold its key. */
static const char *export_filter(xport_req_t *q, const ocl_version_t *v)
{
    apr_pool_t *p = q->r->pool;
    const xp_section_t *sec = versions_section(q);
    apr_array_header_t *content = xport_cfg_roles(q->cfg, p, "ocl.content");
    const char *lit = xp_filter_quote(p, v->key);
    char *f = apr_psprintf(p, "%s/%s=%s", sec->name, sec->key, lit);
    int i;

    for (i = 0; i < content->nelts; i++) {
        const xport_role_t *r = &APR_ARRAY_IDX(content, i, xport_role_t);
        f = apr_psprintf(p, "%s\n%s/%s=%s", f, r->section, r->column, lit);
    }
    return f;
}

/* YYYYmmddHHMMSS (UTC) of an ISO 8601 time, or 14 zeros. */
static const char *stamp14(apr_pool_t *p, const char *iso)
{
    apr_time_t t;
    apr_time_exp_t e;

    if (!iso || xp_parse_iso8601(p, iso, &t) != NULL)
        return "00000000000000";
    apr_time_exp_gmt(&e, t);
    return apr_psprintf(p, "%04d%02d%02d%02d%02d%02d", e.tm_year + 1900,
                        e.tm_mon + 1, e.tm_mday, e.tm_hour, e.tm_min, e.tm_sec);
}

/* <repo>_<version>.<lastUpdated>, letters, digits, . _ - only. */
static const char *export_name(apr_pool_t *p, const ocl_path_t *o,
                               const char *version, const ocl_version_t *v)
{
    char *n = apr_psprintf(p, "%s_%s.%s", o->repo, version,
                           stamp14(p, v->last_updated));
    char *c;

    for (c = n; *c; c++)
        if (!apr_isalnum(*c) && *c != '.' && *c != '_' && *c != '-')
            *c = '-';
    return n;
}

/* One export per version as it is now: a changed lastUpdated is another
 * version of it, whose export does not exist yet. */
static const char *export_key(apr_pool_t *p, const ocl_version_t *v)
{
    return apr_pstrcat(p, "ocl ", v->key, " ",
                       v->last_updated ? v->last_updated : "", NULL);
}

static void set_last_updated(xport_req_t *q, const ocl_version_t *v)
{
    apr_time_t t;

    if (v->last_updated && !xp_parse_iso8601(q->r->pool, v->last_updated, &t))
        apr_table_setn(q->r->headers_out, "Last-Updated",
                       xp_iso8601(q->r->pool, t));
    apr_table_setn(q->r->headers_out, "Last-Updated-Timezone", "UTC");
}

/* 303 to a fresh single-use link of a finished export. */
static int see_link(xport_req_t *q, const xp_job_t *job, const ocl_version_t *v)
{
    const char *url = xport_jobs_link_for(q, job, job->path, LINK_LIFETIME);

    set_last_updated(q, v);
    apr_table_setn(q->r->headers_out, "Cache-Control", NO_CACHE);
    apr_table_setn(q->r->headers_out, "Location", url);
    return xport_send_empty(q, HTTP_SEE_OTHER);
}

static int export_get(xport_req_t *q, const ocl_version_t *v)
{
    xp_job_t *job;

    int failed;

    job = xport_jobs_by_key(q, export_key(q->r->pool, v), &failed);
    if (failed)
        return OK;
    if (job && job->status == XP_ST_COMPLETED)
        return see_link(q, job, v);
    apr_table_setn(q->r->headers_out, "Cache-Control", NO_CACHE);
    return xport_send_empty(q, HTTP_NO_CONTENT); /* none, or being made */
}

static int export_post(xport_req_t *q, const ocl_path_t *o, const char *version,
                       const ocl_version_t *v)
{
    xp_export_params_t in = {0};
    const char *key = export_key(q->r->pool, v);
    xp_job_t *job;
    int rc, failed;

    ap_discard_request_body(q->r);
    job = xport_jobs_by_key(q, key, &failed);
    if (failed)
        return OK;
    if (job && job->status == XP_ST_COMPLETED) {
        /* the export/ path to GET, not a Location to follow */
        apr_table_setn(q->r->headers_out, "URL", q->r->uri);
        return xport_send_empty(q, HTTP_SEE_OTHER);
    }
    if (job && !xp_status_finished(job->status))
        return xport_error(q, HTTP_CONFLICT,
                           "An export of this version is being made.");
    in.filter = export_filter(q, v);
    in.format = DOCUMENT_FORMAT;
    in.file_name = export_name(q->r->pool, o, version, v);
    if ((rc = xport_jobs_export(q, &in, key, &job)) != OK || !job)
        return rc; /* a POST racing this one: 409 */
    return xport_send_empty(q, HTTP_ACCEPTED);
}

static int export_delete(xport_req_t *q, const ocl_version_t *v)
{
    xp_job_t *job, *gone;
    int rc, failed;

    ap_discard_request_body(q->r);
    if (!q->supervisor)
        return xport_error(q, HTTP_FORBIDDEN,
                           "Only an administrator may delete an export.");
    job = xport_jobs_by_key(q, export_key(q->r->pool, v), &failed);
    if (failed)
        return OK;
    if (!job || job->status != XP_ST_COMPLETED)
        return xport_send_empty(q, HTTP_NO_CONTENT);
    if ((rc = xport_jobs_delete(q, job, &gone)) != OK || !gone)
        return rc;
    return xport_send_empty(q, HTTP_OK);
}

static int version_export(xport_req_t *q, const ocl_path_t *o)
{
    ocl_version_t *v;
    int m = q->r->method_number, rc;

    if (m != M_GET && m != M_POST && m != M_DELETE)
        return xport_not_allowed(q, ALLOW_EXPORT);
    if (!strcmp(o->version, "HEAD")) {
        apr_table_setn(q->r->headers_out, "Allow", "");
        return xport_error(q, HTTP_METHOD_NOT_ALLOWED,
                           "The HEAD version cannot be exported; export a "
                           "released version.");
    }
    if ((rc = version_of(q, o, o->version, &v)) != OK || !v)
        return rc;
    if (m == M_POST)
        return export_post(q, o, o->version, v);
    if (m == M_DELETE)
        return export_delete(q, v);
    return export_get(q, v);
}

/* ------------------------------------------------------------------ */
/* Versions, snapshots                                                 */
/* ------------------------------------------------------------------ */

static int cmp_newest(const void *a, const void *b)
{
    const ocl_version_t *x = a, *y = b;
    const char *u = x->last_updated ? x->last_updated : "";
    const char *w = y->last_updated ? y->last_updated : "";
    int c = strcmp(w, u);

    return c ? c : strcmp(x->key, y->key);
}

static int versions_list(xport_req_t *q, const ocl_path_t *o)
{
    apr_array_header_t *all;
    xp_buf_t b;
    int rc, i;

    if (q->r->method_number != M_GET)
        return xport_not_allowed(q, ALLOW_READ);
    if ((rc = versions_read(q, NULL, o->repo_path, &all)) != OK || !all)
        return rc;
    if (all->nelts == 0)
        return xport_error(
            q, HTTP_NOT_FOUND,
            apr_psprintf(q->r->pool, "No such repository: %s", o->repo_path));
    qsort(all->elts, all->nelts, sizeof(ocl_version_t), cmp_newest);
    xp_buf_init(&b, q->r->pool, 1024);
    xp_buf_addc(&b, '[');
    for (i = 0; i < all->nelts; i++) {
        if (i)
            xp_buf_addc(&b, ',');
        xp_buf_adds(&b, APR_ARRAY_IDX(all, i, ocl_version_t).json);
    }
    xp_buf_addc(&b, ']');
    return xport_send_json_text(q, HTTP_OK, b.data, b.len);
}

/* GET .../:repo/[:version/]?updatedSince=... with Compress: true: the
 * version's document of content updated since then, made by the worker
 * like any export and waited for (XportSyncWait). */
static int snapshot(xport_req_t *q, const ocl_path_t *o)
{
    static const xport_file_in_t zip = {"application/zip", NULL, 0};
    const char *compress = apr_table_get(q->r->headers_in, "Compress");
    xp_export_params_t in = {0};
    apr_table_t *f;
    ocl_version_t *v;
    xp_job_t *job, *gone;
    int rc;

    if (q->r->method_number != M_GET)
        return xport_not_allowed(q, ALLOW_READ);
    if (!compress || strcasecmp(compress, "true"))
        return xport_error(q, HTTP_NOT_ACCEPTABLE,
                           "Send \"Compress: true\": this server answers "
                           "repository contents as a zip only.");
    if ((rc = xport_read_query(q, &f)) != OK || !f)
        return rc;
    if ((rc = version_of(q, o, o->version ? o->version : "HEAD", &v)) != OK ||
        !v)
        return rc;
    in.filter = export_filter(q, v);
    in.format = DOCUMENT_FORMAT;
    in.since = apr_table_get(f, "updatedSince");
    in.file_name =
        export_name(q->r->pool, o, o->version ? o->version : "HEAD", v);
    if ((rc = xport_jobs_export(q, &in, NULL, &job)) != OK || !job)
        return rc;
    if ((rc = xport_jobs_wait(q, &job, xport_cfg_sync_wait(q->cfg))) != OK ||
        !job)
        return rc;
    if (job->status != XP_ST_COMPLETED)
        return xport_jobs_send_file(q, job, &zip); /* says why (410) */
    rc = xport_jobs_send_file(q, job, &zip);
    xport_jobs_delete(q, job, &gone); /* made for this request only */
    return rc;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static int ocl_handle(xport_req_t *q)
{
    static const xport_file_in_t zip = {"application/zip", NULL, 0};
    ocl_path_t o;
    const char *a, *b;

    if (seg(q->segs, 0) && !strcmp(seg(q->segs, 0), "files") &&
        q->segs->nelts == 3)
        return q->r->method_number == M_GET ? xport_jobs_send_link_once(q, &zip)
                                            : xport_not_allowed(q, ALLOW_READ);
    if (parse_path(q, &o) < 0)
        return xport_not_found(q);
    a = seg(o.rest, 0);
    b = seg(o.rest, 1);
    if (o.rest->nelts == 2 && !strcmp(b, "export")) {
        o.version = a;
        return version_export(q, &o);
    }
    if (o.rest->nelts == 1 && !strcmp(a, "versions"))
        return versions_list(q, &o);
    if (o.rest->nelts <= 1) {
        o.version = a;
        return snapshot(q, &o);
    }
    return xport_not_found(q);
}

/* {"detail": "<message>"} */
static void ocl_error(xport_req_t *q, int status, const xp_error_t *err)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p);

    (void)status;
    xp_json_set_str(o, "detail", err->message);
    ap_set_content_type(q->r, "application/json");
    ap_rputs(xp_json_dump(p, o), q->r);
    ap_rputc('\n', q->r);
}

const xport_api_t xport_api_ocl = {
    "ocl", ocl_handle, ocl_error, NULL, -1, 0, 0, NULL,
};
