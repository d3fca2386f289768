/*
 * mod_xport.c -- the module record and its hooks: the table of contents
 * of the glue. Directives live in src/httpd/config.c, the live table in
 * src/httpd/live.c (shown on mod_status's page by src/httpd/status.c),
 * the worker process in src/httpd/worker*.c (the parent's side in
 * worker_parent.c), the HTTP layer in src/httpd/http.c and one file per
 * API under src/api/; the engine under src/engine/ knows nothing of
 * httpd.
 */
#include "mod_xport_private.h"

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_provider.h>
#include <util_mutex.h>
#include <mod_status.h>

/* The APIs, one file each under src/api/ (xport_api.h). */
extern const xport_api_t xport_api_native;
extern const xport_api_t xport_api_qiscus;
extern const xport_api_t xport_api_ocl;
extern const xport_api_t xport_api_spark;

static int xport_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    /* registered before the config is read, so `Mutex` can tune it */
    return ap_mutex_register(pconf, "xport-status", NULL, APR_LOCK_DEFAULT,
                             0) == APR_SUCCESS
               ? OK
               : HTTP_INTERNAL_SERVER_ERROR;
}

static int xport_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    int rc;

    (void)plog;
    /* The first pass of a start only validates; shared memory, database
     * connections and the worker belong to the real pass. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    if (xport_live_create(pconf, s) != APR_SUCCESS)
        return HTTP_INTERNAL_SERVER_ERROR;
    if ((rc = xport_prepare_servers(pconf, ptemp, s)) != OK)
        return rc;
    return xport_worker_start(pconf, s);
}

static void xport_child_init(apr_pool_t *pchild, server_rec *s)
{
    xport_live_child_init(pchild, s);
    xport_http_child_init(pchild, s);
}

static void xport_register_hooks(apr_pool_t *p)
{
    /* before any directive is read: XportAPI looks them up by name */
    ap_register_provider(p, XPORT_API_GROUP, "native", XPORT_API_VERSION,
                         &xport_api_native);
    ap_register_provider(p, XPORT_API_GROUP, "qiscus", XPORT_API_VERSION,
                         &xport_api_qiscus);
    ap_register_provider(p, XPORT_API_GROUP, "ocl", XPORT_API_VERSION,
                         &xport_api_ocl);
    ap_register_provider(p, XPORT_API_GROUP, "spark", XPORT_API_VERSION,
                         &xport_api_spark);
    ap_hook_pre_config(xport_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(xport_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(xport_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(xport_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* parent: a child leaving during a graceful stop starts the drain */
    ap_hook_child_status(xport_worker_child_status, NULL, NULL,
                         APR_HOOK_MIDDLE);
    /* after mod_alias and mod_rewrite, before core maps to the docroot */
    ap_hook_translate_name(xport_translate, NULL, NULL, APR_HOOK_LAST);
    ap_hook_map_to_storage(xport_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    /* AuthType xport-token: API keys and signed links, like mod_auth_basic */
    ap_hook_check_authn(xport_token_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(xport_token_note_failure, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_handler(xport_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* mod_status's page, when it is loaded (an optional hook) */
    APR_OPTIONAL_HOOK(ap, status_hook, xport_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

/* AP_DECLARE_MODULE(xport) minus its APLOG_USE_MODULE, which
 * mod_xport_private.h already declares for every glue file. */
module AP_MODULE_DECLARE_DATA xport_module = {
    STANDARD20_MODULE_STUFF, xport_create_dir_cfg, xport_merge_dir_cfg,
    xport_create_srv_cfg,    xport_merge_srv_cfg,  xport_cmds,
    xport_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
