/*
 * agzip.c -- the gzip layer of an uploaded tar.gz (SPEC 6.1), with zlib.
 *
 * libarchive 3.6's gzip filter never checks a member's trailer, and its
 * tar reader stops at the end-of-archive blocks without reading the rest
 * of the stream anyway, so a tar.gz whose CRC-32 or length is wrong would
 * pass. Here zlib's gzip mode (inflateInit2 with 16 + MAX_WBITS) checks
 * both for every member; the archive reader hands libarchive the bytes
 * this file decompresses and, at the archive's end, reads the rest of the
 * stream through it so that the last trailer is checked too.
 *
 * Members follow one another (RFC 1952): our exports and pigz may write
 * several. Bytes after the last member that do not start another one are
 * ignored, as gzip -d and libarchive do.
 *
 * Our exports write a member per 256 KiB of the tar stream. A member that
 * lies whole in the input buffer and decompresses into the output buffer
 * is decompressed in one call by libdeflate, which checks its trailer too
 * and is about twice as fast as zlib; any other member (a gzip -c of the
 * whole file, a truncated or damaged one) goes through zlib from its
 * start, so its messages are zlib's.
 */
#include <string.h>

#include <zlib.h>
#include <libdeflate.h>

#include <apr_strings.h>

#include "xp_agzip.h"

/* Read size for the file and for decompressed data, like the archive
 * reader's: a worker thread's memory stays flat. */
#define AGZ_BLOCK (64 * 1024)
/* Room for what a member of our own decompresses to (256 KiB of tar
 * stream), and input enough to hold such a member whole (even stored)
 * whenever one is tried: the buffer is topped up below AGZ_OUT. */
#define AGZ_OUT (320 * 1024)
#define AGZ_IN (2 * AGZ_OUT)

struct xp_agzip_t {
    apr_pool_t *p;
    apr_file_t *f;
    z_stream z;
    int z_live; /* inflateInit2 succeeded: inflateEnd at cleanup */
    int eof;    /* the file is read to its end */
    int done;   /* the last member's trailer is checked */
    int whole;  /* at a member's start: libdeflate may take it whole */
    struct libdeflate_decompressor *ld;
    unsigned char *in, *out;
    xp_error_t fail; /* code set: every later read fails the same way */
};

static apr_status_t agz_cleanup(void *data)
{
    xp_agzip_t *g = data;

    if (g->z_live) {
        inflateEnd(&g->z);
        g->z_live = 0;
    }
    if (g->ld) {
        libdeflate_free_decompressor(g->ld);
        g->ld = NULL;
    }
    return APR_SUCCESS;
}

int xp_agzip_sniff(apr_file_t *f)
{
    unsigned char magic[2];
    apr_size_t got = 0;
    apr_off_t at = 0;
    apr_status_t rv;

    rv = apr_file_read_full(f, magic, sizeof(magic), &got);
    if (apr_file_seek(f, APR_SET, &at) != APR_SUCCESS)
        return 0;
    return rv == APR_SUCCESS && got == 2 && magic[0] == 0x1f &&
           magic[1] == 0x8b;
}

xp_errcode_e xp_agzip_open(apr_pool_t *p, apr_file_t *f, xp_agzip_t **out,
                           xp_error_t *err)
{
    xp_agzip_t *g = apr_pcalloc(p, sizeof(*g));

    *out = NULL;
    g->p = p;
    g->f = f;
    g->in = apr_palloc(p, AGZ_IN);
    g->out = apr_palloc(p, AGZ_OUT);
    g->z.next_in = g->in;
    apr_pool_cleanup_register(p, g, agz_cleanup, apr_pool_cleanup_null);
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK ||
        (g->ld = libdeflate_alloc_decompressor()) == NULL)
        return xp_error_set(err, p, XP_EIO, "out of memory for zlib");
    g->z_live = 1;
    g->whole = 1;
    *out = g;
    return XP_OK;
}

/* Remember a failure, so that every later read repeats it. */
static xp_errcode_e agz_fail(xp_agzip_t *g, xp_errcode_e code,
                             const char *message, xp_error_t *err)
{
    g->fail.code = code;
    g->fail.message = apr_pstrdup(g->p, message);
    return xp_error_set(err, g->p, code, "%s", message);
}

/* What zlib said, as a sentence. Its texts are zlib's own (inflate.c):
 * "incorrect data check" is the trailer's CRC-32, "incorrect length
 * check" its ISIZE. */
