/*
 * live.c -- the shared-memory live table: live progress and cancel
 * flags of the jobs the worker process is running, read by the request
 * handlers in the children, and the worker processes themselves, read by
 * server-status (status.c).
 *
 * The parent creates an anonymous segment in post_config (real pass);
 * children and the worker process inherit the mapping through fork. A
 * global mutex ("xport-status", tunable with the Mutex directive) guards
 * slot allocation, the worker entries and the snapshot that server-status
 * reads: once a worker thread owns a slot, it is the only writer of its
 * progress fields, and readers tolerate a torn moment.
 *
 * The table is wiped on every restart: the job store stays the truth,
 * this is only the fast path for "how far is it" and "stop now".
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include <util_mutex.h>

#include "mod_xport_private.h"

#define SLOT_FREE 0
#define SLOT_RESERVED 1 /* being filled in by its new owner */
#define SLOT_LIVE 2

typedef struct xport_slot_t {
    volatile apr_uint32_t state;
    volatile apr_uint32_t cancel;
    pid_t pid;
    char id[33];
    volatile apr_int64_t done;
    volatile apr_int64_t total;
    volatile apr_time_t updated;
    /* set by slot_take, fixed while the slot is live */
    xp_kind_e kind;
    apr_int64_t started; /* ms, the job's started_at */
    char user[XPORT_LIVE_USER_MAX];
    char api[XPORT_LIVE_API_MAX];
} xport_slot_t;

/* A worker process: more than one while a drain overlaps its successor
 * (or a worker restarted after a crash has not yet been noticed gone). */
#define XPORT_LIVE_WORKERS 8

typedef struct xport_wslot_t {
    pid_t pid; /* 0: free */
    int threads;
    apr_time_t started;
} xport_wslot_t;

/* The journal: a ring of the latest changes of a job's state (created,
 * running, finished, cancelled, deleted), each with whose job it is, so
 * that an event stream learns of a change without asking the job store
 * and asks it only about a job it may show. */

typedef struct xport_jentry_t {
    apr_uint32_t seq; /* the change's number; 0: never written */
    char id[33];
    char user[XPORT_LIVE_USER_MAX];
    char api[XPORT_LIVE_API_MAX];
} xport_jentry_t;

typedef struct xport_table_t {
    apr_uint32_t nslots;
    volatile apr_uint32_t wake;
    xport_wslot_t workers[XPORT_LIVE_WORKERS];
    /* the journal; seq is the last change's number */
    volatile apr_uint32_t seq;
    xport_jentry_t journal[XPORT_LIVE_JOURNAL];
    /* event streams: each open one holds an entry (its process's pid),
     * one left by a killed process is taken back */
    apr_uint32_t nstreams;    /* their pids follow the slots */
    apr_uint32_t child_share; /* of them, at most this many per child */
    xport_slot_t slots[1];
} xport_table_t;

static apr_shm_t *status_shm;
static xport_table_t *table;
static apr_global_mutex_t *status_mutex;

#define XPORT_STATUS_MUTEX "xport-status"

static apr_status_t status_forget(void *data)
{
    (void)data;
    /* the segment goes with pconf; a late call must not touch it */
    table = NULL;
    status_shm = NULL;
    status_mutex = NULL;
    return APR_SUCCESS;
}

/* Slots for every worker thread of every server, with room to spare for
 * a graceful restart's overlap. */
static apr_uint32_t count_slots(server_rec *s)
{
    apr_uint32_t total = 0;

    for (; s; s = s->next) {
        xport_srv_cfg *c =
            ap_get_module_config(s->module_config, &xport_module);
        total += (apr_uint32_t)xport_cfg_workers(c);
    }
    return total * 4 > 64 ? total * 4 : 64;
}

/* The streams one child may hold: a quarter of its threads, or its part
 * of XportMaxEventStreams as its threads are part of MaxRequestWorkers
 * when that is more (at least one, at most all). */
static apr_uint32_t stream_share(apr_uint32_t ns)
{
    int daemons = 0, threads = 0;
    apr_uint32_t part = ns, quarter = 1;

    if (ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons) == APR_SUCCESS &&
        daemons > 0)
        part = (ns + (apr_uint32_t)daemons - 1) / (apr_uint32_t)daemons;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) == APR_SUCCESS &&
        threads >= 8)
        quarter = (apr_uint32_t)threads / 4;
    part = part > quarter ? part : quarter;
    return part < ns ? part : ns;
}

