/*
 * xp_import_run.h -- the state of one running import, shared by the two
 * files that run it: src/engine/import.c (options, reading the upload,
 * the reader thread, manifest and entries) and src/engine/import_batch.c
 * (checking and writing a batch of rows through the sink). Nothing
 * outside the import includes it.
 */
#ifndef XP_IMPORT_RUN_H
#define XP_IMPORT_RUN_H

#include "xp_import.h"
#include "xp_manifest.h"
#include "xp_ndjson.h"
#include "xp_rewrite.h"

#define XP_IMPORT_MAX_MESSAGES 100
#define XP_IMPORT_MAX_MESSAGE 1000 /* bytes of one error message */
#define XP_IMPORT_MAX_KEY 100      /* bytes of a key quoted in one */

/* The options stored with the job (xp_import_prepare). */
typedef struct {
    int dry_run;
    xp_conflict_e on_conflict;
    int ignore_unknown;
    apr_array_header_t *sections; /* const char *, NULL = all */
    const char *tenant;           /* the job's tenant, NULL = none */
    const char *rewrite;          /* the rules' JSON text, NULL = none */
} xp_imp_opts_t;

/* One section of the upload. */
typedef struct {
    const xp_section_t *sec;
    const xp_mf_section_t *mf; /* NULL for a bare file */
    int selected, seen, keyidx;
    int fresh;              /* xp_sink_fresh, asked as the entry starts */
    apr_int64_t rows, n[4]; /* n: per xp_change_e */
} xp_imp_sec_t;

/* One line of the current batch. */
typedef struct {
    long lineno;
    const char *key;     /* NULL: none (append sections) or not readable */
    const char *refused; /* the line itself was refused: why */
    xp_row_t row;
    const char **stored; /* its stored row, NULL if none */
    xp_sink_op_e op;
    xp_change_e change;
    int classified;
} xp_imp_item_t;

/* One running import. */
typedef struct {
    apr_pool_t *pool;
    apr_pool_t *bp; /* per batch, cleared every batch_rows */
    const xp_import_env_t *env;
    xp_job_t *job;
    const xp_job_ctl_t *ctl;
    xp_imp_opts_t opts;
    xp_sink_t *sink;
    apr_array_header_t *plan; /* xp_imp_sec_t *, manifest order */
    xp_imp_sec_t *cur;
    apr_array_header_t *messages; /* xp_imp_msg_t */
    long errors;
    apr_int64_t done, total;
    int batch_rows;
    xp_imp_item_t *items; /* the batch, in bp */
    int nitems;
    int skip_lookup; /* this batch's keys are not looked up (xp_imp_flush) */
    apr_hash_t *written; /* section name -> xp_keyset_t *: the integer
                            keys now in its table by this import's
                            writes (a ref to one needs no lookup) */
    apr_pool_t *rp;  /* the archive reader's (own allocator) */
    xp_rewrite_t *rw; /* NULL: no rules; else in a pool of its own, used
                         by the reader thread only once made */
} xp_imp_run_t;

/* One of the messages a job keeps (at most XP_IMPORT_MAX_MESSAGES): a
 * rejected line, or (section NULL) a fault of the upload as a whole. The
 * job stores a line as {"section","line","column","key","message"} and
 * a fault as a string, so that every API words them its own way. */
typedef struct xp_imp_msg_t {
    const char *section;
    long line;
    const char *column; /* the key's name in the file, NULL with key */
    const char *key;    /* NULL when the line did not say */
    const char *message;
} xp_imp_msg_t;

/* s cut to at most max bytes (not inside a UTF-8 sequence), "..." marking
 * the cut; a line may be 16 MiB and its values with it. */
const char *xp_imp_cut(apr_pool_t *p, const char *s, apr_size_t max);

/* Record one rejection of a line of run->cur; key may be NULL when the
 * line did not say. */
void xp_imp_reject(xp_imp_run_t *run, long lineno, const char *key,
                   const char *what);

/* Check and write the batch run->items[0..run->nitems) of run->cur in a
 * savepoint (src/engine/import_batch.c). */
xp_errcode_e xp_imp_flush(xp_imp_run_t *run, xp_error_t *err);

#endif
