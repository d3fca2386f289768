/*
 * codec.c -- the compressors that make the pieces of a pipelined
 * archive (xp_codec_*, xp_codec.h), used by the entry compressor threads
 * (src/engine/acomp.c) and the archive writer (src/engine/archive.c).
 *
 * gzip: a whole member per piece, from libdeflate. zstd: a frame per
 * entry, streamed. zip: libdeflate too, but a zip entry's data is one
 * deflate stream, and libdeflate only makes whole streams, whose last
 * block is marked final. So the last block's BFINAL bit is cleared and
 * an empty stored block appended, which ends the piece on a byte as the
 * next piece needs (zlib's sync flush ends a piece the same way). Its
 * three header bits fit in the unused bits of the last byte when they
 * are three or more, else they take a byte of their own; libdeflate
 * does not say where its last block starts or where it ends, so each
 * piece is walked block by block (src/engine/dwalk.c: every code
 * decoded, nothing written), which finds both and checks on the way
 * that the piece decodes to exactly the data it was made from: one that
 * does not fails the export.
 */
#include <stdlib.h>
#include <string.h>

#include "xp_codec.h"

void xp_codec_end(xp_codec_t *k)
{
    if (!k->ready)
        return;
    if (k->ld)
        libdeflate_free_compressor(k->ld);
    xp_dwalk_free(k->walk);
    if (k->zs)
        ZSTD_freeCCtx(k->zs);
    k->ready = 0;
}

static int codec_zstd_init(xp_codec_t *k)
{
    if (!(k->zs = ZSTD_createCCtx()))
        return -1;
    /* the checksum lets zstd -t (and any reader) verify each frame */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(k->zs, ZSTD_c_compressionLevel,
                                            XP_ZSTD_LEVEL)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(k->zs, ZSTD_c_checksumFlag, 1)))
        return -1;
    return 0;
}

/* 0, or -1 when the library cannot set up (out of memory). */
int xp_codec_init(xp_codec_t *k, xp_format_e fmt)
{
    int r;

    memset(k, 0, sizeof(*k));
    k->fmt = fmt;
    k->ready = 1;
    if (fmt == XP_FMT_TAR_ZST)
        r = codec_zstd_init(k);
    else
        r = (k->ld = libdeflate_alloc_compressor(XP_GZIP_LEVEL)) &&
                    (fmt != XP_FMT_ZIP || (k->walk = xp_dwalk_make()))
                ? 0
                : -1;
    if (r != 0)
        xp_codec_end(k);
    return r;
}

/* The output buffer for a piece of bound bytes: obuf when it fits, else
 * one of its own (the caller frees what is not obuf); NULL without
 * memory. */
static char *codec_outbuf(char *obuf, apr_size_t ocap, apr_size_t bound)
{
    return bound <= ocap ? obuf : malloc(bound);
}

/* A whole gzip member (header, deflate, CRC-32 and length) in one call. */
static int codec_gzip(xp_codec_t *k, const void *in, apr_size_t n, char *obuf,
                      apr_size_t ocap, xp_codec_emit_fn emit, void *baton)
{
    size_t bound = libdeflate_gzip_compress_bound(k->ld, n), got;
    char *ob = codec_outbuf(obuf, ocap, bound);
    int r;

    if (!ob)
        return -1;
    got = libdeflate_gzip_compress(k->ld, in, n, ob, bound);
    r = got == 0 ? -1 : emit(baton, ob, got) != 0 ? -2 : 0;
    if (ob != obuf)
        free(ob);
    return r;
}

/* End the piece at bit end of ob (got bytes, room for five more) with
 * an empty stored block: its three header bits fit in the unused bits
 * of the last byte, or take a byte of their own. The piece's length. */
static apr_size_t codec_align(char *ob, apr_size_t got, apr_uint64_t end)
{
    if ((apr_uint64_t)got * 8 - end >= 3) {
        memcpy(ob + got, "\0\0\xff\xff", 4);
        return got + 4;
    }
    memcpy(ob + got, "\0\0\0\xff\xff", 5);
    return got + 5;
}

/* A zip entry's piece: libdeflate's stream, its last block no longer
 * final, ended on a byte. */
static int codec_zip(xp_codec_t *k, const void *in, apr_size_t n, char *obuf,
                     apr_size_t ocap, xp_codec_emit_fn emit, void *baton)
{
    size_t bound = libdeflate_deflate_compress_bound(k->ld, n), got, len = 0;
    char *ob = codec_outbuf(obuf, ocap, bound + 5);
    apr_uint64_t last, end;
    int r;

    if (!ob)
        return -1;
    got = libdeflate_deflate_compress(k->ld, in, n, ob, bound);
    if (got && xp_dwalk_run(k->walk, (const unsigned char *)ob, got, n, &last,
                            &end) == 0) {
        ob[last / 8] &= (char)~(1 << (last % 8)); /* BFINAL */
        len = codec_align(ob, got, end);
    }
    r = !len ? -1 : emit(baton, ob, len) != 0 ? -2 : 0;
    if (ob != obuf)
        free(ob);
    return r;
}

static int codec_zstd(xp_codec_t *k, const void *in, apr_size_t n, int last,
                      char *obuf, apr_size_t ocap, xp_codec_emit_fn emit,
                      void *baton)
{
    ZSTD_inBuffer ib = {in, n, 0};
    size_t rem;

    for (;;) {
        ZSTD_outBuffer ob = {obuf, ocap, 0};
        rem = ZSTD_compressStream2(k->zs, &ob, &ib,
                                   last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rem))
            return -1;
        if (ob.pos && emit(baton, obuf, ob.pos) != 0)
            return -2;
        if (last ? rem == 0 : ib.pos == ib.size)
            return 0;
    }
}

int xp_codec_run(xp_codec_t *k, const void *in, apr_size_t n, int last,
                 char *obuf, apr_size_t ocap, xp_codec_emit_fn emit,
                 void *baton)
{
    if (k->fmt == XP_FMT_TAR_ZST)
        return codec_zstd(k, in, n, last, obuf, ocap, emit, baton);
    if (!last)
        return -1;
    return k->fmt == XP_FMT_ZIP ? codec_zip(k, in, n, obuf, ocap, emit, baton)
                                : codec_gzip(k, in, n, obuf, ocap, emit, baton);
}