apr_status_t xport_live_create(apr_pool_t *pconf, server_rec *s)
{
    apr_uint32_t n = count_slots(s);
    xport_srv_cfg *c = ap_get_module_config(s->module_config, &xport_module);
    apr_uint32_t ns = (apr_uint32_t)xport_cfg_max_event_streams(c);
    apr_size_t size = sizeof(xport_table_t) + (n - 1) * sizeof(xport_slot_t) +
                      ns * sizeof(pid_t);
    apr_status_t rv;

    rv = apr_shm_create(&status_shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "XP0501: cannot create the status table (%lu bytes of "
                     "anonymous shared memory)",
                     (unsigned long)size);
        return rv;
    }
    table = apr_shm_baseaddr_get(status_shm);
    memset(table, 0, size);
    table->nslots = n;
    table->nstreams = ns;
    table->child_share = stream_share(ns);
    rv = ap_global_mutex_create(&status_mutex, NULL, XPORT_STATUS_MUTEX, NULL,
                                s, pconf, 0);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "XP0502: cannot create the status table mutex; see the "
                     "Mutex directive (mutex name \"%s\")",
                     XPORT_STATUS_MUTEX);
        return rv;
    }
    apr_pool_cleanup_register(pconf, NULL, status_forget,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

void xport_live_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (!status_mutex)
        return;
    rv = apr_global_mutex_child_init(
        &status_mutex, apr_global_mutex_lockfile(status_mutex), p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "XP0503: cannot attach the status table mutex; live "
                     "progress falls back to the job store");
        status_mutex = NULL;
    }
}

/* The lock, when it can be had. The state CAS keeps allocation safe
 * even without it (an old worker draining after its generation's mutex
 * was removed). */
static int live_lock(void)
{
    return status_mutex && apr_global_mutex_lock(status_mutex) == APR_SUCCESS;
}

static void live_unlock(int locked)
{
    if (locked)
        apr_global_mutex_unlock(status_mutex);
}

/* A process that no longer exists (killed, crashed). */
static int pid_gone(pid_t pid)
{
    return pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH;
}

/* A slot left behind by a worker that was killed. */
static int slot_orphaned(const xport_slot_t *sl)
{
    return pid_gone(sl->pid);
}

static int slot_take(xport_slot_t *sl, const xp_job_t *job)
{
    if (apr_atomic_cas32(&sl->state, SLOT_RESERVED, SLOT_FREE) != SLOT_FREE)
        return 0;
    apr_cpystrn(sl->id, job->id, sizeof(sl->id));
    apr_cpystrn(sl->user, job->user_id ? job->user_id : "", sizeof(sl->user));
    apr_cpystrn(sl->api, job->api ? job->api : "native", sizeof(sl->api));
    sl->kind = job->kind;
    sl->started = job->started_at > 0 ? job->started_at : xp_now_ms();
    sl->pid = getpid();
    sl->done = 0;
    sl->total = 0;
    sl->updated = apr_time_now();
    apr_atomic_set32(&sl->cancel, 0);
    apr_atomic_set32(&sl->state, SLOT_LIVE);
    return 1;
}

int xport_live_acquire(const xp_job_t *job)
{
    const char *id = job ? job->id : NULL;
    apr_uint32_t i;
    int slot = -1, locked;

    if (!table || !id)
        return -1;
    locked = live_lock();
    for (i = 0; i < table->nslots; i++) {
        xport_slot_t *sl = &table->slots[i];

        /* the same job, re-queued after its worker died */
        if (sl->state == SLOT_LIVE && !strcmp(sl->id, id) && slot_orphaned(sl))
            apr_atomic_set32(&sl->state, SLOT_FREE);
    }
    for (i = 0; i < table->nslots && slot < 0; i++) {
        if (slot_take(&table->slots[i], job))
            slot = (int)i;
    }
    for (i = 0; i < table->nslots && slot < 0; i++) {
        xport_slot_t *sl = &table->slots[i];

        if (sl->state == SLOT_LIVE && slot_orphaned(sl)) {
            apr_atomic_set32(&sl->state, SLOT_FREE);
            if (slot_take(sl, job))
                slot = (int)i;
        }
    }
    live_unlock(locked);
    return slot;
}

void xport_live_progress(int slot, apr_int64_t done, apr_int64_t total)
{
    xport_slot_t *sl;

    if (!table || slot < 0 || (apr_uint32_t)slot >= table->nslots)
        return;
    sl = &table->slots[slot];
    sl->done = done;
    sl->total = total;
    sl->updated = apr_time_now();
}

int xport_live_cancelled(int slot)
{
    if (!table || slot < 0 || (apr_uint32_t)slot >= table->nslots)
        return 0;
    return apr_atomic_read32(&table->slots[slot].cancel) != 0;
}

