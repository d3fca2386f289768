/*
 * worker.c -- the worker process: one per httpd instance, forked by the
 * parent in post_config the way mod_cgid forks its daemon, restarted by
 * the parent when it dies, running jobs in a pool of APR threads.
 *
 * Why a process: the children that accept requests are recycled and may
 * be single-threaded (prefork); a job must not die with one of them.
 *
 * Lifecycle, as seen from the worker. It leads its own process group:
 * the signals the MPMs send to theirs (prefork's killpg at every stop,
 * graceful or not) are not meant for it; the parent tells it by pid.
 *   SIGTERM / SIGHUP     (stop, hard restart: the parent sends SIGTERM
 *                        when the MPM reclaims its children the hard
 *                        way) -> shutdown: running jobs go back to the
 *                        queue at once (a statement they wait on is
 *                        interrupted); exit.
 *   SIGUSR1 / SIGWINCH   (graceful restart / graceful stop: the parent
 *                        sends SIGUSR1 as its configuration is torn down,
 *                        SIGWINCH as soon as a graceful stop shows) ->
 *                        drain: claim nothing more, let running jobs
 *                        finish within GracefulShutdownTimeout (no limit
 *                        when 0, as for httpd's children), then hand back
 *                        what still runs; exit. The parent may exit
 *                        meanwhile (a graceful stop does).
 *   the parent is gone   (before any of these) -> shutdown.
 * A job of a worker that was killed is re-queued by whichever worker
 * notices first: a stale heartbeat, or at once when its owner was a
 * process on this host that no longer exists.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __SANITIZE_ADDRESS__
/* _exit() skips LeakSanitizer's exit-time check: the worker asks for it */
#include <sanitizer/lsan_interface.h>
#define WK_LEAK_CHECK() __lsan_do_leak_check()
#else
#define WK_LEAK_CHECK() ((void)0)
#endif

#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_network_io.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_hash.h>

#include <http_core.h>
#include <ap_listen.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <unixd.h>

#include "mod_xport_private.h"
#include "xp_store.h"
#include "xp_source.h"
#include "xp_export.h"
#include "xp_import.h"
#include "xp_json.h"

#define WK_EXIT_CONFIG 78               /* do not restart */
#define WK_POLL apr_time_from_msec(500) /* idle store poll */
#define WK_TICK apr_time_from_msec(50)  /* wake counter check */
#define WK_FLUSH apr_time_from_sec(2)   /* progress to store */
#define WK_MAINT_EVERY apr_time_from_sec(3)
#define WK_STALE_MS 30000 /* heartbeat age */
#define WK_MAX_ATTEMPTS 3
#define WK_TIMEOUT_GRACE_MS 60000
#define WK_BATCH_ROWS 1000

/* ------------------------------------------------------------------ */
/* Worker process state                                                  */
/* ------------------------------------------------------------------ */

/* wk_drain: the signal that asked for it (SIGUSR1, SIGWINCH); wk_late:
 * the drain ran out of GracefulShutdownTimeout (the reason a job was
 * handed back) */
static volatile sig_atomic_t wk_shutdown, wk_drain, wk_late;
static volatile apr_uint32_t wk_threads_left; /* job threads still looping */

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

static struct {
    server_rec *main_s;
    apr_array_header_t *stores;  /* wk_store_t */
    apr_array_header_t *threads; /* wk_thread_t * */
    const char *owner;           /* "host:pid" */
    const char *host;
    pid_t ppid;
    int grace; /* GracefulShutdownTimeout (s) of its generation; 0: none */
    volatile int maint_stop;
} W;

typedef struct wk_job_t {
    wk_thread_t *wt;
    xp_store_t *st;
    xp_job_t *job;
    int slot;
    apr_time_t deadline; /* 0: none */
    apr_time_t last_flush;
    apr_pool_t *hb_pool;
    apr_int64_t done, total;
    int store_gone; /* deleted or no longer ours */
} wk_job_t;

static void on_stop(int sig)
{
    (void)sig;
    wk_shutdown = 1;
}

static void on_drain(int sig)
{
    if (!wk_drain)
        wk_drain = sig;
}

