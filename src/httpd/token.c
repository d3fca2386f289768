/*
 * token.c -- AuthType xport-token: API keys (SPEC 8.0), the httpd way.
 *
 * An authentication provider like mod_auth_basic: a check_authn hook
 * that acts only where `AuthType xport-token` is configured, sets
 * r->user, and leaves the decision to mod_authz_core (`Require
 * valid-user`, `Require user`). The keys come from the location's
 * XportTokenFile, read with the configuration (src/httpd/config.c), never
 * per request; src/engine/cred.c hashes and compares them.
 *
 * A signed download link (src/httpd/link.c) is a credential too: a GET
 * or HEAD carrying a valid one is authenticated as the link's user
 * without a key, so that clients which fetch a download URL without
 * credentials get their file.
 *
 * A refusal is returned as its status with a sentence for the client in
 * r->notes (XPORT_NOTE_AUTH_ERROR): the API of the location renders it in
 * its own error shape.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xp_cred.h"

#define NOTE_TENANTS "xport-tenants"

/* Where clients put their key, besides `Authorization: Bearer|Token`:
 * both spellings of the chat SDK's header occur in real clients. */
static const char *const key_headers[] = {"x-synthetic-key", "QISCUS-SDK-SECRET",
                                          "QISCUS_SDK_SECRET", NULL};

/* The value without surrounding white space, or NULL if that is empty. */
static const char *trimmed(apr_pool_t *p, const char *v)
{
    const char *end;

    while (apr_isspace(*v))
        v++;
    end = v + strlen(v);
    while (end > v && apr_isspace(end[-1]))
        end--;
    return end > v ? apr_pstrmemdup(p, v, (apr_size_t)(end - v)) : NULL;
}

/* The key the request presents and the header it came in, or NULL. */
static const char *presented_key(request_rec *r, const char **from)
{
    const char *auth = apr_table_get(r->headers_in, "Authorization");
    const char *key;
    int i;

    if (auth) {
        const char *scheme = ap_getword_white(r->pool, &auth);
        if ((!strcasecmp(scheme, "Bearer") || !strcasecmp(scheme, "Token")) &&
            (key = trimmed(r->pool, auth))) {
            *from = "Authorization";
            return key;
        }
    }
    for (i = 0; key_headers[i]; i++) {
        const char *v = apr_table_get(r->headers_in, key_headers[i]);
        if (v && (key = trimmed(r->pool, v))) {
            *from = key_headers[i];
            return key;
        }
    }
    return NULL;
}

/* `WWW-Authenticate: Bearer realm="..."` (RFC 6750), the realm being
 * AuthName. */
static void challenge(request_rec *r)
{
    const char *name = ap_auth_name(r), *q;
    char *realm, *o;

    if (!name)
        name = "xport";
    realm = o = apr_palloc(r->pool, 2 * strlen(name) + 1);
    for (q = name; *q; q++) {
        if (*q == '"' || *q == '\\')
            *o++ = '\\';
        *o++ = *q;
    }
    *o = '\0';
    apr_table_setn(r->err_headers_out,
                   PROXYREQ_PROXY == r->proxyreq ? "Proxy-Authenticate"
                                                 : "WWW-Authenticate",
                   apr_pstrcat(r->pool, "Bearer realm=\"", realm, "\"", NULL));
}

/* Refuse with status; the API of the location renders detail. */
/* Refused: the answer is the error of the <Location>'s API (its shape,
 * not httpd's error page), and the hook returns DONE. */
static int refuse(request_rec *r, int status, const char *detail)
{
    apr_table_setn(r->notes, XPORT_NOTE_AUTH_ERROR, detail);
    if (status == HTTP_UNAUTHORIZED)
        challenge(r);
    return xport_refuse(r, status, detail);
}

/* A signed link in place of a key: DECLINED when r carries none. */
static int link_authn(request_rec *r)
{
    xport_link_t l;
    int rc = xport_link_check(r, &l);

    switch (rc) {
    case OK:
        r->user = apr_pstrdup(r->pool, l.user);
        apr_table_setn(r->notes, XPORT_NOTE_LINK, l.job_id);
        return OK;
    case HTTP_GONE:
        return refuse(r, rc,
                      "This download link has expired; ask for the job "
                      "again to get a new one.");
    case HTTP_NOT_FOUND:
        return refuse(r, rc,
                      "There is no such resource, or it is not visible "
                      "to you.");
    default:
        return rc;
    }
}

static int key_authn(request_rec *r)
{
    const xport_dir_cfg *dc =
        ap_get_module_config(r->per_dir_config, &xport_module);
    const char *key, *from = NULL;
    const xp_token_t *e;

    if (!dc->tokens) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XP1001: AuthType xport-token for %s has no "
                      "XportTokenFile: add one to the <Location>",
                      r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!(key = presented_key(r, &from)))
        return refuse(r, HTTP_UNAUTHORIZED,
                      "This API needs a key: send it as \"Authorization: "
                      "Bearer <key>\" (or one of the key headers this "
                      "API documents).");
    if (!(e = xp_tokens_match(dc->tokens, key, strlen(key)))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XP1002: the API key in %s matches no line of %s", from,
                      dc->tokens->path);
        return refuse(r, HTTP_UNAUTHORIZED, "The API key is not valid.");
    }
    r->user = apr_pstrdup(r->pool, e->user);
    apr_table_setn(r->notes, NOTE_TENANTS, e->tenants);
    return OK;
}

int xport_token_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    int rc;

    if (!type || strcasecmp(type, XPORT_AUTH_TYPE))
        return DECLINED;
    r->ap_auth_type = (char *)type;
    if ((rc = link_authn(r)) != DECLINED)
        return rc;
    return key_authn(r);
}

/* mod_authz_core refused an authenticated user (`Require user` names
 * another): a 401 again, with the challenge and a sentence. */
int xport_token_note_failure(request_rec *r, const char *auth_type)
{
    if (!auth_type || strcasecmp(auth_type, XPORT_AUTH_TYPE))
        return DECLINED;
    if (!apr_table_get(r->notes, XPORT_NOTE_AUTH_ERROR))
        apr_table_setn(r->notes, XPORT_NOTE_AUTH_ERROR,
                       "This API key is valid but not admitted here.");
    challenge(r);
    return OK;
}

const char *xport_token_tenants(const request_rec *r)
{
    /* a subrequest or an internal redirect keeps its first request's
     * authentication, not its notes */
    for (; r; r = r->prev ? r->prev : r->main) {
        const char *t = apr_table_get(r->notes, NOTE_TENANTS);
        if (t)
            return t;
    }
    return NULL;
}

int xport_token_tenant_allowed(const request_rec *r, const char *tenant)
{
    return xp_tenants_allow(xport_token_tenants(r), tenant);
}
