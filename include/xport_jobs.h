/*
 * xport_jobs.h -- the use cases every API calls (src/httpd/jobs.c), and
 * the one dialect-neutral view of a job they all render: start an export
 * within the caller's limits, receive an import, list, cancel, delete,
 * serve a job's file. An API file parses its request into these calls
 * and renders what they give back; it never repeats them.
 *
 * Convention (as xport_http.h): each returns OK or a status for httpd.
 * A use case that has a result sets its out parameter and sends nothing,
 * so that the API renders it; when it fails it has answered with an
 * error (rendered by the API's render_error) and leaves the out
 * parameter NULL.
 */
#ifndef XPORT_JOBS_H
#define XPORT_JOBS_H

#include "xport_http.h"
#include "xport_upload.h"
#include "xp_export.h"
#include "xp_import.h"

/* ------------------------------ the view ---------------------------- */

/* What every API says about a job, whatever its shape: the stored row
 * with the live table's progress for a running job. */
typedef struct xport_view_t {
    const xp_job_t *job;
    apr_int64_t done, total; /* rows (live while running) */
    double percentage;       /* 0-100, one decimal; 100 once completed */
    double duration;         /* seconds it ran or has been running */
    int finished;            /* completed, failed, cancelled, timed out */
    int success;             /* completed */
} xport_view_t;

/* The view of job now; job's progress is refreshed from the live table. */
void xport_view_make(xport_view_t *v, xp_job_t *job);

/* One of a job's error messages (at most 100 are kept). A rejected row
 * has its section, line and key; a job-wide error only its message. */
typedef struct xport_row_error_t {
    const char *section; /* NULL for a job-wide error */
    long line;           /* 1-based, 0 for a job-wide error */
    const char *column;  /* the key column, or NULL */
    const char *key;     /* the row's key, or NULL */
    const char *message; /* what was wrong with it */
    const char *text;    /* all of it as one sentence:
                            "users line 3 (id=u7): ..." */
} xport_row_error_t;

/* The job's error messages, in order (xport_row_error_t). */
apr_array_header_t *xport_view_errors(apr_pool_t *p, const xp_job_t *job);

/* ------------------------------ use cases --------------------------- */

/* Jobs visible to the caller matching sq (its user_id is set here),
 * newest first, with live progress. */
int xport_jobs_list(xport_req_t *q, xp_store_query_t *sq,
                    apr_array_header_t **jobs /* xp_job_t * */,
                    apr_int64_t *total);

/* Start an export: validate in, check XportMaxJobsPerUser, store the
 * job, wake the worker. key (may be NULL) names what the job makes: no
 * two active jobs share one (409 for the second, across every node of
 * the job store). */
int xport_jobs_export(xport_req_t *q, const xp_export_params_t *in,
                      const char *key, xp_job_t **job);

/* The newest job with key in the request's API, whoever made it, or
 * NULL; *failed when an error has been answered instead. */
xp_job_t *xport_jobs_by_key(xport_req_t *q, const char *key, int *failed);

/* Wait (polling the job store) until *job has finished, at most wait;
 * *job is then re-read. Past wait: 503 + Retry-After, *job NULL. */
int xport_jobs_wait(xport_req_t *q, xp_job_t **job, apr_interval_time_t wait);

/* How an API receives an import's body. */
typedef struct xport_import_in_t {
    int multipart;          /* multipart/form-data, else the raw body */
    const char *file_field; /* multipart: the part holding the file */
    /* the options; for a multipart body completed by from_form */
    xp_import_params_t params;
    /* multipart: fill params from the stored upload's text fields and
     * file part; OK, or an error has been answered (*ok = 0). */
    int (*from_form)(xport_req_t *q, const xport_upload_t *up,
                     xp_import_params_t *params, int *ok, void *baton);
    void *baton;
    int keep_filename; /* the job's path is the uploaded file's name */
} xport_import_in_t;

/* Receive an import: refuse it early when the caller is at its job limit
 * or the options are bad, stream the body to storage, store the job,
 * wake the worker. Nothing is kept when it fails. *up (may be NULL) is
 * the stored upload. */
int xport_jobs_import(xport_req_t *q, const xport_import_in_t *in,
                      xp_job_t **job, const xport_upload_t **up);

/* Cancel a queued or running job, waiting (bounded) for a running one
 * to stop; *job is the job afterwards. 409 when it had finished. */
int xport_jobs_cancel(xport_req_t *q, xp_job_t **job);

/* Cancel if needed, remove the job's file and record. *gone is the job
 * as it was before (NULL when an error has been answered). */
int xport_jobs_delete(xport_req_t *q, xp_job_t *job, xp_job_t **gone);

/* How to serve a job's file. */
typedef struct xport_file_in_t {
    const char *content_type; /* NULL: the export format's */
    const char *filename;     /* NULL: the job's path */
    int validators;           /* ETag, Repr-Digest, Last-Modified, Range */
} xport_file_in_t;

/* Serve a completed export's file (409 + Retry-After while it runs,
 * 410 when it failed, was cancelled or is gone). */
int xport_jobs_send_file(xport_req_t *q, const xp_job_t *job,
                         const xport_file_in_t *how);

/* An absolute signed link to job's file (xport_link_make: below the
 * <Location>, /files/<id>/<file>, XportLinkLifetime), or "" when the
 * server cannot sign (logged). */
const char *xport_jobs_link(xport_req_t *q, const xp_job_t *job,
                            const char *file);

/* The same with a lifetime of its own (0: XportLinkLifetime). */
const char *xport_jobs_link_for(xport_req_t *q, const xp_job_t *job,
                                const char *file, apr_interval_time_t lifetime);

/* Serve the file a signed link names to whoever presents it (no
 * credentials needed): 410 expired, 404 altered. */
int xport_jobs_send_link(xport_req_t *q, const xport_file_in_t *how);
/* The same for a link that works once: 410 the second time (the job
 * store remembers it until it expires, for every node). */
int xport_jobs_send_link_once(xport_req_t *q, const xport_file_in_t *how);

#endif
