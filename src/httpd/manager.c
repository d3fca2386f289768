/*
 * manager.c -- the dashboard (SPEC 9): `SetHandler xport-manager`, as
 * mod_proxy_balancer's balancer-manager. Its <Location> answers at its
 * root with one self-contained page and, below it, exactly as the native
 * API (SetHandler xport), which the page's script calls with fetch(): the
 * page is a client of the API, never a second implementation of it.
 *
 * The page is src/httpd/manager.html, made into C by the build
 * (xport_manager_html). It carries what it needs as attributes of its
 * <body> ({{NAME}} markers filled in here): the Location's path, the
 * caller, and the caller's form token. Its inline script and style run
 * under a per-response nonce, and its Content-Security-Policy allows
 * nothing else (no other origin, no other script, fetch() to its own
 * origin only).
 *
 * Cross-site requests: besides the Origin / Sec-Fetch-Site check of every
 * xport Location (http.c), a request here that is not GET or HEAD must
 * carry the caller's form token in X-Xport-Token, an HMAC of the user name
 * under a secret kept in the job store (src/engine/cred.c), which only a
 * page served to that user holds. A form on another site can send
 * neither the header nor the token.
 */
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>

#include <ap_provider.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_manager.h"
#include "xp_cred.h"

#define TOKEN_HEADER "X-Xport-Token"
/* the job store secret the form tokens are made with (xport_settings
 * "secret:form"), apart from the signed links' */
#define FORM_SECRET "form"
#define NONCE_BYTES 18 /* 24 characters of base64, no padding */

#if XP_LINK_KEY_LEN != XP_STORE_SECRET_LEN
#error "a form token's key is a job store secret: the lengths must agree"
#endif

/* The page (src/httpd/manager.html), generated into the build directory
 * by the Makefile: its bytes and a NUL after them. */
extern const char xport_manager_html[];
extern const apr_size_t xport_manager_html_len;

const xport_api_t *xport_manager_api(void)
{
    return ap_lookup_provider(XPORT_API_GROUP, XPORT_API_DEFAULT,
                              XPORT_API_VERSION);
}

/* The key of the caller's form token, or NULL once an error (503 and the
 * like) has been answered. The read is tried once more on a fresh
 * connection, as every read of the job store is. */
static const unsigned char *form_key(xport_req_t *q)
{
    const unsigned char *key = NULL;
    xp_error_t err = {0};
    xp_store_t *st = xport_store(q);
    xp_errcode_e rc;

    if (!st) {
        return NULL;
    }
    rc = xp_store_secret(st, q->r->pool, FORM_SECRET, &key, &err);
    if (rc == XP_EDB) {
        if (!(st = xport_store_renew(q, &err))) {
            return NULL;
        }
        memset(&err, 0, sizeof(err));
        rc = xp_store_secret(st, q->r->pool, FORM_SECRET, &key, &err);
    }
    if (rc != XP_OK) {
        xport_fail(q, rc, &err);
        return NULL;
    }
    return key;
}

/* 0 if the request carries the caller's form token, else 1 and a 403 (or
 * the job store's error) has been sent. */
static int token_refused(xport_req_t *q)
{
    request_rec *r = q->r;
    const char *sent = apr_table_get(r->headers_in, TOKEN_HEADER);
    const unsigned char *key;

    if (!(key = form_key(q))) {
        return 1;
    }
    if (xp_form_token_valid(r->pool, key, q->caller, sent)) {
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "XP1201: refused %s %s by %s: %s", r->method, r->uri,
                  q->caller,
                  sent ? "the X-Xport-Token header is not the caller's"
                       : "no X-Xport-Token header");
    xport_error(q, HTTP_FORBIDDEN,
                sent ? "The X-Xport-Token header is not your form token: "
                       "reload the dashboard page and try again."
                     : "A request that changes jobs here must carry the "
                       "X-Xport-Token header of the dashboard page (its "
                       "guard against cross-site requests); reload the "
                       "page, or use an xport Location for scripts.");
    return 1;
}

/* ------------------------------------------------------------------ */
/* The page                                                            */
/* ------------------------------------------------------------------ */

