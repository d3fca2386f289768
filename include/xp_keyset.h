/*
 * xp_keyset.h -- a set of small whole numbers given as decimal text
 * (src/engine/keyset.c): an import's record of the integer keys it has
 * written into a section, so that a reference to one of them needs no
 * lookup. Keys that are not plain decimals ("0", "42"; not "007", "-1",
 * "x") or reach XP_KEYSET_MAX are never in it: for them the database is
 * asked, as for any key the set does not have.
 */
#ifndef XP_KEYSET_H
#define XP_KEYSET_H

#include <apr_pools.h>

/* 2^24 keys: at most 2 MiB of bits, taken in 64 KiB pieces as keys in
 * their range come. */
#define XP_KEYSET_MAX (1L << 24)

typedef struct xp_keyset_t xp_keyset_t;

xp_keyset_t *xp_keyset_make(apr_pool_t *p);
void xp_keyset_add(xp_keyset_t *ks, const char *key);
int xp_keyset_has(const xp_keyset_t *ks, const char *key);

#endif
