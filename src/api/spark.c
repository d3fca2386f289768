/*
 * spark.c -- the rules platform's impex jobs (SPEC 8.3, `XportAPI spark`):
 * /{tenant}/api/v4/export and /import, their status, cancel and tenant
 * views, as its SDKs and CI scripts expect them (200 on POST, `closed`
 * when done, `errors` null on success, signed file links).
 *
 * The model is the administrator's section roles (XportSparkFolders,
 * XportSparkServices, XportSparkVersions, XportSparkFiles) read through
 * their fields= names. What an export holds is resolved here into a
 * filter; how an import lands (renames, replace, add_version) is planned
 * here into the engine's rewrite rules. The engine knows no services.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_uuid.h>

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_jobs.h"
#include "xp_apeek.h"
#include "xp_filter.h"
#include "xp_rows.h"

#define RECENT apr_time_from_sec(3600) /* recent_exports: the last hour */
#define DEFAULT_FILE "package.zip"
#define FORMAT "zip"
#define TENANT_JOBS 1 /* XportMaxJobsPerTenant's default here */

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

/* The sections in their roles and the column of each field. */
typedef struct spark_model_t {
    const xp_section_t *folders, *services, *versions, *files;
    int f_folder;                   /* folders: folder */
    int s_folder, s_service, s_id;  /* services */
    int v_service, v_version, v_id; /* versions */
    int l_version, l_kind;          /* files (when declared) */
    apr_array_header_t *onpremises; /* const char *: file kinds */
} spark_model_t;

typedef struct spark_service_t {
    const char *folder, *name, *id, *uri;
    apr_array_header_t *versions; /* spark_version_t *, oldest first */
} spark_service_t;

typedef struct spark_version_t {
    const char *service_id, *version, *id;
    int sv[3]; /* MAJOR.MINOR.PATCH (0s when it is none) */
    spark_service_t *service;
} spark_version_t;

/* A tenant's folders, services and versions, or an archive's. */
typedef struct spark_set_t {
    apr_pool_t *p;
    apr_hash_t *folders;          /* name -> "" */
    apr_array_header_t *services; /* spark_service_t * */
    apr_hash_t *by_id, *by_uri;   /* spark_service_t * */
    apr_hash_t *versions;         /* id -> spark_version_t * */
} spark_set_t;

/* Answer an error; -1, as the functions here that say so return once
 * answered. */
static int refuse(xport_req_t *q, int status, const char *field,
                  const char *msg)
{
    if (field)
        xport_field_error(q, field, msg);
    else
        xport_error(q, status, msg);
    return -1;
}

static const xp_section_t *role_section(xport_req_t *q, const char *role)
{
    apr_array_header_t *r = xport_cfg_roles(q->cfg, q->r->pool, role);

    return r->nelts && q->cfg->sections
               ? xp_sections_find(q->cfg->sections,
                                  APR_ARRAY_IDX(r, 0, xport_role_t).section)
               : NULL;
}

/* The column of field name in sec, or -1 (and *missing names it). */
static int field(const xp_section_t *sec, const char *name,
                 const char **missing)
{
    int i = sec && sec->columns ? xp_section_field_index(sec, name) : -1;

    if (i < 0 && !*missing)
        *missing = name;
    return i;
}

/* The model of the request's server; 0, or -1 when a 500 has been
 * answered (and the configuration's fault logged). */
static int model_load(xport_req_t *q, spark_model_t *m)
{
    const char *missing = NULL;
    apr_array_header_t *words;
    int i;

    memset(m, 0, sizeof(*m));
    m->folders = role_section(q, "spark.folders");
    m->services = role_section(q, "spark.services");
    m->versions = role_section(q, "spark.versions");
    m->files = role_section(q, "spark.files");
    m->f_folder = field(m->folders, "folder", &missing);
    m->s_folder = field(m->services, "folder", &missing);
    m->s_service = field(m->services, "service", &missing);
    m->s_id = field(m->services, "service_id", &missing);
    m->v_service = field(m->versions, "service_id", &missing);
    m->v_version = field(m->versions, "version", &missing);
    m->v_id = field(m->versions, "version_id", &missing);
    if (m->files) {
        m->l_version = field(m->files, "version_id", &missing);
        m->l_kind = field(m->files, "kind", &missing);
    }
    m->onpremises = apr_array_make(q->r->pool, 4, sizeof(const char *));
    words = xport_cfg_roles(q->cfg, q->r->pool, "spark.onpremises");
    for (i = 0; i < words->nelts; i++)
        APR_ARRAY_PUSH(m->onpremises, const char *) =
            APR_ARRAY_IDX(words, i, xport_role_t).value;
    if (!missing)
        return 0;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r,
                  "XP0901: XportAPI spark at %s needs XportSparkFolders, "
                  "XportSparkServices and XportSparkVersions naming declared "
                  "sections with the fields of SPEC 8.3 (no field \"%s\")",
                  q->r->uri, missing);
    return refuse(q, HTTP_INTERNAL_SERVER_ERROR, NULL,
                  "The server is not configured for this API.");
}

/* The name of column i of sec (for filters). */
static const char *column(const xp_section_t *sec, int i)
{
    return APR_ARRAY_IDX(sec->columns, i, const char *);
}

/* MAJOR.MINOR.PATCH into sv; -1 when v is not one. */
static int semver(const char *v, int sv[3])
{
    char *end;
    int i;

    for (i = 0; i < 3; i++) {
        if (!v || !apr_isdigit(*v))
            return -1;
        sv[i] = (int)strtol(v, &end, 10);
        v = end;
        if (*v != (i < 2 ? '.' : '\0'))
            return -1;
        v++;
    }
    return 0;
}

