/*
 * worker.c -- the worker process: one per httpd instance, forked and
 * restarted by the parent (worker_parent.c), running jobs in a pool of APR
 * threads. This room is its life: its signals, the job threads and their
 * claiming, the wait for the signal that says how to end, the drain within
 * GracefulShutdownTimeout, interrupting what still runs, the exit. A job
 * runs in worker_job.c, the maintenance thread in worker_maint.c; what
 * they share is in worker_state.c.
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
 * notices first (worker_maint.c): a stale heartbeat, or at once when its
 * owner was a process on this host that no longer exists.
 */
#include <signal.h>
#include <unistd.h>
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

#include <ap_listen.h>
#include <mpm_common.h>

#include "xport_worker.h"

#define WK_POLL apr_time_from_msec(500) /* idle store poll */
#define WK_TICK apr_time_from_msec(50)  /* wake counter check */

static volatile apr_uint32_t wk_threads_left; /* job threads still looping */
static pid_t wk_ppid;
static int
    wk_grace; /* GracefulShutdownTimeout (s) of its generation; 0: none */

/* ------------------------------------------------------------------ */
/* Signals                                                               */
/* ------------------------------------------------------------------ */

static void on_stop(int sig)
{
    (void)sig;
    xport_wk_shutdown = 1;
}

static void on_drain(int sig)
{
    if (!xport_wk_drain)
        xport_wk_drain = sig;
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
/* Job threads                                                           */
/* ------------------------------------------------------------------ */

/* Up to WK_POLL, cut short by new work (the wake counter) or a signal. */
static void idle_wait(void)
{
    apr_uint32_t seen = xport_live_wake_count();
    apr_time_t waited;

    for (waited = 0; waited < WK_POLL && !xport_wk_shutdown && !xport_wk_drain;
         waited += WK_TICK) {
        apr_sleep(WK_TICK);
        if (xport_live_wake_count() != seen)
            break;
    }
}

/* Claim from the stores in turn, starting after the last one used. */
static int claim_one(wk_thread_t *wt, apr_pool_t *p, xp_job_t **job)
{
    int n = xport_wk.stores->nelts, k;

    for (k = 0; k < n; k++) {
        int i = (wt->next + k) % n;
        xp_store_t *st = xport_wk_thread_store(wt, i);
        xp_error_t err = {0};

        if (!st)
            continue;
        if (xp_store_claim(st, p, xport_wk.owner, job, &err) != XP_OK) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, xport_wk.main_s,
                         "XP0517: worker cannot claim a job: %s",
                         err.message ? err.message : "?");
            xport_wk_thread_store_reset(wt, i);
            continue;
        }
        if (*job) {
            xport_live_note(*job);
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
        xp_store_requeue(wt->conns[si], p, job->id, xport_wk.owner, &err);

    if (rc == XP_OK)
        xport_live_note(job);

    ap_log_error(
        APLOG_MARK, rc == XP_OK ? APLOG_NOTICE : APLOG_ERR, 0, xport_wk.main_s,
        "XP0516: job %s %s (claimed as worker %s %s)%s%s", job->id,
        rc == XP_OK ? "re-queued" : "could not be re-queued", xport_wk.owner,
        xport_wk_shutdown ? "stopped" : "began to drain",
        rc == XP_OK ? "" : ": ",
        rc == XP_OK ? "" : (err.message ? err.message : "?"));
}

static void *APR_THREAD_FUNC job_thread(apr_thread_t *t, void *data)
{
    wk_thread_t *wt = data;
    apr_pool_t *p;

    apr_pool_create(&p, wt->pool);
    while (!xport_wk_shutdown && !xport_wk_drain) {
        xp_job_t *job = NULL;
        int si;

        apr_pool_clear(p);
        si = claim_one(wt, p, &job);
        if (si >= 0 && job && (xport_wk_shutdown || xport_wk_drain))
            claim_undo(wt, si, p, job);
        else if (si >= 0 && job)
            xport_wk_run_job(wt, si, job);
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

/* ------------------------------------------------------------------ */
/* The worker process                                                    */
/* ------------------------------------------------------------------ */

static int runs_jobs(const xport_srv_cfg *c)
{
    return c->sections && c->source_driver && xport_cfg_workers(c) > 0;
}

int xport_wk_threads_wanted(server_rec *s)
{
    int n = 0;

    for (; s; s = s->next) {
        xport_srv_cfg *c = xport_wk_cfg(s);

        if (runs_jobs(c) && xport_cfg_workers(c) > n)
            n = xport_cfg_workers(c);
    }
    return n;
}

/* Does a server run jobs or serve them from a PostgreSQL job store,
 * which other nodes may share? Then this node needs a worker process,
 * if only to hear of their changes (worker_listen.c). */
int xport_wk_process_wanted(server_rec *s)
{
    if (xport_wk_threads_wanted(s) > 0)
        return 1;
    for (; s; s = s->next) {
        xport_srv_cfg *c = xport_wk_cfg(s);

        if (c->sections && c->source_driver && c->store_driver &&
            !strcmp(c->store_driver, "pgsql"))
            return 1;
    }
    return 0;
}

static int start_threads(apr_pool_t *p, int n, wk_thread_t **maint)
{
    apr_status_t rv;
    int i;

    xport_wk.threads = apr_array_make(p, n, sizeof(wk_thread_t *));
    apr_atomic_set32(&wk_threads_left, (apr_uint32_t)n);
    for (i = 0; i < n; i++) {
        wk_thread_t *wt = xport_wk_thread_make(p, i);

        rv = apr_thread_create(&wt->thread, NULL, job_thread, wt, wt->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, xport_wk.main_s,
                         "XP0530: worker cannot create job thread %d", i);
            return -1;
        }
        APR_ARRAY_PUSH(xport_wk.threads, wk_thread_t *) = wt;
    }
    if (xport_wk_listen_start(p) < 0)
        return -1;
    return xport_wk_maint_start(p, n, maint);
}

/* Until a signal says how to end, or httpd is gone. */
static void wait_for_signal(void)
{
    while (!xport_wk_shutdown && !xport_wk_drain) {
        apr_sleep(apr_time_from_msec(200));
        if (getppid() != wk_ppid) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, xport_wk.main_s,
                         "XP0533: worker %s: httpd is gone, stopping",
                         xport_wk.owner);
            xport_wk_shutdown = 1;
        }
    }
}

