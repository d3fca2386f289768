/*
 * http.c -- the HTTP mechanics every xport API shares: the "xport"
 * handler, which hands a request to the API of its <Location> with the
 * path below it, error answers (headers here, the body in the API's
 * shape), request bodies (JSON, form-urlencoded), the CSRF guard, who
 * the caller is and which jobs it may see, and a per-child pool of job
 * store connections. No SQL and no API lives here: each API (src/api/)
 * parses its own paths and renders its own records and errors.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_reslist.h>
#include <apr_network_io.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>

#include "mod_xport_private.h"
#include "xport_http.h"
#include "xport_manager.h"
#include "xport_surface.h"
#include "xp_multipart.h"

#define XPORT_BODY_MAX (64 * 1024) /* JSON and form bodies: job options */

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* Every error: the shared headers here, the body in the API's shape. */
static int send_error(xport_req_t *q, int status, const xp_error_t *err)
{
    request_rec *r = q->r;

    if (q->streaming) { /* the stream has begun: say it in the log only */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "XP0615: event stream: %d %s", status,
                      err->message ? err->message : "");
        return OK;
    }
    r->status = status;
    /* A refused request's body may be large and unread (403, 404 ... come
     * before it is looked at): httpd would read and discard all of it
     * before answering. Close the connection instead. */
    if (ap_request_has_body(r)) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    q->api->render_error(q, status, err);
    return OK;
}

int xport_error(xport_req_t *q, int status, const char *detail)
{
    xp_error_t err = {0};

    err.message = detail;
    return send_error(q, status, &err);
}

int xport_error_at(xport_req_t *q, int status, const xp_error_t *err)
{
    xp_error_t e = {0};

    if (err) {
        e = *err;
    }
    if (!e.message) {
        e.message = "The request is not valid.";
    }
    return send_error(q, status, &e);
}

int xport_field_error(xport_req_t *q, const char *field, const char *detail)
{
    xp_error_t err = {0};

    err.code = XP_EINVAL;
    err.field = field;
    err.message = detail;
    return send_error(q, HTTP_BAD_REQUEST, &err);
}

int xport_fail(xport_req_t *q, xp_errcode_e rc, const xp_error_t *err)
{
    request_rec *r = q->r;
    const char *msg = err && err->message ? err->message : "unknown error";

    switch (rc) {
    case XP_EINVAL:
        return xport_error_at(q, HTTP_BAD_REQUEST, err);
    case XP_ENOTFOUND:
        return xport_not_found(q);
    case XP_ECONFLICT:
        return xport_error(q, HTTP_CONFLICT, msg);
    case XP_ELIMIT:
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return xport_error(q, HTTP_TOO_MANY_REQUESTS, msg);
    case XP_EDB:
        xport_store_broken(q);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XP0601: job store request failed: %s", msg);
        apr_table_setn(r->headers_out, "Retry-After", "5");
        return xport_error(q, HTTP_SERVICE_UNAVAILABLE,
                             "The job store is not available right now; "
                             "try again in a few seconds.");
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XP0602: request failed (code %d): %s", (int)rc, msg);
        return xport_error(q, HTTP_INTERNAL_SERVER_ERROR,
                             "The server could not complete the request; "
                             "the error log has the details.");
    }
}

int xport_not_allowed(xport_req_t *q, const char *allow)
{
    apr_table_setn(q->r->headers_out, "Allow", allow);
    return xport_error(q, HTTP_METHOD_NOT_ALLOWED,
                         apr_psprintf(q->r->pool,
                                      "%s is not supported here; use %s.",
                                      q->r->method, allow));
}

int xport_not_found(xport_req_t *q)
{
    return xport_error(q, HTTP_NOT_FOUND,
                         "There is no such resource, or it is not visible "
                         "to you.");
}

int xport_send_json(xport_req_t *q, int status, const xp_json_t *j)
{
    const char *text = q->r->header_only ? "" : xp_json_dump(q->r->pool, j);

    if (!text) { /* out of memory */
        text = "null";
    }
    return xport_send_json_text(q, status, text, strlen(text));
}

