/*
 * dwalk.c -- a raw deflate stream (RFC 1951) walked block by block
 * without writing out what it holds (xp_dwalk_*, xp_dwalk.h).
 *
 * The end of a Huffman-coded block is only found by decoding every code
 * before it, but nothing has to be written: each code is looked up in a
 * table indexed by the next bits of the stream (one table of 2^maxlen
 * entries per code, maxlen at most 15), its length and distance extra
 * bits skipped, and only the count of bytes it stands for kept. That
 * count is what is checked: no distance may reach before the first byte,
 * and the stream must come to exactly the size it was made from. A
 * stored block is skipped by its length. On the rows the zip codec
 * compresses this takes a fraction of the time of a full inflate.
 *
 * Literals, most of the codes on rows of data, are taken several at a
 * time: a table of the next 12 bits gives how many whole literals they
 * hold and how many bits those take.
 *
 * The stream is read 64 bits at a time, at least 57 of them new: the
 * codes are taken from those until fewer are left than the next might
 * need (a code: 15; a length's extra bits, a distance code and its
 * extra bits: 33).
 */
#include <stdlib.h>
#include <string.h>

#include "xp_dwalk.h"

#define DW_MAXBITS 15
#define DW_NLIT 288 /* literal/length symbols a table may hold */
#define DW_NDIST 32
#define DW_RUNBITS 12 /* the table of literal runs: 8 KiB */

struct xp_dwalk_t {
    /* entries: symbol << 4 | code length; 0 where no code starts */
    apr_uint16_t lit[1 << DW_MAXBITS], dist[1 << DW_MAXBITS], pre[1 << 7];
    /* the literals the next DW_RUNBITS bits hold whole: count << 4 |
     * their bits; 0 when they begin with anything else */
    apr_uint16_t run[1 << DW_RUNBITS];
    apr_uint32_t lmask, dmask, pmask;
};

typedef struct {
    const unsigned char *in;
    apr_size_t len;
    apr_uint64_t pos; /* bits read */
    apr_uint64_t lim; /* bits there are */
    apr_uint64_t out; /* bytes the codes so far stand for */
} dw_t;

static const apr_uint16_t len_base[29] = {
    3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const unsigned char len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                            1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                            4, 4, 4, 4, 5, 5, 5, 5, 0};
