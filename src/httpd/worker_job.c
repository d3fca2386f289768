/*
 * worker_job.c -- running one job in a job thread: its own pool, the
 * engine's export or import with the callbacks it checks between batches
 * (progress to the live table and, every WK_FLUSH, to the job store;
 * cancel, XportJobTimeout, a stop), then how it ended recorded in the job
 * store, or the job handed back to the queue when the worker stops.
 */
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "xport_worker.h"
#include "xp_export.h"
#include "xp_import.h"
#include "xp_json.h"

#define WK_FLUSH apr_time_from_sec(2) /* progress to store */
#define WK_BATCH_ROWS 1000

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
    apr_interval_time_t retry_window; /* XportRetryWindow of its host */
} wk_job_t;

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
    rc = xp_store_heartbeat(wj->st, wj->hb_pool, wj->job->id, xport_wk.owner,
                            wj->done, wj->total, &cancel, &err);
    if (rc == XP_ENOTFOUND) {
        wj->store_gone = 1;
        return XP_ECANCEL;
    }
    if (rc != XP_OK)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, xport_wk.main_s,
                     "XP0511: job %s: cannot record progress: %s", wj->job->id,
                     err.message ? err.message : "?");
    return cancel ? XP_ECANCEL : XP_OK;
}

/* The data source connection of the job (NULL: closing), for
 * interrupt_jobs (worker.c); under the lock, so it never closes while in
 * use. */
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

    if (xport_wk_shutdown)
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

static xp_errcode_e host_gone(apr_pool_t *p, server_rec *s, xp_error_t *err)
{
    return xp_error_set(err, p, XP_EINVAL,
                        "the virtual host %s has no XportSection or "
                        "XportDataSource any more",
                        xport_server_key(p, s));
}

/* The engine runs the job with its host's configuration as it is now.
 * An import's upload stays where it is whatever happens: the job keeps
 * naming it, and DELETE or the retention purge removes both. */
static xp_errcode_e run_engine(wk_job_t *wj, apr_pool_t *p, server_rec *s,
                               xp_error_t *err)
{
    xport_srv_cfg *c = xport_wk_cfg(s);
    xp_job_ctl_t ctl = {wj, job_progress, job_check, job_source};
    xp_export_env_t ex = {0};
    xp_import_env_t im = {0};

    if (!xport_wk_runs_here(c))
        return host_gone(p, s, err);
    if (wj->job->kind == XP_KIND_EXPORT) {
        ex.secs = c->sections;
        ex.source_driver = c->source_driver;
        ex.source_params = c->source_params;
        ex.storage = xport_cfg_storage(c);
        ex.instance = xport_cfg_instance(c, s);
        ex.max_archive_size = xport_cfg_max_archive_size(c);
        ex.batch_rows = WK_BATCH_ROWS;
        return xp_export_run(p, &ex, wj->job, &ctl, err);
    }
    im.secs = c->sections;
    im.source_driver = c->source_driver;
    im.source_params = c->source_params;
    im.storage = xport_cfg_storage(c);
    im.max_uncompressed = xport_cfg_max_uncompressed_size(c);
    im.batch_rows = 0; /* the data source's own (src/engine/sink.c) */
    return xp_import_run(p, &im, wj->job, &ctl, err);
}

/* Record the end, riding out a loss of the job store (a database
 * restart) for XportRetryWindow: the connection reconnects on the next
 * statement. Without this the job would sit `running` until its
 * heartbeat went stale. */