int xport_send_json_text(xport_req_t *q, int status, const char *text,
                         apr_size_t len)
{
    request_rec *r = q->r;

    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rwrite(text, (int)len, r);
        ap_rputc('\n', r);
    }
    return OK;
}

int xport_send_empty(xport_req_t *q, int status)
{
    q->r->status = status;
    return OK;
}

/* ------------------------------------------------------------------ */
/* Input                                                               */
/* ------------------------------------------------------------------ */

const char *xport_media_type(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    char *mt, *semi;

    if (!ct) {
        return NULL;
    }
    mt = apr_pstrdup(r->pool, ct);
    if ((semi = strchr(mt, ';'))) {
        *semi = '\0';
    }
    apr_collapse_spaces(mt, mt);
    ap_str_tolower(mt);
    return mt;
}

/* In place: '+' is a space, %XX a byte. -1 on a bad escape or a NUL. */
static int form_unescape(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '+') {
            *out++ = ' ';
        } else if (*s == '%') {
            int hi = xp_hexval(s[1]), lo = hi < 0 ? -1 : xp_hexval(s[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            *out++ = (char)(hi * 16 + lo);
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
    return 0;
}

apr_table_t *xport_form_decode(apr_pool_t *p, const char *s)
{
    apr_table_t *t = apr_table_make(p, 8);
    char *copy, *pair, *state = NULL;

    if (!s) {
        return t;
    }
    copy = apr_pstrdup(p, s);
    for (pair = apr_strtok(copy, "&", &state); pair;
         pair = apr_strtok(NULL, "&", &state)) {
        char *eq = strchr(pair, '=');
        char *value = "";
        if (eq) {
            *eq = '\0';
            value = eq + 1;
        }
        if (form_unescape(pair) < 0 || form_unescape(value) < 0) {
            return NULL;
        }
        if (*pair) {
            apr_table_setn(t, pair, value);
        }
    }
    return t;
}

int xport_read_query(xport_req_t *q, apr_table_t **fields)
{
    *fields = xport_form_decode(q->r->pool, q->r->args);
    if (!*fields) {
        return xport_error(q, HTTP_BAD_REQUEST,
                             "The query string has a malformed %-escape "
                             "(or an encoded NUL).");
    }
    return OK;
}

/* Read the whole body (at most XPORT_BODY_MAX bytes) into *buf. */
static int read_body(xport_req_t *q, char **buf, apr_size_t *len)
{
    request_rec *r = q->r;
    apr_size_t cap = XPORT_BODY_MAX + 1;
    long n = 0;
    int rc;

    *buf = NULL;
    *len = 0;
    if ((rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK)) != OK) {
        return xport_error(q, rc, "The request body could not be read.");
    }
    if (!ap_should_client_block(r)) {
        *buf = "";
        return OK;
    }
    if (r->remaining > XPORT_BODY_MAX) {
        goto too_large;
    }
    *buf = apr_palloc(r->pool, cap + 1);
    while (*len < cap &&
           (n = ap_get_client_block(r, *buf + *len, cap - *len)) > 0) {
        *len += (apr_size_t)n;
    }
    if (n < 0) {
        *buf = NULL;
        return xport_error(q, HTTP_BAD_REQUEST,
                             "The request body could not be read "
                             "completely.");
    }
    if (*len > XPORT_BODY_MAX) {
        goto too_large;
    }
    (*buf)[*len] = '\0';
    return OK;

too_large:
    *buf = NULL;
    return xport_error(q, HTTP_REQUEST_ENTITY_TOO_LARGE,
                         "The request body is larger than 64 KiB; job "
                         "options are small, send less.");
}

/* The named members of a JSON object as text; see xport_read_fields.
 * 0, or -1 when a problem has been sent. */
static int json_fields(xport_req_t *q, const xp_json_t *o,
                       const char *const *names, apr_table_t *t)
{
    apr_pool_t *p = q->r->pool;

    for (; *names; names++) {
        const char *k = *names;
        xp_json_t *v = xp_json_get(p, o, k);
        int b0, b1;
        apr_int64_t i0, i1;

        if (!v) {
            continue;
        }
        if (xp_json_is_string(v)) {
            apr_table_setn(t, k, xp_json_str_value(v));
            continue;
        }
        if (xp_json_is_object(v) || xp_json_is_array(v)) {
            xport_field_error(q, k,
                              apr_psprintf(p,
                                           "Field \"%s\" must be a string, "
                                           "not an object or array.",
                                           k));
            return -1;
        }
        /* A getter that falls back to its default says what the type is
         * not: equal answers with two defaults mean a real bool / int. */
        b0 = xp_json_get_bool(o, k, 0);
        b1 = xp_json_get_bool(o, k, 1);
        i0 = xp_json_get_int(o, k, 0);
        i1 = xp_json_get_int(o, k, 1);
        if (b0 == b1) {
            apr_table_setn(t, k, b0 ? "true" : "false");
        } else if (i0 == i1) {
            apr_table_setn(t, k, apr_psprintf(p, "%" APR_INT64_T_FMT, i0));
        }
        /* null (and fractional numbers): as if absent */
    }
    return 0;
}

/* A multipart/form-data body's text fields (each at most 64 KiB). */
typedef struct mp_fields {
    apr_pool_t *p;
    apr_table_t *t;
    xp_buf_t value;
} mp_fields;

static xp_errcode_e mpf_begin(void *baton, const xp_mp_part_t *part,
                              xp_error_t *err)
{
    mp_fields *f = baton;

    if (part->is_file) {
        return xp_error_set(err, f->p, XP_EINVAL,
                            "part \"%s\" is a file; only text fields are "
                            "read here",
                            part->name ? part->name : "");
    }
    xp_buf_reset(&f->value);
    return XP_OK;
}

static xp_errcode_e mpf_data(void *baton, const xp_mp_part_t *part,
                             const char *buf, apr_size_t len, xp_error_t *err)
{
    mp_fields *f = baton;

    (void)part;
    (void)err;
    xp_buf_add(&f->value, buf, len);
    return XP_OK;
}

static xp_errcode_e mpf_end(void *baton, const xp_mp_part_t *part,
                            xp_error_t *err)
{
    mp_fields *f = baton;

    (void)err;
    if (part->name && *part->name) {
        apr_table_set(f->t, part->name,
                      apr_pstrndup(f->p, f->value.data, f->value.len));
    }
    return XP_OK;
}

/* Fields of a multipart body read whole (buf, len). NULL: answered. */
static apr_table_t *multipart_fields(xport_req_t *q, const char *buf,
                                     apr_size_t len)
{
    apr_pool_t *p = q->r->pool;
    mp_fields f = {p, apr_table_make(p, 8), {0}};
    xp_mp_callbacks_t cb = {&f, mpf_begin, mpf_data, mpf_end};
    xp_error_t err = {0};
    const char *boundary = xp_mp_boundary(
        p, apr_table_get(q->r->headers_in, "Content-Type"), &err);
    xp_mp_t *m;

    xp_buf_init(&f.value, p, 256);
    if (boundary) {
        m = xp_mp_make(p, boundary, NULL, &cb);
        if (xp_mp_feed(m, buf, len, &err) == XP_OK &&
            xp_mp_finish(m, &err) == XP_OK) {
            return f.t;
        }
    }
    xport_error(q, HTTP_BAD_REQUEST,
                apr_psprintf(p, "The multipart/form-data body is malformed: "
                                "%s.",
                             err.message ? err.message : "unreadable"));
    return NULL;
}

/* Parse buf as a JSON object; NULL when a 400 has been answered. */
static xp_json_t *json_object(xport_req_t *q, const char *buf, apr_size_t len)
{
    xp_error_t err = {0};
    xp_json_t *o = xp_json_parse(q->r->pool, buf, len, &err);

    if (!o) {
        if (!err.message) {
            err.message = "the body is not valid JSON";
        }
        xport_error_at(q, HTTP_BAD_REQUEST, &err);
        return NULL;
    }
    if (!xp_json_is_object(o)) {
        xport_error(q, HTTP_BAD_REQUEST, "The body must be a JSON object.");
        return NULL;
    }
    return o;
}

int xport_read_json(xport_req_t *q, xp_json_t **obj)
{
    const char *mt = xport_media_type(q->r);
    char *buf;
    apr_size_t len;
    int rc;

    *obj = NULL;
    if (mt && strcmp(mt, "application/json")) {
        apr_table_setn(q->r->headers_out, "Accept-Post", "application/json");
        return xport_error(q, HTTP_UNSUPPORTED_MEDIA_TYPE,
                           apr_psprintf(q->r->pool,
                                        "Send the body as application/json, "
                                        "not %s.",
                                        mt));
    }
    if ((rc = read_body(q, &buf, &len)) != OK || !buf) {
        return rc;
    }
    if (len == 0) {
        *obj = xp_json_object(q->r->pool);
        return OK;
    }
    *obj = json_object(q, buf, len);
    return OK;
}

int xport_read_fields(xport_req_t *q, const char *const *names,
                      apr_table_t **fields)
{
    request_rec *r = q->r;
    const char *mt = xport_media_type(r);
    char *buf;
    apr_size_t len;
    int rc;

    *fields = NULL;
    if ((rc = read_body(q, &buf, &len)) != OK || !buf) {
        return rc;
    }
    if (len == 0) {
        *fields = apr_table_make(r->pool, 1);
        return OK;
    }
    if (mt && !strcmp(mt, "application/json")) {
        xp_json_t *o = json_object(q, buf, len);
        apr_table_t *t = apr_table_make(r->pool, 8);
        if (!o || json_fields(q, o, names, t) < 0) {
            return OK;
        }
        *fields = t;
        return OK;
    }
    if (mt && !strcmp(mt, "multipart/form-data")) {
        *fields = multipart_fields(q, buf, len);
        return OK;
    }
    if (mt && !strcmp(mt, "application/x-www-form-urlencoded")) {
        if (!(*fields = xport_form_decode(r->pool, buf))) {
            return xport_error(q, HTTP_BAD_REQUEST,
                                 "The form body has a malformed %-escape "
                                 "(or an encoded NUL).");
        }
        return OK;
    }
    apr_table_setn(r->headers_out,
                   r->method_number == M_PATCH ? "Accept-Patch" : "Accept-Post",
                   "application/json, application/x-www-form-urlencoded, "
                   "multipart/form-data");
    return xport_error(
        q, HTTP_UNSUPPORTED_MEDIA_TYPE,
        apr_psprintf(r->pool,
                     "Content-Type %s is not accepted here; send "
                     "application/json, application/x-www-form-urlencoded "
                     "or multipart/form-data.",
                     mt ? mt : "(none)"));
}

/* ------------------------------------------------------------------ */
/* Job store connections                                               */
/* ------------------------------------------------------------------ */

/* One reslist per distinct XportJobStore, shared by the child's threads.
 * Built in child_init and read-only afterwards. */
static apr_hash_t *store_lists;

/* At most this many job store connections per child: a request holds
 * one only for its few queries (xport_store_done before a transfer), so
 * a few serve a hundred threads, and children x threads connections
 * would exceed PostgreSQL's max_connections (100 by default) under load.
 * A thread finding all of them taken waits for one (up to 30 s). */
#define XPORT_STORE_CONNS_PER_CHILD 8

typedef struct store_target {
    const char *driver, *params;
    server_rec *s;
} store_target;

typedef struct store_conn {
    apr_pool_t *pool; /* own allocator: constructors run unlocked */
    xp_store_t *st;
} store_conn;

struct xport_lease_t {
    apr_reslist_t *rl;
    store_conn *conn;
    int broken;
};

static apr_status_t conn_open(void **res, void *params, apr_pool_t *unused)
{
    store_target *t = params;
    store_conn *c;
    apr_pool_t *cp;
    xp_error_t err = {0};
    xp_store_t *st;
    apr_status_t rv;

    (void)unused;
    if ((rv = apr_pool_create_unmanaged_ex(&cp, NULL, NULL)) != APR_SUCCESS) {
        return rv;
    }
    if (xp_store_open(cp, t->driver, t->params, &st, &err) != XP_OK) {
        /* params may hold a password: name the driver only */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, t->s,
                     "XP0603: cannot connect to the job store (driver %s, "
                     "see XportJobStore): %s",
                     t->driver, err.message ? err.message : "unknown error");
        apr_pool_destroy(cp);
        return APR_EGENERAL;
    }
    c = apr_pcalloc(cp, sizeof(*c));
    c->pool = cp;
    c->st = st;
    *res = c;
    return APR_SUCCESS;
}