static void setup_signals(void)
{
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_drain;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* the parent may have forked us while blocking some of these */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* ------------------------------------------------------------------ */
/* Servers and stores                                                    */
/* ------------------------------------------------------------------ */

static xport_srv_cfg *cfg_of(server_rec *s)
{
    return ap_get_module_config(s->module_config, &xport_module);
}

static int runs_jobs(const xport_srv_cfg *c)
{
    return c->sections && c->source_driver && xport_cfg_workers(c) > 0;
}

/* The virtual host that accepted the job, else the main server. */
static server_rec *server_for(apr_pool_t *p, const char *key)
{
    server_rec *s;

    for (s = W.main_s; key && s; s = s->next) {
        if (!strcmp(xport_server_key(p, s), key))
            return s;
    }
    return W.main_s;
}

static void collect_stores(apr_pool_t *p)
{
    server_rec *s;
    int i;

    W.stores = apr_array_make(p, 2, sizeof(wk_store_t));
    for (s = W.main_s; s; s = s->next) {
        xport_srv_cfg *c = cfg_of(s);
        const char *driver, *params;

        if (!c->sections || !c->source_driver)
            continue;
        xport_cfg_store(c, p, &driver, &params);
        for (i = 0; i < W.stores->nelts; i++) {
            wk_store_t *ws = &APR_ARRAY_IDX(W.stores, i, wk_store_t);
            if (!strcmp(ws->driver, driver) && !strcmp(ws->params, params))
                break;
        }
        if (i == W.stores->nelts) {
            wk_store_t *ws = apr_array_push(W.stores);
            ws->driver = driver;
            ws->params = params;
            ws->s = s;
            ws->min_retention = xport_cfg_retention(c);
            ws->max_timeout = xport_cfg_job_timeout(c);
        } else {
            wk_store_t *ws = &APR_ARRAY_IDX(W.stores, i, wk_store_t);
            if (xport_cfg_retention(c) < ws->min_retention)
                ws->min_retention = xport_cfg_retention(c);
            if (xport_cfg_job_timeout(c) > ws->max_timeout)
                ws->max_timeout = xport_cfg_job_timeout(c);
        }
    }
}

/* A thread's connection to store i; NULL (logged, at most once a
 * minute) while the store cannot be reached. */
static xp_store_t *thread_store(wk_thread_t *wt, int i)
{
    static apr_time_t last_complaint;
    wk_store_t *ws = &APR_ARRAY_IDX(W.stores, i, wk_store_t);
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
static void thread_store_reset(wk_thread_t *wt, int i)
{
    if (wt->conns[i]) {
        apr_pool_destroy(wt->conn_pools[i]);
        wt->conns[i] = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Running one job                                                       */
/* ------------------------------------------------------------------ */

static void job_progress(void *baton, apr_int64_t done, apr_int64_t total)
{
    wk_job_t *wj = baton;

    wj->done = done;
    wj->total = total;
    xport_live_progress(wj->slot, done, total);
    apr_thread_mutex_lock(wj->wt->lock);
    wj->wt->done = done;
    wj->wt->total = total;
    apr_thread_mutex_unlock(wj->wt->lock);
}

static xp_errcode_e job_flush(wk_job_t *wj)
{
    xp_error_t err = {0};
    int cancel = 0;
    xp_errcode_e rc;

    apr_pool_clear(wj->hb_pool);
    wj->last_flush = apr_time_now();
    rc = xp_store_heartbeat(wj->st, wj->hb_pool, wj->job->id, W.owner, wj->done,
                            wj->total, &cancel, &err);
    if (rc == XP_ENOTFOUND) {
        wj->store_gone = 1;
        return XP_ECANCEL;
    }
    if (rc != XP_OK)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, W.main_s,
                     "XP0511: job %s: cannot record progress: %s", wj->job->id,
                     err.message ? err.message : "?");
    return cancel ? XP_ECANCEL : XP_OK;
}

/* The data source connection of the job (NULL: closing), for
 * interrupt_jobs; under the lock, so it never closes while in use. */
static void job_source(void *baton, xp_source_t *src)
{
    wk_job_t *wj = baton;

    apr_thread_mutex_lock(wj->wt->lock);
    wj->wt->src = src;
    apr_thread_mutex_unlock(wj->wt->lock);
}

static xp_errcode_e job_check(void *baton)
{
    wk_job_t *wj = baton;
    apr_time_t now;

    if (wk_shutdown)
        return XP_ESHUTDOWN;
    if (xport_live_cancelled(wj->slot))
        return XP_ECANCEL;
    now = apr_time_now();
    if (wj->deadline && now > wj->deadline)
        return XP_ETIMEOUT;
    if (now - wj->last_flush >= WK_FLUSH)
        return job_flush(wj);
    return XP_OK;
}

/* A job outlives configuration changes: its host may have lost its
 * sections or data source since it was queued. */
static int runs_here(const xport_srv_cfg *c)
{
    return c->sections && c->source_driver;
}

static xp_errcode_e host_gone(apr_pool_t *p, server_rec *s, xp_error_t *err)
{
    return xp_error_set(err, p, XP_EINVAL,
                        "the virtual host %s has no XportSection or "
                        "XportDataSource any more",
                        xport_server_key(p, s));
}

static xp_errcode_e run_export(wk_job_t *wj, apr_pool_t *p, server_rec *s,
                               xp_error_t *err)
{
    xport_srv_cfg *c = cfg_of(s);
    xp_export_env_t env;
    xp_job_ctl_t ctl = {wj, job_progress, job_check, job_source};

    if (!runs_here(c))
        return host_gone(p, s, err);
    memset(&env, 0, sizeof(env));
    env.secs = c->sections;
    env.source_driver = c->source_driver;
    env.source_params = c->source_params;
    env.storage = xport_cfg_storage(c);
    env.instance = xport_cfg_instance(c, s);
    env.max_archive_size = xport_cfg_max_archive_size(c);
    env.batch_rows = WK_BATCH_ROWS;
    return xp_export_run(p, &env, wj->job, &ctl, err);
}

/* The upload stays where it is whatever happens: the job keeps naming
 * it, and DELETE or the retention purge removes both. */
static xp_errcode_e run_import(wk_job_t *wj, apr_pool_t *p, server_rec *s,
                               xp_error_t *err)
{
    xport_srv_cfg *c = cfg_of(s);
    xp_import_env_t env;
    xp_job_ctl_t ctl = {wj, job_progress, job_check, job_source};

    if (!runs_here(c))
        return host_gone(p, s, err);
    memset(&env, 0, sizeof(env));
    env.secs = c->sections;
    env.source_driver = c->source_driver;
    env.source_params = c->source_params;
    env.storage = xport_cfg_storage(c);
    env.max_uncompressed = xport_cfg_max_uncompressed_size(c);
    env.batch_rows = 0; /* the data source's own (src/engine/sink.c) */
    return xp_import_run(p, &env, wj->job, &ctl, err);
}

static void remove_output(apr_pool_t *p, server_rec *s, const xp_job_t *job)
{
    if (job->file && *job->file)
        apr_file_remove(
            apr_pstrcat(p, xport_cfg_storage(cfg_of(s)), "/", job->file, NULL),
            p);
}

/* Record the end, riding out a short loss of the job store (a database
 * restart): the connection reconnects on the next statement. Without
 * this the job would sit `running` until its heartbeat went stale. */
#define WK_FINISH_RETRY_SEC 20

static xp_errcode_e job_finish(wk_job_t *wj, apr_pool_t *p, xp_job_t *job,
                               xp_error_t *ferr)
{
    xp_errcode_e frc;
    int tries = 0;

    while ((frc = xp_store_finish(wj->st, p, job, ferr)) != XP_OK &&
           frc != XP_ENOTFOUND && !wk_shutdown && tries++ < WK_FINISH_RETRY_SEC)
        apr_sleep(apr_time_from_sec(1));
    return frc;
}

/* Record how the job ended; a job deleted meanwhile leaves no file. */
static void job_end(wk_job_t *wj, apr_pool_t *p, server_rec *s, xp_errcode_e rc,
                    const xp_error_t *err)
{
    xp_job_t *job = wj->job;
    xp_error_t ferr = {0};
    xp_errcode_e frc;
    const char *msg = rc == XP_OK ? NULL : err->message;

    switch (rc) {
    case XP_OK:
        job->status = XP_ST_COMPLETED;
        break;
    case XP_ECANCEL:
        job->status = XP_ST_CANCELLED;
        break;
    case XP_ETIMEOUT:
        job->status = XP_ST_TIMED_OUT;
        break;
    default:
        job->status = XP_ST_FAILED;
        break;
    }
    if (rc == XP_ETIMEOUT)
        msg = apr_psprintf(p,
                           "the job ran longer than XportJobTimeout "
                           "(%" APR_TIME_T_FMT "s)",
                           apr_time_sec(xport_cfg_job_timeout(cfg_of(s))));
    if (rc == XP_EINVAL && job->kind == XP_KIND_IMPORT &&
        job->errors_total > 0 && job->error_messages) {
        /* rejected data: the import listed the rows it refused */
        if (!msg)
            msg = apr_psprintf(p, "%ld error%s in the data", job->errors_total,
                               job->errors_total == 1 ? "" : "s");
    } else if (rc != XP_OK && rc != XP_ECANCEL) {
        xp_json_t *a = xp_json_array(p);

        xp_json_append_str(a, msg ? msg : "the job failed");
        job->error_messages = xp_json_dump(p, a);
        job->errors_total = 1;
    }
    /* a failed export leaves no archive; an import's file is its upload,
     * kept until the job is deleted or purged */
    if (rc != XP_OK && job->kind == XP_KIND_EXPORT)
        job->file = NULL;
    job->progress_done = wj->done;
    job->progress_total = wj->total;
    job->finished_at = job->updated_at = xp_now_ms();
    frc = job_finish(wj, p, job, &ferr);
    if (frc == XP_ENOTFOUND) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0512: job %s was deleted (or taken over) while "
                     "running; its output is removed",
                     job->id);
        remove_output(p, s, job);
    } else if (frc != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "XP0513: job %s: cannot record its end (%s): %s; it "
                     "will be re-queued when its heartbeat goes stale",
                     job->id, xp_status_name(job->status),
                     ferr.message ? ferr.message : "?");
    } else {
        /* the disk or a database failing is the administrator's to fix:
         * above the default LogLevel; a user's bad data or cancel is not */
        ap_log_error(APLOG_MARK,
                     rc == XP_OK                      ? APLOG_INFO
                     : (rc == XP_EIO || rc == XP_EDB) ? APLOG_WARNING
                                                      : APLOG_NOTICE,
                     0, s, "XP0514: job %s %s%s%s", job->id,
                     xp_status_name(job->status), msg ? ": " : "",
                     msg ? msg : "");
    }
}