static const apr_uint16_t dist_base[30] = {
    1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
    33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const unsigned char dist_extra[30] = {
    0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* the order in which a dynamic block gives its code length code */
static const unsigned char pre_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                            11, 4,  12, 3, 13, 2, 14, 1, 15};

xp_dwalk_t *xp_dwalk_make(void)
{
    return malloc(sizeof(xp_dwalk_t));
}

void xp_dwalk_free(xp_dwalk_t *w)
{
    free(w);
}

/* The next 57 bits or more of the stream from pos (zeros past its end,
 * which the callers' pos > lim checks catch). */
static inline apr_uint64_t dw_peek(const dw_t *s)
{
    apr_size_t at = (apr_size_t)(s->pos >> 3), i, k;
    apr_uint64_t v = 0;

#if !APR_IS_BIGENDIAN
    if (at + 8 <= s->len) {
        memcpy(&v, s->in + at, 8);
        return v >> (s->pos & 7);
    }
#endif
    k = at + 8 <= s->len ? 8 : at < s->len ? s->len - at : 0;
    for (i = 0; i < k; i++)
        v |= (apr_uint64_t)s->in[at + i] << (8 * i);
    return v >> (s->pos & 7);
}

static apr_uint32_t dw_reverse(apr_uint32_t code, unsigned len)
{
    apr_uint32_t r = 0;

    while (len--) {
        r = r << 1 | (code & 1);
        code >>= 1;
    }
    return r;
}

/* The table of the canonical code with lengths lens[0..nsym) (0: no
 * code), indexed by the stream's next bits, and its mask. -1 when the
 * lengths give more codes than there are (an incomplete code is left
 * with holes: reaching one fails the walk). */
static int dw_table(apr_uint16_t *t, apr_uint32_t *mask,
                    const unsigned char *lens, unsigned nsym)
{
    unsigned count[DW_MAXBITS + 1] = {0}, next[DW_MAXBITS + 1], s, l, max = 0;
    apr_uint32_t code = 0, r, size;
    int left = 1;

    for (s = 0; s < nsym; s++)
        count[lens[s]]++;
    for (l = 1; l <= DW_MAXBITS; l++) {
        left = left * 2 - (int)count[l];
        if (left < 0)
            return -1;
        if (count[l])
            max = l;
        code = (code + count[l - 1] * (l > 1)) << 1;
        next[l] = code;
    }
    size = (apr_uint32_t)1 << max;
    memset(t, 0, size * sizeof(*t));
    for (s = 0; s < nsym; s++) {
        if (!(l = lens[s]))
            continue;
        for (r = dw_reverse(next[l]++, l); r < size; r += 1u << l)
            t[r] = (apr_uint16_t)(s << 4 | l);
    }
    *mask = size - 1;
    return 0;
}

/* The run table of the literal/length table: only the count of the
 * literals matters, and one look-up takes as many as the bits hold. */
static void dw_runs(xp_dwalk_t *w)
{
    unsigned i, used, count, e;

    for (i = 0; i < 1u << DW_RUNBITS; i++) {
        for (used = count = 0;; used += e & 15, count++) {
            e = w->lit[(i >> used) & w->lmask];
            if (!e || e >> 4 >= 256 || (e & 15) > DW_RUNBITS - used)
                break;
        }
        w->run[i] = (apr_uint16_t)(count << 4 | used);
    }
}

/* A stored block: to the next byte, its length, its data skipped. */
static int dw_stored(dw_t *s)
{
    const unsigned char *p;
    unsigned n;

    s->pos = (s->pos + 7) & ~(apr_uint64_t)7;
    if ((s->pos >> 3) + 4 > s->len)
        return -1;
    p = s->in + (s->pos >> 3);
    n = p[0] | (unsigned)p[1] << 8;
    if (n != (~(p[2] | (unsigned)p[3] << 8) & 0xffff))
        return -1;
    s->pos += 32 + (apr_uint64_t)n * 8;
    s->out += n;
    return 0;
}

static void dw_fixed(xp_dwalk_t *w)
{
    unsigned char lens[DW_NLIT + DW_NDIST];

    memset(lens, 8, 144);
    memset(lens + 144, 9, 112);
    memset(lens + 256, 7, 24);
    memset(lens + 280, 8, 8);
    memset(lens + DW_NLIT, 5, DW_NDIST);
    dw_table(w->lit, &w->lmask, lens, DW_NLIT);
    dw_table(w->dist, &w->dmask, lens + DW_NLIT, DW_NDIST);
    dw_runs(w);
}

/* The code lengths of a dynamic block, coded with the code length code
 * (16: the previous length again, 17 and 18: runs of zeros). */
static int dw_lengths(xp_dwalk_t *w, dw_t *s, unsigned char *lens,
                      unsigned total)
{
    apr_uint64_t b;
    unsigned i = 0, e, sym, rep, val;

    while (i < total) {
        if (s->pos > s->lim)
            return -1;
        b = dw_peek(s);
        if (!(e = w->pre[b & w->pmask]))
            return -1;
        s->pos += e & 15;
        b >>= e & 15;
        if ((sym = e >> 4) < 16) {
            lens[i++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16 && i == 0)
            return -1;
        val = sym == 16 ? lens[i - 1] : 0;
        rep = sym == 16   ? 3 + (b & 3)
              : sym == 17 ? 3 + (b & 7)
                          : 11 + (b & 127);
        s->pos += sym == 16 ? 2 : sym == 17 ? 3 : 7;
        if (rep > total - i)
            return -1;
        memset(lens + i, (int)val, rep);
        i += rep;
    }
    return 0;
}

/* A dynamic block's header: the counts, the code length code, the
 * lengths of both codes and their tables. */
static int dw_dynamic(xp_dwalk_t *w, dw_t *s)
{
    unsigned char lens[DW_NLIT + DW_NDIST], pl[19] = {0};
    apr_uint64_t b = dw_peek(s);
    unsigned nlit = 257 + (b & 31), ndist = 1 + ((b >> 5) & 31);
    unsigned npre = 4 + ((b >> 10) & 15), i;

    if (nlit > 286 || ndist > 30)
        return -1;
    s->pos += 14;
    b = dw_peek(s); /* 19 lengths of 3 bits: 57 at most */
    for (i = 0; i < npre; i++)
        pl[pre_order[i]] = (unsigned char)((b >> (3 * i)) & 7);
    s->pos += 3 * npre;
    if (dw_table(w->pre, &w->pmask, pl, 19) < 0 ||
        dw_lengths(w, s, lens, nlit + ndist) < 0 || !lens[256])
        return -1;
    if (dw_table(w->lit, &w->lmask, lens, nlit) < 0 ||
        dw_table(w->dist, &w->dmask, lens + nlit, ndist) < 0)
        return -1;
    dw_runs(w);
    return 0;
}

/* The bit buffer of dw_codes: bb holds nb bits from pos on. */
#define DW_FILL(s, at, bb, nb)                                                 \
    do {                                                                       \
        (s)->pos = (at);                                                       \
        (bb) = dw_peek(s);                                                     \
        (nb) = 64 - (unsigned)((at)&7);                                        \
    } while (0)
#define DW_TAKE(at, bb, nb, k)                                                 \
    do {                                                                       \
        (bb) >>= (k);                                                          \
        (nb) -= (k);                                                           \
        (at) += (k);                                                           \
    } while (0)

/* A Huffman-coded block's codes up to its end-of-block code. The buffer
 * is filled again when a code (15 bits) might not fit, and after a
 * length code when its extra bits and the distance (33) might not. */
static int dw_codes(const xp_dwalk_t *w, dw_t *s)
{
    apr_uint64_t pos = s->pos, out = s->out, bb, d;
    unsigned nb, e, sym, x, n;

    DW_FILL(s, pos, bb, nb);
    for (;;) {
        if (nb < DW_MAXBITS) {
            if (pos > s->lim)
                return -1;
            DW_FILL(s, pos, bb, nb);
        }
        if ((e = w->run[bb & ((1u << DW_RUNBITS) - 1)])) {
            DW_TAKE(pos, bb, nb, e & 15);
            out += e >> 4;
            continue;
        }
        if (!(e = w->lit[bb & w->lmask]))
            return -1;
        DW_TAKE(pos, bb, nb, e & 15);
        if ((sym = e >> 4) < 256) {
            out++;
            continue;
        }
        if (sym == 256)
            break;
        if ((sym -= 257) >= 29)
            return -1;
        if (nb < 33)
            DW_FILL(s, pos, bb, nb);
        x = len_extra[sym];
        n = len_base[sym] + (unsigned)(bb & ((1u << x) - 1));
        DW_TAKE(pos, bb, nb, x);
        if (!(e = w->dist[bb & w->dmask]) || (sym = e >> 4) >= 30)
            return -1;
        DW_TAKE(pos, bb, nb, e & 15);
        x = dist_extra[sym];
        d = dist_base[sym] + (bb & ((1u << x) - 1));
        DW_TAKE(pos, bb, nb, x);
        if (d > out)
            return -1;
        out += n;
    }
    s->pos = pos;
    s->out = out;
    return 0;
}

int xp_dwalk_run(xp_dwalk_t *w, const unsigned char *in, apr_size_t len,
                 apr_size_t n, apr_uint64_t *last, apr_uint64_t *end)
{
    dw_t s = {in, len, 0, (apr_uint64_t)len * 8, 0};
    apr_uint64_t start = 0, b;
    int final = 0, r;

    while (!final) {
        if (s.pos + 3 > s.lim)
            return -1;
        start = s.pos;
        b = dw_peek(&s);
        final = (int)(b & 1);
        s.pos += 3;
        switch ((b >> 1) & 3) {
        case 0:
            r = dw_stored(&s);
            break;
        case 1:
            dw_fixed(w);
            r = dw_codes(w, &s);
            break;
        case 2:
            r = dw_dynamic(w, &s) < 0 ? -1 : dw_codes(w, &s);
            break;
        default:
            r = -1;
        }
        if (r < 0 || s.pos > s.lim || s.out > n)
            return -1;
    }
    if (s.out != n || (s.pos + 7) / 8 != len)
        return -1;
    *last = start;
    *end = s.pos;
    return 0;
}
