/*
 * worker_state.c -- what the worker process's rooms share: its state and
 * the flags its signals set, the virtual hosts and the distinct job stores
 * it serves, and each thread's record with its own connection to every
 * store. The job threads (worker.c), running one job (worker_job.c) and
 * the maintenance pass (worker_maint.c) read these; nothing here calls
 * back into them.
 */
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_thread_mutex.h>

#include "xport_worker.h"

xport_wk_t xport_wk;
/* set by the signal handlers and the main thread (worker.c) */
volatile sig_atomic_t xport_wk_shutdown, xport_wk_drain, xport_wk_late;

xport_srv_cfg *xport_wk_cfg(server_rec *s)
{
    return ap_get_module_config(s->module_config, &xport_module);
}

/* A job outlives configuration changes: its host may have lost its
 * sections or data source since it was queued. */
int xport_wk_runs_here(const xport_srv_cfg *c)
{
    return c->sections && c->source_driver;
}

/* The virtual host that accepted the job, else the main server. */
server_rec *xport_wk_server_for(apr_pool_t *p, const char *key)
{
    server_rec *s;

    for (s = xport_wk.main_s; key && s; s = s->next) {
        if (!strcmp(xport_server_key(p, s), key))
            return s;
    }
    return xport_wk.main_s;
}

void xport_wk_remove_output(apr_pool_t *p, server_rec *s, const xp_job_t *job)
{
    const char *path;
    apr_status_t rv;

    if (!job->file || !*job->file)
        return;
    path = apr_pstrcat(p, xport_cfg_storage(xport_wk_cfg(s)), "/", job->file,
                       NULL);
    rv = apr_file_remove(path, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv))
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "XP0549: job %s: cannot remove its file %s; nothing "
                     "will try again, remove it by hand",
                     job->id, path);
}

void xport_wk_collect_stores(apr_pool_t *p)
{
    server_rec *s;
    int i;

    xport_wk.stores = apr_array_make(p, 2, sizeof(wk_store_t));
    for (s = xport_wk.main_s; s; s = s->next) {
        xport_srv_cfg *c = xport_wk_cfg(s);
        const char *driver, *params;

        if (!c->sections || !c->source_driver)
            continue;
        xport_cfg_store(c, p, &driver, &params);
        for (i = 0; i < xport_wk.stores->nelts; i++) {
            wk_store_t *ws = &APR_ARRAY_IDX(xport_wk.stores, i, wk_store_t);
            if (!strcmp(ws->driver, driver) && !strcmp(ws->params, params))
                break;
        }
        if (i == xport_wk.stores->nelts) {
            wk_store_t *ws = apr_array_push(xport_wk.stores);
            ws->driver = driver;
            ws->params = params;
            ws->s = s;
            ws->min_retention = xport_cfg_retention(c);
            ws->max_timeout = xport_cfg_job_timeout(c);
        } else {
            wk_store_t *ws = &APR_ARRAY_IDX(xport_wk.stores, i, wk_store_t);
            if (xport_cfg_retention(c) < ws->min_retention)
                ws->min_retention = xport_cfg_retention(c);
            if (xport_cfg_job_timeout(c) > ws->max_timeout)
                ws->max_timeout = xport_cfg_job_timeout(c);
        }
    }
}

/* A thread's connection to store i; NULL (logged, at most once a
 * minute) while the store cannot be reached. */
xp_store_t *xport_wk_thread_store(wk_thread_t *wt, int i)
{
    static apr_time_t last_complaint;
    wk_store_t *ws = &APR_ARRAY_IDX(xport_wk.stores, i, wk_store_t);
    xp_error_t err = {0};

    if (wt->conns[i])
        return wt->conns[i];
    apr_pool_create(&wt->conn_pools[i], wt->pool);
    if (xp_store_open(wt->conn_pools[i], ws->driver, ws->params, &wt->conns[i],
                      &err) != XP_OK) {
        apr_time_t now = apr_time_now();

        if (now - last_complaint > apr_time_from_sec(60)) {
            last_complaint = now;
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, ws->s,
                         "XP0510: worker cannot open the job store %s: %s "
                         "(retrying)",
                         ws->driver, err.message ? err.message : "?");
        }
        apr_pool_destroy(wt->conn_pools[i]);
        wt->conns[i] = NULL;
        return NULL;
    }
    return wt->conns[i];
}

/* Drop a connection after an error: the next use reconnects. */
void xport_wk_thread_store_reset(wk_thread_t *wt, int i)
{
    if (wt->conns[i]) {
        apr_pool_destroy(wt->conn_pools[i]);
        wt->conns[i] = NULL;
    }
}

static apr_status_t pool_destroy(void *data)
{
    apr_pool_destroy(data);
    return APR_SUCCESS;
}

wk_thread_t *xport_wk_thread_make(apr_pool_t *parent, int index)
{
    wk_thread_t *wt;
    apr_pool_t *p;

    /* own allocator: threads never contend on a shared pool */
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    apr_pool_cleanup_register(parent, p, pool_destroy, apr_pool_cleanup_null);
    wt = apr_pcalloc(p, sizeof(*wt));
    wt->index = index;
    wt->pool = p;
    wt->conns = apr_pcalloc(p, xport_wk.stores->nelts * sizeof(xp_store_t *));
    wt->conn_pools =
        apr_pcalloc(p, xport_wk.stores->nelts * sizeof(apr_pool_t *));
    wt->running_store = -1;
    apr_thread_mutex_create(&wt->lock, APR_THREAD_MUTEX_DEFAULT, p);
    return wt;
}