static apr_status_t conn_close(void *res, void *params, apr_pool_t *unused)
{
    store_conn *c = res;

    (void)params;
    (void)unused;
    apr_pool_destroy(c->pool); /* its cleanup closes the connection */
    return APR_SUCCESS;
}

static const char *store_key(apr_pool_t *p, const xport_srv_cfg *cfg,
                             const char **driver, const char **params)
{
    xport_cfg_store(cfg, p, driver, params);
    return apr_pstrcat(p, *driver, "\n", *params ? *params : "", NULL);
}

void xport_http_child_init(apr_pool_t *pchild, server_rec *s)
{
    int threads = 1;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS ||
        threads < 1) {
        threads = 1;
    }
    if (threads > XPORT_STORE_CONNS_PER_CHILD) {
        threads = XPORT_STORE_CONNS_PER_CHILD;
    }
    store_lists = apr_hash_make(pchild);
    for (; s; s = s->next) {
        const xport_srv_cfg *cfg =
            ap_get_module_config(s->module_config, &xport_module);
        store_target *t = apr_pcalloc(pchild, sizeof(*t));
        apr_reslist_t *rl;
        const char *key;
        apr_status_t rv;

        key = store_key(pchild, cfg, &t->driver, &t->params);
        if (apr_hash_get(store_lists, key, APR_HASH_KEY_STRING)) {
            continue;
        }
        t->s = s;
        /* min 0: connections open on first use, so a child that never
         * serves an xport request never connects */
        rv = apr_reslist_create(&rl, 0, threads, threads, 0, conn_open,
                                conn_close, t, pchild);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                         "XP0604: cannot create the job store connection "
                         "pool for this child");
            continue;
        }
        apr_reslist_timeout_set(rl, apr_time_from_sec(30));
        apr_hash_set(store_lists, key, APR_HASH_KEY_STRING, rl);
    }
}

