/*
 * surface.c -- what a newcomer finds at a <Location> before reading any
 * manual: GET <Location>/openapi.json, the OpenAPI 3.1 document of the
 * Location's API (built into the module from src/api/openapi/<api>.json),
 * and GET <Location>/ (or the Location itself), an index with links to
 * the API's collections, its document and its event stream, in JSON or,
 * for a browser, HTML (SPEC 9).
 *
 * The index is read off the document: its collections are the
 * document's paths, its event stream is linked when the document has
 * one. A route or an API added to the documents shows up here without a
 * line of C. http.c calls xport_surface_handle() before the API's own
 * handler; no API knows of this file.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "xport_surface.h"

#define ALLOW_SURFACE "GET, HEAD"

/* ------------------------------------------------------------------ */
/* The documents                                                       */
/* ------------------------------------------------------------------ */

static const xport_openapi_doc_t *doc_of(const char *api_name)
{
    const xport_openapi_doc_t *d;

    for (d = xport_openapi_docs; api_name && d->api; d++) {
        if (!strcmp(d->api, api_name)) {
            return d;
        }
    }
    return NULL;
}

const char *xport_openapi_doc(const char *api_name, apr_size_t *len)
{
    const xport_openapi_doc_t *d = doc_of(api_name);

    *len = d ? d->len : 0;
    return d ? d->text : NULL;
}

/* GET|HEAD openapi.json: the document as written, revalidated by ETag. */
static int send_document(xport_req_t *q, const xport_openapi_doc_t *d)
{
    request_rec *r = q->r;
    int rc;

    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "ETag", d->etag);
    /* a client may keep it, and asks again whether it changed */
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    ap_discard_request_body(r);
    rc = ap_meets_conditions(r);
    if (rc == HTTP_PRECONDITION_FAILED) {
        return xport_error(q, rc,
                           "If-Match names another version of the document.");
    }
    if (rc != OK) {
        return rc; /* 304 Not Modified: httpd answers it */
    }
    ap_set_content_length(r, (apr_off_t)d->len);
    if (!r->header_only) {
        ap_rwrite(d->text, (int)d->len, r);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* The index, read off the document                                    */
/* ------------------------------------------------------------------ */

typedef struct index_t {
    apr_pool_t *p;
    const xp_json_t *paths;      /* the document's paths object */
    int events;                  /* the document has GET /events */
    apr_array_header_t *plain;   /* const char *: paths without parameters */
    apr_array_header_t *literal; /* paths ending in a literal segment */
} index_t;

static const char *const methods[] = {"get",   "head",   "post", "put",
                                      "patch", "delete", NULL};

/* The path's last segment ("" for "/"), ignoring a trailing slash. */
static const char *last_segment(apr_pool_t *p, const char *path)
{
    char *s = apr_pstrdup(p, path), *slash;
    apr_size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/') {
        s[--n] = '\0';
    }
    slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

/* The surface's own routes are not the API's collections. */
static int is_surface_path(apr_pool_t *p, const char *path)
{
    return !strcmp(path, "/") || !strcmp(path, "/openapi.json") ||
           !strcmp(last_segment(p, path), "events");
}

static int index_member(void *baton, const char *key, const xp_json_t *v)
{
    index_t *x = baton;
    const char *last = last_segment(x->p, key);
    apr_size_t n = strlen(key);

    if (!strcmp(key, "/events")) {
        x->events = 1;
    }
    if (is_surface_path(x->p, key) || !*last || *last == '{') {
        return 0;
    }
    /* a path listed with and without its trailing slash: the slash one */
    if (n && key[n - 1] != '/' &&
        xp_json_has(x->paths, apr_pstrcat(x->p, key, "/", NULL))) {
        return 0;
    }
    (void)v; /* valid during the call only: looked up again later */
    key = apr_pstrdup(x->p, key);
    if (!strchr(key, '{')) {
        APR_ARRAY_PUSH(x->plain, const char *) = key;
    }
    APR_ARRAY_PUSH(x->literal, const char *) = key;
    return 0;
}

/* One collection: {"href", "templated", "methods", "summary"}. */
static xp_json_t *collection(xport_req_t *q, const char *path,
                             const xp_json_t *item)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *c = xp_json_object(p), *m = xp_json_array(p);
    const char *summary = NULL;
    int i;

    for (i = 0; methods[i]; i++) {
        xp_json_t *op = xp_json_get(p, item, methods[i]);
        if (!op) {
            continue;
        }
        char *name = apr_pstrdup(p, methods[i]);
        ap_str_toupper(name);
        xp_json_append_str(m, name);
        if (!summary) {
            summary = xp_json_get_str(op, "summary");
        }
    }
    xp_json_set_str(c, "href", apr_pstrcat(p, xport_url(q, ""), path, NULL));
    xp_json_set_bool(c, "templated", strchr(path, '{') != NULL);
    xp_json_set(c, "methods", m);
    if (summary) {
        xp_json_set_str(c, "summary", summary);
    }
    return c;
}

