/*
 * mod_xport_private.h -- the httpd glue's shared declarations: server and
 * directory configuration, the status table, the worker process, the HTTP
 * layer. Only the glue (mod_xport.c, src/httpd/config.c, src/httpd/worker.c,
 * src/httpd/live.c, src/httpd/http.c, src/api/native.c) includes this file.
 */
#ifndef MOD_XPORT_PRIVATE_H
#define MOD_XPORT_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <apr_global_mutex.h>

#include "xport.h"

#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(xport);
#endif
extern module AP_MODULE_DECLARE_DATA xport_module;

/* ----------------------------- config.c ----------------------------- */

typedef struct xport_srv_cfg {
    const char *storage;      /* NULL: /var/lib/xport */
    const char *store_driver; /* NULL: sqlite3 <storage>/jobs.db */
    const char *store_params;
    const char *source_driver; /* NULL: none */
    const char *source_params;
    xp_sections_t *sections;         /* NULL: inherit */
    int workers;                     /* -1: 2 */
    int max_jobs_per_user;           /* -1: 1 */
    apr_off_t max_archive_size;      /* -1: 200M */
    apr_off_t max_upload_size;       /* -1: 200M */
    apr_off_t max_uncompressed_size; /* -1: 2G */
    apr_interval_time_t job_timeout; /* -1: 15m */
    apr_interval_time_t retention;   /* -1: 7d */
    apr_array_header_t *supervisors; /* const char *; NULL: none */
    const char *instance;            /* NULL: ServerName */
} xport_srv_cfg;

typedef struct xport_dir_cfg {
    const char *api; /* NULL: native */
} xport_dir_cfg;

extern const command_rec xport_cmds[];
void *xport_create_srv_cfg(apr_pool_t *p, server_rec *s);
void *xport_merge_srv_cfg(apr_pool_t *p, void *basev, void *addv);
void *xport_create_dir_cfg(apr_pool_t *p, char *dir);
void *xport_merge_dir_cfg(apr_pool_t *p, void *basev, void *addv);

/* Effective values with the defaults applied. */
const char *xport_cfg_storage(const xport_srv_cfg *c);
void xport_cfg_store(const xport_srv_cfg *c, apr_pool_t *p, const char **driver,
                     const char **params);
int xport_cfg_workers(const xport_srv_cfg *c);
int xport_cfg_max_jobs_per_user(const xport_srv_cfg *c);
apr_off_t xport_cfg_max_archive_size(const xport_srv_cfg *c);
apr_off_t xport_cfg_max_upload_size(const xport_srv_cfg *c);
apr_off_t xport_cfg_max_uncompressed_size(const xport_srv_cfg *c);
apr_interval_time_t xport_cfg_job_timeout(const xport_srv_cfg *c);
apr_interval_time_t xport_cfg_retention(const xport_srv_cfg *c);
const char *xport_cfg_instance(const xport_srv_cfg *c, const server_rec *s);
/* "ServerName:port", the key stored in xp_job_t.server */
const char *xport_server_key(apr_pool_t *p, const server_rec *s);

/* check_config: cross-checks of the sections (refs, cycles); under
 * `apachectl configtest` (which never reaches post_config) also the
 * tables and columns, read only. OK or an error already logged. */
int xport_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s);

/* post_config work: storage directories (0700, owned by User when root),
 * column discovery on the data source, schema migration of the job
 * store. Returns OK or an error already logged (XP0xxx tag). */
int xport_prepare_servers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* ----------------------------- status.c ----------------------------- */

/* Live progress and cancel flags of running jobs, in shared memory that
 * the parent creates in post_config and children and the worker process
 * inherit. Wiped on restart: the job store stays the truth. */
apr_status_t xport_live_create(apr_pool_t *pconf, server_rec *s);
void xport_live_child_init(apr_pool_t *p, server_rec *s);
/* Worker side. */
int xport_live_acquire(const char *id); /* slot or -1 */
void xport_live_progress(int slot, apr_int64_t done, apr_int64_t total);
int xport_live_cancelled(int slot);
void xport_live_release(int slot);
/* Handler side. 1 if the job is live in the table. */
int xport_live_lookup(const char *id, apr_int64_t *done, apr_int64_t *total);
void xport_live_request_cancel(const char *id);
/* New work for the worker: a counter the worker watches. */
void xport_live_wake(void);
apr_uint32_t xport_live_wake_count(void);

/* ----------------------------- worker.c ----------------------------- */

/* Fork the worker process (post_config, real pass); it is restarted by
 * the parent if it dies. */
int xport_worker_start(apr_pool_t *pconf, server_rec *s);
/* child_status (parent): a graceful stop tells the worker to drain. */
void xport_worker_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                               int slot, mpm_child_status state);

/* ------------------------- http.c / api_native.c ------------------------- */

int xport_handler(request_rec *r);
/* translate_name / map_to_storage: the API's URIs are not files */
int xport_translate(request_rec *r);
int xport_map_to_storage(request_rec *r);
/* per-child job store connections (a reslist); created in child_init */
void xport_http_child_init(apr_pool_t *pchild, server_rec *s);

#endif
