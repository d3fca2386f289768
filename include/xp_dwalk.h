/*
 * xp_dwalk.h -- walking a raw deflate stream (RFC 1951) block by block
 * without writing out what it holds: where its last block starts, where
 * that block ends, and whether the whole stream decodes to exactly the
 * number of bytes it should (src/engine/dwalk.c). The zip codec
 * (src/engine/codec.c) uses it to join libdeflate's streams into one.
 */
#ifndef XP_DWALK_H
#define XP_DWALK_H

#include <apr.h>

/* The decoding tables, made again for each block (about 130 KiB). */
typedef struct xp_dwalk_t xp_dwalk_t;

/* NULL without memory; free with xp_dwalk_free. */
xp_dwalk_t *xp_dwalk_make(void);
void xp_dwalk_free(xp_dwalk_t *w);

/* Walk the len bytes at in: 0 when they are one deflate stream that
 * decodes to exactly n bytes, ends in its final block and leaves no
 * whole byte over; then *last is the bit offset of the final block's
 * header (its BFINAL bit) and *end the bit offset just past its
 * end-of-block code. -1 for anything else: a code, a length or a
 * distance deflate does not allow, one that reaches before the start of
 * the data, more or less data than n, or a stream cut short. */
int xp_dwalk_run(xp_dwalk_t *w, const unsigned char *in, apr_size_t len,
                 apr_size_t n, apr_uint64_t *last, apr_uint64_t *end);

#endif
