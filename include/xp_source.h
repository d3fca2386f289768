/*
 * xp_source.h -- the application database (XportDataSource) through
 * apr-util DBD: column discovery, consistent streamed reads.
 */
#ifndef XP_SOURCE_H
#define XP_SOURCE_H

#include "xport.h"
#include "xp_filter.h"

typedef struct xp_source_t xp_source_t; /* one connection, one thread */

/* driver is "sqlite3" or "pgsql"; params as for apr_dbd_open. The
 * connection and everything it holds live in p (a cleanup closes it). */
xp_errcode_e xp_source_open(apr_pool_t *p, const char *driver,
                            const char *params, xp_source_t **out,
                            xp_error_t *err);
xp_dialect_e xp_source_dialect(const xp_source_t *src);
void xp_source_close(xp_source_t *src);

/* Stop the statement running on src, from any thread: PostgreSQL gets a
 * cancel request (PQcancel), SQLite an interrupt. The statement fails
 * (its caller sees XP_EDB); when none runs, nothing happens. src must
 * stay open until this returns (xp_job_ctl_t.source says when). */
void xp_source_interrupt(xp_source_t *src);

/* For every section: check the table exists; fill columns (all columns of
 * the table, in table order) where columns= was not given; check every
 * column named by key/columns/search/involves/updated/ref/types exists.
 * Message names section, option and column. */
xp_errcode_e xp_source_discover(xp_source_t *src, apr_pool_t *p,
                                xp_sections_t *secs, xp_error_t *err);

/* Start / end the one read transaction of an export (REPEATABLE READ,
 * READ ONLY on PostgreSQL; a deferred read transaction on SQLite). */
xp_errcode_e xp_source_begin_read(xp_source_t *src, xp_error_t *err);
void xp_source_end_read(xp_source_t *src);

/* 1 when an export's rows are better counted on a second connection
 * while they are read (src/engine/count.c) than before the read. */
int xp_source_count_beside(const xp_source_t *src);
/* src will only scan (a count): SQLite keeps a small page cache. */
void xp_source_scan_only(xp_source_t *src, apr_pool_t *p);

/* Count rows of sec matching where (args bound). */
xp_errcode_e xp_source_count(xp_source_t *src, apr_pool_t *p,
                             const xp_section_t *sec, const char *where,
                             const apr_array_header_t *args, apr_int64_t *count,
                             xp_error_t *err);

/* Called once per row with the values of sec->columns (NULL = SQL NULL). */
typedef xp_errcode_e (*xp_row_fn)(void *baton, const char *const *values,
                                  int ncols, xp_error_t *err);

/* Stream rows of sec matching where, ordered by key: one statement per
 * section on the connection's native handle (SQLite: stepped row by row;
 * PostgreSQL: COPY (SELECT ...) TO STDOUT), in constant memory, no
 * pagination. ctl->check (may be NULL) is consulted every batch_rows
 * rows; the values passed to fn live until fn returns. */
xp_errcode_e xp_source_scan(xp_source_t *src, apr_pool_t *p,
                            const xp_section_t *sec, const char *where,
                            const apr_array_header_t *args, int batch_rows,
                            xp_row_fn fn, void *baton, const xp_job_ctl_t *ctl,
                            xp_error_t *err);

/* ------------------------------------------------------------------ */
/* xp_db_t: one apr-util DBD connection with a statement cache, shared  */
/* by the data source and the job store (src/engine/source.c).                 */
/* ------------------------------------------------------------------ */

#include <apr_dbd.h>

typedef struct xp_db_t {
    apr_pool_t *pool; /* connection lifetime */
    const apr_dbd_driver_t *driver;
    apr_dbd_t *handle; /* NULL once closed */
    xp_dialect_e dialect;
    apr_hash_t *stmts; /* SQL text -> apr_dbd_prepared_t * */
    const char *what;  /* "job store", "data source" */
    int in_tx;         /* inside BEGIN ... COMMIT/ROLLBACK */
} xp_db_t;

/* How an error from xp_db_fail begins when the connection itself broke
 * (the database server stopped or went away), not the statement. */
#define XP_DB_LOST "lost the connection to the "
/* 1 when err (XP_EDB) says the connection itself was lost: worth a new
 * connection, or waiting for the database (XportRetryWindow). */
int xp_db_lost(xp_errcode_e rc, const xp_error_t *err);

/* Open driver ("sqlite3"/"pgsql") with params; closed by a cleanup of p.
 * SQLite: short busy timeout, "database is locked" retried for 10 s. */
xp_errcode_e xp_db_open(apr_pool_t *p, const char *driver, const char *params,
                        const char *what, xp_db_t **out, xp_error_t *err);
void xp_db_close(xp_db_t *db);
/* SQLite only: WAL journal, synchronous=NORMAL. */
xp_errcode_e xp_db_sqlite_pragmas(xp_db_t *db, apr_pool_t *p, xp_error_t *err);
/* sql with apr_dbd's "%s" placeholders as SQLite's "?" ("%%": "%"), for
 * a statement prepared on the native handle. */
const char *xp_db_sqlite_sql(apr_pool_t *p, const char *sql);
/* Bind parameter i (from 1) of a native statement: v as text (kept by
 * the caller until the statement is reset), NULL as SQL NULL. */
struct sqlite3_stmt;
int xp_db_sqlite_bind(struct sqlite3_stmt *st, int i, const char *v);
/* A hash keyed by SQL text (APR_HASH_KEY_STRING) that hashes only its
 * length and ends: for caches of statements, some of them long. */
apr_hash_t *xp_sql_hash_make(apr_pool_t *p);
/* Prepared statements with "%s" placeholders, args as strings (NULL binds
 * SQL NULL), cached per connection by their text. */
xp_errcode_e xp_db_exec(xp_db_t *db, apr_pool_t *p, const char *sql, int nargs,
                        const char **args, int *nrows, xp_error_t *err);
xp_errcode_e xp_db_select(xp_db_t *db, apr_pool_t *p, const char *sql,
                          int nargs, const char **args, apr_dbd_results_t **res,
                          xp_error_t *err);
/* Next row (start with *row = NULL); 0 when done. Read every row. */
int xp_db_next(xp_db_t *db, apr_pool_t *p, apr_dbd_results_t *res,
               apr_dbd_row_t **row);
/* Column col of row as text, NULL for SQL NULL. */
const char *xp_db_str(xp_db_t *db, apr_dbd_row_t *row, int col);
/* A statement without arguments or results (BEGIN, DDL). */
xp_errcode_e xp_db_run(xp_db_t *db, apr_pool_t *p, const char *sql,
                       xp_error_t *err);
xp_errcode_e xp_db_begin(xp_db_t *db, apr_pool_t *p, const char *sql,
                         xp_error_t *err);
xp_errcode_e xp_db_commit(xp_db_t *db, apr_pool_t *p, xp_error_t *err);
void xp_db_rollback(xp_db_t *db, apr_pool_t *p);
/* XP_EDB with "<what> (<driver>): <doing> failed: <driver's message>". */
xp_errcode_e xp_db_fail(xp_db_t *db, apr_pool_t *p, xp_error_t *err, int rv,
                        const char *doing);
/* The connection behind a data source (imports write through it). */
xp_db_t *xp_source_db(xp_source_t *src);

#endif
