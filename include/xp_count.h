/*
 * xp_count.h -- an export's progress total, counted on a connection and a
 * thread of their own while the export reads (src/engine/count.c).
 */
#ifndef XP_COUNT_H
#define XP_COUNT_H

#include "xport.h"

typedef struct xp_counter_t xp_counter_t;

/* What one section of the export reads (xp_filter_where and its args). */
typedef struct {
    const xp_section_t *sec;
    const char *where;
    const apr_array_header_t *args;
} xp_count_part_t;

/* Start counting parts[0..n) on a new connection to the data source
 * (driver, params as for xp_source_open) in a read of its own. parts
 * and p must outlive the counter; p is used by this thread only, to
 * create and end it. */
xp_errcode_e xp_counter_start(apr_pool_t *p, const char *driver,
                              const char *params, const xp_count_part_t *parts,
                              int n, xp_counter_t **out, xp_error_t *err);

/* 1 and *total once every part is counted; 0 while the count runs; -1
 * (*total 0) when it failed (the connection, a statement) or was
 * stopped. */
int xp_counter_total(xp_counter_t *c, apr_int64_t *total);

/* Stop a count still running (it is interrupted) and wait for its
 * thread; the connection is closed. Safe to call twice; also run when p
 * is cleared or destroyed. */
void xp_counter_stop(xp_counter_t *c);

#endif
