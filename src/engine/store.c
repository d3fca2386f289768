/*
 * store.c -- the job store: job rows on apr-util DBD (SQLite or
 * PostgreSQL), the source of truth for every job.
 *
 * Many processes touch the store at once: every httpd child inserts and
 * reads jobs, the worker threads claim, heartbeat and finish them, and on
 * PostgreSQL several httpd nodes share one store. So:
 * - every read-then-write runs in one transaction that takes the write
 *   lock first (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock or
 *   FOR UPDATE SKIP LOCKED);
 * - every change a worker makes to a job is conditional on
 *   "owner = me AND status = 'running'", so a job that was deleted,
 *   cancelled or re-queued behind its back is never brought back; the
 *   worker learns it from XP_ENOTFOUND.
 * The schema is versioned in xport_schema and upgraded by ordered steps.
 * Besides the jobs it keeps what every node sharing the store must agree
 * on: secrets (xport_settings) and the single-use links already spent
 * (xport_used_links).
 */
#include <string.h>
#include <stdlib.h>

#include <errno.h>
#include <poll.h>

#include <apr_strings.h>
#include <apr_base64.h>
#include <apr_general.h>

#include <libpq-fe.h>

#include "xp_store.h"
#include "xp_source.h"
#include "xp_json.h"

struct xp_store_t {
    xp_db_t *db;
};

/* ------------------------------------------------------------------ */
/* Schema                                                               */
/* ------------------------------------------------------------------ */

/* Migration steps: step i brings the schema from version i to i + 1.
 * Portable SQL only (SQLite and PostgreSQL); times are epoch ms. */
static const char *const migration_1[] = {
    "CREATE TABLE xport_jobs ("
    " id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " user_id TEXT,"
    " server TEXT,"
    " filter TEXT,"
    " format TEXT,"
    " options TEXT,"
    " source_system TEXT,"
    " correlation_id TEXT,"
    " counts TEXT,"
    " changes TEXT,"
    " error_messages TEXT,"
    " errors_total BIGINT NOT NULL DEFAULT 0,"
    " progress_done BIGINT NOT NULL DEFAULT 0,"
    " progress_total BIGINT NOT NULL DEFAULT 0,"
    " file_size BIGINT NOT NULL DEFAULT -1,"
    " sha256 TEXT,"
    " path TEXT,"
    " file TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " owner TEXT,"
    " created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL,"
    " started_at BIGINT,"
    " finished_at BIGINT,"
    " heartbeat_at BIGINT)",
    "CREATE INDEX xport_jobs_status ON xport_jobs (status, created_at)",
    "CREATE INDEX xport_jobs_user ON xport_jobs (user_id, kind, created_at)",
    NULL};

/* Version 2: the API that created a job (every job before it was made
 * by the native API); settings shared by every node (the signed links'
 * secret); single-use links already spent, kept until they expire. */
static const char *const migration_2[] = {
    "ALTER TABLE xport_jobs ADD COLUMN api TEXT NOT NULL DEFAULT 'native'",
    "CREATE INDEX xport_jobs_api ON xport_jobs (api, kind, created_at)",
    "CREATE TABLE xport_settings ("
    " name TEXT PRIMARY KEY,"
    " value TEXT NOT NULL)",
    "CREATE TABLE xport_used_links ("
    " sig TEXT PRIMARY KEY,"
    " expires BIGINT NOT NULL)",
    "CREATE INDEX xport_used_links_expires ON xport_used_links (expires)",
    NULL};

/* Version 3: a job's key (xp_job_t.key). At most one active job per
 * key, decided by a partial unique index, so that two nodes inserting
 * the same key at once cannot both succeed; and the jobs of a key in
 * any state, newest first. */
static const char *const migration_3[] = {
    "ALTER TABLE xport_jobs ADD COLUMN job_key TEXT",
    "CREATE UNIQUE INDEX xport_jobs_key_active ON xport_jobs (job_key) "
    "WHERE job_key IS NOT NULL AND status IN ('queued', 'running')",
    "CREATE INDEX xport_jobs_key ON xport_jobs (job_key, created_at)", NULL};

/* Version 4: the tenant a job works for (xp_job_t.tenant), counted by
 * XportMaxJobsPerTenant and listed by a tenant's view. */
static const char *const migration_4[] = {
    "ALTER TABLE xport_jobs ADD COLUMN tenant TEXT",
    "CREATE INDEX xport_jobs_tenant ON xport_jobs (tenant, kind, created_at)",
    NULL};

static const char *const *const migrations[] = {migration_1, migration_2,
                                                migration_3, migration_4};

#define STORE_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Every column of xport_jobs, in the order store_job_from_row reads. */
#define JOB_COLS                                                               \
    "id, kind, status, user_id, server, filter, format, options, "             \
    "source_system, correlation_id, counts, changes, error_messages, "         \
    "errors_total, progress_done, progress_total, file_size, sha256, path, "   \
    "file, attempts, cancel_requested, owner, created_at, updated_at, "        \
    "started_at, finished_at, heartbeat_at, api, job_key, tenant"

#define JOB_NCOLS 31

#define FINISHED_SQL "('completed', 'failed', 'cancelled', 'timed_out')"

/* Any advisory lock key that is ours alone: "xprt" */
#define STORE_PG_MIGRATE_LOCK "2015982708"

int xp_store_schema_version(void)
{
    return STORE_VERSION;
}

static apr_status_t store_cleanup(void *data)
{
    xp_store_t *st = data;
    st->db = NULL;
    return APR_SUCCESS;
}

xp_errcode_e xp_store_open(apr_pool_t *p, const char *driver,
                           const char *params, xp_store_t **out,
                           xp_error_t *err)
{
    xp_store_t *st = apr_pcalloc(p, sizeof(*st));
    xp_errcode_e rc;

    *out = NULL;
    rc = xp_db_open(p, driver, params, "job store", &st->db, err);
    if (rc != XP_OK)
        return rc;
    if (st->db->dialect == XP_DIALECT_SQLITE &&
        (rc = xp_db_sqlite_pragmas(st->db, p, err)) != XP_OK) {
        xp_db_close(st->db);
        return rc;
    }
    apr_pool_cleanup_register(p, st, store_cleanup, apr_pool_cleanup_null);
    *out = st;
    return XP_OK;
}