static apr_status_t lease_return(void *data)
{
    xport_lease_t *l = data;

    if (l->broken) {
        apr_reslist_invalidate(l->rl, l->conn);
    } else {
        apr_reslist_release(l->rl, l->conn);
    }
    return APR_SUCCESS;
}

xp_store_t *xport_store(xport_req_t *q)
{
    request_rec *r = q->r;
    const char *driver, *params, *key;
    apr_reslist_t *rl = NULL;
    void *res;
    apr_status_t rv = APR_EGENERAL;

    if (q->lease) {
        return q->lease->conn->st;
    }
    key = store_key(r->pool, q->cfg, &driver, &params);
    if (store_lists) {
        rl = apr_hash_get(store_lists, key, APR_HASH_KEY_STRING);
    }
    if (rl) {
        rv = apr_reslist_acquire(rl, &res);
    }
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XP0605: no job store connection (driver %s)%s", driver,
                      rl ? "; the reason was logged when connecting"
                         : ": no connection pool for this server");
        apr_table_setn(r->headers_out, "Retry-After", "5");
        xport_error(q, HTTP_SERVICE_UNAVAILABLE,
                      "The job store is not available right now; try again "
                      "in a few seconds.");
        return NULL;
    }
    q->lease = apr_pcalloc(r->pool, sizeof(*q->lease));
    q->lease->rl = rl;
    q->lease->conn = res;
    apr_pool_cleanup_register(r->pool, q->lease, lease_return,
                              apr_pool_cleanup_null);
    return q->lease->conn->st;
}