static int semver_cmp(const int a[3], const int b[3])
{
    int i;

    for (i = 0; i < 3; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

static spark_set_t *set_make(apr_pool_t *p)
{
    spark_set_t *s = apr_pcalloc(p, sizeof(*s));

    s->p = p;
    s->folders = apr_hash_make(p);
    s->services = apr_array_make(p, 16, sizeof(spark_service_t *));
    s->by_id = apr_hash_make(p);
    s->by_uri = apr_hash_make(p);
    s->versions = apr_hash_make(p);
    return s;
}

static void set_folder(spark_set_t *s, const char *name)
{
    if (name)
        apr_hash_set(s->folders, apr_pstrdup(s->p, name), APR_HASH_KEY_STRING,
                     "");
}

static void set_service(spark_set_t *s, const char *folder, const char *name,
                        const char *id)
{
    spark_service_t *v = apr_pcalloc(s->p, sizeof(*v));

    if (!folder || !name || !id)
        return;
    v->folder = apr_pstrdup(s->p, folder);
    v->name = apr_pstrdup(s->p, name);
    v->id = apr_pstrdup(s->p, id);
    v->uri = apr_pstrcat(s->p, folder, "/", name, NULL);
    v->versions = apr_array_make(s->p, 4, sizeof(spark_version_t *));
    APR_ARRAY_PUSH(s->services, spark_service_t *) = v;
    apr_hash_set(s->by_id, v->id, APR_HASH_KEY_STRING, v);
    apr_hash_set(s->by_uri, v->uri, APR_HASH_KEY_STRING, v);
}

/* Versions come after their services (parents first, in files and in
 * reads); one whose service is unknown is left out. */
static void set_version(spark_set_t *s, const char *service_id,
                        const char *version, const char *id)
{
    spark_service_t *svc =
        service_id ? apr_hash_get(s->by_id, service_id, APR_HASH_KEY_STRING)
                   : NULL;
    spark_version_t *v;

    if (!svc || !version || !id)
        return;
    v = apr_pcalloc(s->p, sizeof(*v));
    v->service_id = svc->id;
    v->version = apr_pstrdup(s->p, version);
    v->id = apr_pstrdup(s->p, id);
    v->service = svc;
    semver(v->version, v->sv);
    APR_ARRAY_PUSH(svc->versions, spark_version_t *) = v;
    apr_hash_set(s->versions, v->id, APR_HASH_KEY_STRING, v);
}

static int cmp_version(const void *a, const void *b)
{
    const spark_version_t *x = *(spark_version_t *const *)a;
    const spark_version_t *y = *(spark_version_t *const *)b;
    int c = semver_cmp(x->sv, y->sv);

    return c ? c : strcmp(x->version, y->version);
}

static int cmp_service(const void *a, const void *b)
{
    const spark_service_t *x = *(spark_service_t *const *)a;
    const spark_service_t *y = *(spark_service_t *const *)b;
    int c = strcmp(x->folder, y->folder);

    return c ? c : strcmp(x->name, y->name);
}

/* Services by folder and name, each one's versions oldest first. */
static void set_sort(spark_set_t *s)
{
    int i;

    qsort(s->services->elts, s->services->nelts, sizeof(spark_service_t *),
          cmp_service);
    for (i = 0; i < s->services->nelts; i++) {
        apr_array_header_t *v =
            APR_ARRAY_IDX(s->services, i, spark_service_t *)->versions;
        qsort(v->elts, v->nelts, sizeof(spark_version_t *), cmp_version);
    }
}

static spark_version_t *latest(const spark_service_t *s)
{
    return s->versions->nelts
               ? APR_ARRAY_IDX(s->versions, s->versions->nelts - 1,
                               spark_version_t *)
               : NULL;
}

/* ------------------------------------------------------------------ */
/* Reading a tenant's model                                            */
/* ------------------------------------------------------------------ */

typedef struct set_read_t {
    const spark_model_t *m;
    spark_set_t *set;
    int which; /* 0 folders, 1 services, 2 versions */
} set_read_t;

static xp_errcode_e set_row(void *baton, const char *const *values, int ncols,
                            xp_error_t *err)
{
    set_read_t *sr = baton;
    const spark_model_t *m = sr->m;

    (void)ncols;
    (void)err;
    if (sr->which == 0)
        set_folder(sr->set, values[m->f_folder]);
    else if (sr->which == 1)
        set_service(sr->set, values[m->s_folder], values[m->s_service],
                    values[m->s_id]);
    else
        set_version(sr->set, values[m->v_service], values[m->v_version],
                    values[m->v_id]);
    return XP_OK;
}

/* Tenant's folders, services and versions, read from the data source.
 * OK with *out set, or an error has been answered. */
static int set_read(xport_req_t *q, const spark_model_t *m, const char *tenant,
                    spark_set_t **out)
{
    const xp_section_t *secs[3] = {m->folders, m->services, m->versions};
    set_read_t sr = {m, set_make(q->r->pool), 0};
    xp_error_t err = {0};
    xp_errcode_e rc;

    *out = NULL;
    for (sr.which = 0; sr.which < 3; sr.which++) {
        rc = xp_rows_select(q->r->pool, q->cfg->source_driver,
                            q->cfg->source_params, q->cfg->sections,
                            secs[sr.which]->name, secs[sr.which]->name, tenant,
                            0, set_row, &sr, &err);
        if (rc != XP_OK)
            return xport_fail(q, rc == XP_EINVAL ? XP_EDB : rc, &err);
    }
    set_sort(sr.set);
    *out = sr.set;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Paths, the status record                                            */
/* ------------------------------------------------------------------ */

typedef struct spark_path_t {
    const char *tenant;
    xp_kind_e kind;
    const char *id; /* NULL: the collection (POST) or the tenant view */
    int status;     /* .../status */
} spark_path_t;

static const char *seg(const apr_array_header_t *s, int i)
{
    return i < s->nelts ? APR_ARRAY_IDX(s, i, const char *) : NULL;
}

/* {tenant}/api/v4/{export|import}[/status | /{id} | /{id}/status];
 * -1 when it is none of them. */
static int parse_path(const apr_array_header_t *s, spark_path_t *o)
{
    const char *k = seg(s, 3), *a = seg(s, 4);

    memset(o, 0, sizeof(*o));
    if (s->nelts < 4 || s->nelts > 6 || !*seg(s, 0) ||
        strcmp(seg(s, 1), "api") || strcmp(seg(s, 2), "v4") ||
        (strcmp(k, "export") && strcmp(k, "import")))
        return -1;
    o->tenant = seg(s, 0);
    o->kind = !strcmp(k, "export") ? XP_KIND_EXPORT : XP_KIND_IMPORT;
    if (s->nelts == 5 && !strcmp(a, "status"))
        o->status = 1;
    else if (s->nelts >= 5)
        o->id = a;
    if (s->nelts == 6) {
        if (strcmp(seg(s, 5), "status"))
            return -1;
        o->status = 1;
    }
    return 0;
}

static const char *status_word(xp_status_e st)
{
    switch (st) {
    case XP_ST_QUEUED:
        return "created";
    case XP_ST_RUNNING:
        return "in_progress";
    case XP_ST_COMPLETED:
        return "closed";
    case XP_ST_TIMED_OUT:
        return "closed_by_timeout";
    case XP_ST_CANCELLED:
        return "cancelled";
    default:
        return "failed";
    }
}

static const char *ms_iso(apr_pool_t *p, apr_int64_t ms)
{
    return xp_iso8601(p, (apr_time_t)ms * 1000);
}

/* How long it ran (or has been running), in ms. */
static apr_int64_t process_time(const xp_job_t *job)
{
    apr_int64_t end = job->finished_at ? job->finished_at : xp_now_ms();

    return job->started_at && end > job->started_at ? end - job->started_at : 0;
}

static const char *route_url(xport_req_t *q, const char *tenant, xp_kind_e k,
                             const char *tail)
{
    return ap_construct_url(
        q->r->pool,
        xport_url(q, apr_pstrcat(q->r->pool, "/", tenant, "/api/v4/",
                                 xp_kind_name(k), tail, NULL)),
        q->r);
}

/* null unless it failed: then [{"message": ...}] */
static xp_json_t *errors_of(apr_pool_t *p, const xp_job_t *job)
{
    apr_array_header_t *errs;
    xp_json_t *a;
    int i;

    if (job->status != XP_ST_FAILED)
        return NULL;
    errs = xport_view_errors(p, job);
    a = xp_json_array(p);
    for (i = 0; i < errs->nelts; i++) {
        xp_json_t *e = xp_json_object(p);
        xp_json_set_str(e, "message",
                        APR_ARRAY_IDX(errs, i, xport_row_error_t).text);
        xp_json_append(a, e);
    }
    if (!errs->nelts) {
        xp_json_t *e = xp_json_object(p);
        xp_json_set_str(e, "message", "The job failed.");
        xp_json_append(a, e);
    }
    return a;
}

/* outputs: the files once closed, the services and versions the job
 * was planned with (kept with it as its api_data). */
static xp_json_t *outputs_of(xport_req_t *q, const xp_job_t *job)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_job_api_data(p, job);
    xp_json_t *files = xp_json_array(p);

    if (!o || !xp_json_is_object(o)) {
        o = xp_json_object(p);
        xp_json_set(o, "services", xp_json_array(p));
        xp_json_set(o, "service_versions", xp_json_array(p));
    }
    if (job->kind == XP_KIND_EXPORT && job->status == XP_ST_COMPLETED) {
        xp_json_t *f = xp_json_object(p);
        xp_json_set_str(f, "file", xport_jobs_link(q, job, job->path));
        xp_json_set_str(f, "file_hash", job->sha256);
        xp_json_append(files, f);
    }
    xp_json_set(o, "files", files);
    return o;
}

static xp_json_t *record(xport_req_t *q, const char *tenant, xp_job_t *job)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p), *errs;
    xport_view_t v;

    xport_view_make(&v, job);
    xp_json_set_str(o, "object", xp_kind_name(job->kind));
    xp_json_set_str(o, "id", job->id);
    xp_json_set_str(o, "response_timestamp", xp_iso8601(p, apr_time_now()));
    xp_json_set_str(o, "status", status_word(job->status));
    xp_json_set_str(o, "status_url",
                    route_url(q, tenant, job->kind,
                              apr_pstrcat(p, "/", job->id, "/status", NULL)));
    xp_json_set_int(o, "process_time", process_time(job));
    xp_json_set_str(o, "source_system", job->source_system);
    xp_json_set_str(o, "correlation_id", job->correlation_id);
    if ((errs = errors_of(p, job)))
        xp_json_set(o, "errors", errs);
    else
        xp_json_set_null(o, "errors");
    xp_json_set(o, "outputs", outputs_of(q, job));
    return o;
}

