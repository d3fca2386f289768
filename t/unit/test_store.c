/*
 * test_store.c -- the job store on SQLite (a temp dir) and, when
 * XPORT_TEST_PG holds a conninfo, on PostgreSQL too: schema migration,
 * insert/list, the per-user limit, claiming (order and exclusivity across
 * connections), the ownership rules of the worker's updates, reaping and
 * purging; the API a job was created by (and the upgrade that added it),
 * the shared secrets and the single-use links; one active job per key
 * (also when several processes insert one key at once) and the upgrade
 * that added keys.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_file_io.h>

#include "tap.h"
#include "xp_store.h"
#include "xp_source.h"

static apr_int64_t base_ms;

static xp_job_t *mkjob(apr_pool_t *p, const char *user, int age)
{
    xp_job_t *j = apr_pcalloc(p, sizeof(*j));

    j->id = xp_new_id(p);
    j->kind = XP_KIND_EXPORT;
    j->status = XP_ST_QUEUED;
    j->user_id = user;
    j->filter = "users";
    j->format = "tar.gz";
    j->options = "{\"closure\":false}";
    j->file_size = -1;
    j->created_at = j->updated_at = base_ms + age;
    return j;
}

static xp_store_t *open_store(apr_pool_t *p, const char *drv,
                              const char *params)
{
    xp_store_t *st = NULL;
    xp_error_t err = {0};

    if (xp_store_open(p, drv, params, &st, &err) != XP_OK)
        printf("# open: %s\n", err.message);
    return st;
}

static void test_migrate(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_job_t *got = NULL;

    is_int(xp_store_migrate(st, p, &err), XP_OK, "%s: migrate creates schema",
           tag);
    is_int(xp_store_migrate(st, p, &err), XP_OK, "%s: migrate again is a no-op",
           tag);
    if (err.message)
        printf("# %s\n", err.message);
    is_int(xp_store_schema_version(), 4, "%s: schema version 4", tag);
    is_int(xp_store_get(st, p, "0123456789abcdef0123456789abcdef", &got, &err),
           XP_ENOTFOUND, "%s: unknown id is not found", tag);
}

static void test_insert_list(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_store_query_t q = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = -1;
    xp_job_t *j, *got = NULL;
    int i, ok_all = 1;

    for (i = 0; i < 25; i++) {
        j = mkjob(p, i % 5 == 0 ? "bob" : "alice", i);
        if (i == 3)
            j->source_system = "crm";
        if (xp_store_insert(st, p, j, 0, &err) != XP_OK)
            ok_all = 0;
        if (i == 3)
            is_int(xp_store_get(st, p, j->id, &got, &err), XP_OK,
                   "%s: get inserted job", tag);
    }
    ok(ok_all, "%s: 25 jobs inserted", tag);
    is_str(got->source_system, "crm", "%s: fields round-trip", tag);
    is_str(got->user_id, "alice", "%s: user round-trips", tag);
    is_int(got->created_at, base_ms + 3, "%s: created_at round-trips", tag);
    is_int(got->file_size, -1, "%s: file_size -1", tag);
    ok(got->sha256 == NULL, "%s: NULL column reads as NULL", tag);

    q.kind = XP_KIND_EXPORT;
    q.limit = 10;
    q.offset = 10;
    is_int(xp_store_list(st, p, &q, &jobs, &total, &err), XP_OK,
           "%s: list page 2", tag);
    is_int(total, 25, "%s: total counts every match", tag);
    is_int(jobs->nelts, 10, "%s: page has 10 jobs", tag);
    is_int(APR_ARRAY_IDX(jobs, 0, xp_job_t *)->created_at, base_ms + 14,
           "%s: newest first, offset 10", tag);
    q.user_id = "bob";
    q.offset = 0;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 5, "%s: user filter total", tag);
    is_str(APR_ARRAY_IDX(jobs, 0, xp_job_t *)->user_id, "bob",
           "%s: user filter returns only bob", tag);
    q.user_id = NULL;
    q.has_status = 1;
    q.status = XP_ST_RUNNING;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 0, "%s: nothing running yet", tag);
    is_int(xp_store_count_status(st, p, XP_ST_QUEUED, &total, &err), XP_OK,
           "%s: count queued", tag);
    is_int(total, 25, "%s: every queued job counted", tag);
    xp_store_count_status(st, p, XP_ST_RUNNING, &total, &err);
    is_int(total, 0, "%s: none counted running", tag);
    q.kind = XP_KIND_IMPORT;
    q.has_status = 0;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 0, "%s: kind filter: no imports", tag);
}

static void test_limit(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_job_t *a = mkjob(p, "carol", 100), *b = mkjob(p, "carol", 101);
    xp_job_t *c = mkjob(p, "carol", 102), *out = NULL;

    is_int(xp_store_insert(st, p, a, 2, &err), XP_OK, "%s: 1st of 2", tag);
    b->kind = XP_KIND_IMPORT;
    is_int(xp_store_insert(st, p, b, 2, &err), XP_OK, "%s: 2nd of 2 (any kind)",
           tag);
    err.message = NULL;
    is_int(xp_store_insert(st, p, c, 2, &err), XP_ELIMIT, "%s: 3rd refused",
           tag);
    ok(err.message && strstr(err.message, "XportMaxJobsPerUser"),
       "%s: message names the directive: %s", tag, err.message);
    is_int(xp_store_cancel(st, p, a->id, &out, &err), XP_OK,
           "%s: cancel a queued job", tag);
    is_int(out ? (int)out->status : -1, XP_ST_CANCELLED, "%s: now cancelled",
           tag);
    is_int(xp_store_insert(st, p, c, 2, &err), XP_OK,
           "%s: a cancelled job frees a slot", tag);
    is_int(xp_store_cancel(st, p, a->id, &out, &err), XP_ECONFLICT,
           "%s: cancelling a finished job conflicts", tag);
    xp_store_delete(st, p, a->id, &err);
    xp_store_delete(st, p, b->id, &err);
    xp_store_delete(st, p, c->id, &err);
}

/* XportMaxJobsPerTenant: per tenant and kind, listed by tenant. */
static void test_tenant_limit(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_store_limits_t lim = {0, 1};
    xp_error_t err = {0};
    xp_job_t *a = mkjob(p, "dave", 200), *b = mkjob(p, "erin", 201);
    xp_job_t *c = mkjob(p, "erin", 202), *d = mkjob(p, "erin", 203), *out;
    xp_store_query_t q = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = -1;

    a->tenant = b->tenant = c->tenant = "t1";
    d->tenant = "t2";
    c->kind = XP_KIND_IMPORT;
    is_int(xp_store_insert_limits(st, p, a, &lim, &err), XP_OK,
           "%s: tenant t1's export", tag);
    is_int(xp_store_insert_limits(st, p, b, &lim, &err), XP_ELIMIT,
           "%s: a 2nd export of t1 (another user) refused", tag);
    is_str(err.field, "XportMaxJobsPerTenant", "%s: ... by the tenant limit",
           tag);
    is_int(xp_store_insert_limits(st, p, c, &lim, &err), XP_OK,
           "%s: an import of t1 is counted apart", tag);
    is_int(xp_store_insert_limits(st, p, d, &lim, &err), XP_OK,
           "%s: tenant t2 has its own", tag);
    q.kind = XP_KIND_EXPORT;
    q.tenant = "t1";
    q.active = 1;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    ok(total == 1 && jobs->nelts == 1 &&
           !strcmp(APR_ARRAY_IDX(jobs, 0, xp_job_t *)->tenant, "t1"),
       "%s: t1's active exports listed with their tenant", tag);
    xp_store_cancel(st, p, a->id, &out, &err);
    is_int(xp_store_insert_limits(st, p, b, &lim, &err), XP_OK,
           "%s: room again once the first has finished", tag);
    xp_store_delete(st, p, a->id, &err);
    xp_store_delete(st, p, b->id, &err);
    xp_store_delete(st, p, c->id, &err);
    xp_store_delete(st, p, d->id, &err);
}

