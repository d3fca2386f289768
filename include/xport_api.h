/*
 * xport_api.h -- what one API (a "dialect": the native API, the chat
 * service's, ...) is to the glue. Each lives in one file under src/api/
 * and registers one xport_api_t as an httpd provider in the group
 * XPORT_API_GROUP (mod_xport.c's register_hooks); `XportAPI NAME` looks
 * it up by name. http.c calls an API only through this table, so it
 * knows none of them, and no API knows another.
 */
#ifndef XPORT_API_H
#define XPORT_API_H

#include <httpd.h>

#include "xport.h"

#define XPORT_API_GROUP "xport_api"
#define XPORT_API_VERSION "0"
#define XPORT_API_DEFAULT "native" /* a <Location> without XportAPI */

struct xport_req_t;
struct xp_buf_t; /* xp_json.h */

typedef struct xport_api_t {
    const char *name; /* the XportAPI value */
    /* Answer a request below the <Location>: parse q->segs, call the use
     * cases (xport_jobs.h), render. Returns as xport_http.h says. */
    int (*handle)(struct xport_req_t *q);
    /* Write an error body in the API's shape. status and r->status are
     * set, so are the headers every error shares; err->message is the
     * sentence for a person, err->field/line/column where they apply. */
    void (*render_error)(struct xport_req_t *q, int status,
                         const xp_error_t *err);
    /* When the <Location> is a pattern (LocationMatch), the index of the
     * path segment where the API's own path starts, or -1. NULL: the
     * Location must be a literal prefix. */
    int (*locate)(const apr_array_header_t *segs);
    /* XportMaxUploadSize of a Location speaking this API when neither it
     * nor the server sets one; -1: the module's default. */
    apr_off_t upload_limit;
    /* 1: lists and loads the jobs of every API (the native API); 0: only
     * the jobs this API created */
    int all_apis;
    /* XportMaxJobsPerTenant of a Location speaking this API when it sets
     * none; 0: no limit */
    int tenant_jobs;
    /* Append job's record in the API's shape, as one line of JSON, to b:
     * the data of the event streams (events.c). NULL: the API shows
     * clients no job records, and has no event streams. */
    void (*record)(struct xport_req_t *q, xp_job_t *job, struct xp_buf_t *b);
} xport_api_t;

/* The API a request's <Location> speaks (XportAPI; native by default). */
const xport_api_t *xport_api_of(request_rec *r);

#endif