static xp_errcode_e job_finish(wk_job_t *wj, apr_pool_t *p, xp_job_t *job,
                               xp_error_t *ferr)
{
    apr_time_t end = apr_time_now() + wj->retry_window;
    xp_errcode_e frc;

    while ((frc = xp_store_finish(wj->st, p, job, ferr)) != XP_OK &&
           frc != XP_ENOTFOUND && !xport_wk_shutdown && apr_time_now() < end)
        apr_sleep(apr_time_from_sec(1));
    if (frc == XP_OK)
        xport_live_note(job);
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
        msg =
            apr_psprintf(p,
                         "the job ran longer than XportJobTimeout "
                         "(%" APR_TIME_T_FMT "s)",
                         apr_time_sec(xport_cfg_job_timeout(xport_wk_cfg(s))));
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
        xport_wk_remove_output(p, s, job);
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

/* ------------------------------------------------------------------ */
/* A lost database: wait for it (SPEC 7, XportRetryWindow)              */
/* ------------------------------------------------------------------ */

#define WK_RETRY_FIRST apr_time_from_sec(1)
#define WK_RETRY_LONGEST apr_time_from_sec(8)
#define WK_RETRY_RUNS 5 /* runs after a loss, at most */

/* Does the data source take a connection again? */
static int source_answers(apr_pool_t *p, const xport_srv_cfg *c)
{
    xp_db_t *db = NULL;
    xp_error_t err = {0};

    if (xp_db_open(p, c->source_driver, c->source_params, "data source", &db,
                   &err) != XP_OK)
        return 0;
    xp_db_close(db);
    return 1;
}

/* Pause t, cut short by a stop, a cancel or the job's deadline. */
static xp_errcode_e retry_pause(wk_job_t *wj, apr_interval_time_t t)
{
    apr_interval_time_t slept;
    xp_errcode_e rc;

    for (slept = 0; slept < t; slept += apr_time_from_msec(100)) {
        if ((rc = job_check(wj)) != XP_OK && rc != XP_EDB)
            return rc;
        apr_sleep(apr_time_from_msec(100));
    }
    return XP_OK;
}

/* After a lost connection, wait with growing pauses until the data
 * source answers, within XportRetryWindow: XP_OK to run the job again
 * from the start (a failed export left nothing, a lost import's
 * transaction was rolled back by the server); otherwise why not (err
 * says so for XP_EDB). */
static xp_errcode_e retry_wait(wk_job_t *wj, apr_pool_t *p, server_rec *s,
                               xp_error_t *err)
{
    const xport_srv_cfg *c = xport_wk_cfg(s);
    apr_interval_time_t window = wj->retry_window;
    apr_interval_time_t pause = WK_RETRY_FIRST;
    apr_time_t end = apr_time_now() + window;
    const char *lost = err->message;
    xp_errcode_e rc;

    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 "XP0547: job %s: %s; waiting up to XportRetryWindow "
                 "(%" APR_TIME_T_FMT "s) for it to come back",
                 wj->job->id, lost, apr_time_sec(window));
    while (apr_time_now() < end) {
        if ((rc = retry_pause(wj, pause)) != XP_OK)
            return rc;
        if (source_answers(p, c)) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XP0548: job %s: the data source answers again; "
                         "the job runs again from the start",
                         wj->job->id);
            return XP_OK;
        }
        pause = pause * 2 < WK_RETRY_LONGEST ? pause * 2 : WK_RETRY_LONGEST;
    }
    return xp_error_set(err, p, XP_EDB,
                        "%s; it did not come back within XportRetryWindow "
                        "(%" APR_TIME_T_FMT "s)",
                        lost, apr_time_sec(window));
}

/* Run the engine, and again after a lost connection that came back. */
static xp_errcode_e run_engine_retrying(wk_job_t *wj, apr_pool_t *p,
                                        server_rec *s, xp_error_t *err)
{
    xp_errcode_e rc = run_engine(wj, p, s, err);
    int runs = 0;

    while (xp_db_lost(rc, err) && !xport_wk_shutdown &&
           runs++ < WK_RETRY_RUNS &&
           (rc = retry_wait(wj, p, s, err)) == XP_OK) {
        memset(err, 0, sizeof(*err));
        rc = run_engine(wj, p, s, err);
    }
    return rc;
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
    xp_errcode_e rc =
        xp_store_requeue(wj->st, p, wj->job->id, xport_wk.owner, &err);

    if (rc == XP_OK)
        xport_live_note(wj->job);
    ap_log_error(APLOG_MARK, rc == XP_OK ? APLOG_NOTICE : APLOG_ERR, 0, s,
                 "XP0516: job %s %s (%s)%s%s", wj->job->id,
                 rc == XP_OK ? "re-queued" : "could not be re-queued",
                 xport_wk_late ? "GracefulShutdownTimeout is over"
                               : "worker stopping",
                 rc == XP_OK ? "" : ": ",
                 rc == XP_OK ? "" : (err.message ? err.message : "?"));
}

void xport_wk_run_job(wk_thread_t *wt, int si, xp_job_t *job)
{
    apr_pool_t *p;
    server_rec *s;
    wk_job_t wj;
    xp_error_t err = {0};
    xp_errcode_e rc;
    apr_interval_time_t timeout;

    /* each job its own pool and allocator: freed whole when it ends */
    apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    s = xport_wk_server_for(p, job->server);
    memset(&wj, 0, sizeof(wj));
    wj.wt = wt;
    wj.st = wt->conns[si];
    wj.job = job;
    wj.slot = xport_live_acquire(job);
    wj.last_flush = apr_time_now();
    timeout = xport_cfg_job_timeout(xport_wk_cfg(s));
    wj.retry_window = xport_cfg_retry_window(xport_wk_cfg(s));
    wj.deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    apr_pool_create(&wj.hb_pool, p);
    set_running(wt, job->id, si);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "XP0515: job %s (%s, attempt %d) started by %s", job->id,
                 xp_kind_name(job->kind), job->attempts, xport_wk.owner);

    rc = run_engine_retrying(&wj, p, s, &err);

    /* a statement cut short by a stop (interrupt_jobs) fails the run: the
     * job goes back as one that stopped at its next check would */
    if (xport_wk_shutdown && rc != XP_OK && rc != XP_ECANCEL)
        rc = XP_ESHUTDOWN;
    if (rc == XP_ESHUTDOWN) {
        job_hand_back(&wj, p, s);
    } else if (wj.store_gone) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XP0512: job %s was deleted (or taken over) while "
                     "running; its output is removed",
                     job->id);
        xport_wk_remove_output(p, s, job);
    } else {
        job_end(&wj, p, s, rc, &err);
        if (xport_wk_drain)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XP0518: job %s ended %s while worker %s drains",
                         job->id, xp_status_name(job->status), xport_wk.owner);
    }
    set_running(wt, NULL, -1);
    xport_live_release(wj.slot);
    apr_pool_destroy(p);
}