typedef struct {
    const char *drv, *params, *owner;
    apr_array_header_t *ids;
    apr_pool_t *pool;
} claimer_t;

static void *APR_THREAD_FUNC claim_all(apr_thread_t *t, void *data)
{
    claimer_t *c = data;
    xp_store_t *st;

    /* pools are not shared across threads: one with its own allocator */
    apr_pool_create_unmanaged_ex(&c->pool, NULL, NULL);
    st = open_store(c->pool, c->drv, c->params);
    xp_error_t err = {0};
    xp_job_t *j;

    while (st && xp_store_claim(st, c->pool, c->owner, &j, &err) == XP_OK && j)
        if (c->ids->nelts < c->ids->nalloc)
            APR_ARRAY_PUSH(c->ids, const char *) = j->id;
    if (err.message)
        printf("# claim (%s): %s\n", c->owner, err.message);
    (void)t;
    return NULL;
}

static void test_claim(apr_pool_t *p, xp_store_t *st, const char *drv,
                       const char *params, const char *tag)
{
    xp_error_t err = {0};
    xp_job_t *j = NULL;
    xp_store_t *st2 = open_store(p, drv, params);
    claimer_t c[2];
    apr_thread_t *th[2];
    apr_status_t trv;
    apr_hash_t *seen = apr_hash_make(p);
    int i, k, dup = 0, total = 0;

    is_int(xp_store_claim(st, p, "host:1", &j, &err), XP_OK, "%s: claim", tag);
    ok(j && j->created_at == base_ms, "%s: oldest job claimed first", tag);
    is_int(j ? (int)j->status : -1, XP_ST_RUNNING, "%s: claimed job is running",
           tag);
    is_int(j ? j->attempts : -1, 1, "%s: attempts counted", tag);
    is_str(j ? j->owner : NULL, "host:1", "%s: owner recorded", tag);
    is_int(xp_store_claim(st2, p, "host:2", &j, &err), XP_OK,
           "%s: second connection claims", tag);
    ok(j && j->created_at == base_ms + 1, "%s: ... the next job", tag);

    /* two threads with their own connections drain the queue */
    for (i = 0; i < 2; i++) {
        c[i].drv = drv;
        c[i].params = params;
        c[i].owner = i ? "host:b" : "host:a";
        /* big enough never to grow (growing allocates from p) */
        c[i].ids = apr_array_make(p, 64, sizeof(const char *));
        apr_thread_create(&th[i], NULL, claim_all, &c[i], p);
    }
    for (i = 0; i < 2; i++)
        apr_thread_join(&trv, th[i]);
    for (i = 0; i < 2; i++)
        for (k = 0; k < c[i].ids->nelts; k++, total++) {
            const char *id = APR_ARRAY_IDX(c[i].ids, k, const char *);
            if (apr_hash_get(seen, id, APR_HASH_KEY_STRING))
                dup++;
            apr_hash_set(seen, id, APR_HASH_KEY_STRING, id);
        }
    is_int(total, 23, "%s: two claimers got every remaining job", tag);
    for (i = 0; i < 2; i++)
        apr_pool_destroy(c[i].pool);
    is_int(dup, 0, "%s: no job claimed twice", tag);
    is_int(xp_store_claim(st, p, "host:1", &j, &err), XP_OK,
           "%s: claim on an empty queue", tag);
    ok(j == NULL, "%s: ... returns no job", tag);
    xp_store_close(st2);
}