void xp_store_close(xp_store_t *st)
{
    if (st && st->db) {
        xp_db_close(st->db);
        st->db = NULL;
    }
}

static xp_errcode_e store_closed(apr_pool_t *p, xp_error_t *err)
{
    return xp_error_set(err, p, XP_EDB, "job store: connection is closed");
}

/* Start a transaction that holds the store's write lock. lockkey (may be
 * NULL) narrows the PostgreSQL advisory lock to one user. */
static xp_errcode_e store_begin(xp_store_t *st, apr_pool_t *p,
                                const char *lockkey, xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *args[1];
    xp_errcode_e rc;

    if (!st->db)
        return store_closed(p, err);
    if (st->db->dialect == XP_DIALECT_SQLITE)
        return xp_db_begin(st->db, p, "BEGIN IMMEDIATE", err);
    if ((rc = xp_db_begin(st->db, p, "BEGIN", err)) != XP_OK || !lockkey)
        return rc;
    args[0] = lockkey;
    rc = xp_db_select(st->db, p, "SELECT pg_advisory_xact_lock(hashtext(%s))",
                      1, args, &res, err);
    if (rc != XP_OK) {
        xp_db_rollback(st->db, p);
        return rc;
    }
    while (xp_db_next(st->db, p, res, &row))
        ;
    return XP_OK;
}

/* The first column of the first row as a number (0 if NULL/none). */
static xp_errcode_e store_scalar(xp_store_t *st, apr_pool_t *p, const char *sql,
                                 int nargs, const char **args, apr_int64_t *out,
                                 xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    xp_errcode_e rc;
    int first = 1;

    *out = 0;
    if ((rc = xp_db_select(st->db, p, sql, nargs, args, &res, err)) != XP_OK)
        return rc;
    while (xp_db_next(st->db, p, res, &row)) {
        const char *v = xp_db_str(st->db, row, 0);
        if (first && v)
            *out = apr_atoi64(v);
        first = 0;
    }
    return XP_OK;
}

static xp_errcode_e store_migrate_locked(xp_store_t *st, apr_pool_t *p,
                                         xp_error_t *err)
{
    apr_int64_t version;
    xp_errcode_e rc;
    const char *args[1];
    int v, i;

    rc = xp_db_run(st->db, p,
                   "CREATE TABLE IF NOT EXISTS xport_schema "
                   "(version INTEGER NOT NULL)",
                   err);
    if (rc != XP_OK)
        return rc;
    rc = store_scalar(st, p, "SELECT MAX(version) FROM xport_schema", 0, NULL,
                      &version, err);
    if (rc != XP_OK)
        return rc;
    if (version > STORE_VERSION)
        return xp_error_set(err, p, XP_EDB,
                            "job store: schema version %d is newer than this "
                            "module knows (%d); upgrade mod_xport",
                            (int)version, STORE_VERSION);
    for (v = (int)version; v < STORE_VERSION; v++) {
        for (i = 0; migrations[v][i]; i++) {
            if ((rc = xp_db_run(st->db, p, migrations[v][i], err)) != XP_OK) {
                if (err)
                    err->message = apr_psprintf(
                        p, "migrating to version %d: %s", v + 1, err->message);
                return rc;
            }
        }
    }
    if (version == STORE_VERSION)
        return XP_OK;
    if ((rc = xp_db_run(st->db, p, "DELETE FROM xport_schema", err)))
        return rc;
    args[0] = apr_itoa(p, STORE_VERSION);
    return xp_db_exec(st->db, p,
                      "INSERT INTO xport_schema (version) "
                      "VALUES (%s)",
                      1, args, NULL, err);
}

xp_errcode_e xp_store_migrate(xp_store_t *st, apr_pool_t *p, xp_error_t *err)
{
    xp_errcode_e rc;

    /* One migrator at a time: SQLite's write lock, or a PostgreSQL
     * advisory lock taken before CREATE TABLE IF NOT EXISTS (which is not
     * safe against a concurrent CREATE on its own). */
    rc = store_begin(st, p,
                     st->db && st->db->dialect == XP_DIALECT_PGSQL
                         ? STORE_PG_MIGRATE_LOCK
                         : NULL,
                     err);
    if (rc != XP_OK)
        return rc;
    if ((rc = store_migrate_locked(st, p, err)) != XP_OK) {
        xp_db_rollback(st->db, p);
        return rc;
    }
    return xp_db_commit(st->db, p, err);
}

/* ------------------------------------------------------------------ */
/* Rows <-> jobs                                                        */
/* ------------------------------------------------------------------ */

static const char *dup_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

static apr_int64_t num_or(const char *s, apr_int64_t dflt)
{
    return s ? apr_atoi64(s) : dflt;
}

static xp_job_t *store_job_from_row(xp_store_t *st, apr_pool_t *p,
                                    apr_dbd_row_t *row)
{
    xp_job_t *j = apr_pcalloc(p, sizeof(*j));
    const char *v[JOB_NCOLS];
    int i;

    for (i = 0; i < JOB_NCOLS; i++)
        v[i] = dup_or_null(p, xp_db_str(st->db, row, i));
    j->id = v[0];
    j->kind =
        (v[1] && !strcmp(v[1], "import")) ? XP_KIND_IMPORT : XP_KIND_EXPORT;
    if (xp_status_parse(v[2], &j->status) != 0)
        j->status = XP_ST_FAILED;
    j->user_id = v[3];
    j->server = v[4];
    j->filter = v[5];
    j->format = v[6];
    j->options = v[7];
    j->source_system = v[8];
    j->correlation_id = v[9];
    j->counts = v[10];
    j->changes = v[11];
    j->error_messages = v[12];
    j->errors_total = (long)num_or(v[13], 0);
    j->progress_done = num_or(v[14], 0);
    j->progress_total = num_or(v[15], 0);
    j->file_size = num_or(v[16], -1);
    j->sha256 = v[17];
    j->path = v[18];
    j->file = v[19];
    j->attempts = (int)num_or(v[20], 0);
    j->cancel_requested = (int)num_or(v[21], 0);
    j->owner = v[22];
    j->created_at = num_or(v[23], 0);
    j->updated_at = num_or(v[24], 0);
    j->started_at = num_or(v[25], 0);
    j->finished_at = num_or(v[26], 0);
    j->heartbeat_at = num_or(v[27], 0);
    j->api = v[28] ? v[28] : "native";
    j->key = v[29];
    j->tenant = v[30];
    return j;
}