void xport_store_broken(xport_req_t *q)
{
    if (q->lease) {
        q->lease->broken = 1;
    }
}

void xport_store_done(xport_req_t *q)
{
    if (q->lease) {
        apr_pool_cleanup_run(q->r->pool, q->lease, lease_return);
        q->lease = NULL;
    }
}

xp_store_t *xport_store_renew(xport_req_t *q, const xp_error_t *err)
{
    if (q->lease) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, q->r,
                      "XP0607: job store connection failed (%s); retrying "
                      "on a new one",
                      err && err->message ? err->message : "unknown error");
        q->lease->broken = 1;
        apr_pool_cleanup_run(q->r->pool, q->lease, lease_return);
        q->lease = NULL;
    }
    return xport_store(q);
}

int xport_store_each(request_rec *r,
                     xp_errcode_e (*fn)(xp_store_t *st, apr_pool_t *p,
                                        void *baton),
                     void *baton)
{
    apr_hash_index_t *hi;
    int failed = 0;

    if (!store_lists) {
        return 1;
    }
    for (hi = apr_hash_first(r->pool, store_lists); hi;
         hi = apr_hash_next(hi)) {
        apr_reslist_t *rl = apr_hash_this_val(hi);
        store_conn *c;
        void *res;
        apr_status_t rv;
        xp_errcode_e rc;

        if ((rv = apr_reslist_acquire(rl, &res)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                          "XP0608: no job store connection; the reason was "
                          "logged when connecting");
            failed++;
            continue;
        }
        c = res;
        rc = fn(c->st, r->pool, baton);
        failed += rc != XP_OK;
        if (rc == XP_EDB) {
            apr_reslist_invalidate(rl, c);
        } else {
            apr_reslist_release(rl, c);
        }
    }
    return failed;
}