static xp_job_t *first_of(apr_pool_t *p, xp_store_t *st, const char *owner)
{
    xp_store_query_t q = {0};
    apr_array_header_t *jobs;
    apr_int64_t total;
    xp_error_t err = {0};
    int i;

    q.kind = XP_KIND_EXPORT;
    q.limit = 100;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    for (i = jobs->nelts - 1; i >= 0; i--) {
        xp_job_t *j = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        if (j->owner && !strcmp(j->owner, owner) && j->status == XP_ST_RUNNING)
            return j;
    }
    return NULL;
}

static void test_ownership(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_job_t *j = first_of(p, st, "host:1"), *out = NULL, *got = NULL;
    int cancel = -1;

    ok(j != NULL, "%s: host:1 runs a job", tag);
    if (!j)
        return;
    is_int(xp_store_heartbeat(st, p, j->id, "host:1", 5, 10, &cancel, &err),
           XP_OK, "%s: owner heartbeats", tag);
    is_int(cancel, 0, "%s: no cancel requested", tag);
    is_int(xp_store_heartbeat(st, p, j->id, "host:9", 5, 10, &cancel, &err),
           XP_ENOTFOUND, "%s: another owner cannot heartbeat", tag);
    is_int(xp_store_cancel(st, p, j->id, &out, &err), XP_OK,
           "%s: cancel a running job", tag);
    is_int(out->status, XP_ST_RUNNING, "%s: ... it keeps running", tag);
    xp_store_heartbeat(st, p, j->id, "host:1", 6, 10, &cancel, &err);
    is_int(cancel, 1, "%s: heartbeat reports the cancel", tag);
    xp_store_get(st, p, j->id, &got, &err);
    is_int(got->progress_done, 6, "%s: progress flushed", tag);

    j->status = XP_ST_CANCELLED;
    j->owner = "host:9";
    is_int(xp_store_finish(st, p, j, &err), XP_ENOTFOUND,
           "%s: another owner cannot finish", tag);
    j->owner = "host:1";
    j->counts = "{\"users\":3}";
    j->sha256 = "ab";
    j->file_size = 42;
    is_int(xp_store_finish(st, p, j, &err), XP_OK, "%s: owner finishes", tag);
    xp_store_get(st, p, j->id, &got, &err);
    is_int(got->status, XP_ST_CANCELLED, "%s: final status stored", tag);
    is_str(got->counts, "{\"users\":3}", "%s: counts stored", tag);
    ok(got->finished_at > 0, "%s: finished_at set", tag);
    is_int(xp_store_finish(st, p, j, &err), XP_ENOTFOUND,
           "%s: a finished job cannot be finished again", tag);

    j = first_of(p, st, "host:2");
    is_int(xp_store_delete(st, p, j->id, &err), XP_OK, "%s: delete", tag);
    is_int(xp_store_heartbeat(st, p, j->id, "host:2", 1, 1, NULL, &err),
           XP_ENOTFOUND, "%s: deleted job's heartbeat fails", tag);
    j->status = XP_ST_COMPLETED;
    is_int(xp_store_finish(st, p, j, &err), XP_ENOTFOUND,
           "%s: deleted job is not resurrected by finish", tag);
    is_int(xp_store_get(st, p, j->id, &got, &err), XP_ENOTFOUND,
           "%s: ... still gone", tag);
    is_int(xp_store_delete(st, p, j->id, &err), XP_ENOTFOUND,
           "%s: deleting twice is not found", tag);

    /* the threads split the queue as they raced: take whoever got one */
    j = first_of(p, st, "host:a");
    if (!j)
        j = first_of(p, st, "host:b");
    ok(j != NULL, "%s: a claimer thread runs a job", tag);
    if (!j)
        return;
    is_int(xp_store_requeue(st, p, j->id, j->owner, &err), XP_OK,
           "%s: requeue on shutdown", tag);
    xp_store_get(st, p, j->id, &got, &err);
    is_int(got->status, XP_ST_QUEUED, "%s: requeued job is queued", tag);
    ok(got->owner == NULL, "%s: ... and has no owner", tag);
    is_int(got->attempts, 0, "%s: ... a shutdown is no failed attempt", tag);
    is_int(xp_store_heartbeat(st, p, j->id, j->owner, 1, 1, NULL, &err),
           XP_ENOTFOUND, "%s: requeued job's old owner is refused", tag);
}

/* baton: the one dead owner, NULL: every owner is dead */
static int is_dead_owner(const char *owner, void *baton)
{
    return !baton || !strcmp(owner, (const char *)baton);
}

