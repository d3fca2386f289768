/*
 * xp_spill.h -- rows of (name, key, line) kept in a temporary file until
 * they are wanted (src/engine/spill.c). An import's sink keeps the keys
 * it has seen here and moves them into its seen-keys table only when a
 * lookup needs them: a clean import into empty tables never does.
 */
#ifndef XP_SPILL_H
#define XP_SPILL_H

#include <apr_pools.h>
#include "xport.h"

typedef struct xp_spill_t xp_spill_t;

/* Where the rows stood: what was added, what was taken. */
typedef struct xp_spill_mark_t {
    apr_off_t end, taken;
} xp_spill_mark_t;

/* An empty spill; its file (in the system's temporary directory, gone
 * once closed, or its process gone) is made by the first xp_spill_add.
 * Closed with p. */
xp_spill_t *xp_spill_make(apr_pool_t *p);

/* Append n rows: name with keys[i] and lines[i]. */
xp_errcode_e xp_spill_add(xp_spill_t *sp, const char *name, int n,
                          const char *const *keys, const long *lines,
                          xp_error_t *err);

/* The next rows not yet taken, at most max, all of one name, allocated
 * from p; *n 0 when every row is taken. */
xp_errcode_e xp_spill_take(xp_spill_t *sp, apr_pool_t *p, int max,
                           const char **name, int *n, const char ***keys,
                           long **lines, xp_error_t *err);

/* 1 when rows were added that are not taken yet. */
int xp_spill_pending(const xp_spill_t *sp);

/* Remember where the rows stand, and go back there: rows added since
 * are forgotten, rows taken since are to be taken again. */
void xp_spill_mark(const xp_spill_t *sp, xp_spill_mark_t *m);
void xp_spill_restore(xp_spill_t *sp, const xp_spill_mark_t *m);

/* Close and remove the file now (also done when the pool goes). */
void xp_spill_close(xp_spill_t *sp);

#endif