static int jobs_running(void)
{
    int i, n = 0;

    for (i = 0; i < xport_wk.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(xport_wk.threads, i, wk_thread_t *);

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

    for (i = 0; i < xport_wk.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(xport_wk.threads, i, wk_thread_t *);

        apr_thread_mutex_lock(wt->lock);
        if (wt->src)
            xp_source_interrupt(wt->src);
        apr_thread_mutex_unlock(wt->lock);
    }
}

static void log_ending(void)
{
    const char *why = xport_wk_drain == SIGWINCH ? "stop" : "restart";
    int n = jobs_running();

    if (xport_wk_shutdown)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, xport_wk.main_s,
                     "XP0534: worker %s stopping: %d running job(s) go back "
                     "to the queue",
                     xport_wk.owner, n);
    else if (wk_grace > 0)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, xport_wk.main_s,
                     "XP0534: worker %s draining (graceful %s): nothing new "
                     "is claimed; %d running job(s) may finish within "
                     "GracefulShutdownTimeout (%ds), then go back to the "
                     "queue",
                     xport_wk.owner, why, n, wk_grace);
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, xport_wk.main_s,
                     "XP0534: worker %s draining (graceful %s): nothing new "
                     "is claimed; %d running job(s) finish, without a time "
                     "limit (GracefulShutdownTimeout 0)",
                     xport_wk.owner, why, n);
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
    int i, stopping = xport_wk_shutdown;

    if (!xport_wk_shutdown && wk_grace > 0)
        deadline = apr_time_now() + apr_time_from_sec(wk_grace);
    while (apr_atomic_read32(&wk_threads_left) > 0) {
        apr_sleep(apr_time_from_msec(100));
        now = apr_time_now();
        if (xport_wk_shutdown && !stopping) { /* SIGTERM during the drain */
            stopping = 1;
            log_ending();
        }
        if (!xport_wk_shutdown && deadline && now >= deadline) {
            stopping = 1;
            xport_wk_late = 1;
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, xport_wk.main_s,
                         "XP0537: worker %s: GracefulShutdownTimeout (%ds) "
                         "is over with %d job(s) still running; they go "
                         "back to the queue",
                         xport_wk.owner, wk_grace, jobs_running());
            xport_wk_shutdown = 1;
        }
        if (xport_wk_shutdown && now - kicked >= apr_time_from_sec(1)) {
            interrupt_jobs();
            kicked = now;
        }
    }

    for (i = 0; i < xport_wk.threads->nelts; i++)
        apr_thread_join(
            &trv, APR_ARRAY_IDX(xport_wk.threads, i, wk_thread_t *)->thread);
    xport_wk_listen_stop();
    xport_wk_maint_stop(maint);
}

/* Never returns: the process ends with _exit() so that nothing the
 * parent registered on its pools (other modules' shared memory, mutexes,
 * daemons) is torn down from here. */
void xport_wk_main(apr_pool_t *pconf, server_rec *s, pid_t parent, int grace)
{
    apr_pool_t *p;
    wk_thread_t *maint = NULL;
    char host[APRMAXHOSTLEN + 1];
    int n = xport_wk_threads_wanted(s);

    setup_signals();
    setpgid(0, 0); /* see the top of this file */
#ifdef __linux__
    /* `ps -o comm` and /proc/PID/comm tell it from the MPM's children */
    prctl(PR_SET_NAME, "xport-worker", 0, 0, 0);
#endif
    ap_close_listeners(); /* not ours to hold across restarts */
    apr_pool_create(&p, pconf);
    xport_wk.main_s = s;
    wk_ppid = parent;
    wk_grace = grace;
    xport_live_child_init(p, s);
    if (ap_run_drop_privileges(p, s) != OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "XP0531: worker cannot switch to User/Group; it will "
                     "not be restarted");
        _exit(WK_EXIT_CONFIG);
    }
    if (apr_gethostname(host, sizeof(host), p) != APR_SUCCESS)
        apr_cpystrn(host, "localhost", sizeof(host));
    xport_wk.host = apr_pstrdup(p, host);
    xport_wk.owner = apr_psprintf(p, "%s:%ld", host, (long)getpid());
    xport_wk_collect_stores(p);
    if (start_threads(p, n, &maint) < 0)
        _exit(1);
    xport_live_worker_join(n);
    if (n > 0)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "XP0532: worker %s running %d job thread(s) on %d job "
                     "store(s)",
                     xport_wk.owner, n, xport_wk.stores->nelts);
    else
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "XP0532: worker %s runs no jobs (XportWorkers 0): it "
                     "follows the other nodes' changes on %d job store(s) "
                     "and reaps",
                     xport_wk.owner, xport_wk.stores->nelts);

    wait_for_signal();
    log_ending();
    wait_threads(maint);
    xport_live_worker_leave();
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "XP0535: worker %s exits",
                 xport_wk.owner);
    apr_pool_destroy(p); /* closes the job store connections */
    WK_LEAK_CHECK();
    _exit(0);
}
