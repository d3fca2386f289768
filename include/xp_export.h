/*
 * xp_export.h -- an export job from request to archive.
 */
#ifndef XP_EXPORT_H
#define XP_EXPORT_H

#include "xport.h"
#include "xp_json.h"

/* What a client asked for (request fields, as text; NULL when absent). */
typedef struct xp_export_params_t {
    const char *filter;
    const char *format;
    const char *since, *until;
    const char *closure; /* "true"/"false"/"1"/"0" */
    const char *file_name;
    const char *source_system;
    const char *correlation_id;
    const char *tenant; /* read tenant= sections for this tenant only;
                           NULL: every row. The caller decides who may
                           ask for which tenant. */
    const char *api_data; /* JSON the API keeps with the job, or NULL */
} xp_export_params_t;

/*
 * Validate the request against the sections and fill a new queued job:
 * id, kind, status, filter, format, options (JSON: since, until, closure,
 * file_name, tenant when given), tenant, source_system, correlation_id,
 * path (download name:
 * file_name if given, else "export-<instance>-<ms>.<ext>"), file_size -1,
 * created_at/updated_at. user_id and server are the caller's to set.
 * XP_EINVAL with err->field (and line/column for the filter) on bad input.
 */
xp_errcode_e xp_export_prepare(apr_pool_t *p, const xp_sections_t *secs,
                               const char *instance,
                               const xp_export_params_t *in, xp_job_t **out,
                               xp_error_t *err);

typedef struct xp_export_env_t {
    const xp_sections_t *secs; /* columns discovered */
    const char *source_driver;
    const char *source_params;
    const char *storage; /* XportStorage */
    const char *instance;
    apr_off_t max_archive_size; /* 0 = none */
    int batch_rows;             /* rows between checks (default 1000) */
} xp_export_env_t;

/*
 * Run a claimed export job: one read transaction, each section streamed
 * to a temp file under <storage>/tmp (hashing and counting; for tar.gz /
 * tar.zst compressed on other threads meanwhile), then the
 * archive written to <storage>/tmp/<id>.part, fsynced and renamed to
 * <storage>/exports/<id>.<ext>. format=document writes its zip straight
 * into the .part while reading (xp_document.h): the root section (named
 * first by the filter) must select exactly one row, and the window does
 * not apply to it. On success fills job->counts, file,
 * file_size, sha256, progress. On any failure (including cancel/timeout
 * reported by ctl->check) every temp file is removed and no archive is
 * left; the code says why.
 */
xp_errcode_e xp_export_run(apr_pool_t *p, const xp_export_env_t *env,
                           xp_job_t *job, const xp_job_ctl_t *ctl,
                           xp_error_t *err);

#endif