static const char *i64(apr_pool_t *p, apr_int64_t v)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, v);
}

/* A time column: NULL when unset. */
static const char *ms_or_null(apr_pool_t *p, apr_int64_t v)
{
    return v ? i64(p, v) : NULL;
}

/* Every row of a select as jobs. */
static xp_errcode_e store_jobs(xp_store_t *st, apr_pool_t *p, const char *sql,
                               int nargs, const char **args,
                               apr_array_header_t **out, xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    xp_errcode_e rc;

    *out = apr_array_make(p, 8, sizeof(xp_job_t *));
    if (!st->db)
        return store_closed(p, err);
    if ((rc = xp_db_select(st->db, p, sql, nargs, args, &res, err)) != XP_OK)
        return rc;
    while (xp_db_next(st->db, p, res, &row))
        APR_ARRAY_PUSH(*out, xp_job_t *) = store_job_from_row(st, p, row);
    return XP_OK;
}

static xp_errcode_e store_get_opt(xp_store_t *st, apr_pool_t *p, const char *id,
                                  xp_job_t **out, xp_error_t *err)
{
    apr_array_header_t *jobs;
    const char *args[1];
    xp_errcode_e rc;

    args[0] = id;
    *out = NULL;
    rc = store_jobs(st, p, "SELECT " JOB_COLS " FROM xport_jobs WHERE id = %s",
                    1, args, &jobs, err);
    if (rc == XP_OK && jobs->nelts > 0)
        *out = APR_ARRAY_IDX(jobs, 0, xp_job_t *);
    return rc;
}

xp_errcode_e xp_store_get(xp_store_t *st, apr_pool_t *p, const char *id,
                          xp_job_t **out, xp_error_t *err)
{
    xp_errcode_e rc = store_get_opt(st, p, id, out, err);

    if (rc == XP_OK && !*out)
        return xp_error_set(err, p, XP_ENOTFOUND, "no job with id \"%s\"",
                            id ? id : "");
    return rc;
}

xp_errcode_e xp_store_find_key(xp_store_t *st, apr_pool_t *p, const char *key,
                               xp_job_t **out, xp_error_t *err)
{
    apr_array_header_t *jobs;
    xp_errcode_e rc;

    *out = NULL;
    if (!key)
        return xp_error_set(err, p, XP_EINVAL, "job store: no job key given");
    rc = store_jobs(st, p,
                    "SELECT " JOB_COLS " FROM xport_jobs WHERE job_key = %s "
                    "ORDER BY created_at DESC, id DESC LIMIT 1",
                    1, &key, &jobs, err);
    if (rc == XP_OK && jobs->nelts > 0)
        *out = APR_ARRAY_IDX(jobs, 0, xp_job_t *);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Insert, list                                                         */
/* ------------------------------------------------------------------ */

/* An insert that meets an active job of the same key does nothing. */
#define ON_KEY_CONFLICT                                                        \
    "ON CONFLICT (job_key) WHERE job_key IS NOT NULL AND "                     \
    "status IN ('queued', 'running') DO NOTHING"

/* ------------------------------------------------------------------ */
/* Waking idle workers (PostgreSQL: LISTEN / NOTIFY)                    */
/* ------------------------------------------------------------------ */

#define NOTIFY_CHANNEL "xport_jobs"

/* Tell every node listening that job id changed (XP_NOTE_*), with the
 * owner and API a stream needs to decide whether to follow it: the
 * payload is "<kind> <id> <api> <user>", the user last (it may hold
 * spaces). In a transaction PostgreSQL sends it at commit (nothing on
 * rollback). Best effort: a node that misses one finds a claimable job
 * at its next poll and a change at its streams' next read. */
static void store_notify(xp_store_t *st, apr_pool_t *p, char kind,
                         const char *id, const char *api, const char *user)
{
    xp_error_t ignored = {0};
    const char *a[1];
    int n = 0;

    if (st->db->dialect != XP_DIALECT_PGSQL)
        return;
    a[0] = apr_psprintf(p, "%c %s %s %s", kind, id ? id : "-",
                        api ? api : "-", user ? user : "");
    xp_db_exec(st->db, p, "SELECT pg_notify('" NOTIFY_CHANNEL "', %s)", 1, a,
               &n, &ignored);
}

/* A job as a note names it. */
static void store_notify_job(xp_store_t *st, apr_pool_t *p, char kind,
                             const xp_job_t *j)
{
    store_notify(st, p, kind, j->id, j->api, j->user_id);
}

xp_errcode_e xp_store_listen(xp_store_t *st, apr_pool_t *p, xp_error_t *err)
{
    int n = 0;

    if (!st->db)
        return store_closed(p, err);
    if (st->db->dialect != XP_DIALECT_PGSQL)
        return xp_error_set(err, p, XP_EINVAL,
                            "job store: only PostgreSQL can announce jobs");
    return xp_db_exec(st->db, p, "LISTEN " NOTIFY_CHANNEL, 0, NULL, &n, err);
}

/* "<kind> <id> <api> <user>" into note; 0 if it is not one of ours. */
static int note_parse(char *payload, xp_store_note_t *note)
{
    char *id, *api, *user;

    if (!payload[0] || payload[1] != ' ')
        return 0;
    note->kind = payload[0];
    id = payload + 2;
    if (!(api = strchr(id, ' ')))
        return 0;
    *api++ = '\0';
    if (!(user = strchr(api, ' ')))
        return 0;
    *user++ = '\0';
    note->id = strcmp(id, "-") ? id : NULL;
    note->api = strcmp(api, "-") ? api : NULL;
    note->user = user;
    return 1;
}

/* Hand every notification libpq has read to fn; how many there were. */
static int notifies_drain(PGconn *c, xp_store_note_fn fn, void *baton)
{
    PGnotify *pn;
    xp_store_note_t note;
    int got = 0;

    while ((pn = PQnotifies(c))) {
        memset(&note, 0, sizeof(note));
        if (note_parse(pn->extra, &note)) {
            got++;
            if (fn)
                fn(baton, &note);
        }
        PQfreemem(pn);
    }
    return got;
}

int xp_store_announced(xp_store_t *st, apr_interval_time_t timeout,
                       xp_store_note_fn fn, void *baton)
{
    PGconn *c;
    struct pollfd pfd;
    int rc, got;

    if (!st->db || !st->db->handle || st->db->dialect != XP_DIALECT_PGSQL)
        return -1;
    c = apr_dbd_native_handle(st->db->driver, st->db->handle);
    if (!c || PQstatus(c) != CONNECTION_OK || !PQconsumeInput(c))
        return -1;
    if ((got = notifies_drain(c, fn, baton)) > 0)
        return got;
    pfd.fd = PQsocket(c);
    pfd.events = POLLIN;
    pfd.revents = 0;
    rc = poll(&pfd, 1, (int)apr_time_as_msec(timeout));
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    if (rc == 0)
        return 0;
    if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
        return -1;
    return notifies_drain(c, fn, baton);
}

/* Insert j; XP_ECONFLICT when an active job has j's key. */
static xp_errcode_e store_insert_row(xp_store_t *st, apr_pool_t *p,
                                     const xp_job_t *j, xp_error_t *err)
{
    apr_int64_t now = xp_now_ms();
    const char *a[JOB_NCOLS];
    xp_errcode_e rc;
    int n = 0;

    a[0] = j->id;
    a[1] = xp_kind_name(j->kind);
    a[2] = xp_status_name(j->status);
    a[3] = j->user_id;
    a[4] = j->server;
    a[5] = j->filter;
    a[6] = j->format;
    a[7] = j->options;
    a[8] = j->source_system;
    a[9] = j->correlation_id;
    a[10] = j->counts;
    a[11] = j->changes;
    a[12] = j->error_messages;
    a[13] = i64(p, j->errors_total);
    a[14] = i64(p, j->progress_done);
    a[15] = i64(p, j->progress_total);
    a[16] = i64(p, j->file_size);
    a[17] = j->sha256;
    a[18] = j->path;
    a[19] = j->file;
    a[20] = apr_itoa(p, j->attempts);
    a[21] = apr_itoa(p, j->cancel_requested ? 1 : 0);
    a[22] = j->owner;
    a[23] = i64(p, j->created_at ? j->created_at : now);
    a[24] = i64(p, j->updated_at ? j->updated_at : now);
    a[25] = ms_or_null(p, j->started_at);
    a[26] = ms_or_null(p, j->finished_at);
    a[27] = ms_or_null(p, j->heartbeat_at);
    a[28] = j->api ? j->api : "native";
    a[29] = j->key;
    a[30] = j->tenant;
    /* the active-key index decides: of two inserts of one key, also on
     * two nodes at once, the second inserts nothing (it waits for the
     * first to commit or roll back) */
    rc = xp_db_exec(st->db, p,
                    "INSERT INTO xport_jobs (" JOB_COLS ") VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                    "%s, %s, %s, %s, %s) " ON_KEY_CONFLICT,
                    JOB_NCOLS, a, &n, err);
    if (rc == XP_OK && n == 0)
        return xp_error_set(err, p, XP_ECONFLICT,
                            "job key \"%s\" already has an active job "
                            "(queued or running); wait for it to finish or "
                            "cancel it",
                            j->key ? j->key : "");
    if (rc == XP_OK)
        store_notify_job(st, p, XP_NOTE_QUEUED, j);
    return rc;
}

