/*
 * xp_store.h -- the job store: job rows on apr-util DBD (sqlite3 or pgsql),
 * the source of truth for every job. Schema versioned in xport_schema.
 * An xp_store_t is one connection: use it from one thread at a time.
 */
#ifndef XP_STORE_H
#define XP_STORE_H

#include "xport.h"

typedef struct xp_store_t xp_store_t;

/* Open (SQLite: WAL, busy timeout; the file's directory must exist). The
 * connection lives in p (a cleanup closes it). */
xp_errcode_e xp_store_open(apr_pool_t *p, const char *driver,
                           const char *params, xp_store_t **out,
                           xp_error_t *err);
void xp_store_close(xp_store_t *st);
/* Create or upgrade the schema to the newest version (idempotent, safe
 * to run from several processes at once). */
xp_errcode_e xp_store_migrate(xp_store_t *st, apr_pool_t *p, xp_error_t *err);
int xp_store_schema_version(void);

/* Insert a new job. With max_active > 0, atomically refuses (XP_ELIMIT)
 * when job->user_id already has max_active queued or running jobs. A job
 * with a key (xp_job_t.key) is refused (XP_ECONFLICT) while another job
 * of that key is active (queued or running): the store's unique index
 * decides, so of two inserts at once, also from two nodes sharing the
 * store, exactly one succeeds. The key check comes before the limit. */
xp_errcode_e xp_store_insert(xp_store_t *st, apr_pool_t *p, const xp_job_t *job,
                             int max_active, xp_error_t *err);

/* The limits xp_store_insert_limits checks (0: none). */
typedef struct xp_store_limits_t {
    int per_user;   /* active jobs of job->user_id, any kind */
    int per_tenant; /* active jobs of job->tenant of job->kind (a job
                       without a tenant is not counted) */
} xp_store_limits_t;

/* xp_store_insert with both limits; XP_ELIMIT sets err->field to the
 * directive that refused: "XportMaxJobsPerUser" or
 * "XportMaxJobsPerTenant". */
xp_errcode_e xp_store_insert_limits(xp_store_t *st, apr_pool_t *p,
                                    const xp_job_t *job,
                                    const xp_store_limits_t *lim,
                                    xp_error_t *err);

/* What every node hears of (PostgreSQL only): each change of a job is
 * announced on channel xport_jobs (NOTIFY, sent at commit) as a note: a
 * job became claimable (an insert, a requeue, a reap that requeued: its
 * idle workers claim at once), a job changed (claimed, progress, ended,
 * deleted: its event streams read it again), or a cancel was asked for a
 * running job (its worker stops it without waiting for its next
 * heartbeat). A connection that called xp_store_listen (and is used for
 * nothing else) waits for notes with xp_store_announced, which hands
 * each to fn and answers how many came (0: timeout), -1 when the
 * connection is lost (open another). SQLite: xp_store_listen is
 * XP_EINVAL; its one node hears of its changes through shared memory. */
#define XP_NOTE_QUEUED 'q'
#define XP_NOTE_CHANGED 'c'
#define XP_NOTE_CANCEL 'x'

typedef struct xp_store_note_t {
    char kind;        /* XP_NOTE_* */
    const char *id;   /* NULL: some jobs (a reap) */
    const char *api;  /* NULL when the writer did not know */
    const char *user; /* "" when the writer did not know */
} xp_store_note_t;

typedef void (*xp_store_note_fn)(void *baton, const xp_store_note_t *note);

xp_errcode_e xp_store_listen(xp_store_t *st, apr_pool_t *p, xp_error_t *err);
int xp_store_announced(xp_store_t *st, apr_interval_time_t timeout,
                       xp_store_note_fn fn, void *baton);

/* XP_ENOTFOUND if no such id. */
xp_errcode_e xp_store_get(xp_store_t *st, apr_pool_t *p, const char *id,
                          xp_job_t **out, xp_error_t *err);

/* The newest job (created_at desc, id desc) whose key is key, in any
 * status; *out is NULL when there is none. */
xp_errcode_e xp_store_find_key(xp_store_t *st, apr_pool_t *p, const char *key,
                               xp_job_t **out, xp_error_t *err);

typedef struct xp_store_query_t {
    xp_kind_e kind;
    const char *user_id; /* NULL: every user */
    int has_status;
    xp_status_e status;
    int offset, limit;
    const char *tenant; /* NULL: any */
    int active;         /* 1: only queued or running jobs */
} xp_store_query_t;

/* Jobs newest first (created_at desc, id desc); *total counts all matches. */
xp_errcode_e xp_store_list(xp_store_t *st, apr_pool_t *p,
                           const xp_store_query_t *q,
                           apr_array_header_t **jobs /* xp_job_t * */,
                           apr_int64_t *total, xp_error_t *err);
/* The same, only the jobs created by api (xp_job_t.api; NULL: every API).
 * (A parameter rather than a member of xp_store_query_t: callers fill
 * that struct positionally.) */