static int send_record(xport_req_t *q, const char *tenant, xp_job_t *job)
{
    return xport_send_json(q, HTTP_OK, record(q, tenant, job));
}

/* ------------------------------------------------------------------ */
/* What an export holds                                                */
/* ------------------------------------------------------------------ */

/* The services and versions an export picks from the tenant's set. */
typedef struct spark_pick_t {
    apr_pool_t *p;
    const spark_set_t *set;
    int latest_only;
    apr_hash_t *services; /* id -> spark_service_t * */
    apr_hash_t *versions; /* id -> spark_version_t * */
} spark_pick_t;

static int not_found(xport_req_t *q, const char *what, const char *name)
{
    return refuse(q, HTTP_NOT_FOUND, NULL,
                  apr_psprintf(q->r->pool, "No such %s: %s", what, name));
}

static void pick_version(spark_pick_t *k, spark_version_t *v)
{
    apr_hash_set(k->services, v->service->id, APR_HASH_KEY_STRING, v->service);
    apr_hash_set(k->versions, v->id, APR_HASH_KEY_STRING, v);
}

/* A whole service: every version, or its latest. */
static void pick_service(spark_pick_t *k, spark_service_t *s)
{
    int i;

    apr_hash_set(k->services, s->id, APR_HASH_KEY_STRING, s);
    for (i = 0; i < s->versions->nelts; i++)
        if (!k->latest_only || i == s->versions->nelts - 1)
            pick_version(k, APR_ARRAY_IDX(s->versions, i, spark_version_t *));
}

/* One version asked for by name or id: with version_filter latest it
 * must be its service's latest. 0, or -1 when a 400 has been answered
 * (as every pick_ function). */
static int pick_exact(xport_req_t *q, spark_pick_t *k, spark_version_t *v)
{
    if (k->latest_only && latest(v->service) != v)
        return refuse(q, HTTP_BAD_REQUEST, "version_filter",
                      apr_psprintf(q->r->pool,
                                   "Version %s of %s is not its latest (%s), "
                                   "and version_filter is latest.",
                                   v->version, v->service->uri,
                                   latest(v->service)->version));
    pick_version(k, v);
    return 0;
}

/* The highest version that equals prefix or starts with it at a dot. */
static spark_version_t *by_prefix(const spark_service_t *s, const char *prefix)
{
    apr_size_t n = strlen(prefix);
    int i;

    for (i = s->versions->nelts - 1; i >= 0; i--) {
        spark_version_t *v = APR_ARRAY_IDX(s->versions, i, spark_version_t *);
        if (!strncmp(v->version, prefix, n) &&
            (v->version[n] == '\0' || v->version[n] == '.'))
            return v;
    }
    return NULL;
}

/* folder/service, folder/service[version] or a service_id. */
static int pick_input_service(xport_req_t *q, spark_pick_t *k, const char *in)
{
    char *uri = apr_pstrdup(k->p, in), *br = strchr(uri, '[');
    spark_service_t *s;
    spark_version_t *v;

    if (!strchr(in, '/')) {
        if (!(s = apr_hash_get(k->set->by_id, in, APR_HASH_KEY_STRING)))
            return not_found(q, "service", in);
        pick_service(k, s);
        return 0;
    }
    if (br) {
        *br++ = '\0';
        if (!*br || br[strlen(br) - 1] != ']')
            return refuse(q, HTTP_BAD_REQUEST, "inputs.services",
                          apr_psprintf(k->p,
                                       "\"%s\" is not folder/service[version]",
                                       in));
        br[strlen(br) - 1] = '\0';
    }
    if (!(s = apr_hash_get(k->set->by_uri, uri, APR_HASH_KEY_STRING)))
        return not_found(q, "service", uri);
    if (!br) {
        pick_service(k, s);
        return 0;
    }
    if (!(v = by_prefix(s, br)))
        return not_found(q, "version", in);
    return pick_exact(q, k, v);
}

static int pick_folder(xport_req_t *q, spark_pick_t *k, const char *name)
{
    int i, any = 0;

    if (!apr_hash_get(k->set->folders, name, APR_HASH_KEY_STRING))
        return not_found(q, "folder", name);
    for (i = 0; i < k->set->services->nelts; i++) {
        spark_service_t *s =
            APR_ARRAY_IDX(k->set->services, i, spark_service_t *);
        if (!strcmp(s->folder, name)) {
            pick_service(k, s);
            any = 1;
        }
    }
    if (!any)
        return refuse(
            q, HTTP_BAD_REQUEST, "inputs.folders",
            apr_psprintf(k->p, "The folder %s holds no service.", name));
    return 0;
}

/* The strings of inputs.<name> (absent: none). NULL when a 400 has been
 * answered. */
static apr_array_header_t *input_list(xport_req_t *q, const xp_json_t *inputs,
                                      const char *name)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *a = inputs ? xp_json_get(p, inputs, name) : NULL;
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(const char *));
    apr_size_t i;

    if (!a || xp_json_kind(a) == XP_JSON_NULL)
        return out;
    for (i = 0; xp_json_is_array(a) && i < xp_json_size(a); i++) {
        const char *s = xp_json_str_value(xp_json_at(p, a, i));
        if (!s || !*s)
            break;
        APR_ARRAY_PUSH(out, const char *) = s;
    }
    if (!xp_json_is_array(a) || i < xp_json_size(a)) {
        xport_field_error(q, apr_pstrcat(p, "inputs.", name, NULL),
                          "Must be an array of non-empty strings.");
        return NULL;
    }
    return out;
}

