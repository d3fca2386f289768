/*
 * azipw.c -- the records of a zip the archive writer makes (APPNOTE
 * 6.3): a local header before each entry's data, the central directory
 * and the end of central directory record after the last one.
 *
 * Every entry is deflated, its sizes and CRC-32 known before its header
 * is written, so no data descriptor follows it. Names are UTF-8 (flag
 * bit 11); the mode is 0644 made on Unix, as libarchive writes it; the
 * time is the DOS date and time of the entry's mtime in the server's
 * time zone, with the extended timestamp field (0x5455) holding it in
 * UTC. A size, an offset or a count past what 32 (16) bits hold is
 * written as ZIP64: the field 0x0001 in the headers, the ZIP64 end
 * record and its locator before the classic one.
 */
#include <string.h>
#include <time.h>

#include "xp_azipw.h"

#define ZW_MAX32 APR_UINT64_C(0xffffffff)
#define ZW_VERSION 20   /* deflate */
#define ZW_VERSION64 45 /* ZIP64 */
#define ZW_UTF8 0x0800  /* general purpose flag: names are UTF-8 */
#define ZW_MODE (0100644u << 16)

typedef struct {
    unsigned char *p;
} zw_out_t;

static void zw_u16(zw_out_t *o, unsigned v)
{
    o->p[0] = (unsigned char)v;
    o->p[1] = (unsigned char)(v >> 8);
    o->p += 2;
}

static void zw_u32(zw_out_t *o, apr_uint64_t v)
{
    zw_u16(o, (unsigned)(v & 0xffff));
    zw_u16(o, (unsigned)((v >> 16) & 0xffff));
}

static void zw_u64(zw_out_t *o, apr_uint64_t v)
{
    zw_u32(o, v & ZW_MAX32);
    zw_u32(o, v >> 32);
}

static void zw_bytes(zw_out_t *o, const void *b, apr_size_t n)
{
    memcpy(o->p, b, n);
    o->p += n;
}

/* DOS time and date of t in local time; 1980-01-01 00:00 at the least. */
static void zw_dos(apr_time_t t, unsigned *time, unsigned *date)
{
    time_t s = (time_t)apr_time_sec(t);
    struct tm tm;

    if (!localtime_r(&s, &tm) || tm.tm_year < 80) {
        *time = 0;
        *date = (1 << 5) | 1;
        return;
    }
    *time = (unsigned)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    *date = (unsigned)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) |
                       tm.tm_mday);
}

/* The fields both headers share, from "version needed" to the name's
 * length; zip64: the sizes are in the 0x0001 field. */
static void zw_common(zw_out_t *o, const xp_zipw_entry_t *e, int zip64,
                      unsigned extra)
{
    unsigned time, date;

    zw_dos(e->mtime, &time, &date);
    zw_u16(o, zip64 ? ZW_VERSION64 : ZW_VERSION);
    zw_u16(o, ZW_UTF8);
    zw_u16(o, 8); /* deflate */
    zw_u16(o, time);
    zw_u16(o, date);
    zw_u32(o, e->crc);
    zw_u32(o, zip64 ? ZW_MAX32 : e->csize);
    zw_u32(o, zip64 ? ZW_MAX32 : e->usize);
    zw_u16(o, (unsigned)strlen(e->name));
    zw_u16(o, extra);
}

static void zw_utime(zw_out_t *o, const xp_zipw_entry_t *e)
{
    zw_u16(o, 0x5455);
    zw_u16(o, 5);
    o->p[0] = 1; /* the modification time follows */
    o->p++;
    zw_u32(o, (apr_uint64_t)apr_time_sec(e->mtime) & ZW_MAX32);
}

apr_size_t xp_zipw_local(const xp_zipw_entry_t *e, unsigned char *buf)
{
    int zip64 = e->csize >= ZW_MAX32 || e->usize >= ZW_MAX32;
    zw_out_t o = {buf};

    zw_u32(&o, 0x04034b50);
    zw_common(&o, e, zip64, 9 + (zip64 ? 20 : 0));
    zw_bytes(&o, e->name, strlen(e->name));
    if (zip64) { /* both sizes, in a local header */
        zw_u16(&o, 0x0001);
        zw_u16(&o, 16);
        zw_u64(&o, e->usize);
        zw_u64(&o, e->csize);
    }
    zw_utime(&o, e);
    return (apr_size_t)(o.p - buf);
}

