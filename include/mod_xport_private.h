/*
 * mod_xport_private.h -- the httpd glue's shared declarations: server and
 * directory configuration, the live table, the worker process, API keys
 * and signed links, the HTTP layer. Only the glue (mod_xport.c,
 * every file under src/httpd/ and src/api/) includes this file; the
 * engine never does.
 */
#ifndef MOD_XPORT_PRIVATE_H
#define MOD_XPORT_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_mpm.h>
#include <apr_global_mutex.h>

#include "xport.h"
#include "xport_api.h"

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
    apr_array_header_t *roles;       /* xport_role_t; NULL: inherit */
    apr_interval_time_t sync_wait;   /* -1: 100s */
    int max_event_streams;           /* -1: MaxRequestWorkers / 4; global */
    apr_interval_time_t retry_window; /* -1: 60s */
} xport_srv_cfg;

/* A section's part in an API's model, as an administrator declares it
 * (XportOCLVersions SECTION, XportOCLContent SECTION COLUMN): the APIs
 * read their model from these, never from section names. */
typedef struct xport_role_t {
    const char *role;    /* "ocl.versions", "ocl.content" */
    const char *section; /* a declared XportSection */
    const char *column;  /* a column of it, or NULL */
    const char *value;   /* a role that is a word (XportSparkOnPremises
                            KIND): the word, and section NULL */
} xport_role_t;