/* The union of the inputs. */
static int pick_inputs(xport_req_t *q, spark_pick_t *k, const xp_json_t *body)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *inputs = xp_json_get(p, body, "inputs");
    apr_array_header_t *f, *s, *v;
    int i, rc = 0;

    if (inputs && !xp_json_is_object(inputs))
        return refuse(q, HTTP_BAD_REQUEST, "inputs", "Must be an object.");
    if (!(f = input_list(q, inputs, "folders")) ||
        !(s = input_list(q, inputs, "services")) ||
        !(v = input_list(q, inputs, "version_ids")))
        return -1;
    if (!f->nelts && !s->nelts && !v->nelts)
        return refuse(q, HTTP_BAD_REQUEST, "inputs",
                      "Name the folders, services or version_ids to export.");
    for (i = 0; rc == 0 && i < f->nelts; i++)
        rc = pick_folder(q, k, APR_ARRAY_IDX(f, i, const char *));
    for (i = 0; rc == 0 && i < s->nelts; i++)
        rc = pick_input_service(q, k, APR_ARRAY_IDX(s, i, const char *));
    for (i = 0; rc == 0 && i < v->nelts; i++) {
        const char *id = APR_ARRAY_IDX(v, i, const char *);
        spark_version_t *ver =
            apr_hash_get(k->set->versions, id, APR_HASH_KEY_STRING);
        rc = ver ? pick_exact(q, k, ver) : not_found(q, "version_id", id);
    }
    return rc;
}

/* The picked versions in output order (folder, service, version). */
static apr_array_header_t *picked(const spark_pick_t *k)
{
    apr_array_header_t *out = apr_array_make(k->p, 16, sizeof(void *));
    int i, j;

    for (i = 0; i < k->set->services->nelts; i++) {
        spark_service_t *s =
            APR_ARRAY_IDX(k->set->services, i, spark_service_t *);
        for (j = 0; j < s->versions->nelts; j++) {
            spark_version_t *v =
                APR_ARRAY_IDX(s->versions, j, spark_version_t *);
            if (apr_hash_get(k->versions, v->id, APR_HASH_KEY_STRING))
                APR_ARRAY_PUSH(out, spark_version_t *) = v;
        }
    }
    return out;
}

/* One line of the filter, appended to f (a buffer: a tenant's folders
 * give thousands of lines). */
static void filter_line(xp_buf_t *f, const xp_section_t *sec, int col,
                        const char *value, const char *more)
{
    if (f->len)
        xp_buf_addc(f, '\n');
    xp_buf_adds(f, sec->name);
    xp_buf_addc(f, '/');
    xp_buf_adds(f, column(sec, col));
    xp_buf_addc(f, '=');
    xp_buf_adds(f, xp_filter_quote(f->pool, value));
    if (more)
        xp_buf_adds(f, more);
}

/* The export's filter: the picked versions, their services and folders,
 * and their files (of the on-premises kinds with file_filter
 * onpremises). */
static const char *export_filter(apr_pool_t *p, const spark_model_t *m,
                                 const spark_pick_t *k,
                                 const apr_array_header_t *vs, int onpremises)
{
    apr_hash_t *folders = apr_hash_make(p);
    apr_hash_index_t *hi;
    xp_buf_t f;
    int i, j;

    xp_buf_init(&f, p, 4096);
    for (hi = apr_hash_first(p, k->services); hi; hi = apr_hash_next(hi)) {
        spark_service_t *s = apr_hash_this_val(hi);
        filter_line(&f, m->services, m->s_id, s->id, NULL);
        apr_hash_set(folders, s->folder, APR_HASH_KEY_STRING, s);
    }
    for (hi = apr_hash_first(p, folders); hi; hi = apr_hash_next(hi))
        filter_line(&f, m->folders, m->f_folder, apr_hash_this_key(hi), NULL);
    for (i = 0; i < vs->nelts; i++) {
        const char *id = APR_ARRAY_IDX(vs, i, spark_version_t *)->id;
        filter_line(&f, m->versions, m->v_id, id, NULL);
        if (m->files && !onpremises)
            filter_line(&f, m->files, m->l_version, id, NULL);
        for (j = 0; m->files && onpremises && j < m->onpremises->nelts; j++)
            filter_line(
                &f, m->files, m->l_version, id,
                apr_psprintf(p, " %s=%s", column(m->files, m->l_kind),
                             xp_filter_quote(p, APR_ARRAY_IDX(m->onpremises, j,
                                                              const char *))));
    }
    return f.data;
}

/* ------------------------------------------------------------------ */
/* Outputs                                                             */
/* ------------------------------------------------------------------ */

/* What an output entry says of a service (side "source" or
 * "destination"). */
static void service_fields(apr_pool_t *p, xp_json_t *o, const char *side,
                           const char *folder, const char *name, const char *id)
{
    xp_json_set_str(o, apr_pstrcat(p, "service_uri_", side, NULL),
                    apr_pstrcat(p, folder, "/", name, NULL));
    xp_json_set_str(o, apr_pstrcat(p, "folder_", side, NULL), folder);
    xp_json_set_str(o, apr_pstrcat(p, "service_", side, NULL), name);
    xp_json_set_str(o, apr_pstrcat(p, "service_id_", side, NULL), id);
}

static void version_fields(apr_pool_t *p, xp_json_t *o, const char *side,
                           const char *folder, const char *name,
                           const char *service_id, const char *version,
                           const char *id)
{
    service_fields(p, o, side, folder, name, service_id);
    xp_json_set_str(o, apr_pstrcat(p, "service_uri_", side, NULL),
                    apr_pstrcat(p, folder, "/", name, "[", version, "]", NULL));
    xp_json_set_str(o, apr_pstrcat(p, "version_", side, NULL), version);
    xp_json_set_str(o, apr_pstrcat(p, "version_id_", side, NULL), id);
}

/* An export's outputs.services and service_versions (vs: picked(k)). */
static const char *export_outputs(apr_pool_t *p, const spark_pick_t *k,
                                  const apr_array_header_t *vs)
{
    xp_json_t *o = xp_json_object(p), *svcs = xp_json_array(p);
    xp_json_t *vers = xp_json_array(p);
    int i;

    for (i = 0; i < k->set->services->nelts; i++) {
        spark_service_t *s =
            APR_ARRAY_IDX(k->set->services, i, spark_service_t *);
        xp_json_t *e;
        if (!apr_hash_get(k->services, s->id, APR_HASH_KEY_STRING))
            continue;
        e = xp_json_object(p);
        service_fields(p, e, "source", s->folder, s->name, s->id);
        xp_json_append(svcs, e);
    }
    for (i = 0; i < vs->nelts; i++) {
        spark_version_t *v = APR_ARRAY_IDX(vs, i, spark_version_t *);
        xp_json_t *e = xp_json_object(p);
        version_fields(p, e, "source", v->service->folder, v->service->name,
                       v->service->id, v->version, v->id);
        xp_json_append(vers, e);
    }
    xp_json_set(o, "services", svcs);
    xp_json_set(o, "service_versions", vers);
    return xp_json_dump(p, o);
}

/* ------------------------------------------------------------------ */
/* Export                                                              */
/* ------------------------------------------------------------------ */

/* version_filter and file_filter; -1 when a 400 has been answered. */
static int export_filters(xport_req_t *q, const xp_json_t *body,
                          int *latest_only, int *onpremises)
{
    const char *vf = xp_json_get_str(body, "version_filter");
    const char *ff = xp_json_get_str(body, "file_filter");

    *latest_only = vf && !strcmp(vf, "latest");
    *onpremises = ff && !strcmp(ff, "onpremises");
    if (vf && !*latest_only && strcmp(vf, "all")) {
        xport_field_error(q, "version_filter", "Must be all or latest.");
        return -1;
    }
    if (ff && !*onpremises && strcmp(ff, "migrate")) {
        xport_field_error(q, "file_filter", "Must be migrate or onpremises.");
        return -1;
    }
    return 0;
}

