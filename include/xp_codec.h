/*
 * xp_codec.h -- the compressors of a pipelined tar.gz / tar.zst export,
 * shared by the archive writer (src/engine/archive.c: headers and small
 * entries) and the entry compressor threads (src/engine/acomp.c: a
 * section's data while it is read). Internal to those two files.
 */
#ifndef XP_CODEC_H
#define XP_CODEC_H

#include <zlib.h>
#include <zstd.h>

#include "xp_archive.h"

/* Compression levels. gzip 6 is gzip's own default. zstd 1: a user picks
 * tar.zst for speed; on the benchmark's rows (bench/perf.sh) level 1
 * compresses 1.7 times as fast as level 3 and its output is 8% smaller,
 * on source code about 11% larger. */
#define XP_GZIP_LEVEL 6
#define XP_ZSTD_LEVEL 1

/* One piece of a pipelined archive's compressed stream, at the levels
 * above (gzip without a timestamp). zstd: a frame per piece
 * (a zstd stream may hold many). gzip: raw deflate ended by a sync flush
 * (byte-aligned, not final), so the pieces concatenate into the one
 * deflate stream of a single gzip member whose header and trailer the
 * writer adds: readers that stop after the first member (many libraries
 * do) still see the whole archive. */
typedef struct xp_codec_t {
    xp_format_e fmt;
    int ready;
    z_stream z;
    ZSTD_CCtx *zs;
} xp_codec_t;

/* Where compressed bytes go: 0, or -1 to stop. */
typedef int (*xp_codec_emit_fn)(void *baton, const void *buf, apr_size_t n);

/* 0, or -1 when the library cannot set up (out of memory). */
int xp_codec_init(xp_codec_t *k, xp_format_e fmt);
/* Compress n bytes of in; last ends the piece (and readies the codec for
 * the next one). Output goes to emit through obuf (ocap bytes). 0, -1 on
 * a codec error, -2 when emit failed. The gzip trailer's CRC-32 is the
 * caller's. */
int xp_codec_run(xp_codec_t *k, const void *in, apr_size_t n, int last,
                 char *obuf, apr_size_t ocap, xp_codec_emit_fn emit,
                 void *baton);
/* gzip: start the next piece as if dict (n <= 32 KiB bytes) had just
 * been compressed: its matches may reach back into dict, which the
 * reader has decompressed right before (the data before the piece). So
 * pieces compressed apart, on several threads, cost almost nothing in
 * size. Only right after the end of a piece or xp_codec_init. zstd: a
 * no-op. 0, or -1. */
int xp_codec_prime(xp_codec_t *k, const void *dict, apr_size_t n);
void xp_codec_end(xp_codec_t *k);

#endif