/* Count the active jobs (other than job) that share job's column col
 * (user_id, or tenant of the same kind); XP_ELIMIT when max or more. */
static xp_errcode_e store_check_limit(xp_store_t *st, apr_pool_t *p,
                                      const xp_job_t *job, int tenant, int max,
                                      xp_error_t *err)
{
    const char *args[3], *who = tenant ? job->tenant : job->user_id;
    apr_int64_t active = 0;
    xp_errcode_e rc;

    args[0] = who;
    args[1] = job->id;
    args[2] = xp_kind_name(job->kind);
    rc = store_scalar(st, p,
                      tenant ? "SELECT COUNT(*) FROM xport_jobs WHERE "
                               "tenant = %s AND status IN ('queued', "
                               "'running') AND id <> %s AND kind = %s"
                             : "SELECT COUNT(*) FROM xport_jobs WHERE "
                               "COALESCE(user_id, '') = COALESCE(%s, '') AND "
                               "status IN ('queued', 'running') AND id <> %s",
                      tenant ? 3 : 2, args, &active, err);
    if (rc != XP_OK || active < max)
        return rc;
    rc = xp_error_set(err, p, XP_ELIMIT,
                      "%s \"%s\" already has %d active %sjob%s (queued or "
                      "running); %s allows %d",
                      tenant ? "tenant" : "user", who ? who : "", (int)active,
                      tenant ? apr_pstrcat(p, xp_kind_name(job->kind), " ",
                                           NULL)
                             : "",
                      active == 1 ? "" : "s",
                      tenant ? "XportMaxJobsPerTenant" : "XportMaxJobsPerUser",
                      max);
    err->field = tenant ? "XportMaxJobsPerTenant" : "XportMaxJobsPerUser";
    return rc;
}

xp_errcode_e xp_store_insert(xp_store_t *st, apr_pool_t *p, const xp_job_t *job,
                             int max_active, xp_error_t *err)
{
    xp_store_limits_t lim = {max_active, 0};

    return xp_store_insert_limits(st, p, job, &lim, err);
}

xp_errcode_e xp_store_insert_limits(xp_store_t *st, apr_pool_t *p,
                                    const xp_job_t *job,
                                    const xp_store_limits_t *lim,
                                    xp_error_t *err)
{
    int per_tenant = job && job->tenant ? lim->per_tenant : 0;
    xp_errcode_e rc;

    if (!job || !job->id)
        return xp_error_set(err, p, XP_EINVAL, "job store: job has no id");
    if (!st->db)
        return store_closed(p, err);
    if (lim->per_user <= 0 && per_tenant <= 0)
        return store_insert_row(st, p, job, err);
    /* insert and count under one lock, or two requests could both see
     * room for one more job; inserting first lets a job whose key is
     * taken be refused as such (XP_ECONFLICT), whatever the count */
    rc = store_begin(st, p,
                     per_tenant > 0
                         ? apr_pstrcat(p, "xport-tenant:", job->tenant, NULL)
                         : apr_pstrcat(p, "xport-user:",
                                       job->user_id ? job->user_id : "", NULL),
                     err);
    if (rc != XP_OK)
        return rc;
    rc = store_insert_row(st, p, job, err);
    if (rc == XP_OK && lim->per_user > 0)
        rc = store_check_limit(st, p, job, 0, lim->per_user, err);
    if (rc == XP_OK && per_tenant > 0)
        rc = store_check_limit(st, p, job, 1, per_tenant, err);
    if (rc != XP_OK) {
        xp_db_rollback(st->db, p);
        return rc;
    }
    return xp_db_commit(st->db, p, err);
}

