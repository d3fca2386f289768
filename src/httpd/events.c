/*
 * events.c -- the event streams of SPEC 9: GET <Location>/exports/<id>/events,
 * <Location>/imports/<id>/events and <Location>/events, text/event-stream
 * with the job's record in the Location's API (xport_api_t.record).
 *
 * A stream holds its request's thread and one place within
 * XportMaxEventStreams (live.c, all children together). It learns of a
 * change of state from the live table's journal and of progress from the
 * live table's slots: while nothing changes it asks nothing of the job
 * store and holds no connection to it, and it reads a job from the store
 * once per change of that job's state (and once per keep-alive, a safety
 * net for a change noted elsewhere).
 *
 * Event numbers come from the job's own times: 4 x the milliseconds since
 * the job was created, plus 0 queued, 1 running, 2 progress, 3 ended. They
 * increase, and a reconnect with Last-Event-ID is answered from the
 * stored job alone: every state the job reached after that event is sent,
 * a missed "running" rebuilt from the job's start.
 */
#include <errno.h>
#include <sys/socket.h>

#include "xport_jobs.h"

#include <apr_poll.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include <http_core.h>
#include <http_protocol.h>
#include <scoreboard.h>

#define EV_TICK apr_time_from_msec(250)
#define EV_KEEPALIVE apr_time_from_sec(15)
#define EV_RETRY_AFTER "10"
#define EV_RESUME_MAX 200 /* jobs looked at when /events resumes */
#define EV_OPEN_MAX 200   /* active jobs /events opens with */

#define PH_QUEUED 0
#define PH_RUNNING 1
#define PH_PROGRESS 2
#define PH_ENDED 3

/* What a stream knows of one job. */
typedef struct ev_job_t {
    char id[33];
    apr_int64_t last; /* the last event number sent, -1: none */
    apr_int64_t done; /* progress last sent, -1: none */
    xp_status_e status;
    int stale;        /* a read failed: read again next turn */
    int over;         /* sent its end (or it is gone): followed no more */
    apr_pool_t *pool; /* job's, cleared when it is read again */
    xp_job_t *job;    /* as last read; NULL before */
} ev_job_t;

typedef struct ev_stream_t {
    xport_req_t *q;
    int all;          /* <Location>/events: every job the caller may see */
    apr_hash_t *jobs; /* id -> ev_job_t *: the jobs it follows */
    apr_uint32_t seq; /* the journal read so far */
    xport_live_change_t *changes; /* XPORT_LIVE_JOURNAL of them */
    apr_time_t sent;              /* when something was last written */
    apr_socket_t *sock; /* the client's, to notice a hang-up; or NULL */
    apr_pool_t *tick;   /* cleared every turn */
    apr_pool_t *lists;  /* jobs listed from the store (opening, after a
                           journal overrun): kept while the stream is */
} ev_stream_t;

/* ------------------------------------------------------------------ */
/* Event numbers                                                       */
/* ------------------------------------------------------------------ */

static int ended(xp_status_e st)
{
    return st != XP_ST_QUEUED && st != XP_ST_RUNNING;
}

static apr_int64_t number(const xp_job_t *job, apr_int64_t at_ms, int phase)
{
    apr_int64_t off = at_ms - job->created_at;

    return (off > 0 ? off : 0) * 4 + phase;
}

/* The number of the event that brought the job to its present state. */
static apr_int64_t state_number(const xp_job_t *job)
{
    switch (job->status) {
    case XP_ST_QUEUED: /* later than created when it was re-queued */
        return number(job, job->updated_at, PH_QUEUED);
    case XP_ST_RUNNING:
        return number(job, job->started_at, PH_RUNNING);
    default:
        return number(job,
                      job->finished_at > 0 ? job->finished_at : job->updated_at,
                      PH_ENDED);
    }
}

/* The job as it was when it was created (status queued) or started
 * running: what a stream that missed that moment is sent. */
