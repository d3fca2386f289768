/*
 * xport_surface.h -- what every <Location> answers besides its API's own
 * routes (src/httpd/surface.c): the index at <Location>/, the API's
 * OpenAPI document at <Location>/openapi.json and the event streams
 * (<Location>/events, <Location>/exports|imports/<id>/events; events.c). The documents are
 * src/api/openapi/<api>.json, built into the module by the Makefile
 * (build/gen/openapi_docs.c). Only the glue includes this file.
 */
#ifndef XPORT_SURFACE_H
#define XPORT_SURFACE_H

#include "xport_http.h"

/* One embedded document (the table is generated, NULL-terminated). */
typedef struct xport_openapi_doc_t {
    const char *api;  /* the XportAPI name: the file's base name */
    const char *text; /* the JSON as written */
    apr_size_t len;
    const char *etag; /* a strong ETag: part of its SHA-256, quoted */
} xport_openapi_doc_t;

extern const xport_openapi_doc_t xport_openapi_docs[];

/* The OpenAPI document of an API by name (xport_api_t.name), or NULL
 * when it has none; *len is its size. */
const char *xport_openapi_doc(const char *api_name, apr_size_t *len);

/* 1 when the path below a <Location> is one of the routes here other
 * than the index (openapi.json, the event streams): route() in http.c
 * takes the Location's literal prefix for it, whatever the API's
 * locate() says. */
int xport_surface_path(const apr_array_header_t *segs);

/* GET|HEAD <Location>/, <Location>/openapi.json and the event streams
 * (other methods: 405).
 * DECLINED when the request's path is neither, else as xport_http.h says
 * (OK, or HTTP_NOT_MODIFIED for a conditional GET). */
int xport_surface_handle(xport_req_t *q);

#endif