static void test_reap_purge(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_store_query_t q = {0};
    apr_array_header_t *jobs, *purged;
    apr_int64_t total, now = xp_now_ms();
    int rq = -1, fl = -1, running_a, i;
    xp_job_t *j;

    q.kind = XP_KIND_EXPORT;
    q.has_status = 1;
    q.status = XP_ST_RUNNING;
    q.limit = 100;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    running_a = (int)total;
    ok(running_a > 4, "%s: %d jobs running", tag, running_a);

    /* every owner dead: all back to the queue */
    is_int(xp_store_reap(st, p, now - 60000, 3, 0, is_dead_owner, NULL, &rq,
                         &fl, &err),
           XP_OK, "%s: reap", tag);
    is_int(rq, running_a, "%s: dead owners' jobs requeued", tag);
    is_int(fl, 0, "%s: ... none failed", tag);
    for (i = 0; i < 4; i++)
        xp_store_claim(st, p, i % 2 ? "host:y" : "host:x", &j, &err);
    is_int(xp_store_reap(st, p, now - 60000, 3, 0, is_dead_owner, "host:x", &rq,
                         &fl, &err),
           XP_OK, "%s: reap with host:x dead", tag);
    is_int(rq, 2, "%s: host:x's two jobs requeued", tag);
    xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 2, "%s: host:y's two still run", tag);

    /* everything stale, one attempt allowed: all fail */
    is_int(xp_store_reap(st, p, now + 60000, 1, 0, NULL, NULL, &rq, &fl, &err),
           XP_OK, "%s: reap stale", tag);
    is_int(fl, total, "%s: attempts exhausted -> failed", tag);
    q.status = XP_ST_FAILED;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    j = jobs->nelts ? APR_ARRAY_IDX(jobs, 0, xp_job_t *) : NULL;
    ok(j && j->error_messages && strstr(j->error_messages, "attempts"),
       "%s: failure says why: %s", tag, j ? j->error_messages : "");

    /* claim again (the oldest queued job) and time out */
    q.status = XP_ST_QUEUED;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    j = jobs->nelts ? APR_ARRAY_IDX(jobs, jobs->nelts - 1, xp_job_t *) : NULL;
    ok(j && j->owner == NULL && j->heartbeat_at == 0,
       "%s: requeued jobs have no owner or heartbeat", tag);
    rq = j ? j->attempts : -1;
    xp_store_claim(st, p, "host:t", &j, &err);
    ok(j != NULL, "%s: claim a requeued job", tag);
    is_int(j ? j->attempts : 0, rq + 1, "%s: attempts go on counting", tag);
    xp_store_reap(st, p, 0, 3, now + 60000, NULL, NULL, &rq, &fl, &err);
    is_int(fl, 1, "%s: timeout ends the job", tag);
    if (j)
        xp_store_get(st, p, j->id, &j, &err);
    is_int(j ? (int)j->status : -1, XP_ST_TIMED_OUT, "%s: ... as timed_out",
           tag);

    is_int(xp_store_purge(st, p, now - 60000, NULL, NULL, &purged, &err), XP_OK,
           "%s: purge old", tag);
    is_int(purged->nelts, 0, "%s: nothing finished that long ago", tag);
    xp_store_purge(st, p, xp_now_ms() + 1, NULL, NULL, &purged, &err);
    q.has_status = 0;
    xp_store_list(st, p, &q, &jobs, &total, &err);
    ok(purged->nelts > 2, "%s: finished jobs purged (%d)", tag, purged->nelts);
    q.has_status = 1;
    q.status = XP_ST_QUEUED;
    {
        apr_int64_t queued;
        xp_store_list(st, p, &q, &jobs, &queued, &err);
        is_int(total, queued, "%s: only queued jobs remain", tag);
    }
}

/* Jobs keep the API that created them; lists filter by it. */
static void test_api(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    xp_error_t err = {0};
    xp_store_query_t q = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = -1;
    xp_job_t *a = mkjob(p, "api-user", 200), *b = mkjob(p, "api-user", 201);
    xp_job_t *c = mkjob(p, "api-user", 202), *got = NULL;

    b->api = "qiscus";
    c->api = "spark";
    ok(xp_store_insert(st, p, a, 0, &err) == XP_OK &&
           xp_store_insert(st, p, b, 0, &err) == XP_OK &&
           xp_store_insert(st, p, c, 0, &err) == XP_OK,
       "%s: jobs of three APIs inserted", tag);
    xp_store_get(st, p, a->id, &got, &err);
    is_str(got ? got->api : NULL, "native", "%s: no api is stored as native",
           tag);
    xp_store_get(st, p, b->id, &got, &err);
    is_str(got ? got->api : NULL, "qiscus", "%s: api round-trips", tag);
    q.kind = XP_KIND_EXPORT;
    q.user_id = "api-user";
    q.limit = 10;
    xp_store_list_api(st, p, &q, NULL, &jobs, &total, &err);
    is_int(total, 3, "%s: no api filter lists every API", tag);
    xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 3, "%s: ... as xp_store_list does", tag);
    xp_store_list_api(st, p, &q, "spark", &jobs, &total, &err);
    is_int(total, 1, "%s: api filter counts one API", tag);
    is_str(jobs->nelts == 1 ? APR_ARRAY_IDX(jobs, 0, xp_job_t *)->id : NULL,
           c->id, "%s: ... and lists its job", tag);
    xp_store_list_api(st, p, &q, "ocl", &jobs, &total, &err);
    is_int(total, 0, "%s: an API without jobs lists none", tag);
    xp_store_claim(st, p, "api-owner", &got, &err);
    ok(got && got->api, "%s: a claimed job carries its api (%s)", tag,
       got ? got->api : "none");
    xp_store_delete(st, p, a->id, &err);
    xp_store_delete(st, p, b->id, &err);
    xp_store_delete(st, p, c->id, &err);
}

/* A store of an older version is made by undoing the newer steps on a
 * new one; j is inserted first, so it is a job of the old store. */
static const char *const undo_4[] = {
    "DROP INDEX xport_jobs_tenant", "ALTER TABLE xport_jobs DROP COLUMN tenant",
    "UPDATE xport_schema SET version = 3", NULL};
static const char *const undo_3[] = {
    "DROP INDEX xport_jobs_key_active", "DROP INDEX xport_jobs_key",
    "ALTER TABLE xport_jobs DROP COLUMN job_key",
    "UPDATE xport_schema SET version = 2", NULL};
static const char *const undo_2[] = {"DROP INDEX xport_jobs_api",
                                     "ALTER TABLE xport_jobs DROP COLUMN api",
                                     "DROP TABLE xport_settings",
                                     "DROP TABLE xport_used_links",
                                     "UPDATE xport_schema SET version = 1",
                                     NULL};

