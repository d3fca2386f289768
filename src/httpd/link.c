/*
 * link.c -- signed download links (SPEC 8.0) for the API files: make one
 * for a job's file, check one a request carries. src/engine/cred.c signs
 * and verifies; this file knows URLs, requests and where the key is.
 *
 * The key is the job store's "link" secret (xp_store_secret: created
 * once, shared by every node on the store). The parent reads it in
 * post_config, once per job store and (re)start, and every child and the
 * worker inherit it: no request ever waits on the store for it.
 *
 * A link's path ends with the file name, as clients that name the
 * download after the URL expect:
 *   <base>/files/<job id>/<file name>?user=<u>&expires=<unix s>&sig=<s>
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>

#include <http_protocol.h>

#include "mod_xport_private.h"
#include "xp_store.h"
#include "xp_cred.h"

/* "driver params" of a job store -> its key (XP_LINK_KEY_LEN bytes), in
 * pconf: rebuilt at every (re)start. */
static apr_hash_t *link_keys;

static apr_status_t link_keys_forget(void *unused)
{
    (void)unused;
    link_keys = NULL;
    return APR_SUCCESS;
}

static const char *store_name(apr_pool_t *p, const char *driver,
                              const char *params)
{
    return apr_pstrcat(p, driver, " ", params, NULL);
}

int xport_link_prepare(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                       xp_store_t *st, const char *driver, const char *params)
{
    const unsigned char *key;
    xp_error_t err = {0};

    if (!link_keys) {
        link_keys = apr_hash_make(pconf);
        apr_pool_cleanup_register(pconf, NULL, link_keys_forget,
                                  apr_pool_cleanup_null);
    }
    if (xp_store_secret(st, ptemp, "link", &key, &err) != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "XP1101: XportJobStore %s: cannot read or create the "
                     "signed links' secret: %s",
                     driver, err.message ? err.message : "?");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_hash_set(link_keys, store_name(pconf, driver, params),
                 APR_HASH_KEY_STRING, apr_pmemdup(pconf, key, XP_LINK_KEY_LEN));
    return OK;
}

/* The key of r's job store, or NULL (logged). */
static const unsigned char *link_key(request_rec *r)
{
    const xport_srv_cfg *c =
        ap_get_module_config(r->server->module_config, &xport_module);
    const char *driver, *params;
    const unsigned char *key = NULL;

    xport_cfg_store(c, r->pool, &driver, &params);
    if (link_keys)
        key = apr_hash_get(link_keys, store_name(r->pool, driver, params),
                           APR_HASH_KEY_STRING);
    if (!key)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "XP1102: no signed links' secret for the job store of "
                      "%s (its server sets no Xport directive, so none was "
                      "read at start)",
                      xport_server_key(r->pool, r->server));
    return key;
}

int xport_link_make(request_rec *r, const char *base, const char *job_id,
                    const char *user, const char *file,
                    apr_interval_time_t lifetime, const char **url)
{
    const unsigned char *key = link_key(r);
    xp_link_t l;
    const char *sig;

    *url = NULL;
    if (!key)
        return HTTP_INTERNAL_SERVER_ERROR;
    if (lifetime <= 0)
        lifetime = xport_cfg_link_lifetime(r);
    l.job = job_id;
    l.file = file;
    l.user = user;
    /* every link its own, so that spending one (a single-use link) spends
     * no other made in the same second */
    l.nonce = xp_new_id(r->pool);
    /* whole seconds, never shorter than asked */
    l.expires = apr_time_sec(apr_time_now() + lifetime + APR_USEC_PER_SEC - 1);
    if (!(sig = xp_link_sign(r->pool, key, &l)))
        return HTTP_INTERNAL_SERVER_ERROR;
    *url = apr_pstrcat(r->pool, ap_escape_uri(r->pool, base), "/files/",
                       job_id, "/",
                       ap_escape_path_segment(r->pool, file),
                       "?user=", ap_escape_urlencoded(r->pool, user),
                       "&expires=", apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                                 l.expires),
                       "&n=", l.nonce, "&sig=", sig, NULL);
    return OK;
}

/* Split r->uri into base, job id and file: 0, or -1 when it is not
 * <base>/files/<32 hex>/<name>. */
static int link_path(request_rec *r, xport_link_t *out)
{
    const char *file = strrchr(r->uri, '/'), *job;

    if (!file || !file[1] || file - r->uri < 39)
        return -1;
    job = file - 32;
    if (strncmp(job - 7, "/files/", 7))
        return -1;
    out->job_id = apr_pstrmemdup(r->pool, job, 32);
    if (!xp_id_valid(out->job_id))
        return -1;
    out->base = apr_pstrmemdup(r->pool, r->uri, (apr_size_t)(job - 7 - r->uri));
    out->file = file + 1;
    return 0;
}

/* user, expires and sig from the query string (decoded); 0, or -1 when
 * a value has a bad escape. */
static int link_query(request_rec *r, xport_link_t *out)
{
    char *args = apr_pstrdup(r->pool, r->args), *pair, *state = NULL;
    int rc = 0;

    for (pair = apr_strtok(args, "&", &state); pair;
         pair = apr_strtok(NULL, "&", &state)) {
        char *v = strchr(pair, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (ap_unescape_urlencoded(v) != OK)
            rc = -1;
        else if (!strcmp(pair, "user"))
            out->user = v;
        else if (!strcmp(pair, "sig"))
            out->sig = v;
        else if (!strcmp(pair, "n"))
            out->nonce = v;
        else if (!strcmp(pair, "expires"))
            out->expires = apr_isdigit(*v) ? apr_atoi64(v) : -1;
    }
    return rc;
}

int xport_link_check(request_rec *r, xport_link_t *out)
{
    const unsigned char *key;
    xp_link_t l;

    int malformed;

    memset(out, 0, sizeof(*out));
    /* (HEAD is M_GET too) */
    if (r->method_number != M_GET || !r->args || link_path(r, out) < 0)
        return DECLINED;
    malformed = link_query(r, out) < 0;
    if (!out->sig)
        return DECLINED;
    if (malformed)
        return HTTP_NOT_FOUND;
    if (!(key = link_key(r)))
        return HTTP_INTERNAL_SERVER_ERROR;
    l.job = out->job_id;
    l.file = out->file;
    l.user = out->user;
    l.expires = out->expires;
    l.nonce = out->nonce;
    switch (xp_link_verify(r->pool, key, &l, out->sig,
                           apr_time_sec(apr_time_now()))) {
    case XP_LINK_VALID:
        return OK;
    case XP_LINK_EXPIRED:
        return HTTP_GONE;
    default:
        return HTTP_NOT_FOUND;
    }
}
