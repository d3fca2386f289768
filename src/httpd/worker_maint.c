/*
 * worker_maint.c -- the worker's maintenance thread: every WK_MAINT_EVERY,
 * on each job store, the heartbeats of the jobs this process runs (a job
 * busy in one long statement is not taken for dead), the reaping of jobs
 * whose owner stopped (a stale heartbeat, or a process of this host that
 * no longer exists: re-queued, at most WK_MAX_ATTEMPTS times) and the
 * XportRetention purge; then the sweep of uploads left by a killed child.
 * Nodes sharing a job store take turns at the purge and the sweep
 * (xp_store_take_turn): one does them for all at a time.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_hash.h>

#include "xport_worker.h"

#define WK_MAINT_EVERY apr_time_from_sec(3)
#define WK_STALE_MS 30000 /* heartbeat age */
#define WK_MAX_ATTEMPTS 3
#define WK_TIMEOUT_GRACE_MS 60000

static volatile int maint_stop;

/* Heartbeats of the jobs this process runs, so that a job busy in one
 * long query is not taken for dead. */
static void maint_heartbeats(int si, xp_store_t *st, apr_pool_t *p)
{
    int i;

    for (i = 0; i < xport_wk.threads->nelts; i++) {
        wk_thread_t *wt = APR_ARRAY_IDX(xport_wk.threads, i, wk_thread_t *);
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
            xp_store_heartbeat(st, p, id, xport_wk.owner, done, total, &cancel,
                               &err);
        if (mine && cancel)
            xport_live_request_cancel(id);
    }
}

/* Owners are "host:pid": a process of this host that no longer exists
 * cannot be running anything (a worker restarted after kill -9). */
static int owner_dead(const char *owner, void *baton)
{
    const char *colon = owner ? strrchr(owner, ':') : NULL;
    apr_size_t hl = strlen(xport_wk.host);
    long pid;

    (void)baton;
    if (!colon || (apr_size_t)(colon - owner) != hl ||
        strncmp(owner, xport_wk.host, hl))
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
        xp_store_query_t q = {kinds[k], NULL, 1, XP_ST_RUNNING, 0, 1000, NULL, 0};
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
        xport_live_note(now);
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
    server_rec *s = xport_wk_server_for(p, job->server);
    apr_int64_t keep = apr_time_as_msec(xport_cfg_retention(xport_wk_cfg(s)));

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
        server_rec *s = xport_wk_server_for(p, job->server);

        xport_wk_remove_output(p, s, job);
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

    for (s = xport_wk.main_s; s; s = s->next) {
        const char *dir;

        if (!xport_wk_runs_here(xport_wk_cfg(s)))
            continue;
        dir = apr_pstrcat(p, xport_cfg_storage(xport_wk_cfg(s)), "/uploads",
                          NULL);
        if (apr_hash_get(seen, dir, APR_HASH_KEY_STRING))
            continue;
        apr_hash_set(seen, dir, APR_HASH_KEY_STRING, dir);
        sweep_dir(p, s, dir);
    }
}

/* The purge, when this node has the store's turn (1; several nodes on
 * one store take turns). */
static int maint_turn(wk_store_t *ws, xp_store_t *st, apr_pool_t *p)
{
    xp_error_t err = {0};
    int mine = 0;

    if (xp_store_take_turn(st, p, "maintenance", &mine, &err) != XP_OK ||
        !mine)
        return 0;
    maint_purge(ws, st, p);
    xp_store_end_turn(st, p, "maintenance");
    return 1;
}

static void *APR_THREAD_FUNC maint_thread(apr_thread_t *t, void *data)
{
    wk_thread_t *wt = data;
    apr_pool_t *p;
    apr_time_t slept;
    int i;

    apr_pool_create(&p, wt->pool);
    while (!maint_stop) {
        int turns = 0;

        for (i = 0; i < xport_wk.stores->nelts && !maint_stop; i++) {
            wk_store_t *ws = &APR_ARRAY_IDX(xport_wk.stores, i, wk_store_t);
            xp_store_t *st = xport_wk_thread_store(wt, i);

            if (!st)
                continue;
            apr_pool_clear(p);
            maint_heartbeats(i, st, p);
            if (xport_wk_shutdown)
                continue; /* leave our own jobs to their re-queue */
            /* every node reaps (it alone sees its own dead workers at
             * once; each requeue is conditional on the owner); one node
             * at a time purges and sweeps for all */
            maint_reap(ws, st, p);
            turns += maint_turn(ws, st, p);
        }
        if (turns > 0 && !xport_wk_shutdown && !maint_stop) {
            apr_pool_clear(p);
            maint_sweep_uploads(p);
        }
        for (slept = 0; slept < WK_MAINT_EVERY && !maint_stop;
             slept += apr_time_from_msec(100))
            apr_sleep(apr_time_from_msec(100));
    }
    (void)t; /* returns, as job_thread (worker.c) does */
    return NULL;
}

int xport_wk_maint_start(apr_pool_t *p, int index, wk_thread_t **maint)
{
    apr_status_t rv;

    *maint = xport_wk_thread_make(p, index);
    rv = apr_thread_create(&(*maint)->thread, NULL, maint_thread, *maint,
                           (*maint)->pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, xport_wk.main_s,
                     "XP0530: worker cannot create its maintenance thread");
        return -1;
    }
    return 0;
}

void xport_wk_maint_stop(wk_thread_t *maint)
{
    apr_status_t trv;

    maint_stop = 1;
    if (maint)
        apr_thread_join(&trv, maint->thread);
}