typedef struct xport_dir_cfg {
    const xport_api_t *api; /* NULL: native */
    /* AuthType xport-token: XportTokenFile, read when the configuration
     * is (start, graceful restart); NULL: inherit */
    const struct xp_tokens_t *tokens;
    apr_off_t max_upload_size;         /* -1: the server's */
    int max_jobs_per_tenant;           /* -1: the API's default */
    apr_interval_time_t link_lifetime; /* -1: 1h */
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
/* XportSyncWait: how long a request waits for a job it started. */
apr_interval_time_t xport_cfg_sync_wait(const xport_srv_cfg *c);
/* XportRetryWindow: how long a job waits for a lost database. */
apr_interval_time_t xport_cfg_retry_window(const xport_srv_cfg *c);
/* XportMaxEventStreams (the main server's): streams open at once, all
 * children together. */
int xport_cfg_max_event_streams(const xport_srv_cfg *c);
/* The sections in role (xport_role_t, in declaration order; never NULL). */
apr_array_header_t *xport_cfg_roles(const xport_srv_cfg *c, apr_pool_t *p,
                                    const char *role);
const char *xport_cfg_instance(const xport_srv_cfg *c, const server_rec *s);
/* Per <Location>, with the server's values where it sets none. */
/* XportMaxUploadSize of the request's location, else of its server. */
apr_off_t xport_cfg_upload_limit(request_rec *r);
/* XportMaxJobsPerTenant of the request's location, else dflt; 0 means no
 * limit. */
int xport_cfg_max_jobs_per_tenant(request_rec *r, int dflt);
/* XportLinkLifetime of the request's location (default 1h). */
apr_interval_time_t xport_cfg_link_lifetime(request_rec *r);
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

/* ------------------------------ live.c ------------------------------ */

/* Live progress and cancel flags of running jobs, and the worker
 * processes, in shared memory that the parent creates in post_config and
 * children and the worker process inherit. Wiped on restart: the job
 * store stays the truth. */
apr_status_t xport_live_create(apr_pool_t *pconf, server_rec *s);
void xport_live_child_init(apr_pool_t *p, server_rec *s);
/* Worker side. A slot keeps the job's id, kind, user, API and start. */
int xport_live_acquire(const xp_job_t *job); /* slot or -1 */
void xport_live_progress(int slot, apr_int64_t done, apr_int64_t total);
int xport_live_cancelled(int slot);
void xport_live_release(int slot);
/* Handler side. 1 if the job is live in the table. */
int xport_live_lookup(const char *id, apr_int64_t *done, apr_int64_t *total);
void xport_live_request_cancel(const char *id);
/* New work for the worker: a counter the worker watches. */
void xport_live_wake(void);
apr_uint32_t xport_live_wake_count(void);
/* The worker process says it runs (threads job threads) as it starts,
 * and that it ends as it exits; one killed is noticed gone. */
void xport_live_worker_join(int threads);
void xport_live_worker_leave(void);

#define XPORT_LIVE_USER_MAX 128 /* bytes, with the NUL; longer is cut */
#define XPORT_LIVE_API_MAX 16
#define XPORT_LIVE_JOURNAL 512 /* changes kept for the event streams */
/* The journal of state changes the event streams read: a job was
 * created, claimed, finished, cancelled, requeued or deleted. */
void xport_live_note(const xp_job_t *job);
typedef struct xport_live_change_t {
    char id[33];
    char user[XPORT_LIVE_USER_MAX];
    char api[XPORT_LIVE_API_MAX];
} xport_live_change_t;
/* The number of the latest change. */
apr_uint32_t xport_live_seq(void);
/* The changes after *seq (at most max) into out, *seq moved past them;
 * -1 when some were overwritten before they were read (ask the store). */
int xport_live_changes(apr_uint32_t *seq, xport_live_change_t *out, int max);
/* Wait until the journal has a change of job id after *seq (1; *seq
 * moves on) or timeout passed (0). Cheap: it reads shared memory every
 * 10 ms, and takes the lock only when something changed. Without the
 * table it sleeps timeout and says 1 (ask the job store). */
int xport_live_await(const char *id, apr_uint32_t *seq,
                     apr_interval_time_t timeout);
/* A running job's progress and when it was last reported. */
int xport_live_progress_of(const char *id, apr_int64_t *done,
                           apr_int64_t *total, apr_time_t *updated);
/* An event stream's place within XportMaxEventStreams (all children
 * together, and for each child its part, as its threads are part of
 * MaxRequestWorkers): its index, or -1 over the bound; closed when it
 * ends. */
int xport_live_stream_open(void);
void xport_live_stream_close(int i);
/* Streams open now and XportMaxEventStreams (server-status). */
void xport_live_streams(int *open, int *max);

/* What server-status shows: a copy of the table taken under its lock. */
typedef struct xport_live_job_t {
    char id[33];
    xp_kind_e kind;
    char user[XPORT_LIVE_USER_MAX];
    char api[XPORT_LIVE_API_MAX];
    pid_t pid; /* the worker running it */
    apr_int64_t done, total;
    apr_int64_t started; /* ms since the epoch */
} xport_live_job_t;
typedef struct xport_live_worker_t {
    pid_t pid;
    int threads; /* job threads */
    int running; /* jobs it runs now */
    apr_time_t started;
} xport_live_worker_t;
typedef struct xport_live_snapshot_t {
    apr_array_header_t *workers; /* xport_live_worker_t */
    apr_array_header_t *jobs;    /* xport_live_job_t, running */
} xport_live_snapshot_t;
void xport_live_snapshot(apr_pool_t *p, xport_live_snapshot_t *out);

/* ----------------------------- status.c ----------------------------- */

/* mod_status's status_hook: the workers, the queue length and the
 * running jobs, as HTML or (AP_STATUS_SHORT, ?auto) as lines. */
int xport_status_hook(request_rec *r, int flags);

/* -------------------------- worker_parent.c -------------------------- */

/* Fork the worker process (post_config, real pass); it is restarted by
 * the parent if it dies. */
int xport_worker_start(apr_pool_t *pconf, server_rec *s);
/* child_status (parent): a graceful stop tells the worker to drain. */
void xport_worker_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                               int slot, mpm_child_status state);

/* ------------------------- token.c / link.c ------------------------- */

