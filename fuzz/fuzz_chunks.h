/*
 * fuzz_chunks.h -- feeding a streaming parser the way a network does:
 * the input's first bytes say how big each chunk is, and every chunk is
 * copied into its own exact-size malloc block so that reading one byte
 * past it (or keeping a pointer into it) is caught by AddressSanitizer.
 */
#ifndef FUZZ_CHUNKS_H
#define FUZZ_CHUNKS_H

#include "fuzz_common.h"

#define FUZZ_NSIZES 4

typedef struct fuzz_chunks_t {
    unsigned char sizes[FUZZ_NSIZES];
    unsigned turn;
    int was_empty;
} fuzz_chunks_t;

/* Take FUZZ_NSIZES size bytes from the front of the input. 0 if too
 * short. */
static inline int fuzz_chunks_init(fuzz_chunks_t *c, const uint8_t **data,
                                   size_t *size)
{
    if (*size < FUZZ_NSIZES)
        return 0;
    memcpy(c->sizes, *data, FUZZ_NSIZES);
    c->turn = 0;
    c->was_empty = 0;
    *data += FUZZ_NSIZES;
    *size -= FUZZ_NSIZES;
    return 1;
}

/* The next chunk length: a size byte b gives b % 64 bytes, except 255
 * -> everything left. An empty feed (allowed by the parsers) is never
 * followed by another, so the input is always consumed. */
static inline size_t fuzz_chunks_next(fuzz_chunks_t *c, size_t left)
{
    unsigned char b = c->sizes[c->turn++ % FUZZ_NSIZES];
    size_t n = b == 255 ? left : (size_t)(b % 64);

    if (n == 0 && c->was_empty)
        n = 1;
    c->was_empty = n == 0;
    return n < left ? n : left;
}

/* Copy of data[0..n) in its own block (a 1-byte block for n == 0). */
static inline char *fuzz_chunk_copy(const uint8_t *data, size_t n)
{
    char *c = malloc(n ? n : 1);

    if (!c)
        abort();
    memcpy(c, data, n);
    return c;
}

#endif
