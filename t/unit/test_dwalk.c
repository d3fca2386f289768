/*
 * test_dwalk.c -- the deflate walker against zlib's inflate: on streams
 * made by libdeflate (every level) and by zlib (stored, fixed and
 * Huffman-only blocks, flushes between them) it finds the last block
 * where zlib does, and the stream with that block no longer final plus
 * an empty final block inflates to the same data; a wrong size, a
 * stream cut anywhere and damaged streams are refused or agree with
 * zlib.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <libdeflate.h>
#include <zlib.h>

#include "tap.h"
#include "xp_dwalk.h"

#define MAXN (1 << 20)

static unsigned char *buf, *out, *dec;
static unsigned seed = 12345;

static unsigned rnd(void)
{
    seed = seed * 1103515245u + 12345u;
    return seed >> 8;
}

/* kind 0: text-like rows; 1: random bytes; 2: base64 of random bytes
 * then a run of 'A' (blocks split where the data changes); 3: zeros */
static void fill(unsigned char *p, size_t n, int kind)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        "0123456789+/";
    size_t i;

    for (i = 0; i < n; i++) {
        switch (kind) {
        case 0:
            p[i] =
                (unsigned char)("{\"id\":1,\"name\":\"row \"}\n"[rnd() % 24]);
            break;
        case 1:
            p[i] = (unsigned char)rnd();
            break;
        case 2:
            p[i] = (unsigned char)((i / 40000) % 2 ? 'A' : b64[rnd() % 64]);
            break;
        default:
            p[i] = 0;
        }
    }
}

/* zlib's answer: where the last block starts and ends (Z_BLOCK), and
 * whether the stream inflates to exactly n bytes; 0 or -1. */
static int zlib_walk(const unsigned char *in, size_t len, size_t n,
                     apr_uint64_t *last, apr_uint64_t *end)
{
    z_stream z;
    int r;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, -15) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = dec;
    z.avail_out = MAXN + 1;
    *last = *end = 0;
    while ((r = inflate(&z, Z_BLOCK)) == Z_OK) {
        apr_uint64_t at;

        if (!(z.data_type & 128))
            continue;
        at = (apr_uint64_t)(len - z.avail_in) * 8 - (z.data_type & 7);
        if (z.data_type & 64)
            *end = at;
        else
            *last = at;
    }
    inflateEnd(&z);
    return r == Z_STREAM_END && z.total_out == n && z.avail_in == 0 ? 0 : -1;
}

/* The piece made as the zip codec makes it, then an empty final block:
 * does zlib inflate it to the n bytes at want? */
static int joined_inflates(const unsigned char *in, size_t len,
                           apr_uint64_t last, apr_uint64_t end,
                           const unsigned char *want, size_t n)
{
    unsigned char *j = malloc(len + 8);
    size_t jl = len;
    uLongf dl = MAXN + 1;
    z_stream z;
    int r;

    memcpy(j, in, len);
    j[last / 8] &= (unsigned char)~(1u << (last % 8));
    if ((apr_uint64_t)len * 8 - end >= 3) {
        memcpy(j + jl, "\0\0\xff\xff", 4);
        jl += 4;
    } else {
        memcpy(j + jl, "\0\0\0\xff\xff", 5);
        jl += 5;
    }
    memcpy(j + jl, "\x03\x00", 2);
    jl += 2;
    memset(&z, 0, sizeof(z));
    inflateInit2(&z, -15);
    z.next_in = j;
    z.avail_in = (uInt)jl;
    z.next_out = dec;
    z.avail_out = (uInt)dl;
    r = inflate(&z, Z_FINISH);
    dl = z.total_out;
    inflateEnd(&z);
    free(j);
    return r == Z_STREAM_END && dl == n && memcmp(dec, want, n) == 0;
}

/* One stream of n bytes of buf: the walker and zlib agree on it, and
 * the joined piece inflates back. */
static int agrees(const unsigned char *c, size_t len, size_t n, xp_dwalk_t *w)
{
    apr_uint64_t wl, we, zl, ze;

    if (xp_dwalk_run(w, c, len, n, &wl, &we) != 0)
        return 0;
    if (zlib_walk(c, len, n, &zl, &ze) != 0 || wl != zl || we != ze)
        return 0;
    return joined_inflates(c, len, wl, we, buf, n);
}

static size_t zlib_make(unsigned char *c, size_t cap, size_t n, int level,
                        int strategy, size_t flush_every)
{
    z_stream z;
    size_t at = 0, step;

    memset(&z, 0, sizeof(z));
    deflateInit2(&z, level, Z_DEFLATED, -15, 8, strategy);
    z.next_out = c;
    z.avail_out = (uInt)cap;
    do {
        step = flush_every && n - at > flush_every ? flush_every : n - at;
        z.next_in = buf + at;
        z.avail_in = (uInt)step;
        at += step;
        deflate(&z, at == n ? Z_FINISH : Z_FULL_FLUSH);
    } while (at < n);
    deflateEnd(&z);
    return z.total_out;
}