/* ------------------------------------------------------------------ */
/* Callers and visibility                                              */
/* ------------------------------------------------------------------ */

static int is_supervisor(const xport_srv_cfg *cfg, const char *caller)
{
    int i;

    if (!cfg->supervisors) {
        return 0;
    }
    for (i = 0; i < cfg->supervisors->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(cfg->supervisors, i, const char *), caller)) {
            return 1;
        }
    }
    return 0;
}

const char *xport_api_scope(const xport_req_t *q)
{
    return q->api->all_apis ? NULL : q->api->name;
}

int xport_job_visible(const xport_req_t *q, const xp_job_t *job)
{
    const char *scope = xport_api_scope(q);

    if (scope && (!job->api || strcmp(job->api, scope))) {
        return 0; /* another API's job */
    }
    return q->supervisor || (job->user_id && !strcmp(job->user_id, q->caller));
}

int xport_store_get(xport_req_t *q, const char *id, xp_job_t **job,
                    xp_errcode_e *rc, xp_error_t *err)
{
    xp_store_t *st;

    *job = NULL;
    if (!(st = xport_store(q))) {
        return -1;
    }
    *rc = xp_store_get(st, q->r->pool, id, job, err);
    if (*rc == XP_EDB) { /* maybe a connection that died idle: once more */
        if (!(st = xport_store_renew(q, err))) {
            return -1;
        }
        *rc = xp_store_get(st, q->r->pool, id, job, err);
    }
    return 0;
}

int xport_load_job(xport_req_t *q, xp_kind_e kind, const char *id,
                   xp_job_t **job)
{
    xp_error_t err = {0};
    xp_job_t *j = NULL;
    xp_errcode_e rc;

    *job = NULL;
    if (!xp_id_valid(id)) {
        return xport_not_found(q);
    }
    if (xport_store_get(q, id, &j, &rc, &err) < 0) {
        return OK;
    }
    if (rc == XP_ENOTFOUND ||
        (rc == XP_OK && (!xport_job_visible(q, j) || j->kind != kind))) {
        return xport_not_found(q);
    }
    if (rc != XP_OK) {
        return xport_fail(q, rc, &err);
    }
    *job = j;
    return OK;
}