static xp_store_t *old_store(apr_pool_t *p, const char *drv, const char *params,
                             int version, xp_job_t *j, const char *tag)
{
    xp_store_t *st = open_store(p, drv, params);
    xp_error_t err = {0};
    xp_db_t *db;
    int i, undone = 1;

    if (!st || xp_store_migrate(st, p, &err) != XP_OK ||
        xp_store_insert(st, p, j, 0, &err) != XP_OK ||
        xp_db_open(p, drv, params, "test", &db, &err) != XP_OK) {
        ok(0, "%s: a store to upgrade: %s", tag, err.message);
        return NULL;
    }
    xp_store_close(st);
    for (i = 0; undo_4[i]; i++)
        undone = undone && xp_db_run(db, p, undo_4[i], &err) == XP_OK;
    for (i = 0; undo_3[i]; i++)
        undone = undone && xp_db_run(db, p, undo_3[i], &err) == XP_OK;
    for (i = 0; version < 2 && undo_2[i]; i++)
        undone = undone && xp_db_run(db, p, undo_2[i], &err) == XP_OK;
    ok(undone, "%s: a version %d store with a job: %s", tag, version,
       undone ? "made" : err.message);
    xp_db_close(db);
    st = open_store(p, drv, params);
    is_int(st ? xp_store_migrate(st, p, &err) : XP_EDB, XP_OK,
           "%s: upgraded from version %d", tag, version);
    return st;
}

/* A store of version 1 (before jobs had an api) or 2 (before keys):
 * the upgrade keeps its jobs, native and without a key, and new jobs
 * get the one-active-job-per-key rule. */
static void test_upgrade(apr_pool_t *p, const char *drv, const char *params,
                         int version, const char *tag)
{
    xp_job_t *j = mkjob(p, "old-user", 300), *got = NULL;
    xp_job_t *a = mkjob(p, "old-user", 301), *b = mkjob(p, "old-user", 302);
    xp_store_t *st = old_store(p, drv, params, version, j, tag);
    xp_error_t err = {0};

    if (!st)
        return;
    is_int(xp_store_get(st, p, j->id, &got, &err), XP_OK,
           "%s: the old job is still there", tag);
    is_str(got ? got->api : NULL, "native", "%s: ... made by the native API",
           tag);
    ok(got && !got->key, "%s: ... without a key", tag);
    ok(got && !got->tenant, "%s: ... and without a tenant", tag);
    a->key = b->key = "upgraded-key";
    is_int(xp_store_insert(st, p, a, 0, &err), XP_OK,
           "%s: a job with a key after the upgrade", tag);
    is_int(xp_store_insert(st, p, b, 0, &err), XP_ECONFLICT,
           "%s: ... and a second one of that key conflicts", tag);
    xp_store_delete(st, p, j->id, &err);
    xp_store_delete(st, p, a->id, &err);
    xp_store_close(st);
}

/* One secret per name, the same on every connection. */
static void test_secret(apr_pool_t *p, xp_store_t *st, const char *drv,
                        const char *params, const char *tag)
{
    const unsigned char *a = NULL, *b = NULL, *c = NULL;
    xp_store_t *other = open_store(p, drv, params);
    xp_error_t err = {0};

    is_int(xp_store_secret(st, p, "link", &a, &err), XP_OK,
           "%s: the link secret is made on first use", tag);
    is_int(other ? xp_store_secret(other, p, "link", &b, &err) : XP_EDB, XP_OK,
           "%s: another connection reads it", tag);
    ok(a && b && !memcmp(a, b, XP_STORE_SECRET_LEN),
       "%s: ... and gets the same bytes", tag);
    xp_store_secret(st, p, "other", &c, &err);
    ok(a && c && memcmp(a, c, XP_STORE_SECRET_LEN),
       "%s: another name, another secret", tag);
    xp_store_secret(st, p, "link", &b, &err);
    ok(a && b && !memcmp(a, b, XP_STORE_SECRET_LEN),
       "%s: asked again, the same secret", tag);
    xp_store_close(other);
}

static void test_link_use(apr_pool_t *p, xp_store_t *st, const char *tag)
{
    apr_int64_t now = apr_time_sec(apr_time_now());
    xp_error_t err = {0};
    int used = -1;

    is_int(xp_store_link_use(st, p, "sig-a", now + 60, &used, &err), XP_OK,
           "%s: spend a link", tag);
    is_int(used, 0, "%s: ... not spent before", tag);
    xp_store_link_use(st, p, "sig-a", now + 60, &used, &err);
    is_int(used, 1, "%s: spent again: reused", tag);
    xp_store_link_use(st, p, "sig-b", now + 60, &used, &err);
    is_int(used, 0, "%s: another link is its own", tag);
    xp_store_link_use(st, p, "sig-old", now - 10, &used, &err);
    is_int(used, 0, "%s: an expired link's row is written", tag);
    xp_store_link_use(st, p, "sig-old", now - 10, &used, &err);
    is_int(used, 0, "%s: ... and purged by the next use", tag);
    xp_store_link_use(st, p, "sig-a", now + 60, &used, &err);
    is_int(used, 1, "%s: an unexpired row survives the purge", tag);
}

/* One active job per key: a second insert conflicts (on any connection,
 * under a limit or not) until the first has finished or is cancelled;
 * jobs without a key never conflict; the newest job of a key is found
 * in any state. */