/* One central directory header; its length. */
static apr_size_t zw_central_one(const xp_zipw_entry_t *e, unsigned char *buf)
{
    int zsize = e->csize >= ZW_MAX32 || e->usize >= ZW_MAX32;
    int zoff = e->offset >= ZW_MAX32;
    unsigned n64 = (zsize ? 16 : 0) + (zoff ? 8 : 0);
    zw_out_t o = {buf};

    zw_u32(&o, 0x02014b50);
    zw_u16(&o, (3 << 8) | (zsize || zoff ? ZW_VERSION64 : ZW_VERSION));
    zw_common(&o, e, zsize, 9 + (n64 ? 4 + n64 : 0));
    if (zoff && !zsize) /* "version needed" follows the offset too */
        buf[6] = ZW_VERSION64;
    zw_u16(&o, 0); /* comment */
    zw_u16(&o, 0); /* disk */
    zw_u16(&o, 0); /* internal attributes */
    zw_u32(&o, ZW_MODE);
    zw_u32(&o, zoff ? ZW_MAX32 : e->offset);
    zw_bytes(&o, e->name, strlen(e->name));
    if (n64) { /* only the fields that overflowed, in this order */
        zw_u16(&o, 0x0001);
        zw_u16(&o, n64);
        if (zsize) {
            zw_u64(&o, e->usize);
            zw_u64(&o, e->csize);
        }
        if (zoff)
            zw_u64(&o, e->offset);
    }
    zw_utime(&o, e);
    return (apr_size_t)(o.p - buf);
}

/* The end records after a directory of n entries, size bytes at cd. */
static apr_size_t zw_end(unsigned char *buf, apr_uint64_t n, apr_uint64_t cd,
                         apr_uint64_t size)
{
    int zip64 = n >= 0xffff || cd >= ZW_MAX32 || size >= ZW_MAX32;
    zw_out_t o = {buf};

    if (zip64) {
        zw_u32(&o, 0x06064b50); /* the ZIP64 end record */
        zw_u64(&o, 44);
        zw_u16(&o, (3 << 8) | ZW_VERSION64);
        zw_u16(&o, ZW_VERSION64);
        zw_u32(&o, 0);
        zw_u32(&o, 0);
        zw_u64(&o, n);
        zw_u64(&o, n);
        zw_u64(&o, size);
        zw_u64(&o, cd);
        zw_u32(&o, 0x07064b50); /* its locator */
        zw_u32(&o, 0);
        zw_u64(&o, cd + size);
        zw_u32(&o, 1);
    }
    zw_u32(&o, 0x06054b50);
    zw_u16(&o, 0);
    zw_u16(&o, 0);
    zw_u16(&o, zip64 ? 0xffff : (unsigned)n);
    zw_u16(&o, zip64 ? 0xffff : (unsigned)n);
    zw_u32(&o, zip64 ? ZW_MAX32 : size);
    zw_u32(&o, zip64 ? ZW_MAX32 : cd);
    zw_u16(&o, 0); /* comment */
    return (apr_size_t)(o.p - buf);
}

unsigned char *xp_zipw_central(apr_pool_t *p, const apr_array_header_t *entries,
                               apr_uint64_t cd, apr_size_t *len)
{
    apr_size_t cap = 56 + 20 + 22, n = 0;
    unsigned char *buf;
    int i;

    for (i = 0; i < entries->nelts; i++)
        cap += 46 + 28 + 9 +
               strlen(APR_ARRAY_IDX(entries, i, xp_zipw_entry_t).name);
    buf = apr_palloc(p, cap);
    for (i = 0; i < entries->nelts; i++)
        n += zw_central_one(&APR_ARRAY_IDX(entries, i, xp_zipw_entry_t),
                            buf + n);
    *len = n + zw_end(buf + n, (apr_uint64_t)entries->nelts, cd, n);
    return buf;
}