const char *xport_url(xport_req_t *q, const char *tail)
{
    return ap_escape_uri(q->r->pool,
                         apr_pstrcat(q->r->pool, q->base, tail, NULL));
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

static apr_array_header_t *split_path(apr_pool_t *p, const char *path)
{
    apr_array_header_t *segs = apr_array_make(p, 4, sizeof(const char *));
    char *copy = apr_pstrdup(p, path), *seg, *state = NULL;

    for (seg = apr_strtok(copy, "/", &state); seg;
         seg = apr_strtok(NULL, "/", &state)) {
        APR_ARRAY_PUSH(segs, const char *) = seg;
    }
    return segs;
}

/* Byte offset of path segment idx (0-based) in uri. */
static apr_size_t seg_offset(const char *uri, int idx)
{
    const char *s = uri;
    int n = -1;

    while (*s) {
        while (*s == '/') {
            s++;
        }
        if (*s && ++n == idx) {
            break;
        }
        while (*s && *s != '/') {
            s++;
        }
    }
    return (apr_size_t)(s - uri);
}

/* Set q->base and q->segs. The location is the path of the innermost
 * <Location> (core's merged per-dir path). When that is not a literal
 * prefix ending at a path segment (LocationMatch, a later <Location />),
 * the API says where its own path starts (xport_api_t.locate). */
static void route(xport_req_t *q)
{
    request_rec *r = q->r;
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *uri = r->uri, *d = core ? core->d : NULL;
    apr_array_header_t *all;
    apr_size_t dl, at;
    int i, k;

    if (d && !core->r && !core->d_is_fnmatch && *d == '/') {
        dl = strlen(d);
        while (dl > 0 && d[dl - 1] == '/') {
            dl--;
        }
        if (!strncmp(uri, d, dl) && (uri[dl] == '/' || uri[dl] == '\0')) {
            q->base = apr_pstrndup(r->pool, uri, dl);
            q->segs = split_path(r->pool, uri + dl);
            /* a prefix that is not the API's (a later <Location />) */
            if (q->segs->nelts == 0 || !q->api->locate ||
                q->api->locate(q->segs) == 0 || xport_surface_path(q->segs)) {
                return;
            }
        }
    }
    all = split_path(r->pool, uri);
    q->base = "";
    q->segs = all; /* no route: the API answers 404 */
    if (!q->api->locate || (i = q->api->locate(all)) < 0) {
        return;
    }
    at = seg_offset(uri, i);
    while (at > 0 && uri[at - 1] == '/') {
        at--;
    }
    q->base = apr_pstrndup(r->pool, uri, at);
    q->segs = apr_array_make(r->pool, all->nelts - i, sizeof(const char *));
    for (k = i; k < all->nelts; k++) {
        APR_ARRAY_PUSH(q->segs, const char *) =
            APR_ARRAY_IDX(all, k, const char *);
    }
}

/* ------------------------------------------------------------------ */
/* CSRF                                                                */
/* ------------------------------------------------------------------ */

/* "host[:port]" -> host and port (0 when absent); -1 if malformed. */
static int host_port(apr_pool_t *p, const char *hp, char **host,
                     apr_port_t *port)
{
    char *scope = NULL;

    if (apr_parse_addr_port(host, &scope, port, hp, p) != APR_SUCCESS ||
        !*host || scope) {
        return -1;
    }
    return 0;
}

/* Origin "scheme://host[:port]" against the request's Host. An absent
 * port on either side is the Origin scheme's default: behind a TLS
 * terminating proxy httpd may see http while the browser used https. */
static int origin_matches(request_rec *r, const char *origin)
{
    const char *sep = strstr(origin, "://"), *hosthdr;
    char *ohost, *hhost, *hp;
    apr_port_t oport, hport, dflt;

    if (!sep) {
        return 0; /* "null" and anything unparsable */
    }
    dflt = !strncasecmp(origin, "https", sep - origin)  ? 443
           : !strncasecmp(origin, "http", sep - origin) ? 80
                                                        : 0;
    hp = apr_pstrdup(r->pool, sep + 3);
    if (strchr(hp, '/')) {
        *strchr(hp, '/') = '\0';
    }
    hosthdr = apr_table_get(r->headers_in, "Host");
    if (!hosthdr) {
        hosthdr = r->hostname ? r->hostname : "";
    }
    if (host_port(r->pool, hp, &ohost, &oport) < 0 ||
        host_port(r->pool, hosthdr, &hhost, &hport) < 0) {
        return 0;
    }
    return !strcasecmp(ohost, hhost) &&
           (oport ? oport : dflt) == (hport ? hport : dflt);
}

/* 0 if the request may change state, else a 403 has been sent. */
static int csrf_refused(xport_req_t *q)
{
    request_rec *r = q->r;
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *origin = apr_table_get(r->headers_in, "Origin");

    if (site && !strcasecmp(site, "cross-site")) {
        xport_error(q, HTTP_FORBIDDEN,
                      "Cross-site requests may not change jobs "
                      "(Sec-Fetch-Site: cross-site).");
        return 1;
    }
    if (origin && !origin_matches(r, origin)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "XP0606: refused %s from Origin %s (Host %s)", r->method,
                      origin, apr_table_get(r->headers_in, "Host"));
        xport_error(q, HTTP_FORBIDDEN,
                      "The request's Origin does not match its Host; "
                      "cross-site requests may not change jobs.");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The handler                                                         */
/* ------------------------------------------------------------------ */

#define XPORT_FILENAME "xport:"

/*
 * The API's URIs name no file. Left to core, every request (every status
 * poll) would be mapped into the DocumentRoot and walked there: a stat
 * per path segment and an .htaccess lookup per directory. As mod_proxy
 * does, a request whose <Location> has "SetHandler xport" (or
 * "xport-manager", the dashboard) is claimed at translate time and
 * map_to_storage passes it by; <Location> sections (authentication,
 * Require) still apply, <Directory> sections do not.
 */
int xport_translate(request_rec *r)
{
    core_dir_config *cd = ap_get_core_module_config(r->per_dir_config);
    const char *h, *err = NULL;

    if (!cd || !cd->expr_handler || r->proxyreq) {
        return DECLINED;
    }
    h = ap_expr_str_exec(r, cd->expr_handler, &err);
    if (err || !h ||
        (strcmp(h, "xport") && strcmp(h, XPORT_MANAGER_HANDLER))) {
        return DECLINED;
    }
    r->filename = apr_pstrcat(r->pool, XPORT_FILENAME, r->uri, NULL);
    return OK;
}

int xport_map_to_storage(request_rec *r)
{
    return r->filename && !strncmp(r->filename, XPORT_FILENAME,
                                   sizeof(XPORT_FILENAME) - 1)
               ? OK
               : DECLINED;
}

/* The request as the APIs see it, before routing. */
static xport_req_t *req_make(request_rec *r)
{
    xport_req_t *q = apr_pcalloc(r->pool, sizeof(*q));

    q->r = r;
    q->cfg = ap_get_module_config(r->server->module_config, &xport_module);
    q->caller = r->user ? r->user : "anonymous";
    q->supervisor = is_supervisor(q->cfg, q->caller);
    q->api = xport_api_of(r);
    return q;
}

int xport_refuse(request_rec *r, int status, const char *detail)
{
    xport_error(req_make(r), status, detail);
    /* answered: httpd finishes the request without an error page */
    return DONE;
}

int xport_handler(request_rec *r)
{
    xport_req_t *q;
    int manager, rc;

    if (!r->handler) {
        return DECLINED;
    }
    manager = !strcmp(r->handler, XPORT_MANAGER_HANDLER);
    if (!manager && strcmp(r->handler, "xport")) {
        return DECLINED;
    }
    q = req_make(r);
    if (manager) { /* the dashboard: its page, the native API below it */
        q->api = xport_manager_api();
    }
    route(q);
    /* the index, openapi.json and the event streams (GET and HEAD only:
     * no CSRF guard needed); the dashboard has its page where the index
     * would be */
    if (!(manager && q->segs->nelts == 0) &&
        (rc = xport_surface_handle(q)) != DECLINED) {
        return rc;
    }
    if (r->method_number != M_GET && r->method_number != M_OPTIONS &&
        csrf_refused(q)) {
        return OK;
    }
    if (manager && (rc = xport_manager_handle(q)) != DECLINED) {
        return rc;
    }
    return q->api->handle(q);
}
