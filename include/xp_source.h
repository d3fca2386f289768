/*
 * xp_source.h -- the application database (XportDataSource) through
 * apr-util DBD: column discovery, consistent streamed reads.
 */
#ifndef XP_SOURCE_H
#define XP_SOURCE_H

#include "xport.h"
#include "xp_filter.h"

typedef struct xp_source_t xp_source_t;   /* one connection, one thread */

/* driver is "sqlite3" or "pgsql"; params as for apr_dbd_open. The
 * connection and everything it holds live in p (a cleanup closes it). */
xp_errcode_e xp_source_open(apr_pool_t *p, const char *driver,
                            const char *params, xp_source_t **out,
                            xp_error_t *err);
xp_dialect_e xp_source_dialect(const xp_source_t *src);
void xp_source_close(xp_source_t *src);

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

/* Count rows of sec matching where (args bound). */
xp_errcode_e xp_source_count(xp_source_t *src, apr_pool_t *p,
                             const xp_section_t *sec, const char *where,
                             const apr_array_header_t *args,
                             apr_int64_t *count, xp_error_t *err);

/* Called once per row with the values of sec->columns (NULL = SQL NULL). */
typedef xp_errcode_e (*xp_row_fn)(void *baton, const char *const *values,
                                  int ncols, xp_error_t *err);

/* Stream rows of sec matching where, ordered by key, in batches of
 * batch_rows (keyset pagination: key > last). Between batches ctl->check
 * is consulted (may be NULL). Per-batch memory lives in a subpool that is
 * cleared every batch. */
xp_errcode_e xp_source_scan(xp_source_t *src, apr_pool_t *p,
                            const xp_section_t *sec, const char *where,
                            const apr_array_header_t *args, int batch_rows,
                            xp_row_fn fn, void *baton,
                            const xp_job_ctl_t *ctl, xp_error_t *err);

#endif
