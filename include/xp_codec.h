/*
 * xp_codec.h -- the compressors of a pipelined tar.gz / tar.zst export,
 * shared by the archive writer (src/engine/archive.c: headers and small
 * entries) and the entry compressor threads (src/engine/acomp.c: a
 * section's data while it is read). Internal to those two files.
 */
#ifndef XP_CODEC_H
#define XP_CODEC_H

#include <libdeflate.h>
#include <zstd.h>

#include "xp_archive.h"
#include "xp_dwalk.h"

/* Compression levels. deflate (gzip members, zip entries): libdeflate's
 * level 5, the fastest whose output is no larger than gzip -6's (zlib's
 * default) on the benchmark's rows (bench/perf.sh, 237 MB of NDJSON):
 * 43.7 MB against 47.1 MB, in a third of gzip -6's time. Its level 4
 * gives 47.9 MB, its level 6 42.1 MB for half as much time again. zstd 1: a user picks tar.zst for
 * speed; on the benchmark's rows level 1 compresses 1.7 times as fast as
 * level 3 and its output is 8% smaller, on source code about 11% larger. */
#define XP_GZIP_LEVEL 5
#define XP_ZSTD_LEVEL 1

/* One piece of a pipelined archive's compressed stream, at the levels
 * above. gzip: a whole gzip member (no name, no timestamp), compressed in
 * one call, so a piece is given whole (last set); a gzip file may hold
 * many members, read one after the other as one stream (RFC 1952).
 * zip: raw deflate ending byte-aligned in a block that is not the last,
 * given whole too, so a zip entry's data is its pieces one after the
 * other and XP_CODEC_ZIP_END. zstd: a frame per piece (a zstd stream may
 * hold many), given in any number of calls. */
typedef struct xp_codec_t {
    xp_format_e fmt;
    int ready;
    struct libdeflate_compressor *ld;
    xp_dwalk_t *walk; /* zip: finds each piece's last block */
    ZSTD_CCtx *zs;
} xp_codec_t;

/* The end of a zip entry's deflate data: an empty final block (fixed
 * Huffman codes). */
#define XP_CODEC_ZIP_END "\x03\x00"

/* Where compressed bytes go: 0, or -1 to stop. */
typedef int (*xp_codec_emit_fn)(void *baton, const void *buf, apr_size_t n);

/* 0, or -1 when the library cannot set up (out of memory). */
int xp_codec_init(xp_codec_t *k, xp_format_e fmt);
/* Compress n bytes of in; last ends the piece (and readies the codec for
 * the next one). Output goes to emit through obuf (ocap bytes; gzip: a
 * buffer of its own when the member's bound is larger). 0, -1 on a codec
 * error (gzip: also a piece not given whole), -2 when emit failed. */
int xp_codec_run(xp_codec_t *k, const void *in, apr_size_t n, int last,
                 char *obuf, apr_size_t ocap, xp_codec_emit_fn emit,
                 void *baton);
void xp_codec_end(xp_codec_t *k);

#endif