static xp_job_t *as_of(apr_pool_t *p, const xp_job_t *job, xp_status_e st)
{
    xp_job_t *j = apr_pmemdup(p, job, sizeof(*job));

    j->status = st;
    j->finished_at = 0;
    if (st == XP_ST_QUEUED) {
        j->started_at = 0;
        j->updated_at = job->created_at;
        j->progress_total = 0;
    } else {
        j->updated_at = job->started_at;
    }
    j->file_size = -1;
    j->sha256 = NULL;
    j->counts = j->changes = j->error_messages = NULL;
    j->errors_total = 0;
    j->progress_done = 0;
    return j;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* 0, or -1 when the client is gone. */
static int ev_write(ev_stream_t *es, const char *data, apr_size_t len)
{
    request_rec *r = es->q->r;

    if (ap_rwrite(data, (int)len, r) < 0 || ap_rflush(r) != APR_SUCCESS ||
        r->connection->aborted) {
        return -1;
    }
    es->sent = apr_time_now();
    return 0;
}

/* The request as seen from pool p: an API renders into the turn's pool,
 * since a stream may live for hours and its request's pool must not
 * grow with every event. */
static xport_req_t *ev_req(ev_stream_t *es, apr_pool_t *p)
{
    request_rec *r = apr_pmemdup(p, es->q->r, sizeof(request_rec));
    xport_req_t *q = apr_pmemdup(p, es->q, sizeof(xport_req_t));

    r->pool = p;
    q->r = r;
    q->lease = NULL;
    return q;
}

/* One event: its name, its number (on /events "<job id>:<n>") and the
 * job's record. */
static int ev_send(ev_stream_t *es, const char *event, ev_job_t *ej,
                   apr_int64_t n, xp_job_t *job)
{
    xp_buf_t b;

    if (n <= ej->last) {
        n = ej->last + 1; /* two in one millisecond */
    }
    xp_buf_init(&b, es->tick, 2048);
    xp_buf_adds(&b, "event: ");
    xp_buf_adds(&b, event);
    xp_buf_adds(&b, "\nid: ");
    if (es->all) {
        xp_buf_adds(&b, ej->id);
        xp_buf_addc(&b, ':');
    }
    xp_buf_adds(&b, apr_psprintf(es->tick, "%" APR_INT64_T_FMT, n));
    xp_buf_adds(&b, "\ndata: ");
    es->q->api->record(ev_req(es, es->tick), job, &b);
    xp_buf_adds(&b, "\n\n");
    ej->last = n;
    ej->status = job->status;
    return ev_write(es, b.data, b.len);
}

/* The states job reached after event number after (-1: from its
 * creation on), each as a status event: missed ones are rebuilt from the
 * job's times, the present state is the job. */
static int ev_catch_up(ev_stream_t *es, ev_job_t *ej, xp_job_t *job,
                       apr_int64_t after)
{
    apr_int64_t now = state_number(job), started, total;
    apr_time_t at;

    if (after < 0 && job->status != XP_ST_QUEUED &&
        ev_send(es, "status", ej, 0, as_of(es->tick, job, XP_ST_QUEUED)) < 0) {
        return -1;
    }
    if (ended(job->status) && job->started_at > 0) {
        started = number(job, job->started_at, PH_RUNNING);
        if (started > after && started < now &&
            ev_send(es, "status", ej, started,
                    as_of(es->tick, job, XP_ST_RUNNING)) < 0) {
            return -1;
        }
    }
    if (now > after) {
        if (job->status == XP_ST_RUNNING && /* the record shows it */
            !xport_live_progress_of(job->id, &ej->done, &total, &at)) {
            ej->done = job->progress_done;
        }
        if (ev_send(es, "status", ej, now, job) < 0) {
            return -1;
        }
    }
    ej->status = job->status; /* the client has it */
    if (ej->last < after) {
        ej->last = after;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The jobs a stream follows                                           */
/* ------------------------------------------------------------------ */

/* May the caller see job here: its API's, its own (or a supervisor's
 * request), and a tenant its key holds. */
static int ev_visible(const xport_req_t *q, const xp_job_t *job)
{
    return xport_job_visible(q, job) &&
           (!job->tenant || q->supervisor ||
            xport_token_tenant_allowed(q->r, job->tenant));
}

/* A job to follow; the job as read lives in a pool of its own, the
 * entry (a few bytes) as long as the stream. */
static ev_job_t *ev_follow(ev_stream_t *es, const char *id)
{
    ev_job_t *ej = apr_hash_get(es->jobs, id, APR_HASH_KEY_STRING);

    if (!ej) {
        ej = apr_pcalloc(es->q->r->pool, sizeof(*ej));
        apr_pool_create(&ej->pool, es->q->r->pool);
        apr_cpystrn(ej->id, id, sizeof(ej->id));
        ej->last = ej->done = -1;
        apr_hash_set(es->jobs, ej->id, APR_HASH_KEY_STRING, ej);
    }
    return ej;
}

/* A job whose end was sent (or that is gone) is followed no more; its
 * entry stays, so that a later change noted for it (a node's echo of its
 * own change, two changes in one turn) does not send its states again. */
static void ev_unfollow(ev_job_t *ej)
{
    apr_pool_destroy(ej->pool);
    ej->pool = NULL;
    ej->job = NULL;
    ej->over = 1;
}

/* Read the job again (one store read, the connection given back at
 * once): 1 read, 0 gone (deleted, no longer visible), -1 the store did
 * not answer (logged; asked again later). */
static int ev_read(ev_stream_t *es, ev_job_t *ej)
{
    apr_pool_t *p;
    xport_req_t *q;
    xp_job_t *job = NULL;
    xp_errcode_e rc = XP_OK;
    xp_error_t err = {0};
    int got;

    apr_pool_create(&p, es->q->r->pool);
    q = ev_req(es, p);
    got = xport_store_get(q, ej->id, &job, &rc, &err);
    xport_store_done(q);
    if (got < 0 || (rc != XP_OK && rc != XP_ENOTFOUND)) {
        apr_pool_destroy(p);
        return -1;
    }
    if (rc == XP_ENOTFOUND || !ev_visible(es->q, job)) {
        apr_pool_destroy(p);
        return 0;
    }
    apr_pool_destroy(ej->pool); /* the job read before */
    ej->pool = p;
    ej->job = job;
    return 1;
}

/* Read the job again and send the states it reached. 1 when it is
 * followed no more (ended, deleted), 0 on, -1 when the client is gone. */
static int ev_refresh(ev_stream_t *es, ev_job_t *ej)
{
    int got = ev_read(es, ej);

    ej->stale = got < 0;
    if (got < 0) {
        return 0;
    }
    if (!got || (ej->job->status == ej->status && ej->last >= 0)) {
        return !got;
    }
    if (ev_catch_up(es, ej, ej->job, ej->last) < 0) {
        return -1;
    }
    return ended(ej->job->status);
}

/* Progress of a running job when it moved since it was last sent; the
 * record is rendered from the job as last read and the live table, or
 * for a job run by another node, from its progress as last read (the
 * store has it at each heartbeat, and each is announced). */
static int ev_progress(ev_stream_t *es, ev_job_t *ej)
{
    apr_int64_t done, total;
    apr_time_t at;

    if (ej->status != XP_ST_RUNNING || !ej->job) {
        return 0;
    }
    if (!xport_live_progress_of(ej->id, &done, &total, &at)) {
        done = ej->job->progress_done;
        at = apr_time_from_msec(ej->job->updated_at);
    }
    if (done == ej->done) {
        return 0;
    }
    ej->done = done;
    return ev_send(es, "progress", ej,
                   number(ej->job, apr_time_as_msec(at), PH_PROGRESS), ej->job);
}

/* ------------------------------------------------------------------ */
/* One turn                                                            */
/* ------------------------------------------------------------------ */

/* Is this process on its way out (graceful restart or stop)? */
static int ev_stopping(void)
{
    int state = AP_MPMQ_RUNNING, generation = 0;

    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
        state == AP_MPMQ_STOPPING) {
        return 1;
    }
    /* a graceful restart: the parent runs a new generation */
    return ap_scoreboard_image &&
           ap_mpm_query(AP_MPMQ_GENERATION, &generation) == APR_SUCCESS &&
           ap_scoreboard_image->global->running_generation != generation;
}

/* Wait one turn, watching the client's socket: -1 when it hung up. */
static int ev_wait(ev_stream_t *es)
{
    apr_pollfd_t pfd = {0};
    apr_int32_t n = 0;
    apr_os_sock_t fd;
    char c;

    if (!es->sock) {
        apr_sleep(EV_TICK);
        return 0;
    }
    pfd.p = es->tick;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = es->sock;
    if (apr_poll(&pfd, 1, &n, EV_TICK) != APR_SUCCESS || n < 1) {
        return 0;
    }
    if (apr_os_sock_get(&fd, es->sock) == APR_SUCCESS) {
        ssize_t got = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

        /* closed (FIN), or reset (a client that left unread data) */
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                         errno != EINTR)) {
            return -1;
        }
    }
    /* something to read that a stream does not expect (or TLS): from
     * now on the next write tells whether the client is there */
    es->sock = NULL;
    apr_sleep(EV_TICK);
    return 0;
}

