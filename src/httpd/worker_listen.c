/*
 * worker_listen.c -- what this node hears of the other nodes' work. One
 * thread per PostgreSQL job store keeps a connection of its own
 * LISTENing (xp_store_listen). A job made claimable anywhere (an insert,
 * a requeue) bumps the live table's wake counter, which idle job threads
 * watch, so they claim at once instead of at their next poll. Every
 * change of a job (also one made on this node: harmless, a stream reads
 * it once more) goes in the live table's journal, where this node's
 * event streams and waiting requests see it; a cancel asked on another
 * node reaches the job at once if it runs here. An API-only node runs
 * this thread too, in a worker process without job threads (worker.c).
 * A lost connection is opened again with a growing pause; the poll and
 * the streams' keep-alive reads go on meanwhile, so nothing is missed for
 * good. SQLite stores have one node: shared memory carries it all.
 */
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "xport_worker.h"

#define LISTEN_WAIT apr_time_from_msec(200) /* a stop is seen this fast */
#define LISTEN_RETRY_MAX apr_time_from_sec(30)

typedef struct wk_listener_t {
    apr_thread_t *thread;
    apr_pool_t *pool;
    const wk_store_t *ws;
} wk_listener_t;

static apr_array_header_t *listeners; /* wk_listener_t */
static volatile sig_atomic_t listen_stop;

static int listening(void)
{
    return !listen_stop && !xport_wk_shutdown;
}

/* A LISTENing connection in a pool of its own, or NULL (logged). */
static xp_store_t *listen_open(const wk_listener_t *l, apr_pool_t **cp)
{
    xp_store_t *st = NULL;
    xp_error_t err = {0};

    apr_pool_create(cp, l->pool);
    if (xp_store_open(*cp, l->ws->driver, l->ws->params, &st, &err) ==
            XP_OK &&
        xp_store_listen(st, *cp, &err) == XP_OK) {
        return st;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, l->ws->s,
                 "XP0545: worker cannot listen for jobs posted on other "
                 "nodes (%s); it polls until it can",
                 err.message ? err.message : "?");
    apr_pool_destroy(*cp);
    *cp = NULL;
    return NULL;
}

static void listen_pause(apr_interval_time_t t)
{
    apr_interval_time_t slept;

    for (slept = 0; slept < t && listening(); slept += LISTEN_WAIT)
        apr_sleep(LISTEN_WAIT);
}

/* One note from the job store (xp_store_note_fn). */
static void listen_heard(void *baton, const xp_store_note_t *note)
{
    xp_job_t job;

    (void)baton;
    if (note->kind == XP_NOTE_QUEUED)
        xport_live_wake();
    if (!note->id)
        return;
    if (note->kind == XP_NOTE_CANCEL)
        xport_live_request_cancel(note->id);
    memset(&job, 0, sizeof(job));
    job.id = note->id;
    job.user_id = note->user;
    job.api = note->api;
    xport_live_note(&job);
}

static void *APR_THREAD_FUNC listen_thread(apr_thread_t *t, void *data)
{
    const wk_listener_t *l = data;
    apr_pool_t *cp = NULL;
    xp_store_t *st = NULL;
    apr_interval_time_t retry = apr_time_from_sec(1);
    int got;

    while (listening()) {
        if (!st && !(st = listen_open(l, &cp))) {
            listen_pause(retry);
            retry = retry * 2 < LISTEN_RETRY_MAX ? retry * 2 : LISTEN_RETRY_MAX;
            continue;
        }
        retry = apr_time_from_sec(1);
        if ((got = xp_store_announced(st, LISTEN_WAIT, listen_heard, NULL)) <
            0) {
            apr_pool_destroy(cp); /* closes it; the next turn reopens */
            st = NULL;
            cp = NULL;
        }
    }
    if (cp)
        apr_pool_destroy(cp);
    (void)t;
    return NULL;
}

int xport_wk_listen_start(apr_pool_t *p)
{
    int i;

    listeners = apr_array_make(p, 1, sizeof(wk_listener_t));
    for (i = 0; i < xport_wk.stores->nelts; i++) {
        const wk_store_t *ws = &APR_ARRAY_IDX(xport_wk.stores, i, wk_store_t);
        wk_listener_t *l;
        apr_status_t rv;

        if (strcmp(ws->driver, "pgsql"))
            continue;
        l = apr_array_push(listeners);
        l->ws = ws;
        apr_pool_create(&l->pool, p);
        rv = apr_thread_create(&l->thread, NULL, listen_thread, l, l->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, xport_wk.main_s,
                         "XP0546: worker cannot create its listening thread");
            listeners->nelts--;
            return -1;
        }
    }
    return 0;
}

void xport_wk_listen_stop(void)
{
    apr_status_t trv;
    int i;

    listen_stop = 1;
    for (i = 0; listeners && i < listeners->nelts; i++)
        apr_thread_join(&trv,
                        APR_ARRAY_IDX(listeners, i, wk_listener_t).thread);
}