/* The index as JSON, from the document d (NULL: the API has none). */
static xp_json_t *index_json(xport_req_t *q, const xport_openapi_doc_t *d)
{
    apr_pool_t *p = q->r->pool;
    xp_json_t *o = xp_json_object(p), *links = xp_json_object(p);
    xp_json_t *list = xp_json_array(p), *doc = NULL, *info;
    index_t x = {p, NULL, 0, NULL, NULL};
    apr_array_header_t *keys;
    xp_error_t err = {0};
    int i;

    x.plain = apr_array_make(p, 8, sizeof(const char *));
    x.literal = apr_array_make(p, 8, sizeof(const char *));
    if (d && (doc = xp_json_parse(p, d->text, d->len, &err)) &&
        (x.paths = xp_json_get(p, doc, "paths"))) {
        xp_json_members(x.paths, index_member, &x);
    }
    xp_json_set_str(o, "api", q->api->name);
    info = doc ? xp_json_get(p, doc, "info") : NULL;
    if (info && xp_json_get_str(info, "title")) {
        xp_json_set_str(o, "title", xp_json_get_str(info, "title"));
    }
    xp_json_set_str(links, "self", xport_url(q, "/"));
    if (d) {
        xp_json_set_str(links, "openapi", xport_url(q, "/openapi.json"));
    }
    if (x.events) {
        xp_json_set_str(links, "events", xport_url(q, "/events"));
    }
    xp_json_set(o, "links", links);
    /* the collections; an API whose every path has a parameter (a
     * tenant, an owner) lists its paths as URI templates instead */
    keys = x.plain->nelts ? x.plain : x.literal;
    for (i = 0; i < keys->nelts; i++) {
        const char *path = APR_ARRAY_IDX(keys, i, const char *);
        xp_json_append(list,
                       collection(q, path, xp_json_get(p, x.paths, path)));
    }
    xp_json_set(o, "collections", list);
    return o;
}

/* ------------------------------------------------------------------ */
/* HTML for a browser                                                  */
/* ------------------------------------------------------------------ */

/* The q of the most specific range of an Accept header that matches
 * type ("text/html"), or -1 when none does. */
static double accept_q(apr_pool_t *p, const char *accept, const char *type)
{
    char *copy = apr_pstrdup(p, accept), *item, *state = NULL;
    const char *slash = strchr(type, '/');
    double best_q = -1;
    int best = 0;

    for (item = apr_strtok(copy, ",", &state); item;
         item = apr_strtok(NULL, ",", &state)) {
        char *semi = strchr(item, ';'), *qp;
        double qv = 1;
        int spec = 0;

        if (semi) {
            *semi++ = '\0';
            if ((qp = strstr(semi, "q="))) {
                qv = strtod(qp + 2, NULL);
            }
        }
        apr_collapse_spaces(item, item);
        if (!strcasecmp(item, type)) {
            spec = 3;
        } else if (!strncasecmp(item, type, (apr_size_t)(slash - type + 1)) &&
                   !strcmp(item + (slash - type + 1), "*")) {
            spec = 2;
        } else if (!strcmp(item, "*/*")) {
            spec = 1;
        }
        if (spec > best) {
            best = spec;
            best_q = qv;
        }
    }
    return best_q;
}

/* A browser asks for HTML first; anything else (none, * / *) gets JSON. */
static int wants_html(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    double html, json;

    if (!accept) {
        return 0;
    }
    html = accept_q(r->pool, accept, "text/html");
    json = accept_q(r->pool, accept, "application/json");
    return html > 0 && html > json;
}

static void html_link(request_rec *r, const char *href, const char *text)
{
    ap_rprintf(r, "<li><a href=\"%s\">%s</a></li>\n",
               ap_escape_html(r->pool, href), ap_escape_html(r->pool, text));
}