static int export_post(xport_req_t *q, const spark_path_t *path)
{
    apr_pool_t *p = q->r->pool;
    spark_model_t m;
    spark_pick_t k = {0};
    spark_set_t *set;
    xp_export_params_t in = {0};
    apr_array_header_t *vs;
    xp_json_t *body;
    xp_job_t *job;
    int rc, onpremises;

    if ((rc = xport_read_json(q, &body)) != OK || !body)
        return rc;
    if (model_load(q, &m) < 0 ||
        export_filters(q, body, &k.latest_only, &onpremises) < 0)
        return OK;
    if ((rc = set_read(q, &m, path->tenant, &set)) != OK || !set)
        return rc;
    k.p = p;
    k.set = set;
    k.services = apr_hash_make(p);
    k.versions = apr_hash_make(p);
    if (pick_inputs(q, &k, body) < 0)
        return OK;
    vs = picked(&k);
    in.filter = export_filter(p, &m, &k, vs, onpremises);
    in.format = FORMAT;
    in.file_name = xp_json_get_str(body, "file_name");
    if (!in.file_name || !*in.file_name)
        in.file_name = DEFAULT_FILE;
    in.source_system = xp_json_get_str(body, "source_system");
    in.correlation_id = xp_json_get_str(body, "correlation_id");
    in.tenant = path->tenant;
    in.api_data = export_outputs(p, &k, vs);
    if ((rc = xport_jobs_export(q, &in, NULL, &job)) != OK || !job)
        return rc;
    return send_record(q, path->tenant, job);
}

/* ------------------------------------------------------------------ */
/* Import: the plan                                                    */
/* ------------------------------------------------------------------ */

typedef enum { EXISTING_ABORT, EXISTING_REPLACE, EXISTING_ADD } existing_e;

/* What the importRequestEntity asks, and what is made of it. */
typedef struct spark_plan_t {
    apr_pool_t *p;
    const char *tenant;
    existing_e existing;
    const char *bump;    /* update_version_type: major, minor, patch */
    apr_table_t *modify; /* service_uri_source -> destination */
    apr_table_t *bumps;  /* service_uri_source -> its update_version_type */
    const spark_set_t *dest;
    apr_hash_t *taken;         /* ids of the destination and of the plan */
    apr_hash_t *moved;         /* folder -> its services' destination folder,
                                  "" when they go to several */
    apr_array_header_t *rules; /* spark_rule_t *, in order */
    apr_hash_t *rule_of;       /* "section key" -> spark_rule_t * */
    xp_json_t *services, *versions;
} spark_plan_t;

/* One rule of the import (the engine's rewrite rules: one per row). */
typedef struct spark_rule_t {
    const char *section, *key;
    xp_json_t *set;     /* names and values to set */
    const char *reject; /* or the row's error */
} spark_rule_t;

static const char *fresh_id(apr_pool_t *p)
{
    char buf[APR_UUID_FORMATTED_LENGTH + 1];
    apr_uuid_t u;

    apr_uuid_get(&u);
    apr_uuid_format(buf, &u);
    return apr_pstrdup(p, buf);
}

/* id itself unless the destination (or the plan) has it already. */
static const char *free_id(spark_plan_t *pl, const char *id)
{
    if (apr_hash_get(pl->taken, id, APR_HASH_KEY_STRING))
        id = fresh_id(pl->p);
    apr_hash_set(pl->taken, id, APR_HASH_KEY_STRING, "");
    return id;
}

static const char *bump(apr_pool_t *p, const int sv[3], const char *how)
{
    if (!strcmp(how, "major"))
        return apr_psprintf(p, "%d.0.0", sv[0] + 1);
    if (!strcmp(how, "patch"))
        return apr_psprintf(p, "%d.%d.%d", sv[0], sv[1], sv[2] + 1);
    return apr_psprintf(p, "%d.%d.0", sv[0], sv[1] + 1);
}

/* The rule of the row of sec with key (made empty when there is none). */
static spark_rule_t *rule_of(spark_plan_t *pl, const xp_section_t *sec,
                             const char *key)
{
    const char *id = apr_pstrcat(pl->p, sec->name, " ", key, NULL);
    spark_rule_t *r = apr_hash_get(pl->rule_of, id, APR_HASH_KEY_STRING);

    if (!r) {
        r = apr_pcalloc(pl->p, sizeof(*r));
        r->section = sec->name;
        r->key = key;
        r->set = xp_json_object(pl->p);
        apr_hash_set(pl->rule_of, id, APR_HASH_KEY_STRING, r);
        APR_ARRAY_PUSH(pl->rules, spark_rule_t *) = r;
    }
    return r;
}

/* The row fails the import with message (the first reason given). */
static void reject(spark_plan_t *pl, const xp_section_t *sec, const char *key,
                   const char *message)
{
    spark_rule_t *r = rule_of(pl, sec, key);

    if (!r->reject)
        r->reject = message;
}

/* The rules as the engine reads them (xp_import_params_t.rewrite). */
static const char *rules_json(spark_plan_t *pl)
{
    xp_json_t *a = xp_json_array(pl->p);
    int i;

    for (i = 0; i < pl->rules->nelts; i++) {
        spark_rule_t *r = APR_ARRAY_IDX(pl->rules, i, spark_rule_t *);
        xp_json_t *o = xp_json_object(pl->p);
        if (!r->reject && xp_json_size(r->set) == 0)
            continue;
        xp_json_set_str(o, "section", r->section);
        xp_json_set_str(o, "key", r->key);
        if (r->reject)
            xp_json_set_str(o, "reject", r->reject);
        else
            xp_json_set(o, "set", r->set);
        xp_json_append(a, o);
    }
    return xp_json_dump(pl->p, a);
}

/* Set name to `to` in the row of sec with key, if it was `from`. */
static void set_if(spark_plan_t *pl, const xp_section_t *sec, const char *key,
                   const char *name, const char *from, const char *to)
{
    if (strcmp(from, to))
        xp_json_set_str(rule_of(pl, sec, key)->set, name, to);
}

/* One version of a service that lands as dest_service (folder/name and
 * id); *top is the destination's latest so far (NULL when the service
 * is new there), raised by add_version. */
static void plan_version(spark_plan_t *pl, const spark_model_t *m,
                         const spark_version_t *v, const char *folder,
                         const char *name, const char *service_id,
                         const spark_service_t *there, int top[3],
                         const char *how)
{
    const char *version = v->version, *id, *status = "added";
    spark_version_t *same = NULL;
    xp_json_t *e = xp_json_object(pl->p);
    int i;

    for (i = 0; there && i < there->versions->nelts; i++) {
        spark_version_t *w =
            APR_ARRAY_IDX(there->versions, i, spark_version_t *);
        if (!strcmp(w->version, v->version))
            same = w;
    }
    if (there && pl->existing == EXISTING_ADD) {
        version = bump(pl->p, top, how);
        semver(version, top);
        id = free_id(pl, fresh_id(pl->p));
        status = "version_added";
    } else if (same && pl->existing == EXISTING_REPLACE) {
        id = same->id;
        status = "replaced";
    } else {
        id = free_id(pl, v->id);
    }
    set_if(pl, m->versions, v->id, "version_id", v->id, id);
    set_if(pl, m->versions, v->id, "version", v->version, version);
    set_if(pl, m->versions, v->id, "service_id", v->service_id, service_id);
    version_fields(pl->p, e, "source", v->service->folder, v->service->name,
                   v->service_id, v->version, v->id);
    version_fields(pl->p, e, "destination", folder, name, service_id, version,
                   id);
    xp_json_set_str(e, "status", status);
    xp_json_append(pl->versions, e);
}

