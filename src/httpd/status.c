/*
 * status.c -- mod_xport's section of mod_status's server-status page:
 * this node's worker processes, the queue length and every running job,
 * as HTML or, for `server-status?auto`, as lines a script can split.
 *
 * The facts come from two places: the live table (live.c), copied under
 * its lock, for the workers and the jobs they run, and one count query
 * per distinct job store for the queue. The progress and age of a job
 * are the ones every API shows (xport_view_make). Everything a user
 * chose (an id is ours, a user name is not) is escaped for its output:
 * ap_escape_html for the page, a percent-encoded path segment for the
 * space-separated ?auto lines.
 */
#include <apr_strings.h>

#include <http_protocol.h>
#include <mod_status.h>

#include "mod_xport_private.h"
#include "xport_jobs.h"

typedef struct status_facts_t {
    request_rec *r;
    xport_live_snapshot_t live;
    apr_int64_t queued;
    int store_failures; /* job stores whose count failed: queue unknown */
    int streams, max_streams; /* event streams open, XportMaxEventStreams */
} status_facts_t;

static xp_errcode_e count_queued(xp_store_t *st, apr_pool_t *p, void *baton)
{
    status_facts_t *f = baton;
    xp_error_t err = {0};
    apr_int64_t n = 0;
    xp_errcode_e rc;

    rc = xp_store_count_status(st, p, XP_ST_QUEUED, &n, &err);
    if (rc != XP_OK)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, f->r,
                      "XP0609: server-status: cannot count the queued jobs: "
                      "%s",
                      err.message ? err.message : "unknown error");
    f->queued += n;
    return rc;
}

typedef void (*job_row_fn)(request_rec *r, const xport_live_job_t *lj,
                           const xport_view_t *v);

/* row() for each running job, with the view every API renders: its
 * progress and age are the ones they report. */
static void each_job(request_rec *r, const apr_array_header_t *jobs,
                     job_row_fn row)
{
    int i;

    for (i = 0; i < jobs->nelts; i++) {
        const xport_live_job_t *lj = &APR_ARRAY_IDX(jobs, i, xport_live_job_t);
        xp_job_t job;
        xport_view_t v;

        memset(&job, 0, sizeof(job));
        job.id = lj->id;
        job.kind = lj->kind;
        job.status = XP_ST_RUNNING;
        job.user_id = lj->user;
        job.api = lj->api;
        job.started_at = lj->started;
        job.progress_done = lj->done;
        job.progress_total = lj->total;
        xport_view_make(&v, &job);
        row(r, lj, &v);
    }
}

static int total_threads(const apr_array_header_t *workers)
{
    int i, n = 0;

    for (i = 0; i < workers->nelts; i++)
        n += APR_ARRAY_IDX(workers, i, xport_live_worker_t).threads;
    return n;
}

static void auto_job(request_rec *r, const xport_live_job_t *lj,
                     const xport_view_t *v)
{
    ap_rprintf(r,
               "XportJob: %s %s %s %s %" APR_INT64_T_FMT "/%" APR_INT64_T_FMT
               " %.1f%% %lds\n",
               lj->id, xp_kind_name(lj->kind),
               lj->user[0] ? ap_escape_path_segment(r->pool, lj->user) : "-",
               ap_escape_path_segment(r->pool, lj->api), v->done, v->total,
               v->percentage, (long)v->duration);
}