xp_errcode_e xp_store_list(xp_store_t *st, apr_pool_t *p,
                           const xp_store_query_t *q, apr_array_header_t **jobs,
                           apr_int64_t *total, xp_error_t *err)
{
    return xp_store_list_api(st, p, q, NULL, jobs, total, err);
}

xp_errcode_e xp_store_list_api(xp_store_t *st, apr_pool_t *p,
                               const xp_store_query_t *q, const char *api,
                               apr_array_header_t **jobs, apr_int64_t *total,
                               xp_error_t *err)
{
    const char *args[7], *where = "kind = %s";
    xp_errcode_e rc;
    int n = 0;

    *jobs = apr_array_make(p, 1, sizeof(xp_job_t *));
    *total = 0;
    if (!st->db)
        return store_closed(p, err);
    args[n++] = xp_kind_name(q->kind);
    if (q->user_id) {
        where = apr_pstrcat(p, where, " AND user_id = %s", NULL);
        args[n++] = q->user_id;
    }
    if (q->has_status) {
        where = apr_pstrcat(p, where, " AND status = %s", NULL);
        args[n++] = xp_status_name(q->status);
    }
    if (api) {
        where = apr_pstrcat(p, where, " AND api = %s", NULL);
        args[n++] = api;
    }
    if (q->tenant) {
        where = apr_pstrcat(p, where, " AND tenant = %s", NULL);
        args[n++] = q->tenant;
    }
    if (q->active)
        where = apr_pstrcat(p, where, " AND status IN ('queued', 'running')",
                            NULL);
    rc = store_scalar(
        st, p,
        apr_pstrcat(p, "SELECT COUNT(*) FROM xport_jobs WHERE ", where, NULL),
        n, args, total, err);
    if (rc != XP_OK)
        return rc;
    args[n++] = apr_itoa(p, q->limit > 0 ? q->limit : 100);
    args[n++] = apr_itoa(p, q->offset > 0 ? q->offset : 0);
    return store_jobs(st, p,
                      apr_pstrcat(p,
                                  "SELECT " JOB_COLS " FROM xport_jobs "
                                  "WHERE ",
                                  where,
                                  " ORDER BY created_at DESC, id DESC "
                                  "LIMIT %s OFFSET %s",
                                  NULL),
                      n, args, jobs, err);
}

xp_errcode_e xp_store_count_status(xp_store_t *st, apr_pool_t *p,
                                   xp_status_e status, apr_int64_t *n,
                                   xp_error_t *err)
{
    const char *args[1];

    *n = 0;
    if (!st->db)
        return store_closed(p, err);
    args[0] = xp_status_name(status);
    return store_scalar(st, p,
                        "SELECT COUNT(*) FROM xport_jobs WHERE status = %s",
                        1, args, n, err);
}

/* ------------------------------------------------------------------ */
/* The worker's side: claim, heartbeat, finish, requeue                 */
/* ------------------------------------------------------------------ */

static xp_errcode_e store_claim_pg(xp_store_t *st, apr_pool_t *p,
                                   const char *owner, xp_job_t **out,
                                   xp_error_t *err)
{
    apr_array_header_t *jobs;
    const char *args[4];
    xp_errcode_e rc;

    args[0] = owner;
    args[1] = args[2] = args[3] = i64(p, xp_now_ms());
    rc = store_jobs(st, p,
                    "UPDATE xport_jobs SET status = 'running', owner = %s, "
                    "attempts = attempts + 1, "
                    /* a job committed after our clock read can be
                     * claimed: never start it before its creation */
                    "started_at = GREATEST(%s, created_at), "
                    "heartbeat_at = GREATEST(%s, created_at), "
                    "updated_at = GREATEST(%s, created_at) "
                    "WHERE id = (SELECT id FROM xport_jobs "
                    "WHERE status = 'queued' ORDER BY created_at, id "
                    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " JOB_COLS,
                    4, args, &jobs, err);
    if (rc == XP_OK && jobs->nelts > 0)
        *out = APR_ARRAY_IDX(jobs, 0, xp_job_t *);
    return rc;
}

static xp_errcode_e store_claim_sqlite(xp_store_t *st, apr_pool_t *p,
                                       const char *owner, xp_job_t **out,
                                       xp_error_t *err)
{
    apr_array_header_t *jobs;
    const char *args[5], *now;
    xp_errcode_e rc;
    int n = 0;

    if ((rc = store_begin(st, p, NULL, err)) != XP_OK)
        return rc;
    /* the clock is read with the write lock held: BEGIN may have waited
     * while a request inserted the job, and started_at must not be
     * earlier than that job's created_at */
    now = i64(p, xp_now_ms());
    rc = store_jobs(st, p,
                    "SELECT " JOB_COLS " FROM xport_jobs WHERE status = "
                    "'queued' ORDER BY created_at, id LIMIT 1",
                    0, NULL, &jobs, err);
    if (rc == XP_OK && jobs->nelts > 0) {
        args[0] = owner;
        args[1] = args[2] = args[3] = now;
        args[4] = APR_ARRAY_IDX(jobs, 0, xp_job_t *)->id;
        rc = xp_db_exec(st->db, p,
                        "UPDATE xport_jobs SET status = 'running', "
                        "owner = %s, attempts = attempts + 1, "
                        "started_at = %s, heartbeat_at = %s, "
                        "updated_at = %s "
                        "WHERE id = %s AND status = 'queued'",
                        5, args, &n, err);
        if (rc == XP_OK && n == 1)
            rc = store_get_opt(st, p, args[4], out, err);
    }
    if (rc != XP_OK) {
        xp_db_rollback(st->db, p);
        *out = NULL;
        return rc;
    }
    if ((rc = xp_db_commit(st->db, p, err)) != XP_OK)
        *out = NULL;
    return rc;
}

