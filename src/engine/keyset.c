/*
 * keyset.c -- a set of small whole numbers given as decimal text
 * (include/xp_keyset.h): a bit per number, in pieces of 64 KiB (half a
 * million numbers) made when a number in their range first comes, so an
 * import of a million rows keyed 1..1,000,000 holds 128 KiB.
 */
#include <string.h>

#include "xp_keyset.h"

#define KS_PIECE_BITS 19 /* numbers per piece: 2^19, in 64 KiB */
#define KS_PIECES (XP_KEYSET_MAX >> KS_PIECE_BITS)

struct xp_keyset_t {
    apr_pool_t *p;
    unsigned char *piece[KS_PIECES];
};

xp_keyset_t *xp_keyset_make(apr_pool_t *p)
{
    xp_keyset_t *ks = apr_pcalloc(p, sizeof(*ks));

    ks->p = p;
    return ks;
}

/* The number key spells, -1 when it is no plain decimal below the
 * limit. */
static long ks_number(const char *key)
{
    long n = 0;
    int i;

    if (!key || !*key || (key[0] == '0' && key[1]))
        return -1;
    for (i = 0; key[i]; i++) {
        if (key[i] < '0' || key[i] > '9' || i >= 8)
            return -1;
        n = n * 10 + (key[i] - '0');
    }
    return n < XP_KEYSET_MAX ? n : -1;
}

void xp_keyset_add(xp_keyset_t *ks, const char *key)
{
    long n = ks_number(key);
    unsigned char **pc;

    if (n < 0)
        return;
    pc = &ks->piece[n >> KS_PIECE_BITS];
    if (!*pc)
        *pc = apr_pcalloc(ks->p, (1 << KS_PIECE_BITS) / 8);
    n &= (1 << KS_PIECE_BITS) - 1;
    (*pc)[n >> 3] |= (unsigned char)(1 << (n & 7));
}

int xp_keyset_has(const xp_keyset_t *ks, const char *key)
{
    long n = ks_number(key);
    const unsigned char *pc;

    if (n < 0 || !(pc = ks->piece[n >> KS_PIECE_BITS]))
        return 0;
    n &= (1 << KS_PIECE_BITS) - 1;
    return (pc[n >> 3] >> (n & 7)) & 1;
}