static void set_running(wk_thread_t *wt, const char *id, int store)
{
    apr_thread_mutex_lock(wt->lock);
    apr_cpystrn(wt->running, id ? id : "", sizeof(wt->running));
    wt->running_store = store;
    wt->done = wt->total = 0;
    apr_thread_mutex_unlock(wt->lock);
}

/* Give the job back to the queue without counting the attempt. */
static void job_hand_back(wk_job_t *wj, apr_pool_t *p, server_rec *s)
{
    xp_error_t err = {0};
    xp_errcode_e rc = xp_store_requeue(wj->st, p, wj->job->id, W.owner, &err);

    ap_log_error(APLOG_MARK, rc == XP_OK ? APLOG_NOTICE : APLOG_ERR, 0, s,
                 "XP0516: job %s %s (%s)%s%s", wj->job->id,
                 rc == XP_OK ? "re-queued" : "could not be re-queued",
                 wk_late ? "GracefulShutdownTimeout is over"
                         : "worker stopping",
                 rc == XP_OK ? "" : ": ",
                 rc == XP_OK ? "" : (err.message ? err.message : "?"));
}

static void run_job(wk_thread_t *wt, int si, xp_job_t *job)
{
    apr_pool_t *p;
    server_rec *s;
    wk_job_t wj;
    xp_error_t err = {0};
    xp_errcode_e rc;
    apr_interval_time_t timeout;

    /* each job its own pool and allocator: freed whole when it ends */
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    s = server_for(p, job->server);
    memset(&wj, 0, sizeof(wj));
    wj.wt = wt;
    wj.st = wt->conns[si];
    wj.job = job;
    wj.slot = xport_live_acquire(job->id);
    wj.last_flush = apr_time_now();
    timeout = xport_cfg_job_timeout(cfg_of(s));
    wj.deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    apr_pool_create(&wj.hb_pool, p);
    set_running(wt, job->id, si);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "XP0515: job %s (%s, attempt %d) started by %s", job->id,
                 xp_kind_name(job->kind), job->attempts, W.owner);

    if (job->kind == XP_KIND_EXPORT)
        rc = run_export(&wj, p, s, &err);
    else
        rc = run_import(&wj, p, s, &err);

    /* a statement cut short by a stop (interrupt_jobs) fails the run: the
     * job goes back as one that stopped at its next check would */
    if (wk_shutdown && rc != XP_OK && rc != XP_ECANCEL)
        rc = XP_ESHUTDOWN;
    if (rc == XP_ESHUTDOWN) {
        job_hand_back(&wj, p, s);
    } else if (wj.store_gone) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0512: job %s was deleted (or taken over) while "
                     "running; its output is removed",
                     job->id);
        remove_output(p, s, job);
    } else {
        job_end(&wj, p, s, rc, &err);
        if (wk_drain)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XP0518: job %s ended %s while worker %s drains",
                         job->id, xp_status_name(job->status), W.owner);
    }
    set_running(wt, NULL, -1);
    xport_live_release(wj.slot);
    apr_pool_destroy(p);
}