static void html_collection(request_rec *r, const xp_json_t *c)
{
    apr_pool_t *p = r->pool;
    const xp_json_t *m = xp_json_get(p, c, "methods");
    const char *href = xp_json_get_str(c, "href"), *sum;
    apr_size_t i;

    if (xp_json_get_bool(c, "templated", 0)) {
        ap_rprintf(r, "<li><code>%s</code>", ap_escape_html(p, href));
    } else {
        ap_rprintf(r, "<li><a href=\"%s\"><code>%s</code></a>",
                   ap_escape_html(p, href), ap_escape_html(p, href));
    }
    for (i = 0; m && i < xp_json_size(m); i++) {
        ap_rprintf(r, "%s%s", i ? ", " : " (",
                   xp_json_str_value(xp_json_at(p, m, i)));
    }
    ap_rputs(m && xp_json_size(m) ? ")" : "", r);
    if ((sum = xp_json_get_str(c, "summary"))) {
        ap_rprintf(r, ": %s", ap_escape_html(p, sum));
    }
    ap_rputs("</li>\n", r);
}

static void send_html(xport_req_t *q, const xp_json_t *o)
{
    request_rec *r = q->r;
    apr_pool_t *p = r->pool;
    const xp_json_t *links = xp_json_get(p, o, "links");
    const xp_json_t *list = xp_json_get(p, o, "collections");
    const char *title = xp_json_get_str(o, "title");
    apr_size_t i;

    title = ap_escape_html(p, title ? title : "mod_xport");
    ap_rprintf(r,
               "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
               "charset=\"utf-8\"><title>%s</title></head>\n<body>\n"
               "<h1>%s</h1>\n<p><code>XportAPI %s</code> at <code>%s</code>"
               "</p>\n<ul>\n",
               title, title, ap_escape_html(p, q->api->name),
               ap_escape_html(p, xp_json_get_str(links, "self")));
    if (xp_json_get_str(links, "openapi")) {
        html_link(r, xp_json_get_str(links, "openapi"),
                  "OpenAPI document (openapi.json)");
    }
    if (xp_json_get_str(links, "events")) {
        html_link(r, xp_json_get_str(links, "events"),
                  "Event stream (text/event-stream)");
    }
    ap_rputs("</ul>\n<h2>Collections</h2>\n<ul>\n", r);
    for (i = 0; list && i < xp_json_size(list); i++) {
        html_collection(r, xp_json_at(p, list, i));
    }
    ap_rputs("</ul>\n</body></html>\n", r);
}

static int send_index(xport_req_t *q)
{
    request_rec *r = q->r;
    xp_json_t *o = index_json(q, doc_of(q->api->name));

    ap_discard_request_body(r);
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    if (!wants_html(r)) {
        return xport_send_json(q, HTTP_OK, o);
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        send_html(q, o);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* The kind of an event stream's path ("exports", "imports"; "" for
 * /events), or NULL. */
static const char *events_path(const apr_array_header_t *segs)
{
    const char *first = segs->nelts ? APR_ARRAY_IDX(segs, 0, const char *) : "";

    if (segs->nelts == 1 && !strcmp(first, "events")) {
        return "";
    }
    if (segs->nelts == 3 &&
        !strcmp(APR_ARRAY_IDX(segs, 2, const char *), "events") &&
        (!strcmp(first, "exports") || !strcmp(first, "imports"))) {
        return first;
    }
    return NULL;
}

int xport_surface_path(const apr_array_header_t *segs)
{
    return events_path(segs) ||
           (segs->nelts == 1 &&
            !strcmp(APR_ARRAY_IDX(segs, 0, const char *), "openapi.json"));
}

int xport_surface_handle(xport_req_t *q)
{
    const xport_openapi_doc_t *d = NULL;
    const char *kind = events_path(q->segs);
    int n = q->segs->nelts;

    if (kind) { /* the event streams (events.c) */
        return xport_events(q, *kind ? kind : NULL,
                            *kind ? APR_ARRAY_IDX(q->segs, 1, const char *)
                                  : NULL);
    }
    if (xport_surface_path(q->segs)) {
        if (!(d = doc_of(q->api->name))) {
            return DECLINED; /* an API without a document: its 404 */
        }
    } else if (n != 0) {
        return DECLINED;
    }
    if (q->r->method_number != M_GET) {
        return xport_not_allowed(q, ALLOW_SURFACE);
    }
    return d ? send_document(q, d) : send_index(q);
}
