/*
 * xp_import.h -- an import job from options to committed rows (SPEC 6),
 * and the data source's write side it uses (src/sink.c).
 */
#ifndef XP_IMPORT_H
#define XP_IMPORT_H

#include "xport.h"

/* What a client asked for (request fields, as text; NULL when absent). */
typedef struct xp_import_params_t {
    const char *dry_run, *on_conflict, *sections, *unknown_columns;
    const char *raw_format; /* NULL for an archive, "ndjson"/"json" for a
                               bare file */
} xp_import_params_t;

/*
 * Validate options (dry_run bool; on_conflict update|skip|fail; sections:
 * comma list of configured section names; unknown_columns reject|ignore;
 * a raw_format needs exactly one section in `sections`) and fill a new
 * queued import job: id, kind, status, format (NULL for archives, else
 * raw_format), options JSON {"dry_run":bool,"on_conflict":"update",
 * "sections":[...] or null,"unknown_columns":"reject"}, created_at,
 * updated_at, file_size -1. XP_EINVAL with err->field. user_id, server,
 * file, file_size and sha256 are set by the HTTP layer.
 */
xp_errcode_e xp_import_prepare(apr_pool_t *p, const xp_sections_t *secs,
                               const xp_import_params_t *in, xp_job_t **out,
                               xp_error_t *err);

typedef struct xp_import_env_t {
    const xp_sections_t *secs; /* columns discovered */
    const char *source_driver;
    const char *source_params;
    const char *storage;        /* XportStorage */
    apr_off_t max_uncompressed; /* XportMaxUncompressedSize, 0 = none */
    int batch_rows;             /* rows between checks (default 1000) */
} xp_import_env_t;

/*
 * Run a claimed import: read <storage>/<job->file>, validate manifest and
 * entries, apply rows in ONE transaction on the data source, commit only
 * if there was no error and not dry_run, else roll back. Fills
 * job->changes, counts, error_messages (at most 100), errors_total and
 * progress. XP_OK on success, XP_EINVAL when the data was rejected
 * (errors listed), XP_ECANCEL/XP_ETIMEOUT/XP_ESHUTDOWN when ctl->check
 * stopped it (rolled back), other codes for faults.
 */
xp_errcode_e xp_import_run(apr_pool_t *p, const xp_import_env_t *env,
                           xp_job_t *job, const xp_job_ctl_t *ctl,
                           xp_error_t *err);

/* ------------------------------------------------------------------ */
/* The write side (src/sink.c): one transaction on the data source.    */
/* ------------------------------------------------------------------ */

typedef struct xp_sink_t xp_sink_t;

typedef enum {
    XP_CONFLICT_UPDATE = 0,
    XP_CONFLICT_SKIP,
    XP_CONFLICT_FAIL
} xp_conflict_e;

typedef enum {
    XP_CHANGE_CREATED = 0,
    XP_CHANGE_UPDATED,
    XP_CHANGE_UNCHANGED,
    XP_CHANGE_SKIPPED
} xp_change_e;

/* Connect and start the write transaction (BEGIN IMMEDIATE on SQLite). */
xp_errcode_e xp_sink_open(apr_pool_t *p, const char *driver, const char *params,
                          xp_sink_t **out, xp_error_t *err);

/* Commit (commit != 0) or roll back, then close. A sink that saw a
 * rejected statement never commits. */
xp_errcode_e xp_sink_close(xp_sink_t *s, int commit, xp_error_t *err);

/*
 * Apply one row of sec: values/present per sec->columns (only present
 * columns are written). Upsert sections look the key up and insert,
 * update, skip or fail per on_conflict; append sections insert without
 * the key column. A row the database or on_conflict=fail rejects
 * returns XP_EINVAL with err->message saying only what is wrong (the
 * caller adds section, line and key). bp is the batch pool. With
 * apply 0 nothing is written: the row is only looked up and classified
 * (used once the import is known to fail, to report every conflict).
 */
xp_errcode_e xp_sink_row(xp_sink_t *s, apr_pool_t *bp, const xp_section_t *sec,
                         xp_conflict_e on_conflict, const char *const *values,
                         const unsigned char *present, int apply,
                         xp_change_e *change, xp_error_t *err);

/* *exists = 1 if sec's table has a row whose key is key. */
xp_errcode_e xp_sink_key_exists(xp_sink_t *s, apr_pool_t *bp,
                                const xp_section_t *sec, const char *key,
                                int *exists, xp_error_t *err);

/* 1 if a and b (text, NULL = SQL NULL) are the same value of type t:
 * numbers numerically, bools by truth, JSON by its compact form. */
int xp_sink_same(apr_pool_t *p, xp_type_e t, const char *a, const char *b);

#endif