/* ------------------------------------------------------------------ */
/* Threads                                                               */
/* ------------------------------------------------------------------ */

/* Up to WK_POLL, cut short by new work (the wake counter) or a signal. */
static void idle_wait(void)
{
    apr_uint32_t seen = xport_live_wake_count();
    apr_time_t waited;

    for (waited = 0; waited < WK_POLL && !wk_shutdown && !wk_drain;
         waited += WK_TICK) {
        apr_sleep(WK_TICK);
        if (xport_live_wake_count() != seen)
            break;
    }
}

/* Claim from the stores in turn, starting after the last one used. */
static int claim_one(wk_thread_t *wt, apr_pool_t *p, xp_job_t **job)
{
    int n = W.stores->nelts, k;

    for (k = 0; k < n; k++) {
        int i = (wt->next + k) % n;
        xp_store_t *st = thread_store(wt, i);
        xp_error_t err = {0};

        if (!st)
            continue;
        if (xp_store_claim(st, p, W.owner, job, &err) != XP_OK) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, W.main_s,
                         "XP0517: worker cannot claim a job: %s",
                         err.message ? err.message : "?");
            thread_store_reset(wt, i);
            continue;
        }
        if (*job) {
            wt->next = i + 1;
            return i;
        }
    }
    return -1;
}

/* A job claimed just as the drain or stop began goes back untouched:
 * the next generation's worker takes it. */
static void claim_undo(wk_thread_t *wt, int si, apr_pool_t *p,
                       const xp_job_t *job)
{
    xp_error_t err = {0};
    xp_errcode_e rc =
        xp_store_requeue(wt->conns[si], p, job->id, W.owner, &err);

    ap_log_error(APLOG_MARK, rc == XP_OK ? APLOG_NOTICE : APLOG_ERR, 0,
                 W.main_s, "XP0516: job %s %s (claimed as worker %s %s)%s%s",
                 job->id, rc == XP_OK ? "re-queued" : "could not be re-queued",
                 W.owner, wk_shutdown ? "stopped" : "began to drain",
                 rc == XP_OK ? "" : ": ",
                 rc == XP_OK ? "" : (err.message ? err.message : "?"));
}

static void *APR_THREAD_FUNC job_thread(apr_thread_t *t, void *data)
{
    wk_thread_t *wt = data;
    apr_pool_t *p;

    apr_pool_create(&p, wt->pool);
    while (!wk_shutdown && !wk_drain) {
        xp_job_t *job = NULL;
        int si;

        apr_pool_clear(p);
        si = claim_one(wt, p, &job);
        if (si >= 0 && job && (wk_shutdown || wk_drain))
            claim_undo(wt, si, p, job);
        else if (si >= 0 && job)
            run_job(wt, si, job);
        else
            idle_wait();
    }
    apr_atomic_dec32(&wk_threads_left);
    /* a plain return, not apr_thread_exit(): pthread_exit() unwinds
     * without leaving the frames, which AddressSanitizer then reports as
     * a use of their out-of-scope locals; the thread's pool goes with
     * wt->pool */
    (void)t;
    return NULL;
}

/* Heartbeats of the jobs this process runs, so that a job busy in one
 * long query is not taken for dead. */