xp_errcode_e xp_store_claim(xp_store_t *st, apr_pool_t *p, const char *owner,
                            xp_job_t **out, xp_error_t *err)
{
    xp_errcode_e rc;

    *out = NULL;
    if (!st->db)
        return store_closed(p, err);
    if (st->db->dialect != XP_DIALECT_PGSQL)
        return store_claim_sqlite(st, p, owner, out, err);
    rc = store_claim_pg(st, p, owner, out, err);
    if (rc == XP_OK && *out)
        store_notify_job(st, p, XP_NOTE_CHANGED, *out);
    return rc;
}

static xp_errcode_e store_not_ours(apr_pool_t *p, const char *id,
                                   const char *owner, xp_error_t *err)
{
    return xp_error_set(err, p, XP_ENOTFOUND,
                        "job %s is no longer running under %s (deleted, "
                        "cancelled or re-queued)",
                        id ? id : "", owner ? owner : "");
}

xp_errcode_e xp_store_heartbeat(xp_store_t *st, apr_pool_t *p, const char *id,
                                const char *owner, apr_int64_t done,
                                apr_int64_t total, int *cancel_requested,
                                xp_error_t *err)
{
    const char *args[6];
    apr_int64_t cancel = 0;
    xp_errcode_e rc;
    int n = 0;

    if (cancel_requested)
        *cancel_requested = 0;
    if (!st->db)
        return store_closed(p, err);
    args[0] = i64(p, done);
    args[1] = i64(p, total);
    args[2] = args[3] = i64(p, xp_now_ms());
    args[4] = id;
    args[5] = owner;
    rc = xp_db_exec(st->db, p,
                    "UPDATE xport_jobs SET progress_done = %s, "
                    "progress_total = %s, heartbeat_at = %s, updated_at = %s "
                    "WHERE id = %s AND owner = %s AND status = 'running'",
                    6, args, &n, err);
    if (rc != XP_OK)
        return rc;
    if (n == 0)
        return store_not_ours(p, id, owner, err);
    store_notify(st, p, XP_NOTE_CHANGED, id, NULL, NULL); /* progress */
    rc = store_scalar(st, p,
                      "SELECT cancel_requested FROM xport_jobs WHERE id = %s",
                      1, args + 4, &cancel, err);
    if (rc == XP_OK && cancel_requested)
        *cancel_requested = cancel != 0;
    return rc;
}

xp_errcode_e xp_store_finish(xp_store_t *st, apr_pool_t *p, const xp_job_t *j,
                             xp_error_t *err)
{
    const char *a[16], *now = i64(p, xp_now_ms());
    xp_errcode_e rc;
    int n = 0;

    if (!st->db)
        return store_closed(p, err);
    if (!xp_status_finished(j->status))
        return xp_error_set(err, p, XP_EINVAL,
                            "job %s: finish needs a final status, not %s",
                            j->id, xp_status_name(j->status));
    a[0] = xp_status_name(j->status);
    a[1] = j->counts;
    a[2] = j->changes;
    a[3] = j->file;
    a[4] = j->path;
    a[5] = i64(p, j->file_size);
    a[6] = j->sha256;
    a[7] = j->error_messages;
    a[8] = i64(p, j->errors_total);
    a[9] = i64(p, j->progress_done);
    a[10] = i64(p, j->progress_total);
    a[11] = j->finished_at ? i64(p, j->finished_at) : now;
    a[12] = now;
    a[13] = now;
    a[14] = j->id;
    a[15] = j->owner;
    rc = xp_db_exec(st->db, p,
                    "UPDATE xport_jobs SET status = %s, counts = %s, "
                    "changes = %s, file = %s, path = %s, file_size = %s, "
                    "sha256 = %s, error_messages = %s, errors_total = %s, "
                    "progress_done = %s, progress_total = %s, "
                    "finished_at = %s, updated_at = %s, heartbeat_at = %s "
                    "WHERE id = %s AND owner = %s AND status = 'running'",
                    16, a, &n, err);
    if (rc == XP_OK && n == 0)
        return store_not_ours(p, j->id, j->owner, err);
    if (rc == XP_OK)
        store_notify_job(st, p, XP_NOTE_CHANGED, j);
    return rc;
}

/* A job handed back (shutdown, stale heartbeat) goes to the queue again,
 * unless a cancel was asked for meanwhile: then it ends cancelled. */
#define REQUEUE_SET                                                            \
    "status = CASE WHEN cancel_requested <> 0 THEN 'cancelled' "               \
    "ELSE 'queued' END, "                                                      \
    "finished_at = CASE WHEN cancel_requested <> 0 THEN CAST(%s AS BIGINT) "   \
    "ELSE NULL END, "                                                          \
    "owner = NULL, heartbeat_at = NULL, updated_at = %s"