/* Where a service of the archive goes: renamed by services_modify. */
static void destination(spark_plan_t *pl, const spark_service_t *s,
                        const char **folder, const char **name)
{
    const char *to = apr_table_get(pl->modify, s->uri);
    const char *slash = to ? strchr(to, '/') : NULL;

    *folder = slash ? apr_pstrmemdup(pl->p, to, slash - to) : s->folder;
    *name = slash ? slash + 1 : s->name;
}

static void plan_service(spark_plan_t *pl, const spark_model_t *m,
                         const spark_service_t *s)
{
    const char *folder, *name, *id, *how = apr_table_get(pl->bumps, s->uri);
    const spark_service_t *there;
    xp_json_t *e = xp_json_object(pl->p);
    spark_version_t *top;
    int sv[3] = {0, 0, 0}, i;

    destination(pl, s, &folder, &name);
    there = apr_hash_get(pl->dest->by_uri,
                         apr_pstrcat(pl->p, folder, "/", name, NULL),
                         APR_HASH_KEY_STRING);
    if (there && pl->existing == EXISTING_ABORT) {
        reject(pl, m->services, s->id,
               apr_psprintf(pl->p,
                            "The service %s/%s exists in tenant %s and "
                            "services_existing is abort.",
                            folder, name, pl->tenant));
        return; /* nothing becomes of it */
    }
    id = there ? there->id : free_id(pl, s->id);
    set_if(pl, m->services, s->id, "folder", s->folder, folder);
    set_if(pl, m->services, s->id, "service", s->name, name);
    set_if(pl, m->services, s->id, "service_id", s->id, id);
    service_fields(pl->p, e, "source", s->folder, s->name, s->id);
    service_fields(pl->p, e, "destination", folder, name, id);
    xp_json_set_str(e, "status",
                    !there                         ? "added"
                    : pl->existing == EXISTING_ADD ? "version_added"
                                                   : "replaced");
    xp_json_append(pl->services, e);
    if (there && (top = latest(there)))
        memcpy(sv, top->sv, sizeof(sv));
    for (i = 0; i < s->versions->nelts; i++)
        plan_version(pl, m, APR_ARRAY_IDX(s->versions, i, spark_version_t *),
                     folder, name, id, there, sv, how ? how : pl->bump);
}

/* A folder whose services all move to one other folder moves with
 * them; one whose services go several ways stays, and a folder that
 * only some of them move to must exist in the destination already. */
static void plan_folders(spark_plan_t *pl, const spark_model_t *m,
                         const spark_set_t *a)
{
    apr_hash_index_t *hi;
    const char *folder, *name, *was;
    int i;

    for (i = 0; i < a->services->nelts; i++) {
        spark_service_t *s = APR_ARRAY_IDX(a->services, i, spark_service_t *);
        destination(pl, s, &folder, &name);
        was = apr_hash_get(pl->moved, s->folder, APR_HASH_KEY_STRING);
        apr_hash_set(pl->moved, s->folder, APR_HASH_KEY_STRING,
                     !was || !strcmp(was, folder) ? folder : "");
    }
    for (i = 0; i < a->services->nelts; i++) {
        spark_service_t *s = APR_ARRAY_IDX(a->services, i, spark_service_t *);
        destination(pl, s, &folder, &name);
        was = apr_hash_get(pl->moved, s->folder, APR_HASH_KEY_STRING);
        if (!*was && strcmp(folder, s->folder) &&
            !apr_hash_get(pl->dest->folders, folder, APR_HASH_KEY_STRING))
            reject(pl, m->services, s->id,
                   apr_psprintf(pl->p,
                                "services_modify moves %s into the folder %s, "
                                "which does not exist in tenant %s.",
                                s->uri, folder, pl->tenant));
    }
    for (hi = apr_hash_first(pl->p, pl->moved); hi; hi = apr_hash_next(hi)) {
        const char *from = apr_hash_this_key(hi), *to = apr_hash_this_val(hi);
        if (*to && strcmp(from, to))
            xp_json_set_str(rule_of(pl, m->folders, from)->set, "folder", to);
    }
}

/* ------------------------------------------------------------------ */
/* Import: the archive's model                                         */
/* ------------------------------------------------------------------ */

typedef struct peek_t {
    const spark_model_t *m;
    spark_set_t *set;
} peek_t;

static xp_errcode_e peek_row(void *baton, const char *section, long line,
                             const xp_json_t *row, xp_error_t *err)
{
    peek_t *pk = baton;
    const spark_model_t *m = pk->m;

    (void)line;
    (void)err;
    if (!strcmp(section, m->folders->name))
        set_folder(pk->set, xp_json_get_str(row, "folder"));
    else if (!strcmp(section, m->services->name))
        set_service(pk->set, xp_json_get_str(row, "folder"),
                    xp_json_get_str(row, "service"),
                    xp_json_get_str(row, "service_id"));
    else
        set_version(pk->set, xp_json_get_str(row, "service_id"),
                    xp_json_get_str(row, "version"),
                    xp_json_get_str(row, "version_id"));
    return XP_OK;
}

/* The folders, services and versions of an uploaded archive; NULL when
 * it cannot be read (the import then fails saying why). */
static spark_set_t *archive_set(xport_req_t *q, const spark_model_t *m,
                                const xport_upload_t *up)
{
    const char *names[4];
    peek_t pk = {m, set_make(q->r->pool)};
    xp_error_t err = {0};

    names[0] = m->folders->name;
    names[1] = m->services->name;
    names[2] = m->versions->name;
    names[3] = NULL;
    if (xp_apeek_rows(q->r->pool, up->path,
                      xport_cfg_max_uncompressed_size(q->cfg), names, peek_row,
                      &pk, &err) != XP_OK)
        return NULL;
    set_sort(pk.set);
    return pk.set;
}

/* ------------------------------------------------------------------ */
/* Import: the request                                                 */
/* ------------------------------------------------------------------ */

static int is_bump(const char *s)
{
    return s &&
           (!strcmp(s, "major") || !strcmp(s, "minor") || !strcmp(s, "patch"));
}

/* services_existing, update_version_type; -1 when a 400 is answered. */
static int entity_mode(xport_req_t *q, const xp_json_t *e, spark_plan_t *pl)
{
    const char *ex = xp_json_get_str(e, "services_existing");

    pl->existing = EXISTING_ABORT;
    if (ex && (!strcmp(ex, "replace") || !strcmp(ex, "update")))
        pl->existing = EXISTING_REPLACE;
    else if (ex && !strcmp(ex, "add_version"))
        pl->existing = EXISTING_ADD;
    else if (ex && strcmp(ex, "abort"))
        return refuse(q, HTTP_BAD_REQUEST, "services_existing",
                      "Must be abort, replace, update or add_version.");
    pl->bump = xp_json_get_str(e, "update_version_type");
    if (pl->bump && !is_bump(pl->bump))
        return refuse(q, HTTP_BAD_REQUEST, "update_version_type",
                      "Must be major, minor or patch.");
    if (!pl->bump)
        pl->bump = "minor";
    return 0;
}