static void maint_heartbeats(int si, xp_store_t *st, apr_pool_t *p)
{
    int i;

    for (i = 0; i < W.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(W.threads, i, wk_thread_t *);
        char id[33];
        apr_int64_t done, total;
        int cancel = 0, mine;
        xp_error_t err = {0};

        apr_thread_mutex_lock(wt->lock);
        mine = wt->running[0] && wt->running_store == si;
        apr_cpystrn(id, wt->running, sizeof(id));
        done = wt->done;
        total = wt->total;
        apr_thread_mutex_unlock(wt->lock);
        if (mine)
            xp_store_heartbeat(st, p, id, W.owner, done, total, &cancel, &err);
        if (mine && cancel)
            xport_live_request_cancel(id);
    }
}

/* Owners are "host:pid": a process of this host that no longer exists
 * cannot be running anything (a worker restarted after kill -9). */
static int owner_dead(const char *owner, void *baton)
{
    const char *colon = owner ? strrchr(owner, ':') : NULL;
    apr_size_t hl = strlen(W.host);
    long pid;

    (void)baton;
    if (!colon || (apr_size_t)(colon - owner) != hl ||
        strncmp(owner, W.host, hl))
        return 0;
    pid = strtol(colon + 1, NULL, 10);
    if (pid <= 0 || pid == (long)getpid())
        return 0;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Running jobs before a reap, to name the ones it changed. */
static apr_array_header_t *running_jobs(xp_store_t *st, apr_pool_t *p)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(xp_job_t *));
    xp_kind_e kinds[] = {XP_KIND_EXPORT, XP_KIND_IMPORT};
    size_t k;

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        xp_store_query_t q = {kinds[k], NULL, 1, XP_ST_RUNNING, 0, 1000};
        apr_array_header_t *jobs = NULL;
        apr_int64_t total;
        xp_error_t err = {0};

        if (xp_store_list(st, p, &q, &jobs, &total, &err) == XP_OK && jobs)
            apr_array_cat(all, jobs);
    }
    return all;
}

static void log_reaped(wk_store_t *ws, xp_store_t *st, apr_pool_t *p,
                       const apr_array_header_t *before)
{
    int i;

    for (i = 0; i < before->nelts; i++) {
        const xp_job_t *old = APR_ARRAY_IDX(before, i, xp_job_t *);
        xp_job_t *now = NULL;
        xp_error_t err = {0};

        if (xp_store_get(st, p, old->id, &now, &err) != XP_OK ||
            now->status == XP_ST_RUNNING)
            continue;
        if (now->status == XP_ST_QUEUED)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ws->s,
                         "XP0520: job %s re-queued: its worker %s stopped "
                         "(attempt %d of %d)",
                         old->id, old->owner ? old->owner : "?", old->attempts,
                         WK_MAX_ATTEMPTS);
        else if (now->status == XP_ST_TIMED_OUT)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ws->s,
                         "XP0521: job %s timed out (worker %s)", old->id,
                         old->owner ? old->owner : "?");
        else
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, ws->s,
                         "XP0522: job %s ended %s: its worker %s stopped "
                         "%d times",
                         old->id, xp_status_name(now->status),
                         old->owner ? old->owner : "?", old->attempts);
    }
}

static void maint_reap(wk_store_t *ws, xp_store_t *st, apr_pool_t *p)
{
    apr_int64_t now = xp_now_ms();
    apr_int64_t timeout_ms = apr_time_as_msec(ws->max_timeout);
    apr_array_header_t *before = running_jobs(st, p);
    int requeued = 0, failed = 0;
    xp_error_t err = {0};

    if (xp_store_reap(st, p, now - WK_STALE_MS, WK_MAX_ATTEMPTS,
                      timeout_ms > 0 ? now - timeout_ms - WK_TIMEOUT_GRACE_MS
                                     : 0,
                      owner_dead, NULL, &requeued, &failed, &err) != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ws->s,
                     "XP0523: cannot look for stale jobs: %s",
                     err.message ? err.message : "?");
        return;
    }
    if (requeued + failed > 0)
        log_reaped(ws, st, p, before);
    if (requeued > 0)
        xport_live_wake(); /* idle threads take them now, not at poll */
}

/* Has this finished job outlived the XportRetention of its own host? */
static int purge_due(const xp_job_t *job, void *baton)
{
    apr_pool_t *p = baton;
    server_rec *s = server_for(p, job->server);
    apr_int64_t keep = apr_time_as_msec(xport_cfg_retention(cfg_of(s)));

    return job->finished_at < xp_now_ms() - keep;
}

static void maint_purge(wk_store_t *ws, xp_store_t *st, apr_pool_t *p)
{
    apr_int64_t before = xp_now_ms() - apr_time_as_msec(ws->min_retention);
    apr_array_header_t *purged = NULL;
    xp_error_t err = {0};
    int i;

    if (xp_store_purge(st, p, before, purge_due, p, &purged, &err) != XP_OK) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ws->s,
                     "XP0524: cannot purge old jobs: %s",
                     err.message ? err.message : "?");
        return;
    }
    for (i = 0; purged && i < purged->nelts; i++) {
        const xp_job_t *job = APR_ARRAY_IDX(purged, i, xp_job_t *);
        server_rec *s = server_for(p, job->server);

        remove_output(p, s, job);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0525: job %s purged (finished more than "
                     "XportRetention ago)",
                     job->id);
    }
}

