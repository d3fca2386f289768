/*
 * xport_http.h -- what src/httpd/http.c (HTTP mechanics: the request as
 * the APIs see it, errors, request bodies, CSRF, per-child job store
 * connections, visibility) offers to the use cases (xport_jobs.h) and
 * the API files under src/api/. Only the glue includes this file.
 *
 * Convention: every function returning int returns OK once a complete
 * response (success or error, the error's body in the API's shape) has
 * been produced, or an HTTP status that the handler hands back to httpd
 * unchanged (HTTP_NOT_MODIFIED).
 */
#ifndef XPORT_HTTP_H
#define XPORT_HTTP_H

#include "mod_xport_private.h"
#include "xp_json.h"
#include "xp_store.h"

typedef struct xport_lease_t xport_lease_t;

/* One request as the API files see it. */
typedef struct xport_req_t {
    request_rec *r;
    const xport_srv_cfg *cfg;
    const char *base;         /* URI path of the <Location>, no trailing
                                 slash ("" when the location is "/") */
    apr_array_header_t *segs; /* const char *: path segments below base */
    const xport_api_t *api;   /* the API the <Location> speaks */
    const char *caller;       /* r->user, or "anonymous" */
    int supervisor;           /* caller is listed in XportSupervisor */
    xport_lease_t *lease;     /* job store connection, NULL until used */
    int streaming;            /* the response has begun (an event stream):
                                 an error is logged, never sent */
} xport_req_t;

/* ---------------------------- responses ---------------------------- */

/* An error: status, the headers every error shares, and a body the
 * request's API renders (xport_api_t.render_error). detail is a
 * sentence a person can act on. */
int xport_error(xport_req_t *q, int status, const char *detail);
/* The same from an engine error, keeping its field, line and column. */
int xport_error_at(xport_req_t *q, int status, const xp_error_t *err);
/* 400 about one request field. */
int xport_field_error(xport_req_t *q, const char *field, const char *detail);
/* Map an engine error code to a status (400/404/409/429/503/500), log
 * what the client does not need to see, and answer with an error.
 * XP_EDB also retires the request's job store connection. */
int xport_fail(xport_req_t *q, xp_errcode_e rc, const xp_error_t *err);
/* 405 with Allow. */
int xport_not_allowed(xport_req_t *q, const char *allow);
/* 404 for anything that is not a route or not visible to the caller:
 * one body for all, so existence never leaks. */
int xport_not_found(xport_req_t *q);
/* Status and JSON body (application/json; not serialised for HEAD, so
 * j may be NULL then). */
int xport_send_json(xport_req_t *q, int status, const xp_json_t *j);
/* The same with the JSON already as text (len bytes). */
int xport_send_json_text(xport_req_t *q, int status, const char *text,
                         apr_size_t len);
/* Status and no body (204). */
int xport_send_empty(xport_req_t *q, int status);

/* ------------------------------ input ------------------------------ */

/* The request's media type without parameters, lower case, or NULL. */
const char *xport_media_type(request_rec *r);
/* Decode an application/x-www-form-urlencoded string into a table (the
 * last of repeated names wins). NULL on a malformed escape or a NUL. */
apr_table_t *xport_form_decode(apr_pool_t *p, const char *s);
/* The request's query string decoded; on error a 400 has been
 * sent and *fields is NULL. */
int xport_read_query(xport_req_t *q, apr_table_t **fields);
/* The request body as fields: JSON object (application/json, max 64 KiB)
 * or form-urlencoded; JSON booleans and integers become their text,
 * null is absent. names lists the fields to take from a JSON body
 * (NULL-terminated). On error it has been answered (400, 413, 415)
 * and *fields is NULL. */
int xport_read_fields(xport_req_t *q, const char *const *names,
                      apr_table_t **fields);
/* The request body as a JSON object (application/json or no content
 * type, max 64 KiB; an empty body is {}). On error it has been answered
 * (400, 413, 415) and *obj is NULL. */
int xport_read_json(xport_req_t *q, xp_json_t **obj);

/* ---------------------------- job store ---------------------------- */

/* The request's job store connection (acquired once, given back when the
 * request ends). NULL: a 503 has been answered. */
xp_store_t *xport_store(xport_req_t *q);
/* Give the connection back now, before a long transfer (download,
 * upload); a later xport_store() acquires one again. */
void xport_store_done(xport_req_t *q);
/* The connection failed: drop it instead of giving it back. */
void xport_store_broken(xport_req_t *q);
/* After XP_EDB on a read: drop the connection (it may have died while
 * idle in the pool, e.g. a database restart) and take a fresh one, so an
 * idempotent read can be tried once more. NULL: a 503 has been sent. */
xp_store_t *xport_store_renew(xport_req_t *q, const xp_error_t *err);

/* fn on every distinct job store of this node's servers, each with a
 * connection leased for the call (dropped after XP_EDB). Nothing is
 * answered: returns how many stores could not be reached or whose fn
 * failed (logged when connecting; fn logs its own errors). */
int xport_store_each(request_rec *r,
                     xp_errcode_e (*fn)(xp_store_t *st, apr_pool_t *p,
                                        void *baton),
                     void *baton);

/* ---------------------------- visibility --------------------------- */

/* The API whose jobs the request sees (NULL: every API's). */
const char *xport_api_scope(const xport_req_t *q);
/* Of that API, and the caller's own unless a supervisor asks. */
int xport_job_visible(const xport_req_t *q, const xp_job_t *job);
/* Read job id from the job store, once more on a fresh connection when
 * the first read fails with XP_EDB (one that died idle); *rc is the
 * store's answer (*job set when XP_OK). -1 when no connection could be
 * had (a 503 has been answered), else 0. */
int xport_store_get(xport_req_t *q, const char *id, xp_job_t **job,
                    xp_errcode_e *rc, xp_error_t *err);
/* Load a job of this kind visible to the caller; on failure an error
 * (404 for unknown, malformed, invisible or other-kind ids) has been
 * sent and *job is NULL. */
int xport_load_job(xport_req_t *q, xp_kind_e kind, const char *id,
                   xp_job_t **job);

/* ------------------------------ events ----------------------------- */

/* The event streams (SPEC 9): GET <Location>/<kind>/<id>/events (kind
 * "exports" or "imports") and, with kind NULL, <Location>/events, in
 * the API's records; DECLINED when the API has none. Each holds its
 * thread until it ends, within XportMaxEventStreams (else 503). */
int xport_events(xport_req_t *q, const char *kind, const char *id);

/* The absolute path of a route below the location, e.g.
 * xport_url(q, "/exports") -> "/xport/exports" (escaped). */
const char *xport_url(xport_req_t *q, const char *tail);

#endif
