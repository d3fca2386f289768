/*
 * xp_import.h -- an import job from options to committed rows (SPEC 6),
 * and the data source's write side it uses (src/engine/sink.c).
 */
#ifndef XP_IMPORT_H
#define XP_IMPORT_H

#include "xport.h"

/* What a client asked for (request fields, as text; NULL when absent). */
typedef struct xp_import_params_t {
    const char *dry_run, *on_conflict, *sections, *unknown_columns;
    const char *raw_format; /* NULL for an archive, "ndjson"/"json" for a
                               bare file */
    const char *source_system, *correlation_id; /* kept with the job */
    const char *tenant; /* rows of tenant= sections are this tenant's,
                           keys looked up within it; NULL: none. The
                           caller decides who may ask for which. */
    const char *api_data; /* JSON the API keeps with the job, or NULL */
    const char *rewrite;    /* NULL, or JSON text: an array of rewrite
                               rules (xp_rewrite.h) */
} xp_import_params_t;

/*
 * Validate options (dry_run bool; on_conflict update|skip|fail; sections:
 * comma list of configured section names; unknown_columns reject|ignore;
 * a raw_format needs exactly one section in `sections`) and fill a new
 * queued import job: id, kind, status, format (NULL for archives, else
 * raw_format), options JSON {"dry_run":bool,"on_conflict":"update",
 * "sections":[...] or null,"unknown_columns":"reject"} (and "tenant"
 * when given; "rewrite": the rules, when given: checked by
 * xp_rewrite_make, applied to every row by xp_import_run), tenant,
 * created_at, updated_at, file_size -1. XP_EINVAL with err->field.
 * user_id, server, file, file_size and sha256 are set by the HTTP layer.
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
    int batch_rows; /* rows per batch; 0: the data source's own size */
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
/* The write side (src/engine/sink.c): one transaction on the data source.    */
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

typedef enum { XP_SINK_NONE = 0, XP_SINK_INSERT, XP_SINK_UPDATE } xp_sink_op_e;

/* A row to write: values/present per sec->columns. */
typedef struct xp_sink_wrow_t {
    const char *const *values;
    const unsigned char *present;
} xp_sink_wrow_t;

/* Connect, start the write transaction (BEGIN IMMEDIATE on SQLite) and
 * create the temporary table of keys seen. */
xp_errcode_e xp_sink_open(apr_pool_t *p, const char *driver, const char *params,
                          xp_sink_t **out, xp_error_t *err);

/* Work for tenant (NULL: none) from now on: every key looked up, checked
 * or updated in a section that declares tenant= is looked for within
 * that tenant (xp_sink_lookup, xp_sink_exist, xp_sink_update). Call it
 * before the first statement. The rows' tenant column is the caller's
 * to set. */
void xp_sink_set_tenant(xp_sink_t *s, const char *tenant);

/* Rows per batch that suit this data source (a batch is a few
 * statements and one savepoint). */
int xp_sink_batch_rows(const xp_sink_t *s);

/* Commit (commit != 0) or roll back, then close. */
xp_errcode_e xp_sink_close(xp_sink_t *s, int commit, xp_error_t *err);

/* The data source connection it writes through (xp_source_interrupt). */
struct xp_source_t *xp_sink_source(xp_sink_t *s);

/* Open a savepoint (name: a plain identifier); release it, rolling back
 * to it first when rollback != 0. A statement the database refuses rolls
 * back to the innermost open savepoint by itself. */
xp_errcode_e xp_sink_savepoint(xp_sink_t *s, apr_pool_t *bp, const char *name,
                               xp_error_t *err);
xp_errcode_e xp_sink_release(xp_sink_t *s, apr_pool_t *bp, int rollback,
                             xp_error_t *err);

/*
 * *fresh = 1 when sec's table is empty as this import starts on it and
 * its key column alone carries a unique index the database checks at
 * once (SQLite: the rowid, or a unique index that is not partial).
 * Then, as long as the import writes every row it is shown, any row the
 * table holds is one this import wrote, and a second row with the same
 * key is refused by the index: a batch needs no key lookup, and the
 * refused batch goes row by row, where keys are looked up. Ask it once,
 * outside any batch, before the section's first row is written.
 */
xp_errcode_e xp_sink_fresh(xp_sink_t *s, apr_pool_t *bp,
                           const xp_section_t *sec, int *fresh,
                           xp_error_t *err);

/*
 * The batch statements. Each returns XP_EINVAL when the database refused
 * a statement (err->message "the database rejected the row: <why>"; with
 * more than one row the caller cannot tell which), XP_EDB when the
 * connection is gone. bp is the batch pool; keys are text as the archive
 * has them (none NULL).
 *
 * xp_sink_lookup: stored[i] = the stored row (values per sec->columns) of
 *   keys[i], or NULL.
 * xp_sink_exist: exists[i] = 1 if sec's table has a row whose column
 *   (NULL: the key; else a column of sec, ref=col:SECTION.col2) holds
 *   keys[i].
 * xp_sink_seen_find / _add: the keys this import has shown per section
 *   (first[i] = the line keys[i] first came on, 0 if not seen).
 * xp_sink_insert: insert rows (multi-row statements).
 * xp_sink_update: update one row by its key (the columns present).
 */
xp_errcode_e xp_sink_lookup(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, int n,
                            const char *const *keys, const char ***stored,
                            xp_error_t *err);
xp_errcode_e xp_sink_exist(xp_sink_t *s, apr_pool_t *bp,
                           const xp_section_t *sec, const char *column, int n,
                           const char *const *keys, unsigned char *exists,
                           xp_error_t *err);
xp_errcode_e xp_sink_seen_find(xp_sink_t *s, apr_pool_t *bp,
                               const char *section, int n,
                               const char *const *keys, long *first,
                               xp_error_t *err);
xp_errcode_e xp_sink_seen_add(xp_sink_t *s, apr_pool_t *bp,
                              const char *section, int n,
                              const char *const *keys, const long *lines,
                              xp_error_t *err);
xp_errcode_e xp_sink_insert(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, int n,
                            const xp_sink_wrow_t *rows, xp_error_t *err);
xp_errcode_e xp_sink_update(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, const char *const *values,
                            const unsigned char *present, xp_error_t *err);

/*
 * What a row is, against its stored version (NULL: there is none): *op
 * says what to write (append sections always insert) and *change how it
 * counts. XP_EINVAL (err says why) when on_conflict=fail meets a stored
 * row or the section has too many row shapes.
 */
xp_errcode_e xp_sink_classify(xp_sink_t *s, apr_pool_t *bp,
                              const xp_section_t *sec,
                              xp_conflict_e on_conflict,
                              const char *const *values,
                              const unsigned char *present,
                              const char *const *stored, xp_sink_op_e *op,
                              xp_change_e *change, xp_error_t *err);

/* 1 if a and b (text, NULL = SQL NULL) are the same value of type t:
 * numbers numerically, bools by truth, JSON by its compact form. */
int xp_sink_same(apr_pool_t *p, xp_type_e t, const char *a, const char *b);

#endif