/* A .part that nobody holds locked (upload.c locks it while receiving)
 * and that has not changed for a while was left by a child killed
 * mid-upload: no request will finish it. */
#define WK_PART_QUIET apr_time_from_sec(5)

static void sweep_dir(apr_pool_t *p, server_rec *s, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;

    if (apr_dir_open(&d, dir, p) != APR_SUCCESS)
        return;
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE | APR_FINFO_MTIME,
                        d) == APR_SUCCESS) {
        const char *path, *dot = strrchr(fi.name, '.');
        apr_file_t *f;

        if (fi.filetype != APR_REG || !dot || strcmp(dot, ".part") ||
            apr_time_now() - fi.mtime < WK_PART_QUIET)
            continue;
        path = apr_pstrcat(p, dir, "/", fi.name, NULL);
        if (apr_file_open(&f, path, APR_FOPEN_WRITE, APR_OS_DEFAULT, p) !=
            APR_SUCCESS)
            continue;
        if (apr_file_lock(f, APR_FLOCK_EXCLUSIVE | APR_FLOCK_NONBLOCK) ==
                APR_SUCCESS &&
            apr_file_remove(path, p) == APR_SUCCESS)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "XP0526: removed %s: an upload whose request died "
                         "before it was stored (child process killed?)",
                         path);
        apr_file_close(f);
    }
    apr_dir_close(d);
}

static void maint_sweep_uploads(apr_pool_t *p)
{
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;

    for (s = W.main_s; s; s = s->next) {
        const char *dir;

        if (!runs_here(cfg_of(s)))
            continue;
        dir = apr_pstrcat(p, xport_cfg_storage(cfg_of(s)), "/uploads", NULL);
        if (apr_hash_get(seen, dir, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, dir, APR_HASH_KEY_STRING, dir);
        sweep_dir(p, s, dir);
    }
}

static void *APR_THREAD_FUNC maint_thread(apr_thread_t *t, void *data)
{
    wk_thread_t *wt = data;
    apr_pool_t *p;
    apr_time_t slept;
    int i;

    apr_pool_create(&p, wt->pool);
    while (!W.maint_stop) {
        for (i = 0; i < W.stores->nelts && !W.maint_stop; i++) {
            wk_store_t *ws = &APR_ARRAY_IDX(W.stores, i, wk_store_t);
            xp_store_t *st = thread_store(wt, i);

            if (!st)
                continue;
            apr_pool_clear(p);
            maint_heartbeats(i, st, p);
            if (wk_shutdown)
                continue; /* leave our own jobs to their re-queue */
            maint_reap(ws, st, p);
            maint_purge(ws, st, p);
        }
        if (!wk_shutdown && !W.maint_stop) {
            apr_pool_clear(p);
            maint_sweep_uploads(p);
        }
        for (slept = 0; slept < WK_MAINT_EVERY && !W.maint_stop;
             slept += apr_time_from_msec(100))
            apr_sleep(apr_time_from_msec(100));
    }
    (void)t; /* returns, as job_thread does */
    return NULL;
}

static apr_status_t pool_destroy(void *data)
{
    apr_pool_destroy(data);
    return APR_SUCCESS;
}

static wk_thread_t *thread_make(apr_pool_t *parent, int index)
{
    wk_thread_t *wt;
    apr_pool_t *p;

    /* own allocator: threads never contend on a shared pool */
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    apr_pool_cleanup_register(parent, p, pool_destroy, apr_pool_cleanup_null);
    wt = apr_pcalloc(p, sizeof(*wt));
    wt->index = index;
    wt->pool = p;
    wt->conns = apr_pcalloc(p, W.stores->nelts * sizeof(xp_store_t *));
    wt->conn_pools = apr_pcalloc(p, W.stores->nelts * sizeof(apr_pool_t *));
    wt->running_store = -1;
    apr_thread_mutex_create(&wt->lock, APR_THREAD_MUTEX_DEFAULT, p);
    return wt;
}

/* ------------------------------------------------------------------ */
/* The worker process                                                    */
/* ------------------------------------------------------------------ */

static int threads_wanted(server_rec *s)
{
    int n = 0;

    for (; s; s = s->next) {
        xport_srv_cfg *c = cfg_of(s);

        if (runs_jobs(c) && xport_cfg_workers(c) > n)
            n = xport_cfg_workers(c);
    }
    return n;
}

static int start_threads(apr_pool_t *p, int n, wk_thread_t **maint)
{
    apr_status_t rv;
    int i;

    W.threads = apr_array_make(p, n, sizeof(wk_thread_t *));
    apr_atomic_set32(&wk_threads_left, (apr_uint32_t)n);
    for (i = 0; i < n; i++) {
        wk_thread_t *wt = thread_make(p, i);

        rv = apr_thread_create(&wt->thread, NULL, job_thread, wt, wt->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, W.main_s,
                         "XP0530: worker cannot create job thread %d", i);
            return -1;
        }
        APR_ARRAY_PUSH(W.threads, wk_thread_t *) = wt;
    }
    *maint = thread_make(p, n);
    rv = apr_thread_create(&(*maint)->thread, NULL, maint_thread, *maint,
                           (*maint)->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, W.main_s,
                     "XP0530: worker cannot create its maintenance thread");
        return -1;
    }
    return 0;
}