/* ev_refresh, and what it means for the stream: 0 on, 1 over (a job's
 * stream whose job ended), -1 the client is gone. */
static int ev_update(ev_stream_t *es, ev_job_t *ej)
{
    int rc = ev_refresh(es, ej);

    if (rc > 0 && es->all) {
        ev_unfollow(ej);
        return 0;
    }
    return rc;
}

static int ev_follow_active(ev_stream_t *es, apr_int64_t since);

/* The journal since the last turn: which followed jobs changed, and on
 * /events which jobs to follow now. As ev_update. */
static int ev_changes(ev_stream_t *es)
{
    int n = xport_live_changes(&es->seq, es->changes, XPORT_LIVE_JOURNAL);
    int i, rc;
    apr_hash_index_t *hi;

    if (n < 0) { /* some were missed: read every job again */
        for (hi = apr_hash_first(es->tick, es->jobs); hi;
             hi = apr_hash_next(hi)) {
            ev_job_t *ej = apr_hash_this_val(hi);

            if (!ej->over && (rc = ev_update(es, ej)) != 0)
                return rc;
        }
        return es->all ? ev_follow_active(es, -1) : 0;
    }
    for (i = 0; i < n; i++) {
        const xport_live_change_t *c = &es->changes[i];
        xp_job_t who = {0};
        ev_job_t *ej = apr_hash_get(es->jobs, c->id, APR_HASH_KEY_STRING);

        who.user_id = c->user;
        who.api = c->api;
        if (ej ? ej->over : !es->all || !xport_job_visible(es->q, &who))
            continue; /* over, another job, or one the caller may not see */
        if (!ej)
            ej = ev_follow(es, c->id);
        if ((rc = ev_update(es, ej)) != 0)
            return rc;
    }
    return 0;
}