static void test_keys(apr_pool_t *p, xp_store_t *st, const char *drv,
                      const char *params, const char *tag)
{
    static const char *const key = "/orgs/CIEL/sources/CIEL/v2016-08-22/";
    xp_job_t *a = mkjob(p, "key-user", -100000), *got = NULL;
    xp_job_t *b = mkjob(p, "key-user", -99999), *c = mkjob(p, "key-user", 0);
    xp_job_t *n1 = mkjob(p, "key-user", 1), *n2 = mkjob(p, "key-user", 2);
    xp_store_t *other = open_store(p, drv, params);
    xp_error_t err = {0};

    a->key = b->key = c->key = key;
    is_int(xp_store_insert(st, p, a, 0, &err), XP_OK, "%s: a job with a key",
           tag);
    xp_store_get(st, p, a->id, &got, &err);
    is_str(got ? got->key : NULL, key, "%s: ... its key round-trips", tag);
    err.message = NULL;
    is_int(other ? xp_store_insert(other, p, b, 0, &err) : XP_EDB, XP_ECONFLICT,
           "%s: another connection, the same key: conflict", tag);
    ok(err.message && strstr(err.message, key) &&
           strstr(err.message, "active job"),
       "%s: ... saying why: %s", tag, err.message);
    is_int(xp_store_insert(st, p, b, 5, &err), XP_ECONFLICT,
           "%s: ... also under a per-user limit", tag);
    ok(xp_store_insert(st, p, n1, 0, &err) == XP_OK &&
           xp_store_insert(st, p, n2, 0, &err) == XP_OK,
       "%s: jobs without a key never conflict", tag);
    is_int(xp_store_find_key(st, p, key, &got, &err), XP_OK,
           "%s: find the job of a key", tag);
    is_str(got ? got->id : NULL, a->id, "%s: ... the active one", tag);
    got = a;
    is_int(xp_store_find_key(st, p, "no such key", &got, &err), XP_OK,
           "%s: find an unknown key", tag);
    ok(got == NULL, "%s: ... finds none", tag);
    xp_store_claim(st, p, "host:key", &got, &err);
    is_str(got ? got->id : NULL, a->id, "%s: the keyed job is claimed", tag);
    is_int(xp_store_insert(other, p, b, 0, &err), XP_ECONFLICT,
           "%s: a running job keeps its key", tag);
    if (got) {
        got->status = XP_ST_COMPLETED;
        xp_store_finish(st, p, got, &err);
    }
    is_int(xp_store_insert(other, p, b, 0, &err), XP_OK,
           "%s: once it has finished, the key is free", tag);
    xp_store_find_key(st, p, key, &got, &err);
    is_str(got ? got->id : NULL, b->id, "%s: the newest job of the key", tag);
    is_int(xp_store_insert(st, p, c, 0, &err), XP_ECONFLICT,
           "%s: a queued job holds the key", tag);
    xp_store_cancel(st, p, b->id, &got, &err);
    is_int(xp_store_insert(st, p, c, 0, &err), XP_OK,
           "%s: a cancelled one frees it", tag);
    xp_store_find_key(st, p, key, &got, &err);
    is_str(got ? got->id : NULL, c->id, "%s: ... and the newest is found", tag);
    is_int(xp_store_find_key(st, p, NULL, &got, &err), XP_EINVAL,
           "%s: no key to find is refused", tag);
    xp_store_delete(st, p, a->id, &err);
    xp_store_delete(st, p, b->id, &err);
    xp_store_delete(st, p, c->id, &err);
    xp_store_delete(st, p, n1->id, &err);
    xp_store_delete(st, p, n2->id, &err);
    xp_store_close(other);
}

/* Run child(i) in RACERS processes started at once, each with its own
 * pool (and so its own connections); codes[i] is child i's exit code,
 * -1 if it did not exit. */
#define RACERS 6
typedef int (*racer_fn)(apr_pool_t *cp, int i, const char *drv,
                        const char *params);

static void race(racer_fn child, const char *drv, const char *params,
                 int codes[RACERS])
{
    pid_t kids[RACERS];
    int i, status;

    fflush(stdout);
    for (i = 0; i < RACERS; i++) {
        if ((kids[i] = fork()) == 0) {
            apr_pool_t *cp;
            int code;
            apr_pool_create(&cp, NULL);
            code = child(cp, i, drv, params);
            fflush(stdout);
            _exit(code);
        }
    }
    for (i = 0; i < RACERS; i++) {
        codes[i] = -1;
        if (waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status))
            codes[i] = WEXITSTATUS(status);
    }
}

/* Migrate, then queue 3 jobs of one user under a limit of 2. */
static int migrate_and_insert(apr_pool_t *cp, int i, const char *drv,
                              const char *params)
{
    xp_store_t *cs = open_store(cp, drv, params);
    xp_error_t err = {0};
    int k;

    (void)i;
    if (!cs || xp_store_migrate(cs, cp, &err) != XP_OK) {
        printf("# child migrate: %s\n", err.message);
        return 1;
    }
    for (k = 0; k < 3; k++) {
        xp_errcode_e rc = xp_store_insert(cs, cp, mkjob(cp, "zed", k), 2, &err);
        if (rc != XP_OK && rc != XP_ELIMIT) {
            printf("# child insert: %s\n", err.message);
            return 2;
        }
    }
    return 0;
}

/* Several processes start at once on a fresh store: each migrates and
 * tries to queue jobs for the same user under a limit of 2. */
static void test_race(apr_pool_t *p, const char *drv, const char *params,
                      const char *tag)
{
    int codes[RACERS], i, clean = 1;
    xp_store_t *st;
    xp_store_query_t q = {0};
    apr_array_header_t *jobs;
    apr_int64_t total = -1;
    xp_error_t err = {0};

    race(migrate_and_insert, drv, params, codes);
    for (i = 0; i < RACERS; i++)
        clean = clean && codes[i] == 0;
    ok(clean, "%s: 6 processes migrate and insert at once", tag);
    st = open_store(p, drv, params);
    q.kind = XP_KIND_EXPORT;
    q.user_id = "zed";
    q.limit = 10;
    if (st)
        xp_store_list(st, p, &q, &jobs, &total, &err);
    is_int(total, 2, "%s: the per-user limit held under the race", tag);
    xp_store_close(st);
}

/* Insert a job of the key "race-key" (every other one under a per-user
 * limit): 0 inserted, 3 the key is taken, 1 anything else. */