/* Until a signal says how to end, or httpd is gone. */
static void wait_for_signal(void)
{
    while (!wk_shutdown && !wk_drain) {
        apr_sleep(apr_time_from_msec(200));
        if (getppid() != W.ppid) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, W.main_s,
                         "XP0533: worker %s: httpd is gone, stopping", W.owner);
            wk_shutdown = 1;
        }
    }
}

static int jobs_running(void)
{
    int i, n = 0;

    for (i = 0; i < W.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(W.threads, i, wk_thread_t *);

        apr_thread_mutex_lock(wt->lock);
        n += wt->running[0] != '\0';
        apr_thread_mutex_unlock(wt->lock);
    }
    return n;
}

/* Cut short the statements that running jobs wait on: at a stop they go
 * back to the queue now, not when their statement returns (a lock held
 * in the data source, a row that takes minutes). */
static void interrupt_jobs(void)
{
    int i;

    for (i = 0; i < W.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(W.threads, i, wk_thread_t *);

        apr_thread_mutex_lock(wt->lock);
        if (wt->src)
            xp_source_interrupt(wt->src);
        apr_thread_mutex_unlock(wt->lock);
    }
}

static void log_ending(void)
{
    const char *why = wk_drain == SIGWINCH ? "stop" : "restart";
    int n = jobs_running();

    if (wk_shutdown)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, W.main_s,
                     "XP0534: worker %s stopping: %d running job(s) go back "
                     "to the queue",
                     W.owner, n);
    else if (W.grace > 0)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, W.main_s,
                     "XP0534: worker %s draining (graceful %s): nothing new "
                     "is claimed; %d running job(s) may finish within "
                     "GracefulShutdownTimeout (%ds), then go back to the "
                     "queue",
                     W.owner, why, n, W.grace);
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, W.main_s,
                     "XP0534: worker %s draining (graceful %s): nothing new "
                     "is claimed; %d running job(s) finish, without a time "
                     "limit (GracefulShutdownTimeout 0)",
                     W.owner, why, n);
}

/* Jobs running in a drain keep the process alive until they end or
 * GracefulShutdownTimeout is over; then, or at a stop (also one that
 * comes during a drain), they are handed back and the statements they
 * wait on interrupted, again every second in case one began after. The
 * parent going away does not end a drain: a graceful stop's does. */
static void wait_threads(wk_thread_t *maint)
{
    apr_time_t deadline = 0, kicked = 0, now;
    apr_status_t trv;
    int i, stopping = wk_shutdown;

    if (!wk_shutdown && W.grace > 0)
        deadline = apr_time_now() + apr_time_from_sec(W.grace);
    while (apr_atomic_read32(&wk_threads_left) > 0) {
        apr_sleep(apr_time_from_msec(100));
        now = apr_time_now();
        if (wk_shutdown && !stopping) { /* SIGTERM during the drain */
            stopping = 1;
            log_ending();
        }
        if (!wk_shutdown && deadline && now >= deadline) {
            stopping = 1;
            wk_late = 1;
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, W.main_s,
                         "XP0537: worker %s: GracefulShutdownTimeout (%ds) "
                         "is over with %d job(s) still running; they go "
                         "back to the queue",
                         W.owner, W.grace, jobs_running());
            wk_shutdown = 1;
        }
        if (wk_shutdown && now - kicked >= apr_time_from_sec(1)) {
            interrupt_jobs();
            kicked = now;
        }
    }

    for (i = 0; i < W.threads->nelts; i++)
        apr_thread_join(&trv,
                        APR_ARRAY_IDX(W.threads, i, wk_thread_t *)->thread);
    W.maint_stop = 1;
    if (maint)
        apr_thread_join(&trv, maint->thread);
}

/* Never returns: the process ends with _exit() so that nothing the
 * parent registered on its pools (other modules' shared memory, mutexes,
 * daemons) is torn down from here. */
static void worker_main(apr_pool_t *pconf, server_rec *s, pid_t parent,
                        int grace)
{
    apr_pool_t *p;
    wk_thread_t *maint = NULL;
    char host[APRMAXHOSTLEN + 1];
    int n = threads_wanted(s);

    setup_signals();
    setpgid(0, 0); /* see the top of this file */
#ifdef __linux__
    /* `ps -o comm` and /proc/PID/comm tell it from the MPM's children */
    prctl(PR_SET_NAME, "xport-worker", 0, 0, 0);
#endif
    ap_close_listeners(); /* not ours to hold across restarts */
    apr_pool_create(&p, pconf);
    W.main_s = s;
    W.ppid = parent;
    W.grace = grace;
    xport_live_child_init(p, s);
    if (ap_run_drop_privileges(p, s) != OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "XP0531: worker cannot switch to User/Group; it will "
                     "not be restarted");
        _exit(WK_EXIT_CONFIG);
    }
    if (apr_gethostname(host, sizeof(host), p) != APR_SUCCESS)
        apr_cpystrn(host, "localhost", sizeof(host));
    W.host = apr_pstrdup(p, host);
    W.owner = apr_psprintf(p, "%s:%ld", host, (long)getpid());
    collect_stores(p);
    if (start_threads(p, n, &maint) < 0)
        _exit(1);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "XP0532: worker %s running %d job thread(s) on %d job "
                 "store(s)",
                 W.owner, n, W.stores->nelts);

    wait_for_signal();
    log_ending();
    wait_threads(maint);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "XP0535: worker %s exits",
                 W.owner);
    apr_pool_destroy(p); /* closes the job store connections */
    WK_LEAK_CHECK();
    _exit(0);
}