typedef struct page_var {
    const char *name;
    const char *value; /* HTML-escaped */
} page_var;

/* The configured section names, space-separated (identifiers: nothing to
 * escape). */
static const char *section_names(xport_req_t *q)
{
    const xp_sections_t *secs = q->cfg->sections;
    apr_array_header_t *names;
    int i;

    if (!secs || !secs->list) {
        return "";
    }
    names = apr_array_make(q->r->pool, secs->list->nelts, sizeof(char *));
    for (i = 0; i < secs->list->nelts; i++) {
        APR_ARRAY_PUSH(names, const char *) =
            APR_ARRAY_IDX(secs->list, i, xp_section_t *)->name;
    }
    return apr_array_pstrcat(q->r->pool, names, ' ');
}

/* The page with every {{NAME}} of vars replaced by its value; a marker
 * that is not in vars is written as it stands. */
static void page_write(request_rec *r, const page_var *vars)
{
    const char *s = xport_manager_html, *open, *close;
    const page_var *v;

    while ((open = strstr(s, "{{")) && (close = strstr(open + 2, "}}"))) {
        ap_rwrite(s, (int)(open - s), r);
        for (v = vars; v->name; v++) {
            if (strlen(v->name) == (apr_size_t)(close - open - 2) &&
                !strncmp(open + 2, v->name, strlen(v->name))) {
                break;
            }
        }
        if (v->name) {
            ap_rputs(v->value, r);
        } else {
            ap_rwrite(open, (int)(close + 2 - open), r);
        }
        s = close + 2;
    }
    ap_rwrite(s, (int)(xport_manager_html + xport_manager_html_len - s), r);
}

/* A fresh CSP nonce (base64), or NULL when there is no random source. */
static const char *page_nonce(apr_pool_t *p)
{
    unsigned char raw[NONCE_BYTES];
    char *b64;

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        return NULL;
    }
    b64 = apr_palloc(p, apr_base64_encode_len(sizeof(raw)));
    apr_base64_encode_binary(b64, raw, sizeof(raw));
    return b64;
}

/* Headers of the page: only its own inline script and style (by nonce),
 * fetch() and EventSource to its own origin, no frames, no caching (the
 * page holds the caller's token). */
static void page_headers(request_rec *r, const char *nonce)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    apr_table_setn(
        r->headers_out, "Content-Security-Policy",
        apr_psprintf(r->pool,
                     "default-src 'none'; script-src 'nonce-%s'; "
                     "style-src 'nonce-%s'; connect-src 'self'; "
                     "img-src data:; form-action 'none'; base-uri 'none'; "
                     "frame-ancestors 'none'",
                     nonce, nonce));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Referrer-Policy", "same-origin");
}

static int send_page(xport_req_t *q)
{
    request_rec *r = q->r;
    apr_pool_t *p = r->pool;
    const unsigned char *key;
    const char *nonce, *token;

    if (r->method_number != M_GET) {
        return xport_not_allowed(q, "GET, HEAD");
    }
    ap_discard_request_body(r);
    if (!(nonce = page_nonce(p))) {
        return xport_error(q, HTTP_INTERNAL_SERVER_ERROR,
                           "The server has no random source for the page.");
    }
    if (!(key = form_key(q))) {
        return OK;
    }
    xport_store_done(q);
    token = xp_form_token(p, key, q->caller);
    page_headers(r, nonce);
    if (!r->header_only) {
        const page_var vars[] = {
            {"NONCE", nonce},
            {"BASE", ap_escape_html2(p, ap_escape_uri(p, q->base), 1)},
            {"USER", ap_escape_html2(p, q->caller, 1)},
            {"TOKEN", token},
            {"SUPERVISOR", q->supervisor ? "true" : "false"},
            {"SECTIONS", section_names(q)},
            {NULL, NULL}};
        page_write(r, vars);
    }
    return OK;
}

int xport_manager_handle(xport_req_t *q)
{
    if (q->segs->nelts == 0) {
        return send_page(q);
    }
    if (q->r->method_number != M_GET && token_refused(q)) {
        return OK;
    }
    return DECLINED;
}