static int insert_key(apr_pool_t *cp, int i, const char *drv,
                      const char *params)
{
    xp_store_t *cs = open_store(cp, drv, params);
    xp_job_t *j = mkjob(cp, i % 2 ? "racer" : "other-racer", i);
    xp_error_t err = {0};
    xp_errcode_e rc = XP_EDB;

    j->key = "race-key";
    if (cs)
        rc = xp_store_insert(cs, cp, j, i % 2 ? 3 : 0, &err);
    if (rc != XP_OK && rc != XP_ECONFLICT)
        printf("# racer insert: %s\n", err.message);
    return rc == XP_OK ? 0 : rc == XP_ECONFLICT ? 3 : 1;
}

/* Processes with their own connections insert a job of one key at once:
 * exactly one wins, every other one is told the key is taken. */
static void test_key_race(apr_pool_t *p, const char *drv, const char *params,
                          const char *tag)
{
    int codes[RACERS], i, won = 0, lost = 0;
    xp_store_t *st;
    xp_job_t *got = NULL;
    xp_error_t err = {0};

    race(insert_key, drv, params, codes);
    for (i = 0; i < RACERS; i++) {
        won += codes[i] == 0;
        lost += codes[i] == 3;
    }
    is_int(won, 1, "%s: 6 inserts of one key at once: one wins", tag);
    is_int(lost, 5, "%s: ... the others conflict", tag);
    st = open_store(p, drv, params);
    if (st && xp_store_find_key(st, p, "race-key", &got, &err) == XP_OK && got)
        xp_store_delete(st, p, got->id, &err);
    xp_store_close(st);
}

static void run_suite(apr_pool_t *p, const char *drv, const char *params,
                      const char *tag)
{
    xp_store_t *st = open_store(p, drv, params);

    ok(st != NULL, "%s: store opens", tag);
    if (!st)
        return;
    base_ms = xp_now_ms() - 3600 * 1000;
    test_upgrade(p, drv, params, 1, tag);
    test_upgrade(p, drv, params, 2, tag);
    test_migrate(p, st, tag);
    test_insert_list(p, st, tag);
    test_limit(p, st, tag);
    test_tenant_limit(p, st, tag);
    test_claim(p, st, drv, params, tag);
    test_ownership(p, st, tag);
    test_reap_purge(p, st, tag);
    test_api(p, st, tag);
    test_secret(p, st, drv, params, tag);
    test_link_use(p, st, tag);
    test_keys(p, st, drv, params, tag);
    test_key_race(p, drv, params, tag);
    xp_store_close(st);
}

/* A PostgreSQL connection killed under the store: the call that notices
 * fails with the driver's message, the next one works again. */
static void test_pg_reconnect(apr_pool_t *p, const char *conninfo)
{
    xp_store_t *st = open_store(p, "pgsql", conninfo);
    xp_db_t *admin;
    xp_job_t *j = NULL;
    xp_error_t err = {0};
    xp_errcode_e rc;

    if (!st || xp_db_open(p, "pgsql", conninfo, "test", &admin, &err)) {
        ok(0, "pgsql: connections for the reconnect test");
        return;
    }
    xp_store_migrate(st, p, &err);
    xp_db_run(admin, p,
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = current_database() "
              "AND pid <> pg_backend_pid()",
              &err);
    rc = xp_store_get(st, p, "0123456789abcdef0123456789abcdef", &j, &err);
    ok(rc == XP_EDB && err.message && strstr(err.message, "job store"),
       "pgsql: a killed connection is an error: %s", err.message);
    is_int(xp_store_get(st, p, "0123456789abcdef0123456789abcdef", &j, &err),
           XP_ENOTFOUND, "pgsql: ... and the next call reconnects");
    xp_db_close(admin);
    xp_store_close(st);
}

/* LISTEN / NOTIFY: each change of a job made on one connection is
 * announced on another that listens, as a note of its kind. */
typedef struct heard_t {
    apr_pool_t *p;
    const char *last; /* "<kind> <id> <api> <user>" of the last note */
    int n;
} heard_t;

static void hear(void *baton, const xp_store_note_t *note)
{
    heard_t *h = baton;

    h->n++;
    h->last = apr_psprintf(h->p, "%c %s %s %s", note->kind,
                           note->id ? note->id : "-",
                           note->api ? note->api : "-", note->user);
}

/* The notes that come within timeout (one wait, then what else is
 * there); h->last is the last one's text. */
static int heard(xp_store_t *ear, heard_t *h, apr_interval_time_t timeout)
{
    int got;

    h->n = 0;
    h->last = "";
    got = xp_store_announced(ear, timeout, hear, h);
    while (got > 0 && xp_store_announced(ear, apr_time_from_msec(50), hear,
                                         h) > 0)
        ;
    return got < 0 ? got : h->n;
}