/* ------------------------------------------------------------------ */
/* The parent's side: fork, watch, restart, stop                          */
/* ------------------------------------------------------------------ */

static struct {
    apr_pool_t *pconf;
    server_rec *s;
    apr_proc_t proc;
    pid_t parent;
    int exited;
    int told;  /* the signal that told the worker how to end; 0: none */
    int grace; /* GracefulShutdownTimeout of this generation (s) */
    apr_time_t started;
    int quick_deaths;
} P;

static apr_status_t worker_fork(void);

static int mpm_stopping(void)
{
    int state;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS ||
           state == AP_MPMQ_STOPPING;
}

static void worker_died(int status)
{
    apr_time_t now = apr_time_now();

    if (mpm_stopping())
        return;
    if (status == WK_EXIT_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, P.s,
                     "XP0540: worker process %ld could not start; jobs stay "
                     "queued until httpd is restarted",
                     (long)P.proc.pid);
        return;
    }
    P.quick_deaths =
        (now - P.started < apr_time_from_sec(10)) ? P.quick_deaths + 1 : 0;
    if (P.quick_deaths >= 5) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, P.s,
                     "XP0541: worker process died %d times in a row right "
                     "after starting; not restarting it (see the errors "
                     "above), jobs stay queued",
                     P.quick_deaths);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, P.s,
                 "XP0542: worker process %ld died (status %d), restarting",
                 (long)P.proc.pid, status);
    worker_fork();
}

/* Is httpd stopping or restarting the hard way (SIGTERM, SIGHUP), also
 * when a SIGTERM cut a graceful stop short? */
static int mpm_ungraceful(void)
{
    ap_unixd_mpm_retained_data *rd = ap_unixd_mpm_get_retained_data();

    return !rd || rd->is_ungraceful;
}

/* Tell the worker how to end, once: SIGTERM (hand running jobs back now),
 * or SIGUSR1 / SIGWINCH (drain after a graceful restart / stop); a stop
 * may still follow a drain. Only the parent that forked it speaks. */
static void worker_tell(int sig)
{
    if (!P.proc.pid || P.exited || getpid() != P.parent || P.told == SIGTERM ||
        (P.told && sig != SIGTERM))
        return;
    kill(P.proc.pid, sig);
    P.told = sig;
}

static void worker_maint(int reason, void *data, apr_wait_t status)
{
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        P.exited = 1;
        apr_proc_other_child_unregister(data);
        worker_died((int)status);
        break;
    case APR_OC_REASON_RESTART:
        /* httpd reclaims its children: a stop or restart the hard way, or
         * the end of a graceful stop (event, worker: its children are gone
         * or GracefulShutdownTimeout is over) */
        worker_tell(mpm_ungraceful() ? SIGTERM : SIGWINCH);
        apr_proc_other_child_unregister(data);
        break;
    case APR_OC_REASON_UNREGISTER:
        /* pconf goes without a reclaim first: a graceful restart (the next
         * generation's worker starts right after), or httpd exiting after
         * a graceful stop (prefork reclaims nothing then) */
        worker_tell(ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING
                        ? SIGWINCH
                        : SIGUSR1);
        break;
    default:
        break;
    }
}

/* A child of httpd leaves while a graceful stop runs: the worker drains
 * from now on, not only once httpd has waited for the last child. */
void xport_worker_child_status(server_rec *s, pid_t pid, ap_generation_t gen,
                               int slot, mpm_child_status state)
{
    ap_unixd_mpm_retained_data *rd;

    (void)s;
    (void)pid;
    (void)gen;
    (void)slot;
    if (state != MPM_CHILD_EXITED || !mpm_stopping())
        return;
    rd = ap_unixd_mpm_get_retained_data();
    if (rd && !rd->restart_pending && !rd->is_ungraceful)
        worker_tell(SIGWINCH);
}

static apr_status_t worker_fork(void)
{
    pid_t parent = getpid();
    apr_status_t rv;

    rv = apr_proc_fork(&P.proc, P.pconf);
    if (rv == APR_INCHILD)
        worker_main(P.pconf, P.s, parent, P.grace);
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, P.s,
                     "XP0543: cannot fork the worker process");
        return rv;
    }
    P.parent = parent;
    P.exited = 0;
    P.told = 0;
    P.started = apr_time_now();
    apr_proc_other_child_register(&P.proc, worker_maint, &P.proc, NULL,
                                  P.pconf);
    return APR_SUCCESS;
}

int xport_worker_start(apr_pool_t *pconf, server_rec *s)
{
    /* configtest, -S and the first pass of a start run no worker */
    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL ||
        ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    /* the last generation's worker is no longer this one's to signal */
    memset(&P, 0, sizeof(P));
    if (threads_wanted(s) == 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0544: no server has XportWorkers > 0 with sections "
                     "and a data source: no worker process (API only)");
        return OK;
    }
    P.pconf = pconf;
    P.s = s;
    /* the worker's bound for a drain, as httpd's for its children (the
     * MPM's directive, read by the time post_config runs) */
    P.grace = ap_graceful_shutdown_timeout;
    return worker_fork() == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}