static xp_errcode_e agz_zfail(xp_agzip_t *g, int zr, xp_error_t *err)
{
    const char *msg = g->z.msg;

    if (zr == Z_MEM_ERROR)
        return agz_fail(g, XP_EIO, "out of memory for zlib", err);
    if (msg && !strcmp(msg, "incorrect data check"))
        msg = "the CRC-32 in its trailer does not match the data";
    else if (msg && !strcmp(msg, "incorrect length check"))
        msg = "the length in its trailer does not match the data";
    return agz_fail(g, XP_EINVAL,
                    apr_pstrcat(g->p, "the gzip stream is corrupt: ",
                                msg ? msg : "zlib cannot inflate it", NULL),
                    err);
}

/* Keep the unread input, append what the file has next: at least want
 * bytes when there are that many (2: a member's magic), in reads of at
 * most AGZ_BLOCK. */
static xp_errcode_e agz_fill(xp_agzip_t *g, apr_size_t want, xp_error_t *err)
{
    apr_size_t keep = g->z.avail_in, n;
    apr_status_t rv;
    char ebuf[120];

    if (keep && g->z.next_in != g->in)
        memmove(g->in, g->z.next_in, keep);
    g->z.next_in = g->in;
    while (!g->eof && g->z.avail_in < want) {
        n = AGZ_IN - g->z.avail_in;
        if (n > AGZ_BLOCK)
            n = AGZ_BLOCK;
        rv = apr_file_read(g->f, g->in + g->z.avail_in, &n);
        if (rv == APR_EOF)
            g->eof = 1;
        else if (rv != APR_SUCCESS)
            return agz_fail(g, XP_EIO,
                            apr_pstrcat(g->p, "cannot read upload: ",
                                        apr_strerror(rv, ebuf, sizeof(ebuf)),
                                        NULL),
                            err);
        else
            g->z.avail_in += (uInt)n;
    }
    return XP_OK;
}

/* A member's trailer checked: another member follows, or the stream is
 * over (end of file, or bytes that are no gzip member: ignored). */
static xp_errcode_e agz_next_member(xp_agzip_t *g, xp_error_t *err)
{
    xp_errcode_e rc;

    if (g->z.avail_in < 2 && (rc = agz_fill(g, 2, err)) != XP_OK)
        return rc;
    if (g->z.avail_in >= 2 && g->z.next_in[0] == 0x1f &&
        g->z.next_in[1] == 0x8b) {
        inflateReset(&g->z);
        g->whole = 1;
        return XP_OK;
    }
    g->done = 1;
    return XP_OK;
}

/* The member that starts the input, whole, by libdeflate: 1 when done
 * (*len bytes out, the next member looked for), 0 when it is for zlib. */
static int agz_whole(xp_agzip_t *g, apr_size_t *len, xp_errcode_e *rc,
                     xp_error_t *err)
{
    size_t used = 0, made = 0;

    g->whole = 0;
    if (g->z.avail_in < AGZ_OUT && (*rc = agz_fill(g, AGZ_IN, err)) != XP_OK)
        return 1;
    if (libdeflate_gzip_decompress_ex(g->ld, g->z.next_in, g->z.avail_in,
                                      g->out, AGZ_OUT, &used,
                                      &made) != LIBDEFLATE_SUCCESS)
        return 0;
    g->z.next_in += used;
    g->z.avail_in -= (uInt)used;
    *len = made;
    *rc = agz_next_member(g, err);
    return 1;
}

xp_errcode_e xp_agzip_read(xp_agzip_t *g, const void **buf, apr_size_t *len,
                           xp_error_t *err)
{
    xp_errcode_e rc;
    int zr;

    *buf = g->out;
    *len = 0;
    if (g->fail.code != XP_OK)
        return xp_error_set(err, g->p, g->fail.code, "%s", g->fail.message);
    while (!g->done && *len == 0) {
        if (g->whole && agz_whole(g, len, &rc, err)) {
            if (rc != XP_OK)
                return rc;
            continue;
        }
        if (g->z.avail_in == 0 && (rc = agz_fill(g, 2, err)) != XP_OK)
            return rc;
        if (g->z.avail_in == 0)
            return agz_fail(g, XP_EINVAL,
                            "the gzip stream ends before its trailer "
                            "(truncated)",
                            err);
        g->z.next_out = g->out;
        g->z.avail_out = AGZ_BLOCK;
        zr = inflate(&g->z, Z_NO_FLUSH);
        *len = AGZ_BLOCK - g->z.avail_out;
        if (zr == Z_STREAM_END) {
            if ((rc = agz_next_member(g, err)) != XP_OK)
                return rc;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return agz_zfail(g, zr, err);
    }
    return XP_OK;
}