static void test_pg_announce(apr_pool_t *p, const char *conninfo)
{
    xp_store_t *ear = open_store(p, "pgsql", conninfo);
    xp_store_t *st = open_store(p, "pgsql", conninfo);
    xp_job_t *j = mkjob(p, "ann ouncer", 0), *claimed = NULL, *out = NULL;
    heard_t h = {p, "", 0};
    xp_error_t err = {0};
    const char *c;

    if (!ear || !st) {
        ok(0, "pgsql: connections for the announce test");
        return;
    }
    j->api = "spark";
    is_int(xp_store_listen(ear, p, &err), XP_OK, "pgsql: LISTEN");
    is_int(heard(ear, &h, apr_time_from_msec(50)), 0,
           "pgsql: nothing announced yet");
    is_int(xp_store_insert(st, p, j, 0, &err), XP_OK, "pgsql: insert");
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1,
           "pgsql: the insert is announced once");
    is_str(h.last, apr_psprintf(p, "q %s spark ann ouncer", j->id),
           "pgsql: ... as claimable, with its id, API and user");
    xp_store_claim(st, p, "announcer:1", &claimed, &err);
    ok(claimed != NULL, "pgsql: claimed");
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1, "pgsql: the claim too");
    c = apr_psprintf(p, "c %s spark ann ouncer", j->id);
    is_str(h.last, c, "pgsql: ... as a change (no idle worker wakes)");
    xp_store_heartbeat(st, p, j->id, "announcer:1", 5, 10, NULL, &err);
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1, "pgsql: progress too");
    is_str(h.last, apr_psprintf(p, "c %s - ", j->id),
           "pgsql: ... a change of that id");
    xp_store_cancel(st, p, j->id, &out, &err);
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1,
           "pgsql: a cancel asked for while it runs");
    is_str(h.last, apr_psprintf(p, "x %s spark ann ouncer", j->id),
           "pgsql: ... as a cancel (its worker stops it at once)");
    if (claimed)
        is_int(xp_store_requeue(st, p, claimed->id, "announcer:1", &err),
               XP_OK, "pgsql: handed back (ends cancelled)");
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1, "pgsql: ... announced");
    is_int(xp_store_delete(st, p, j->id, &err), XP_OK, "pgsql: deleted");
    is_int(heard(ear, &h, apr_time_from_sec(5)), 1, "pgsql: ... announced");
    is_str(h.last, apr_psprintf(p, "c %s - ", j->id), "pgsql: ... as a change");
    xp_store_close(ear);
    is_int(xp_store_announced(ear, apr_time_from_msec(50), hear, &h), -1,
           "pgsql: a closed connection says so");
    xp_store_close(st);
}

/* Turns: of two connections one has the maintenance turn until it ends
 * it or goes away. */
static void test_pg_turns(apr_pool_t *p, const char *conninfo)
{
    xp_store_t *a = open_store(p, "pgsql", conninfo);
    xp_store_t *b = open_store(p, "pgsql", conninfo);
    xp_error_t err = {0};
    int mine = -1, tries;

    if (!a || !b) {
        ok(0, "pgsql: connections for the turn test");
        return;
    }
    xp_store_take_turn(a, p, "maintenance", &mine, &err);
    is_int(mine, 1, "pgsql: the first node has the turn");
    xp_store_take_turn(b, p, "maintenance", &mine, &err);
    is_int(mine, 0, "pgsql: ... the second does not");
    xp_store_end_turn(a, p, "maintenance");
    xp_store_take_turn(b, p, "maintenance", &mine, &err);
    is_int(mine, 1, "pgsql: once it is over, the second has it");
    xp_store_take_turn(a, p, "other work", &mine, &err);
    is_int(mine, 1, "pgsql: another kind of work has its own turn");
    xp_store_close(b);
    /* its server process lets go as it exits, a moment after */
    for (tries = 0; tries < 100; tries++) {
        xp_store_take_turn(a, p, "maintenance", &mine, &err);
        if (mine)
            break;
        apr_sleep(apr_time_from_msec(50));
    }
    is_int(mine, 1, "pgsql: a node that goes away hands its turn on");
    xp_store_close(a);
}

static void pg_reset(apr_pool_t *p, const char *conninfo)
{
    xp_db_t *db;
    xp_error_t err = {0};

    if (xp_db_open(p, "pgsql", conninfo, "test", &db, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return;
    }
    xp_db_run(db, p, "DROP TABLE IF EXISTS xport_jobs", &err);
    xp_db_run(db, p, "DROP TABLE IF EXISTS xport_schema", &err);
    xp_db_run(db, p, "DROP TABLE IF EXISTS xport_settings", &err);
    xp_db_run(db, p, "DROP TABLE IF EXISTS xport_used_links", &err);
    xp_db_close(db);
}

int main(void)
{
    apr_pool_t *p;
    char dir[] = "/tmp/xp-store-XXXXXX";
    const char *pg = getenv("XPORT_TEST_PG");
    xp_store_t *st;
    xp_error_t err = {0};

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    base_ms = xp_now_ms();
    test_race(p, "sqlite3", apr_pstrcat(p, dir, "/race.db", NULL), "sqlite");
    run_suite(p, "sqlite3", apr_pstrcat(p, dir, "/jobs.db", NULL), "sqlite");
    st = open_store(p, "sqlite3", apr_pstrcat(p, dir, "/jobs.db", NULL));
    is_int(xp_store_listen(st, p, &err), XP_EINVAL,
           "sqlite: no LISTEN (one node, shared memory wakes its workers)");
    xp_store_close(st);
    is_int(xp_store_open(p, "mysql", "x", &st, &err), XP_EINVAL,
           "unsupported driver refused");
    is_int(xp_store_open(p, "sqlite3", "/nonexistent/dir/jobs.db", &st, &err),
           XP_EDB, "store in a missing directory fails");
    ok(err.message && strstr(err.message, "job store"),
       "... naming the job store: %s", err.message);
    if (pg && *pg) {
        pg_reset(p, pg);
        test_race(p, "pgsql", pg, "pgsql");
        pg_reset(p, pg);
        run_suite(p, "pgsql", pg, "pgsql");
        test_pg_reconnect(p, pg);
        test_pg_announce(p, pg);
        test_pg_turns(p, pg);
    } else {
        printf("# XPORT_TEST_PG not set: PostgreSQL not tested\n");
    }
    apr_file_remove(apr_pstrcat(p, dir, "/race.db", NULL), p);
    apr_file_remove(apr_pstrcat(p, dir, "/race.db-wal", NULL), p);
    apr_file_remove(apr_pstrcat(p, dir, "/race.db-shm", NULL), p);
    apr_file_remove(apr_pstrcat(p, dir, "/jobs.db", NULL), p);
    apr_file_remove(apr_pstrcat(p, dir, "/jobs.db-wal", NULL), p);
    apr_file_remove(apr_pstrcat(p, dir, "/jobs.db-shm", NULL), p);
    apr_dir_remove(dir, p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