xp_errcode_e xp_store_requeue(xp_store_t *st, apr_pool_t *p, const char *id,
                              const char *owner, xp_error_t *err)
{
    const char *args[4];
    xp_errcode_e rc;
    int n = 0;

    if (!st->db)
        return store_closed(p, err);
    args[0] = args[1] = i64(p, xp_now_ms());
    args[2] = id;
    args[3] = owner;
    /* giving a job back on shutdown is no failed attempt */
    rc = xp_db_exec(st->db, p,
                    "UPDATE xport_jobs SET " REQUEUE_SET
                    ", attempts = CASE WHEN attempts > 0 THEN attempts - 1 "
                    "ELSE 0 END "
                    "WHERE id = %s AND owner = %s AND status = 'running'",
                    4, args, &n, err);
    if (rc == XP_OK && n == 0)
        return store_not_ours(p, id, owner, err);
    if (rc == XP_OK)
        store_notify(st, p, XP_NOTE_QUEUED, id, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The API's side: cancel, delete                                       */
/* ------------------------------------------------------------------ */

xp_errcode_e xp_store_cancel(xp_store_t *st, apr_pool_t *p, const char *id,
                             xp_job_t **out, xp_error_t *err)
{
    const char *args[3];
    xp_job_t *job;
    xp_errcode_e rc;
    int tries, n = 0;

    *out = NULL;
    /* the job may change state between our read and our write (claimed,
     * finished): each write is conditional, so read again and retry */
    for (tries = 0; tries < 5; tries++) {
        if ((rc = xp_store_get(st, p, id, &job, err)) != XP_OK)
            return rc;
        if (xp_status_finished(job->status)) {
            *out = job;
            return xp_error_set(err, p, XP_ECONFLICT,
                                "job %s has already finished (%s); there is "
                                "nothing to cancel",
                                id, xp_status_name(job->status));
        }
        args[0] = args[1] = i64(p, xp_now_ms());
        args[2] = id;
        if (job->status == XP_ST_QUEUED)
            rc = xp_db_exec(st->db, p,
                            "UPDATE xport_jobs SET status = 'cancelled', "
                            "finished_at = %s, updated_at = %s "
                            "WHERE id = %s AND status = 'queued'",
                            3, args, &n, err);
        else
            rc = xp_db_exec(st->db, p,
                            "UPDATE xport_jobs SET cancel_requested = 1, "
                            "updated_at = %s WHERE id = %s "
                            "AND status = 'running'",
                            2, args + 1, &n, err);
        if (rc != XP_OK)
            return rc;
        if (n == 1) {
            store_notify_job(st, p,
                             job->status == XP_ST_QUEUED ? XP_NOTE_CHANGED
                                                         : XP_NOTE_CANCEL,
                             job);
            return xp_store_get(st, p, id, out, err);
        }
    }
    return xp_error_set(err, p, XP_ECONFLICT,
                        "job %s kept changing state; try the cancel again", id);
}

xp_errcode_e xp_store_delete(xp_store_t *st, apr_pool_t *p, const char *id,
                             xp_error_t *err)
{
    const char *args[1];
    xp_errcode_e rc;
    int n = 0;

    if (!st->db)
        return store_closed(p, err);
    args[0] = id;
    rc = xp_db_exec(st->db, p, "DELETE FROM xport_jobs WHERE id = %s", 1, args,
                    &n, err);
    if (rc == XP_OK && n == 0)
        return xp_error_set(err, p, XP_ENOTFOUND, "no job with id \"%s\"",
                            id ? id : "");
    if (rc == XP_OK)
        store_notify(st, p, XP_NOTE_CHANGED, id, NULL, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Housekeeping: reap, purge                                            */
/* ------------------------------------------------------------------ */

static const char *one_message(apr_pool_t *p, const char *msg)
{
    xp_json_t *a = xp_json_array(p);

    xp_json_append_str(a, msg);
    return xp_json_dump(p, a);
}

/* End a running job of owner `owner` as status with one message. */
static xp_errcode_e store_end_as(xp_store_t *st, apr_pool_t *p,
                                 const xp_job_t *j, const char *status,
                                 const char *msg, int *n, xp_error_t *err)
{
    const char *a[6];

    a[0] = status;
    a[1] = one_message(p, msg);
    a[2] = a[3] = i64(p, xp_now_ms());
    a[4] = j->id;
    a[5] = j->owner;
    return xp_db_exec(st->db, p,
                      "UPDATE xport_jobs SET status = %s, "
                      "error_messages = %s, errors_total = 1, "
                      "finished_at = %s, updated_at = %s, owner = NULL "
                      "WHERE id = %s AND owner = %s AND status = 'running'",
                      6, a, n, err);
}

static xp_errcode_e store_reap_one(xp_store_t *st, apr_pool_t *p,
                                   const xp_job_t *j, apr_int64_t stale_before,
                                   int max_attempts, apr_int64_t timeout_before,
                                   int (*is_dead)(const char *, void *),
                                   void *baton, int *requeued, int *failed,
                                   xp_error_t *err)
{
    apr_int64_t beat = j->heartbeat_at ? j->heartbeat_at : j->started_at;
    const char *a[4];
    xp_errcode_e rc;
    int n = 0;

    if (timeout_before && j->started_at && j->started_at < timeout_before) {
        rc = store_end_as(st, p, j, "timed_out",
                          "the job ran longer than XportJobTimeout allows "
                          "and was stopped",
                          &n, err);
        *failed += n;
        return rc;
    }
    if (beat >= stale_before &&
        !(is_dead && j->owner && is_dead(j->owner, baton)))
        return XP_OK;
    if (j->attempts >= max_attempts) {
        rc = store_end_as(
            st, p, j, "failed",
            apr_psprintf(p,
                         "the worker running this job stopped "
                         "responding %d time%s; giving up after %d "
                         "attempts (see the error log of the server)",
                         j->attempts, j->attempts == 1 ? "" : "s", j->attempts),
            &n, err);
        *failed += n;
        return rc;
    }
    a[0] = a[1] = i64(p, xp_now_ms());
    a[2] = j->id;
    a[3] = j->owner;
    rc = xp_db_exec(st->db, p,
                    "UPDATE xport_jobs SET " REQUEUE_SET
                    " WHERE id = %s AND owner = %s AND status = 'running'",
                    4, a, &n, err);
    *requeued += n;
    return rc;
}

xp_errcode_e xp_store_reap(xp_store_t *st, apr_pool_t *p,
                           apr_int64_t stale_before, int max_attempts,
                           apr_int64_t timeout_before,
                           int (*is_dead)(const char *owner, void *baton),
                           void *baton, int *requeued, int *failed,
                           xp_error_t *err)
{
    apr_array_header_t *jobs;
    xp_errcode_e rc;
    int i, rq = 0, fl = 0;

    if (requeued)
        *requeued = 0;
    if (failed)
        *failed = 0;
    rc = store_jobs(st, p,
                    "SELECT " JOB_COLS " FROM xport_jobs "
                    "WHERE status = 'running' ORDER BY created_at, id",
                    0, NULL, &jobs, err);
    for (i = 0; rc == XP_OK && i < jobs->nelts; i++) {
        /* each update is conditional on the owner we saw, so a job that
         * was re-claimed meanwhile is left alone */
        rc = store_reap_one(st, p, APR_ARRAY_IDX(jobs, i, xp_job_t *),
                            stale_before, max_attempts, timeout_before, is_dead,
                            baton, &rq, &fl, err);
    }
    if (rq > 0)
        store_notify(st, p, XP_NOTE_QUEUED, NULL, NULL, NULL);
    if (requeued)
        *requeued = rq;
    if (failed)
        *failed = fl;
    return rc;
}

xp_errcode_e xp_store_purge(xp_store_t *st, apr_pool_t *p, apr_int64_t before,
                            int (*due)(const xp_job_t *job, void *baton),
                            void *baton, apr_array_header_t **purged,
                            xp_error_t *err)
{
    apr_array_header_t *jobs;
    const char *args[1];
    xp_errcode_e rc;
    int i, n;

    *purged = apr_array_make(p, 4, sizeof(xp_job_t *));
    args[0] = i64(p, before);
    rc = store_jobs(st, p,
                    "SELECT " JOB_COLS
                    " FROM xport_jobs WHERE status IN " FINISHED_SQL
                    " AND finished_at < %s "
                    "ORDER BY finished_at, id",
                    1, args, &jobs, err);
    for (i = 0; rc == XP_OK && i < jobs->nelts; i++) {
        xp_job_t *j = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        n = 0;
        if (due && !due(j, baton))
            continue;
        rc = xp_db_exec(
            st->db, p,
            "DELETE FROM xport_jobs WHERE id = %s AND status IN " FINISHED_SQL,
            1, &j->id, &n, err);
        if (rc == XP_OK && n == 1)
            APR_ARRAY_PUSH(*purged, xp_job_t *) = j;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* One node at a time: the maintenance pass                             */
/* ------------------------------------------------------------------ */

xp_errcode_e xp_store_take_turn(xp_store_t *st, apr_pool_t *p,
                                const char *what, int *mine, xp_error_t *err)
{
    apr_int64_t got = 0;
    const char *key = apr_pstrcat(p, "xport-turn:", what, NULL);
    xp_errcode_e rc;

    *mine = 0;
    if (!st->db)
        return store_closed(p, err);
    if (st->db->dialect != XP_DIALECT_PGSQL) {
        *mine = 1; /* one node */
        return XP_OK;
    }
    rc = store_scalar(st, p,
                      "SELECT CASE WHEN pg_try_advisory_lock(hashtext(%s)) "
                      "THEN 1 ELSE 0 END",
                      1, &key, &got, err);
    *mine = rc == XP_OK && got == 1;
    return rc;
}

void xp_store_end_turn(xp_store_t *st, apr_pool_t *p, const char *what)
{
    const char *key = apr_pstrcat(p, "xport-turn:", what, NULL);
    apr_int64_t ignored = 0;
    xp_error_t err = {0};

    if (st->db && st->db->dialect == XP_DIALECT_PGSQL)
        store_scalar(st, p,
                     "SELECT CASE WHEN pg_advisory_unlock(hashtext(%s)) "
                     "THEN 1 ELSE 0 END",
                     1, &key, &ignored, &err);
}

/* ------------------------------------------------------------------ */
/* Shared settings: secrets, spent links                                */
/* ------------------------------------------------------------------ */

/* The value of a setting, or NULL when it has none. */
static xp_errcode_e store_setting(xp_store_t *st, apr_pool_t *p,
                                  const char *name, const char **value,
                                  xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    xp_errcode_e rc;

    *value = NULL;
    rc = xp_db_select(st->db, p,
                      "SELECT value FROM xport_settings WHERE name = %s", 1,
                      &name, &res, err);
    if (rc != XP_OK)
        return rc;
    while (xp_db_next(st->db, p, res, &row)) {
        const char *v = xp_db_str(st->db, row, 0);
        if (!*value && v)
            *value = apr_pstrdup(p, v);
    }
    return XP_OK;
}

/* A fresh secret as base64 text. */
static const char *store_new_secret(apr_pool_t *p)
{
    unsigned char raw[XP_STORE_SECRET_LEN];
    char *b64;

    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS)
        return NULL;
    b64 = apr_palloc(p, apr_base64_encode_len(sizeof(raw)));
    apr_base64_encode_binary(b64, raw, sizeof(raw));
    return b64;
}

xp_errcode_e xp_store_secret(xp_store_t *st, apr_pool_t *p, const char *name,
                             const unsigned char **bytes, xp_error_t *err)
{
    const char *args[2], *b64;
    unsigned char *raw;
    xp_errcode_e rc;

    *bytes = NULL;
    if (!st->db)
        return store_closed(p, err);
    args[0] = apr_pstrcat(p, "secret:", name, NULL);
    if ((rc = store_setting(st, p, args[0], &b64, err)) != XP_OK)
        return rc;
    if (!b64) {
        /* Two nodes may get here at once: each offers its own secret,
         * the first insert wins and both read back the winner. */
        if (!(args[1] = store_new_secret(p)))
            return xp_error_set(err, p, XP_EIO,
                                "job store: no random source for the %s "
                                "secret",
                                name);
        rc = xp_db_exec(st->db, p,
                        "INSERT INTO xport_settings (name, value) "
                        "VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                        2, args, NULL, err);
        if (rc == XP_OK)
            rc = store_setting(st, p, args[0], &b64, err);
        if (rc != XP_OK)
            return rc;
    }
    raw = apr_palloc(p, apr_base64_decode_len(b64 ? b64 : ""));
    if (!b64 ||
        apr_base64_decode_binary(raw, b64) != XP_STORE_SECRET_LEN)
        return xp_error_set(err, p, XP_EDB,
                            "job store: the %s secret in xport_settings is "
                            "damaged (not %d bytes of base64); delete its "
                            "row to make a new one",
                            name, XP_STORE_SECRET_LEN);
    *bytes = raw;
    return XP_OK;
}

xp_errcode_e xp_store_link_use(xp_store_t *st, apr_pool_t *p, const char *sig,
                               apr_int64_t expires, int *used_before,
                               xp_error_t *err)
{
    const char *args[2];
    xp_errcode_e rc;
    int n = 0;

    *used_before = 0;
    if (!st->db)
        return store_closed(p, err);
    /* a link past its expiry is refused before it gets here: its row
     * has nothing left to guard */
    args[0] = i64(p, apr_time_sec(apr_time_now()));
    rc = xp_db_exec(st->db, p, "DELETE FROM xport_used_links WHERE expires < %s",
                    1, args, NULL, err);
    if (rc != XP_OK)
        return rc;
    args[0] = sig;
    args[1] = i64(p, expires);
    /* one statement: of two nodes serving the same link at once, only
     * one inserts the row */
    rc = xp_db_exec(st->db, p,
                    "INSERT INTO xport_used_links (sig, expires) "
                    "VALUES (%s, %s) ON CONFLICT (sig) DO NOTHING",
                    2, args, &n, err);
    if (rc == XP_OK)
        *used_before = n == 0;
    return rc;
}