/* Every job followed: its progress, and its stored state when the last
 * read failed or on a keep-alive (a change the journal did not carry).
 * As ev_update. */
static int ev_each(ev_stream_t *es, int reread)
{
    apr_hash_index_t *hi;
    int rc;

    for (hi = apr_hash_first(es->tick, es->jobs); hi; hi = apr_hash_next(hi)) {
        ev_job_t *ej = apr_hash_this_val(hi);

        if (ej->over)
            continue;
        if (ev_progress(es, ej) < 0)
            return -1;
        if ((reread || ej->stale) && (rc = ev_update(es, ej)) != 0)
            return rc;
    }
    return 0;
}

/* Turns until the stream is over, the client gone or the process on
 * its way out (the client reconnects to the next generation). */
static void ev_turns(ev_stream_t *es)
{
    int keepalive;

    for (;;) {
        apr_pool_clear(es->tick);
        if (ev_wait(es) < 0 || ev_stopping() || ev_changes(es) != 0) {
            return;
        }
        keepalive = apr_time_now() - es->sent >= EV_KEEPALIVE;
        if (keepalive && ev_write(es, ": keep-alive\n\n", 14) < 0) {
            return;
        }
        if (ev_each(es, keepalive) != 0) {
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Opening                                                             */
/* ------------------------------------------------------------------ */

static apr_status_t ev_close(void *data)
{
    xport_live_stream_close((int)(apr_uintptr_t)data);
    return APR_SUCCESS;
}

/* A place within XportMaxEventStreams, held until the request ends;
 * over the bound a 503 with Retry-After has been answered (-1). */
static int ev_place(xport_req_t *q)
{
    int place = xport_live_stream_open();

    if (place < 0) {
        apr_table_setn(q->r->headers_out, "Retry-After", EV_RETRY_AFTER);
        xport_error(q, HTTP_SERVICE_UNAVAILABLE,
                    "Too many event streams are open on this server "
                    "(XportMaxEventStreams); try again later, or poll the "
                    "job.");
        return -1;
    }
    apr_pool_cleanup_register(q->r->pool, (void *)(apr_uintptr_t)place,
                              ev_close, apr_pool_cleanup_null);
    return 0;
}

/* The response's head; from here on errors are logged, not sent. */
static void ev_begin(xport_req_t *q, ev_stream_t *es, apr_uint32_t seq)
{
    request_rec *r = q->r;
    conn_rec *c = r->connection;

    r->status = HTTP_OK;
    ap_set_content_type(r, "text/event-stream");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    xport_store_done(q);
    q->streaming = 1;
    memset(es, 0, sizeof(*es));
    es->q = q;
    es->seq = seq;
    es->jobs = apr_hash_make(r->pool);
    es->changes =
        apr_palloc(r->pool, XPORT_LIVE_JOURNAL * sizeof(xport_live_change_t));
    es->sock = c->master ? NULL : ap_get_conn_socket(c);
    apr_pool_create(&es->tick, r->pool);
    apr_pool_create(&es->lists, r->pool);
}

/* Last-Event-ID: "<n>" on a job's stream, "<job id>:<n>" on /events. */
static apr_int64_t last_event(request_rec *r, const char **job_id)
{
    const char *h = apr_table_get(r->headers_in, "Last-Event-ID");
    const char *colon;
    char *end;
    apr_int64_t n;

    *job_id = NULL;
    if (!h || !*h) {
        return -1;
    }
    if ((colon = strchr(h, ':'))) {
        *job_id = apr_pstrndup(r->pool, h, colon - h);
        h = colon + 1;
    }
    n = apr_strtoi64(h, &end, 10);
    return *end || n < 0 || end == h ? -1 : n;
}

/* GET <Location>/exports/<id>/events: the job's record now, each state
 * change and progress, until its last event. */
static int job_stream(xport_req_t *q, xp_kind_e kind, const char *id)
{
    apr_uint32_t seq = xport_live_seq(); /* no change after it is missed */
    ev_stream_t es;
    xp_job_t *job;
    const char *ignored;
    apr_int64_t after = last_event(q->r, &ignored);
    ev_job_t *ej;
    int rc;

    if ((rc = xport_load_job(q, kind, id, &job)) != OK || !job) {
        return rc;
    }
    if (!ev_visible(q, job)) {
        return xport_not_found(q);
    }
    if (ev_place(q) < 0) {
        return OK;
    }
    ev_begin(q, &es, seq);
    if (q->r->header_only) {
        return OK;
    }
    ej = ev_follow(&es, job->id);
    ej->job = job;
    if (after < 0) { /* opens with the record as it is now */
        after = state_number(job) - 1;
    }
    if (ev_write(&es, "retry: 2000\n\n", 13) < 0 ||
        ev_catch_up(&es, ej, job, after) < 0 || ended(job->status)) {
        return OK;
    }
    ev_turns(&es);
    return OK;
}

/* The caller's jobs of both kinds, newest first (limit of each), with
 * only active ones or all; NULL when the store did not answer (logged
 * once the stream has begun). */
static apr_array_header_t *ev_list(ev_stream_t *es, int active, int limit)
{
    xport_req_t *q = ev_req(es, es->lists);
    apr_array_header_t *all = NULL, *jobs;
    xp_store_query_t sq = {0};
    apr_int64_t total;
    int k;

    for (k = XP_KIND_EXPORT; k <= XP_KIND_IMPORT; k++) {
        memset(&sq, 0, sizeof(sq));
        sq.kind = (xp_kind_e)k;
        sq.limit = limit;
        sq.active = active;
        if (xport_jobs_list(q, &sq, &jobs, &total) != OK || !jobs) {
            xport_store_done(q);
            return NULL;
        }
        all = all ? apr_array_append(es->lists, all, jobs) : jobs;
    }
    xport_store_done(q);
    return all;
}

/* Follow every queued or running job the caller may see that is not
 * followed yet, each opened with its record (since >= 0: only if it
 * changed since that moment, ms). As ev_update. */
static int ev_follow_active(ev_stream_t *es, apr_int64_t since)
{
    apr_array_header_t *jobs = ev_list(es, 1, EV_OPEN_MAX);
    int i;

    for (i = 0; jobs && i < jobs->nelts; i++) {
        xp_job_t *job = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        ev_job_t *ej;

        if (!ev_visible(es->q, job) ||
            apr_hash_get(es->jobs, job->id, APR_HASH_KEY_STRING))
            continue;
        ej = ev_follow(es, job->id);
        ej->job = job;
        /* as it is now, or what changed since */
        if (ev_catch_up(es, ej, job,
                        since < 0 ? state_number(job) - 1
                                  : number(job, since, PH_QUEUED) - 1) < 0)
            return -1;
    }
    return 0;
}

/* Resume /events after event n of job id: every state any of the
 * caller's recent jobs reached since that moment (a job's own events
 * from the same millisecond are sent again rather than lost). */
static int ev_resume(ev_stream_t *es, const char *id, apr_int64_t n,
                     apr_int64_t *since_out)
{
    apr_array_header_t *jobs = ev_list(es, 0, EV_RESUME_MAX);
    apr_int64_t since = -1, after;
    int i;

    for (i = 0; jobs && i < jobs->nelts; i++) {
        const xp_job_t *job = APR_ARRAY_IDX(jobs, i, xp_job_t *);

        if (!strcmp(job->id, id))
            since = job->created_at + n / 4;
    }
    for (i = jobs ? jobs->nelts - 1 : -1; since >= 0 && i >= 0; i--) {
        xp_job_t *job = APR_ARRAY_IDX(jobs, i, xp_job_t *);
        ev_job_t *ej;

        if (!ev_visible(es->q, job) || job->updated_at < since)
            continue;
        after = !strcmp(job->id, id) ? n : number(job, since, PH_QUEUED) - 1;
        ej = ev_follow(es, job->id);
        ej->job = job;
        if (ev_catch_up(es, ej, job, after) < 0)
            return -1;
        if (ended(job->status))
            ev_unfollow(ej);
    }
    *since_out = since;
    return 0;
}

/* GET <Location>/events: every job the caller may see, from its
 * active jobs (or from Last-Event-ID) on, until the client leaves. */
static int all_stream(xport_req_t *q)
{
    apr_uint32_t seq = xport_live_seq();
    ev_stream_t es;
    const char *id;
    apr_int64_t n = last_event(q->r, &id), since = -1;

    if (ev_place(q) < 0) {
        return OK;
    }
    ev_begin(q, &es, seq);
    es.all = 1;
    if (q->r->header_only || ev_write(&es, "retry: 2000\n\n", 13) < 0) {
        return OK;
    }
    if (id && xp_id_valid(id) && n >= 0 && ev_resume(&es, id, n, &since) < 0) {
        return OK;
    }
    /* and every active job (from the start when there was no resume or
     * its job is gone) */
    if (ev_follow_active(&es, since) < 0) {
        return OK;
    }
    ev_turns(&es);
    return OK;
}

int xport_events(xport_req_t *q, const char *kind, const char *id)
{
    if (!q->api->record) {
        return DECLINED; /* the API has no job records: not a route */
    }
    if (q->r->method_number != M_GET) { /* HEAD is a GET here */
        return xport_not_allowed(q, "GET, HEAD");
    }
    if (!kind) {
        return all_stream(q);
    }
    id = xp_id_parse(q->r->pool, id); /* the API's form may be a UUID */
    return job_stream(q,
                      strcmp(kind, "imports") ? XP_KIND_EXPORT : XP_KIND_IMPORT,
                      id ? id : "");
}