/* inputs.services_modify; -1 when a 400 is answered. */
static int entity_modify(xport_req_t *q, const xp_json_t *e, spark_plan_t *pl)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *in = xp_json_get(p, e, "inputs");
    xp_json_t *a = in ? xp_json_get(p, in, "services_modify") : NULL;
    apr_size_t i;

    if (!a || xp_json_kind(a) == XP_JSON_NULL)
        return 0;
    if (!xp_json_is_array(a))
        return refuse(q, HTTP_BAD_REQUEST, "inputs.services_modify",
                      "Must be an array.");
    for (i = 0; i < xp_json_size(a); i++) {
        xp_json_t *m = xp_json_at(p, a, i);
        const char *from = m ? xp_json_get_str(m, "service_uri_source") : NULL;
        const char *to =
            m ? xp_json_get_str(m, "service_uri_destination") : NULL;
        const char *how = m ? xp_json_get_str(m, "update_version_type") : NULL;
        if (!from || !to || !strchr(to, '/') || strchr(to, '[') ||
            (how && !is_bump(how)))
            return refuse(q, HTTP_BAD_REQUEST, "inputs.services_modify",
                          apr_psprintf(p,
                                       "Entry %d needs service_uri_source and "
                                       "service_uri_destination as "
                                       "folder/service (and an "
                                       "update_version_type of major, minor "
                                       "or patch).",
                                       (int)i + 1));
        if (to && strcmp(from, to))
            apr_table_set(pl->modify, from, to);
        if (how)
            apr_table_set(pl->bumps, from, how);
    }
    return 0;
}

typedef struct import_ctx_t {
    const spark_path_t *path;
    spark_model_t m;
} import_ctx_t;

static spark_plan_t *plan_make(apr_pool_t *p, const char *tenant)
{
    spark_plan_t *pl = apr_pcalloc(p, sizeof(*pl));

    pl->p = p;
    pl->tenant = tenant;
    pl->modify = apr_table_make(p, 4);
    pl->bumps = apr_table_make(p, 4);
    pl->taken = apr_hash_make(p);
    pl->moved = apr_hash_make(p);
    pl->rules = apr_array_make(p, 16, sizeof(spark_rule_t *));
    pl->rule_of = apr_hash_make(p);
    pl->services = xp_json_array(p);
    pl->versions = xp_json_array(p);
    return pl;
}

/* Every id of the destination is taken. */
static void plan_taken(spark_plan_t *pl)
{
    apr_hash_index_t *hi;
    int i;

    for (i = 0; i < pl->dest->services->nelts; i++)
        apr_hash_set(
            pl->taken,
            APR_ARRAY_IDX(pl->dest->services, i, spark_service_t *)->id,
            APR_HASH_KEY_STRING, "");
    for (hi = apr_hash_first(pl->p, pl->dest->versions); hi;
         hi = apr_hash_next(hi))
        apr_hash_set(pl->taken, apr_hash_this_key(hi), APR_HASH_KEY_STRING, "");
}

/* The stored upload's entity into the import's options: the plan as
 * rewrite rules, the outputs it promises as the job's api_data. */
static int import_form(xport_req_t *q, const xport_upload_t *up,
                       xp_import_params_t *params, int *ok, void *baton)
{
    import_ctx_t *c = baton;
    apr_pool_t *p = q->r->pool;
    const char *text = apr_table_get(up->fields, "importRequestEntity");
    spark_plan_t *pl = plan_make(p, c->path->tenant);
    spark_set_t *a, *dest;
    xp_error_t err = {0};
    xp_json_t *e, *out;
    int i, rc;

    *ok = 0;
    if (!text)
        return xport_field_error(q, "importRequestEntity",
                                 "Send the import's options as the "
                                 "multipart part importRequestEntity.");
    if (!(e = xp_json_parse(p, text, strlen(text), &err)) ||
        !xp_json_is_object(e)) {
        err.field = "importRequestEntity";
        err.message = apr_pstrcat(p, "importRequestEntity is not a JSON object",
                                  err.message ? ": " : "",
                                  err.message ? err.message : "", NULL);
        return xport_error_at(q, HTTP_BAD_REQUEST, &err);
    }
    if (entity_mode(q, e, pl) < 0 || entity_modify(q, e, pl) < 0)
        return OK;
    if ((rc = set_read(q, &c->m, pl->tenant, &dest)) != OK || !dest)
        return rc;
    pl->dest = dest;
    plan_taken(pl);
    if ((a = archive_set(q, &c->m, up))) {
        plan_folders(pl, &c->m, a);
        for (i = 0; i < a->services->nelts; i++)
            plan_service(pl, &c->m,
                         APR_ARRAY_IDX(a->services, i, spark_service_t *));
    }
    out = xp_json_object(p);
    xp_json_set(out, "services", pl->services);
    xp_json_set(out, "service_versions", pl->versions);
    params->on_conflict = "update";
    params->rewrite = rules_json(pl);
    params->api_data = xp_json_dump(p, out);
    params->source_system = xp_json_get_str(e, "source_system");
    params->correlation_id = xp_json_get_str(e, "correlation_id");
    *ok = 1;
    return OK;
}

static int import_post(xport_req_t *q, const spark_path_t *path)
{
    import_ctx_t c;
    xport_import_in_t in = {0};
    xp_job_t *job;
    int rc;

    c.path = path;
    if (model_load(q, &c.m) < 0)
        return OK;
    in.multipart = 1;
    in.file_field = "file";
    in.params.tenant = path->tenant;
    in.from_form = import_form;
    in.baton = &c;
    if ((rc = xport_jobs_import(q, &in, &job, NULL)) != OK || !job)
        return rc;
    return send_record(q, path->tenant, job);
}

/* ------------------------------------------------------------------ */
/* A job, the tenant's view                                            */
/* ------------------------------------------------------------------ */

/* The job a path names, of its kind and tenant, visible to the caller. */
static int load(xport_req_t *q, const spark_path_t *path, xp_job_t **job)
{
    int rc = xport_load_job(q, path->kind, path->id, job);

    if (rc != OK || !*job)
        return rc;
    if (!(*job)->tenant || strcmp((*job)->tenant, path->tenant)) {
        *job = NULL;
        return xport_not_found(q);
    }
    return OK;
}

/* PATCH {"export_status": "cancelled"} (import_status for imports). */
static int cancel(xport_req_t *q, const spark_path_t *path)
{
    const char *name =
        apr_pstrcat(q->r->pool, xp_kind_name(path->kind), "_status", NULL);
    const char *want;
    xp_json_t *body;
    xp_job_t *job;
    int rc;

    if ((rc = xport_read_json(q, &body)) != OK || !body)
        return rc;
    want = xp_json_get_str(body, name);
    if (!want || strcmp(want, "cancelled"))
        return xport_field_error(
            q, name,
            apr_psprintf(q->r->pool, "Send {\"%s\": \"cancelled\"}.", name));
    if ((rc = load(q, path, &job)) != OK || !job)
        return rc;
    if ((rc = xport_jobs_cancel(q, &job)) != OK || !job)
        return rc;
    return send_record(q, path->tenant, job);
}

