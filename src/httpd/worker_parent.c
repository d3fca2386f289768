/*
 * worker_parent.c -- the parent's side of the worker process: fork it in
 * post_config the way mod_cgid forks its daemon, watch it as an "other
 * child", restart it when it dies (not when it could not start, nor after
 * five quick deaths), and tell it by pid how to end as httpd stops or
 * restarts (SIGTERM, SIGUSR1, SIGWINCH; see worker.c for what each does),
 * also from the child_status hook once a graceful stop shows. Of the
 * worker it knows only the entry point, whether there would be any job
 * threads, and the exit status that says "do not restart me".
 */
#include <signal.h>
#include <unistd.h>

#include <apr_thread_proc.h>

#include <http_core.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <unixd.h>

#include "xport_worker.h"

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
        xport_wk_main(P.pconf, P.s, parent, P.grace);
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
    if (!xport_wk_process_wanted(s)) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0544: no server has XportWorkers > 0 with sections "
                     "and a data source, nor a PostgreSQL job store: no "
                     "worker process (API only)");
        return OK;
    }
    P.pconf = pconf;
    P.s = s;
    /* the worker's bound for a drain, as httpd's for its children (the
     * MPM's directive, read by the time post_config runs) */
    P.grace = ap_graceful_shutdown_timeout;
    return worker_fork() == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}