void xport_live_release(int slot)
{
    int locked;

    if (!table || slot < 0 || (apr_uint32_t)slot >= table->nslots)
        return;
    locked = live_lock();
    table->slots[slot].id[0] = '\0';
    apr_atomic_set32(&table->slots[slot].state, SLOT_FREE);
    live_unlock(locked);
}

static xport_slot_t *find_live(const char *id)
{
    apr_uint32_t i;

    if (!table || !id)
        return NULL;
    for (i = 0; i < table->nslots; i++) {
        xport_slot_t *sl = &table->slots[i];

        if (apr_atomic_read32(&sl->state) == SLOT_LIVE && !strcmp(sl->id, id))
            return sl;
    }
    return NULL;
}

int xport_live_lookup(const char *id, apr_int64_t *done, apr_int64_t *total)
{
    xport_slot_t *sl = find_live(id);

    if (!sl)
        return 0;
    if (done)
        *done = sl->done;
    if (total)
        *total = sl->total;
    return 1;
}

void xport_live_request_cancel(const char *id)
{
    xport_slot_t *sl = find_live(id);

    if (sl)
        apr_atomic_set32(&sl->cancel, 1);
}

void xport_live_wake(void)
{
    if (table)
        apr_atomic_inc32(&table->wake);
}

apr_uint32_t xport_live_wake_count(void)
{
    return table ? apr_atomic_read32(&table->wake) : 0;
}

/* ------------------------------------------------------------------ */
/* The worker processes, and the snapshot server-status reads           */
/* ------------------------------------------------------------------ */

void xport_live_worker_join(int threads)
{
    int i, locked;

    if (!table)
        return;
    locked = live_lock();
    for (i = 0; i < XPORT_LIVE_WORKERS; i++) {
        xport_wslot_t *w = &table->workers[i];

        /* free, or left by a worker that was killed */
        if (!w->pid || pid_gone(w->pid)) {
            w->pid = getpid();
            w->threads = threads;
            w->started = apr_time_now();
            break;
        }
    }
    live_unlock(locked);
}

void xport_live_worker_leave(void)
{
    int i, locked;

    if (!table)
        return;
    locked = live_lock();
    for (i = 0; i < XPORT_LIVE_WORKERS; i++) {
        if (table->workers[i].pid == getpid())
            memset(&table->workers[i], 0, sizeof(table->workers[i]));
    }
    live_unlock(locked);
}

static void snap_job(const xport_slot_t *sl, xport_live_job_t *j)
{
    memcpy(j->id, sl->id, sizeof(j->id));
    memcpy(j->user, sl->user, sizeof(j->user));
    memcpy(j->api, sl->api, sizeof(j->api));
    j->kind = sl->kind;
    j->pid = sl->pid;
    j->done = sl->done;
    j->total = sl->total;
    j->started = sl->started;
}

/* The workers, each with the number of live jobs it runs. */
static void snap_workers(xport_live_snapshot_t *out)
{
    int i, k;

    for (i = 0; i < XPORT_LIVE_WORKERS; i++) {
        const xport_wslot_t *w = &table->workers[i];
        xport_live_worker_t *lw;

        if (!w->pid || pid_gone(w->pid))
            continue;
        lw = apr_array_push(out->workers);
        lw->pid = w->pid;
        lw->threads = w->threads;
        lw->started = w->started;
        lw->running = 0;
        for (k = 0; k < out->jobs->nelts; k++)
            lw->running +=
                APR_ARRAY_IDX(out->jobs, k, xport_live_job_t).pid == w->pid;
    }
}

void xport_live_snapshot(apr_pool_t *p, xport_live_snapshot_t *out)
{
    apr_uint32_t i;
    int locked;

    /* sized up front: nothing is allocated while the lock is held */
    out->jobs = apr_array_make(p, table ? (int)table->nslots : 1,
                               sizeof(xport_live_job_t));
    out->workers =
        apr_array_make(p, XPORT_LIVE_WORKERS, sizeof(xport_live_worker_t));
    if (!table)
        return;
    /* under the lock no slot changes hands, so each copy is one job's */
    locked = live_lock();
    for (i = 0; i < table->nslots; i++) {
        xport_slot_t *sl = &table->slots[i];

        if (apr_atomic_read32(&sl->state) == SLOT_LIVE && !slot_orphaned(sl))
            snap_job(sl, apr_array_push(out->jobs));
    }
    snap_workers(out);
    live_unlock(locked);
}

/* ------------------------------------------------------------------ */
/* The journal of state changes, and the event streams' bound           */
/* ------------------------------------------------------------------ */