/* ?auto: "Name: value" lines, one XportWorker / XportJob line each. */
static void status_auto(request_rec *r, const status_facts_t *f)
{
    const apr_array_header_t *w = f->live.workers, *jobs = f->live.jobs;
    int i;

    ap_rprintf(r, "XportWorkers: %d\nXportJobThreads: %d\n", w->nelts,
               total_threads(w));
    if (!f->store_failures)
        ap_rprintf(r, "XportQueued: %" APR_INT64_T_FMT "\n", f->queued);
    ap_rprintf(r, "XportRunning: %d\n", jobs->nelts);
    ap_rprintf(r, "XportEventStreams: %d\nXportMaxEventStreams: %d\n",
               f->streams, f->max_streams);
    for (i = 0; i < w->nelts; i++) {
        const xport_live_worker_t *lw =
            &APR_ARRAY_IDX(w, i, xport_live_worker_t);

        ap_rprintf(r, "XportWorker: %ld %d %d\n", (long)lw->pid, lw->threads,
                   lw->running);
    }
    each_job(r, jobs, auto_job);
}

static void html_workers(request_rec *r, const apr_array_header_t *w)
{
    int i;

    if (!w->nelts) {
        ap_rputs("<p>No worker process runs jobs on this node.</p>\n", r);
        return;
    }
    ap_rputs("<table border=\"0\"><tr><th>Worker PID</th><th>Job threads"
             "</th><th>Running jobs</th><th>Up (s)</th></tr>\n",
             r);
    for (i = 0; i < w->nelts; i++) {
        const xport_live_worker_t *lw =
            &APR_ARRAY_IDX(w, i, xport_live_worker_t);

        ap_rprintf(r,
                   "<tr><td>%ld</td><td>%d</td><td>%d</td><td>%ld</td>"
                   "</tr>\n",
                   (long)lw->pid, lw->threads, lw->running,
                   (long)apr_time_sec(apr_time_now() - lw->started));
    }
    ap_rputs("</table>\n", r);
}

static void html_job(request_rec *r, const xport_live_job_t *lj,
                     const xport_view_t *v)
{
    ap_rprintf(r,
               "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
               "<td>%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT "</td>"
               "<td>%.1f</td><td>%ld</td></tr>\n",
               ap_escape_html(r->pool, lj->id), xp_kind_name(lj->kind),
               ap_escape_html(r->pool, lj->user),
               ap_escape_html(r->pool, lj->api), v->done, v->total,
               v->percentage, (long)v->duration);
}

static void html_jobs(request_rec *r, const apr_array_header_t *jobs)
{
    if (!jobs->nelts)
        return;
    ap_rputs("<table border=\"0\"><tr><th>Job</th><th>Kind</th><th>User"
             "</th><th>API</th><th>Progress</th><th>%</th><th>Age (s)</th>"
             "</tr>\n",
             r);
    each_job(r, jobs, html_job);
    ap_rputs("</table>\n", r);
}

static void status_html(request_rec *r, const status_facts_t *f)
{
    ap_rputs("<hr />\n<h2>mod_xport</h2>\n<dl>\n", r);
    ap_rprintf(r, "<dt>Worker processes: %d (%d job threads)</dt>\n",
               f->live.workers->nelts, total_threads(f->live.workers));
    if (f->store_failures)
        ap_rputs("<dt>Queued jobs: unknown (the job store cannot be read; "
                 "see the error log)</dt>\n",
                 r);
    else
        ap_rprintf(r, "<dt>Queued jobs: %" APR_INT64_T_FMT "</dt>\n",
                   f->queued);
    ap_rprintf(r, "<dt>Running jobs: %d</dt>\n", f->live.jobs->nelts);
    ap_rprintf(r, "<dt>Event streams: %d open of %d</dt>\n</dl>\n",
               f->streams, f->max_streams);
    html_workers(r, f->live.workers);
    html_jobs(r, f->live.jobs);
}

int xport_status_hook(request_rec *r, int flags)
{
    status_facts_t f;

    memset(&f, 0, sizeof(f));
    f.r = r;
    xport_live_snapshot(r->pool, &f.live);
    xport_live_streams(&f.streams, &f.max_streams);
    f.store_failures = xport_store_each(r, count_queued, &f);
    if (flags & AP_STATUS_SHORT)
        status_auto(r, &f);
    else
        status_html(r, &f);
    return OK;
}