static void libdeflate_streams(xp_dwalk_t *w)
{
    static const size_t sizes[] = {0, 1, 100, 65536, 262144, MAXN};
    int level, kind, bad = 0, runs = 0;
    size_t si;

    for (level = 1; level <= 12; level++) {
        struct libdeflate_compressor *ld = libdeflate_alloc_compressor(level);

        for (kind = 0; kind < 4; kind++) {
            for (si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
                size_t n = sizes[si], len;

                fill(buf, n, kind);
                len = libdeflate_deflate_compress(ld, buf, n, out, 2 * MAXN);
                runs++;
                if (!agrees(out, len, n, w)) {
                    bad++;
                    printf("# libdeflate level %d kind %d n %zu\n", level, kind,
                           n);
                }
            }
        }
        libdeflate_free_compressor(ld);
    }
    ok(bad == 0,
       "%d libdeflate streams (levels 1-12; text, random, "
       "split, zeros; 0 to 1 MiB): the walker finds zlib's last "
       "block and the joined piece inflates back (%d not)",
       runs, bad);
}

static void zlib_streams(xp_dwalk_t *w)
{
    static const int strategies[] = {Z_DEFAULT_STRATEGY, Z_FIXED,
                                     Z_HUFFMAN_ONLY, Z_RLE};
    int si, level, kind, bad = 0, runs = 0;
    size_t n = 200000, len, flush;

    for (si = 0; si < 4; si++) {
        for (level = 0; level <= 9; level += 3) {
            for (kind = 0; kind < 3; kind++) {
                for (flush = 0; flush <= 70000; flush += 35000) {
                    fill(buf, n, kind);
                    len = zlib_make(out, 2 * MAXN, n, level, strategies[si],
                                    flush);
                    runs++;
                    if (!agrees(out, len, n, w))
                        bad++;
                }
            }
        }
    }
    ok(bad == 0,
       "%d zlib streams (stored, fixed, Huffman-only, RLE; "
       "full flushes between them): the walker agrees (%d not)",
       runs, bad);
}

/* Cut short, the wrong size, damaged: refused, or (damaged) agreeing
 * with zlib when zlib still reads n bytes from it. */
static void refusals(xp_dwalk_t *w)
{
    size_t n = 30000, len, cut, i;
    apr_uint64_t l, e, zl, ze;
    struct libdeflate_compressor *ld = libdeflate_alloc_compressor(5);
    int cut_ok = 0, flips = 0, disagree = 0;
    unsigned char *c;

    fill(buf, n, 2);
    len = libdeflate_deflate_compress(ld, buf, n, out, 2 * MAXN);
    libdeflate_free_compressor(ld);
    ok(xp_dwalk_run(w, out, len, n - 1, &l, &e) != 0 &&
           xp_dwalk_run(w, out, len, n + 1, &l, &e) != 0,
       "one byte more or less than the stream holds is refused");
    for (cut = 0; cut < len; cut++) {
        c = malloc(cut ? cut : 1); /* exactly cut bytes: ASan sees overreads */
        memcpy(c, out, cut);
        cut_ok += xp_dwalk_run(w, c, cut, n, &l, &e) == 0;
        free(c);
    }
    ok(cut_ok == 0, "the stream cut at each of its %zu bytes is refused", len);
    c = malloc(len + 1);
    memcpy(c, out, len);
    c[len] = 0;
    ok(xp_dwalk_run(w, c, len + 1, n, &l, &e) != 0,
       "a byte left over after the final block is refused");
    for (i = 0; i < 4000; i++) {
        size_t bit = rnd() % (len * 8);
        int wr, zr;

        memcpy(c, out, len);
        c[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        wr = xp_dwalk_run(w, c, len, n, &l, &e);
        zr = zlib_walk(c, len, n, &zl, &ze);
        flips += wr == 0;
        if (zr == 0 && (wr != 0 || l != zl || e != ze))
            disagree++;
    }
    free(c);
    ok(disagree == 0,
       "4000 single-bit flips: where zlib still reads the "
       "stream, the walker agrees (%d of the flips kept it "
       "walkable)",
       flips);
}

int main(void)
{
    xp_dwalk_t *w;

    apr_initialize();
    buf = malloc(MAXN);
    out = malloc(2 * MAXN);
    dec = malloc(MAXN + 1);
    w = xp_dwalk_make();
    ok(w != NULL, "a walker");
    libdeflate_streams(w);
    zlib_streams(w);
    refusals(w);
    xp_dwalk_free(w);
    free(buf);
    free(out);
    free(dec);
    apr_terminate();
    return done_testing();
}