void xport_live_note(const xp_job_t *job)
{
    xport_jentry_t *e;
    int locked;

    if (!table || !job || !job->id)
        return;
    locked = live_lock();
    e = &table->journal[(table->seq + 1) % XPORT_LIVE_JOURNAL];
    apr_cpystrn(e->id, job->id, sizeof(e->id));
    apr_cpystrn(e->user, job->user_id ? job->user_id : "", sizeof(e->user));
    apr_cpystrn(e->api, job->api ? job->api : "native", sizeof(e->api));
    e->seq = table->seq + 1;
    apr_atomic_set32(&table->seq, e->seq);
    live_unlock(locked);
}

apr_uint32_t xport_live_seq(void)
{
    return table ? apr_atomic_read32(&table->seq) : 0;
}

int xport_live_changes(apr_uint32_t *seq, xport_live_change_t *out, int max)
{
    apr_uint32_t from = *seq, last;
    int n = 0, locked;

    if (!table || xport_live_seq() == from)
        return 0;
    locked = live_lock();
    last = table->seq;
    if (last - from > XPORT_LIVE_JOURNAL || (apr_uint32_t)max < last - from) {
        *seq = last; /* overwritten before it was read */
        live_unlock(locked);
        return -1;
    }
    for (; from != last; from++, n++) {
        const xport_jentry_t *e =
            &table->journal[(from + 1) % XPORT_LIVE_JOURNAL];

        memcpy(out[n].id, e->id, sizeof(out[n].id));
        memcpy(out[n].user, e->user, sizeof(out[n].user));
        memcpy(out[n].api, e->api, sizeof(out[n].api));
    }
    *seq = last;
    live_unlock(locked);
    return n;
}

/* Is there a change of job id among the journal's after *seq? *seq is
 * moved to the last one. An overrun counts as a change. */
static int journal_has(const char *id, apr_uint32_t *seq)
{
    apr_uint32_t from = *seq, last;
    int hit = 0, locked = live_lock();

    last = table->seq;
    if (last - from > XPORT_LIVE_JOURNAL) {
        hit = 1;
    }
    for (; !hit && from != last; from++) {
        hit = !strcmp(table->journal[(from + 1) % XPORT_LIVE_JOURNAL].id, id);
    }
    *seq = last;
    live_unlock(locked);
    return hit;
}

#define AWAIT_STEP apr_time_from_msec(10)

int xport_live_await(const char *id, apr_uint32_t *seq,
                     apr_interval_time_t timeout)
{
    apr_time_t end = apr_time_now() + timeout;

    if (!table) {
        apr_sleep(timeout);
        return 1;
    }
    for (;;) {
        if (xport_live_seq() != *seq && journal_has(id, seq))
            return 1;
        if (apr_time_now() >= end)
            return 0;
        apr_sleep(AWAIT_STEP);
    }
}

int xport_live_progress_of(const char *id, apr_int64_t *done,
                           apr_int64_t *total, apr_time_t *updated)
{
    xport_slot_t *sl = find_live(id);

    if (!sl)
        return 0;
    *done = sl->done;
    *total = sl->total;
    *updated = sl->updated;
    return 1;
}

static pid_t *stream_pids(void)
{
    return (pid_t *)(void *)&table->slots[table->nslots];
}

int xport_live_stream_open(void)
{
    pid_t *pids, me = getpid();
    apr_uint32_t i, mine = 0;
    int got = -1, locked;

    if (!table)
        return -1;
    pids = stream_pids();
    locked = live_lock();
    for (i = 0; i < table->nstreams; i++) {
        if (pids[i] && pid_gone(pids[i]))
            pids[i] = 0; /* its process was killed */
        mine += pids[i] == me;
        if (!pids[i] && got < 0)
            got = (int)i;
    }
    /* this child's share too: streams crowding into one child would
     * take the threads its other connections need */
    if (got >= 0 && mine < table->child_share)
        pids[got] = me;
    else
        got = -1;
    live_unlock(locked);
    return got;
}

void xport_live_streams(int *open, int *max)
{
    pid_t *pids;
    apr_uint32_t i;

    *open = *max = 0;
    if (!table)
        return;
    pids = stream_pids();
    for (i = 0; i < table->nstreams; i++)
        *open += pids[i] != 0 && !pid_gone(pids[i]);
    *max = (int)table->nstreams;
}

void xport_live_stream_close(int i)
{
    int locked;

    if (!table || i < 0 || (apr_uint32_t)i >= table->nstreams)
        return;
    locked = live_lock();
    stream_pids()[i] = 0;
    live_unlock(locked);
}