static xp_json_t *view_entry(apr_pool_t *p, const xp_job_t *job)
{
    xp_json_t *o = xp_json_object(p), *d = xp_json_object(p);

    xp_json_set_str(o, "object", xp_kind_name(job->kind));
    xp_json_set_str(o, "id", job->id);
    xp_json_set_str(d, apr_pstrcat(p, xp_kind_name(job->kind), "_status", NULL),
                    status_word(job->status));
    xp_json_set_str(d, "response_timestamp", xp_iso8601(p, apr_time_now()));
    xp_json_set_str(d, "created_by", job->user_id);
    xp_json_set_str(d, "created_timestamp", ms_iso(p, job->created_at));
    xp_json_set_str(d, "updated_timestamp", ms_iso(p, job->updated_at));
    xp_json_set_int(d, "process_time", process_time(job));
    xp_json_set(o, "data", d);
    return o;
}

/* The tenant's jobs in progress and finished in the last hour (all of
 * them for a supervisor, else the caller's). */
static int tenant_view(xport_req_t *q, const spark_path_t *path)
{
    apr_pool_t *p = q->r->pool;
    const char *kind = xp_kind_name(path->kind);
    apr_int64_t since = xp_now_ms() - apr_time_as_msec(RECENT), total;
    xp_store_query_t sq = {0};
    apr_array_header_t *jobs;
    xp_json_t *o = xp_json_object(p), *busy = xp_json_array(p);
    xp_json_t *recent = xp_json_array(p), *t, *x;
    int rc, i, n = 0;

    sq.kind = path->kind;
    sq.tenant = path->tenant;
    sq.limit = 100;
    if ((rc = xport_jobs_list(q, &sq, &jobs, &total)) != OK || !jobs)
        return rc;
    for (i = 0; i < jobs->nelts; i++) {
        xp_job_t *job = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        if (!xp_status_finished(job->status)) {
            xp_json_append(busy, view_entry(p, job));
            n++;
        } else if (job->finished_at >= since) {
            xp_json_append(recent, view_entry(p, job));
        }
    }
    xp_json_set(o, apr_psprintf(p, "in_progress_%ss", kind), busy);
    xp_json_set(o, apr_psprintf(p, "recent_%ss", kind), recent);
    t = xp_json_object(p);
    x = xp_json_object(p);
    xp_json_set_int(x, apr_psprintf(p, "%s_api_job_limit", kind),
                    xport_cfg_max_jobs_per_tenant(q->r, TENANT_JOBS));
    xp_json_set(t, "configuration", x);
    x = xp_json_object(p);
    xp_json_set_int(x, apr_psprintf(p, "%s_api_jobs_in_progress", kind), n);
    xp_json_set(t, "status", x);
    xp_json_set(o, "tenant", t);
    return xport_send_json(q, HTTP_OK, o);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* The key holds the path's tenant (403); x-tenant-name, when sent,
 * names it (400). 0, or -1 when answered. */
static int tenant_check(xport_req_t *q, const spark_path_t *path)
{
    const char *named = apr_table_get(q->r->headers_in, "x-tenant-name");
    const char *held = xport_token_tenants(q->r);

    if (named && strcmp(named, path->tenant))
        return refuse(q, HTTP_BAD_REQUEST, NULL,
                      apr_psprintf(q->r->pool,
                                   "x-tenant-name (%s) is not the tenant of "
                                   "the path (%s).",
                                   named, path->tenant));
    if (held ? !xport_token_tenant_allowed(q->r, path->tenant) : !q->supervisor)
        return refuse(q, HTTP_FORBIDDEN, NULL,
                      apr_psprintf(q->r->pool,
                                   "Your key is not for the tenant %s.",
                                   path->tenant));
    return 0;
}

static int spark_handle(xport_req_t *q)
{
    static const xport_file_in_t zip = {"application/zip", NULL, 0};
    int m = q->r->method_number;
    spark_path_t path;
    xp_job_t *job;
    int rc;

    if (seg(q->segs, 0) && !strcmp(seg(q->segs, 0), "files") &&
        q->segs->nelts == 3)
        return m == M_GET ? xport_jobs_send_link(q, &zip)
                          : xport_not_allowed(q, "GET, HEAD");
    if (parse_path(q->segs, &path) < 0 ||
        q->r->uri[strlen(q->r->uri) - 1] == '/') /* no trailing slash */
        return xport_not_found(q);
    if (tenant_check(q, &path) < 0)
        return OK;
    if (!path.id && !path.status)
        return m != M_POST                   ? xport_not_allowed(q, "POST")
               : path.kind == XP_KIND_EXPORT ? export_post(q, &path)
                                             : import_post(q, &path);
    if (!path.id)
        return m == M_GET ? tenant_view(q, &path)
                          : xport_not_allowed(q, "GET, HEAD");
    if (!path.status)
        return m == M_PATCH ? cancel(q, &path) : xport_not_allowed(q, "PATCH");
    if (m != M_GET)
        return xport_not_allowed(q, "GET, HEAD");
    if ((rc = load(q, &path, &job)) != OK || !job)
        return rc;
    return send_record(q, path.tenant, job);
}

/* The error's code in UPPER_SNAKE, from its status. */
static const char *error_code(int status)
{
    switch (status) {
    case HTTP_BAD_REQUEST:
        return "BAD_REQUEST";
    case HTTP_UNAUTHORIZED:
        return "UNAUTHORIZED";
    case HTTP_FORBIDDEN:
        return "FORBIDDEN";
    case HTTP_NOT_FOUND:
        return "NOT_FOUND";
    case HTTP_METHOD_NOT_ALLOWED:
        return "METHOD_NOT_ALLOWED";
    case HTTP_CONFLICT:
        return "CONFLICT";
    case HTTP_GONE:
        return "GONE";
    case HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "PAYLOAD_TOO_LARGE";
    case HTTP_UNSUPPORTED_MEDIA_TYPE:
        return "UNSUPPORTED_MEDIA_TYPE";
    case HTTP_TOO_MANY_REQUESTS:
        return "TOO_MANY_REQUESTS";
    case HTTP_SERVICE_UNAVAILABLE:
        return "SERVICE_UNAVAILABLE";
    default:
        return status >= 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST";
    }
}

/* {"status": <code>, "error": {"code": "<UPPER_SNAKE>", "message": ...}},
 * the message naming the request field it is about; a Retry-After is
 * also said as x-retry-after, as its clients read it. */
static void spark_error(xport_req_t *q, int status, const xp_error_t *err)
{
    apr_pool_t *p = q->r->pool;
    const char *retry = apr_table_get(q->r->headers_out, "Retry-After");
    xp_json_t *o = xp_json_object(p), *e = xp_json_object(p);

    if (retry)
        apr_table_setn(q->r->headers_out, "x-retry-after", retry);
    xp_json_set_int(o, "status", status);
    xp_json_set_str(e, "code", error_code(status));
    xp_json_set_str(e, "message",
                    err->field && !strstr(err->message, err->field)
                        ? apr_pstrcat(p, err->field, ": ", err->message, NULL)
                        : err->message);
    xp_json_set(o, "error", e);
    ap_set_content_type(q->r, "application/json");
    ap_rputs(xp_json_dump(p, o), q->r);
    ap_rputc('\n', q->r);
}

/* The event streams' data: the status record, in the job's tenant. */
static void spark_record(xport_req_t *q, xp_job_t *job, xp_buf_t *b)
{
    xp_buf_adds(b,
                xp_json_dump(q->r->pool,
                             record(q, job->tenant ? job->tenant : "", job)));
}

const xport_api_t xport_api_spark = {
    "spark", spark_handle, spark_error, NULL, -1, 0, TENANT_JOBS, spark_record,
};