/* AuthType xport-token (SPEC 8.0 "API keys"): the key is taken from
 * `Authorization: Bearer|Token <key>`, `x-synthetic-key`,
 * `QISCUS-SDK-SECRET` or `QISCUS_SDK_SECRET`, hashed and looked up in the
 * location's XportTokenFile; a signed link (below) stands in for a key on
 * GET and HEAD. On success r->user is the key's user (or the link's) and
 * r->ap_auth_type "xport-token". A refusal returns its status (401;
 * 410 / 404 for an expired / altered link) with r->notes
 * XPORT_NOTE_AUTH_ERROR holding a sentence for the client, and a 401
 * carries `WWW-Authenticate: Bearer realm="<AuthName or xport>"`. */
struct xp_store_t; /* xp_store.h */

#define XPORT_AUTH_TYPE "xport-token"
#define XPORT_NOTE_AUTH_ERROR "xport-auth-error"
/* r->notes: the job id of the signed link that authenticated r */
#define XPORT_NOTE_LINK "xport-link"
int xport_token_authn(request_rec *r); /* check_authn */
int xport_token_note_failure(request_rec *r, const char *auth_type);
/* The tenants of the key that authenticated r (or the request it came
 * from): "a,b", "*" for every tenant, "" for none; NULL when r was not
 * authenticated by a key. */
const char *xport_token_tenants(const request_rec *r);
/* 1 if that key may act for tenant. */
int xport_token_tenant_allowed(const request_rec *r, const char *tenant);

/* Signed download links (SPEC 8.0): the path of a job's file,
 * <base>/files/<job id>/<file name>?user=<u>&expires=<unix s>&sig=<s>, its
 * signature an HMAC-SHA256 (src/engine/cred.c) over job, file, user and
 * expiry with the job store's "link" secret. The link authenticates as
 * user (the job's owner) where AuthType xport-token is used. */
typedef struct xport_link_t {
    const char *base;    /* the path before "/files/", decoded */
    const char *job_id;  /* 32 hex */
    const char *file;    /* decoded */
    const char *user;    /* whom it authenticates */
    apr_int64_t expires; /* Unix seconds */
    const char *sig;     /* for xp_store_link_use (single-use links) */
    const char *nonce;   /* n=: one link's own, or NULL */
} xport_link_t;
/* post_config (real pass), once per job store: read or create the
 * store's secret and keep it for the children (which inherit it). */
int xport_link_prepare(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                       struct xp_store_t *st, const char *driver,
                       const char *params);
/* A link to file of job_id for user, below base (the location's path as
 * in xport_req_t.base: decoded, no trailing slash, "" at the root; it is
 * not signed). lifetime 0: the
 * location's XportLinkLifetime. *url is the path and query; prepend
 * ap_construct_url for an absolute URL. OK, or HTTP_INTERNAL_SERVER_ERROR
 * (logged) when the server has no job store secret. */
int xport_link_make(request_rec *r, const char *base, const char *job_id,
                    const char *user, const char *file,
                    apr_interval_time_t lifetime, const char **url);
/* Is r (GET or HEAD) a signed link? OK valid (out filled), HTTP_GONE
 * expired, HTTP_NOT_FOUND altered, DECLINED not a link at all (no sig=,
 * another path or method), HTTP_INTERNAL_SERVER_ERROR (logged) no secret.
 * A single-use link is spent by the caller (xp_store_link_use). */
int xport_link_check(request_rec *r, xport_link_t *out);

/* ------------------------------ http.c ------------------------------ */

int xport_handler(request_rec *r);
/* translate_name / map_to_storage: the API's URIs are not files */
int xport_translate(request_rec *r);
int xport_map_to_storage(request_rec *r);
/* Answer a request refused before its handler (authentication, access)
 * with an error in the shape of its <Location>'s API; returns DONE for
 * the hook to hand back. */
int xport_refuse(request_rec *r, int status, const char *detail);
/* per-child job store connections (a reslist); created in child_init */
void xport_http_child_init(apr_pool_t *pchild, server_rec *s);

#endif