xp_errcode_e xp_store_list_api(xp_store_t *st, apr_pool_t *p,
                               const xp_store_query_t *q, const char *api,
                               apr_array_header_t **jobs /* xp_job_t * */,
                               apr_int64_t *total, xp_error_t *err);

/* How many jobs of every kind and API have status (server-status's
 * queue length: XP_ST_QUEUED). */
xp_errcode_e xp_store_count_status(xp_store_t *st, apr_pool_t *p,
                                   xp_status_e status, apr_int64_t *n,
                                   xp_error_t *err);

/* Claim the oldest queued job: status running, owner, attempts+1,
 * started_at, heartbeat_at. PostgreSQL: FOR UPDATE SKIP LOCKED. *out is
 * NULL when nothing is queued. */
xp_errcode_e xp_store_claim(xp_store_t *st, apr_pool_t *p, const char *owner,
                            xp_job_t **out, xp_error_t *err);

/* Flush live progress and heartbeat of a job this owner runs. Reports
 * whether a cancel was requested. XP_ENOTFOUND if the job was deleted or
 * is no longer ours. */
xp_errcode_e xp_store_heartbeat(xp_store_t *st, apr_pool_t *p, const char *id,
                                const char *owner, apr_int64_t done,
                                apr_int64_t total, int *cancel_requested,
                                xp_error_t *err);

/* Record the end of a job this owner ran: status (finished), counts,
 * changes, file, path, file_size, sha256, error_messages, errors_total,
 * progress, finished_at. XP_ENOTFOUND if it was deleted or is no longer
 * ours (the caller then removes its output file). */
xp_errcode_e xp_store_finish(xp_store_t *st, apr_pool_t *p, const xp_job_t *job,
                             xp_error_t *err);

/* Give a running job back to the queue (worker shutting down). */
xp_errcode_e xp_store_requeue(xp_store_t *st, apr_pool_t *p, const char *id,
                              const char *owner, xp_error_t *err);

/* Cancel: queued -> cancelled (finished now); running -> cancel_requested.
 * XP_ECONFLICT if already finished. *out is the job afterwards. */
xp_errcode_e xp_store_cancel(xp_store_t *st, apr_pool_t *p, const char *id,
                             xp_job_t **out, xp_error_t *err);

/* Remove the row. */
xp_errcode_e xp_store_delete(xp_store_t *st, apr_pool_t *p, const char *id,
                             xp_error_t *err);

/* Running jobs whose heartbeat is older than stale_before (ms), or whose
 * owner is_dead() says is gone: re-queued when attempts < max_attempts,
 * else failed with a message saying how many attempts were made. Running
 * jobs started before timeout_before (ms, 0 = no check) end timed_out. */
xp_errcode_e xp_store_reap(xp_store_t *st, apr_pool_t *p,
                           apr_int64_t stale_before, int max_attempts,
                           apr_int64_t timeout_before,
                           int (*is_dead)(const char *owner, void *baton),
                           void *baton, int *requeued, int *failed,
                           xp_error_t *err);

/* Finished jobs that finished before `before` (ms) and for which due()
 * (NULL: all) says their own retention has passed: returned (so the
 * caller removes their files) and deleted. */
xp_errcode_e xp_store_purge(xp_store_t *st, apr_pool_t *p, apr_int64_t before,
                            int (*due)(const xp_job_t *job, void *baton),
                            void *baton,
                            apr_array_header_t **purged /* xp_job_t * */,
                            xp_error_t *err);

/* ------------------------------------------------------------------ */
/* Shared settings                                                      */
/* ------------------------------------------------------------------ */

#define XP_STORE_SECRET_LEN 32

/* The secret called name ("link": the signed links' key), created on
 * first use from XP_STORE_SECRET_LEN random bytes. Every node sharing
 * the store gets the same bytes, also when several create it at once.
 * *bytes (XP_STORE_SECRET_LEN of them) is allocated from p. */
xp_errcode_e xp_store_secret(xp_store_t *st, apr_pool_t *p, const char *name,
                             const unsigned char **bytes, xp_error_t *err);

/* Spend a single-use link: remembers sig until `expires` (Unix seconds)
 * and says whether it had been spent before (by any node). Rows of
 * expired links are purged on the way. */
/* Work one node at a time does for all (the maintenance pass: reaping,
 * purging, sweeping uploads): *mine is 1 when this connection has the
 * turn for what (PostgreSQL: a session advisory lock, let go by
 * xp_store_end_turn or when the connection ends, so a node that dies
 * hands its turn on; SQLite: always, one node). */
xp_errcode_e xp_store_take_turn(xp_store_t *st, apr_pool_t *p,
                                const char *what, int *mine, xp_error_t *err);
void xp_store_end_turn(xp_store_t *st, apr_pool_t *p, const char *what);

xp_errcode_e xp_store_link_use(xp_store_t *st, apr_pool_t *p, const char *sig,
                               apr_int64_t expires, int *used_before,
                               xp_error_t *err);

#endif
