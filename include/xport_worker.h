/*
 * xport_worker.h -- what the worker process's rooms share, and nothing
 * the rest of the glue needs: the parent's side (worker_parent.c) uses
 * only the first part, the process's entry point; the process (worker.c),
 * running one job (worker_job.c) and the maintenance pass
 * (worker_maint.c) share its state (worker_state.c). Included by
 * src/httpd/worker*.c only.
 */
#ifndef XPORT_WORKER_H
#define XPORT_WORKER_H

#include <signal.h>

#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>

#include "mod_xport_private.h"
#include "xp_store.h"
#include "xp_source.h"

/* ------------------ the process, as the parent starts it ------------ */

#define WK_EXIT_CONFIG 78 /* do not restart */

/* How many job threads the worker runs for the servers from s on (the
 * largest XportWorkers of a host with sections and a data source). */
int xport_wk_threads_wanted(server_rec *s);
/* Does this node need a worker process: job threads, or a PostgreSQL
 * job store whose other nodes' changes it must hear of (an API-only
 * node's event streams)? */
int xport_wk_process_wanted(server_rec *s);
/* The forked child's life (worker.c); never returns. */
void xport_wk_main(apr_pool_t *pconf, server_rec *s, pid_t parent, int grace);

/* ---------------------- state (worker_state.c) ---------------------- */

/* A distinct job store. Several virtual hosts may share it: each job is
 * purged by its own host's XportRetention; the store is searched with
 * the shortest of them, and the stuck-job backstop waits for the longest
 * XportJobTimeout (a job's own timeout is enforced by its thread). */
typedef struct wk_store_t {
    const char *driver, *params;
    server_rec *s; /* the first host on it, for log lines */
    apr_interval_time_t min_retention;
    apr_interval_time_t max_timeout;
} wk_store_t;

typedef struct wk_thread_t {
    int index;
    apr_pool_t *pool;
    apr_thread_t *thread;
    xp_store_t **conns; /* one per wk_store_t, opened lazily */
    apr_pool_t **conn_pools;
    int next; /* store to poll first */
    /* the job it runs, read by the maintenance thread; the connection
     * it may wait on, interrupted by the main thread at a stop */
    apr_thread_mutex_t *lock;
    char running[33];
    int running_store;
    apr_int64_t done, total;
    xp_source_t *src;
} wk_thread_t;

/* Written by the process's main thread as it starts (threads is whole
 * before the maintenance thread, its other reader, starts); read only
 * after. */
typedef struct xport_wk_t {
    server_rec *main_s;
    apr_array_header_t *stores;  /* wk_store_t */
    apr_array_header_t *threads; /* wk_thread_t *: the job threads */
    const char *owner;           /* "host:pid" */
    const char *host;
} xport_wk_t;

extern xport_wk_t xport_wk;
/* xport_wk_shutdown: hand running jobs back now (SIGTERM, SIGHUP, httpd
 * gone, the drain over); xport_wk_drain: the signal that asked for a
 * drain (SIGUSR1, SIGWINCH); xport_wk_late: the drain ran out of
 * GracefulShutdownTimeout (the reason a job was handed back) */
extern volatile sig_atomic_t xport_wk_shutdown, xport_wk_drain, xport_wk_late;

xport_srv_cfg *xport_wk_cfg(server_rec *s);
/* Does the host still run jobs? A job outlives configuration changes. */
int xport_wk_runs_here(const xport_srv_cfg *c);
/* The virtual host that accepted the job (key: xp_job_t.server), else
 * the main server. */
server_rec *xport_wk_server_for(apr_pool_t *p, const char *key);
/* Remove the job's file, if it names one, from its host's storage. */
void xport_wk_remove_output(apr_pool_t *p, server_rec *s, const xp_job_t *job);
/* xport_wk.stores from the hosts that run jobs. */
void xport_wk_collect_stores(apr_pool_t *p);
/* A thread's record, in its own pool and allocator (destroyed with
 * parent); one connection slot per store. */
wk_thread_t *xport_wk_thread_make(apr_pool_t *parent, int index);
/* The thread's connection to store i, opened on first use; NULL while
 * the store cannot be reached. */
xp_store_t *xport_wk_thread_store(wk_thread_t *wt, int i);
void xport_wk_thread_store_reset(wk_thread_t *wt, int i);

/* ---------------------- one job (worker_job.c) ---------------------- */

/* Run job, claimed by wt from store si, to its end (or hand it back when
 * the worker stops). */
void xport_wk_run_job(wk_thread_t *wt, int si, xp_job_t *job);

/* ----------------- maintenance thread (worker_maint.c) --------------- */

/* Start the maintenance thread (its record numbered index); 0, or -1
 * logged. */
int xport_wk_maint_start(apr_pool_t *p, int index, wk_thread_t **maint);
/* Stop it and wait for it (maint may be NULL: never started). */
void xport_wk_maint_stop(wk_thread_t *maint);

/* --------------- waking on other nodes' jobs (worker_listen.c) ------- */

/* A thread per PostgreSQL job store listening for jobs posted anywhere;
 * 0, or -1 logged. */
int xport_wk_listen_start(apr_pool_t *p);
/* Stop them and wait for them. */
void xport_wk_listen_stop(void);

#endif
