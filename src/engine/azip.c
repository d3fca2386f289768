/*
 * azip.c -- a zip's entry names checked byte by byte before libarchive
 * hands out any entry (SPEC 6.1).
 *
 * libarchive copies a zip name with archive_strncat, which stops at a
 * NUL: "data/users.ndjson\0junk" would arrive as "data/users.ndjson" and
 * pass every name check. Its seekable zip reader (the one used for a
 * stored upload) lists the entries from the central directory and takes
 * each name from the local header the directory points to, or from that
 * header's Info-ZIP Unicode Path field. So this file finds the end of
 * central directory record the way libarchive 3.6 does (the last one;
 * the ZIP64 record when its locator precedes it), walks every directory
 * record and the local header it points to, and refuses a NUL in any of
 * those names. A directory that does not add up is refused as damaged
 * rather than guessed at. Reads go through one buffer of bounded size,
 * whatever the counts in the file say.
 */
#include <stdarg.h>
#include <string.h>

#include <apr_strings.h>

#include "xp_azip.h"

#define AZ_EOCD 22                  /* end of central directory record */
#define AZ_TAIL (AZ_EOCD + 65535)   /* ... with the longest comment */
#define AZ_CDH 46                   /* central directory header */
#define AZ_LFH 30                   /* local file header */
#define AZ_BUF (AZ_CDH + 2 * 65535) /* a header, its name and extra */
/* libarchive 3.6 looks for the end record in the last 16 KiB only; past
 * that it reads the local headers in file order (its streaming reader),
 * which a walk of the directory does not cover. */
#define AZ_LA_TAIL (16 * 1024)

typedef struct {
    apr_pool_t *p;
    apr_file_t *f;
    apr_off_t size;
    unsigned char *buf; /* AZ_BUF bytes */
    xp_azip_bad_t *bad;
    xp_error_t *err;
} az_t;

/* Where the directory's records are and what to add to the offsets
 * they give (bytes prepended to the zip, as libarchive corrects). */
typedef struct {
    apr_uint64_t count;
    apr_off_t start, end, correction;
} az_cd_t;

static unsigned az_le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static apr_uint64_t az_le32(const unsigned char *p)
{
    return (apr_uint64_t)az_le16(p) | (apr_uint64_t)az_le16(p + 2) << 16;
}

static apr_uint64_t az_le64(const unsigned char *p)
{
    return az_le32(p) | az_le32(p + 4) << 32;
}

static xp_errcode_e az_damaged(az_t *z, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static xp_errcode_e az_damaged(az_t *z, const char *fmt, ...)
{
    va_list ap;
    char *why;

    va_start(ap, fmt);
    why = apr_pvsprintf(z->p, fmt, ap);
    va_end(ap);
    return xp_error_set(z->err, z->p, XP_EINVAL, "the zip is damaged: %s", why);
}

/* A name with a NUL in it: the caller words the message. */
static xp_errcode_e az_bad(az_t *z, const unsigned char *name, apr_size_t n)
{
    z->bad->name = apr_pmemdup(z->p, name, n);
    z->bad->len = n;
    return XP_EINVAL;
}

/* n bytes at off into to: XP_ENOTFOUND (err untouched) when they are
 * not all inside the file. */
static xp_errcode_e az_read(az_t *z, apr_uint64_t off, apr_size_t n,
                            unsigned char *to)
{
    apr_off_t at = (apr_off_t)off;
    apr_size_t got = 0;
    apr_status_t rv;
    char ebuf[120];

    if (off > (apr_uint64_t)z->size || n > (apr_uint64_t)z->size - off)
        return XP_ENOTFOUND;
    if ((rv = apr_file_seek(z->f, APR_SET, &at)) == APR_SUCCESS)
        rv = apr_file_read_full(z->f, to, n, &got);
    if (rv == APR_EOF || (rv == APR_SUCCESS && got < n))
        return XP_ENOTFOUND;
    if (rv != APR_SUCCESS)
        return xp_error_set(z->err, z->p, XP_EIO, "cannot read upload: %s",
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    return XP_OK;
}

/* The ZIP64 end record the locator at loc (just before the end record
 * at eocd) points to. */
static xp_errcode_e az_zip64_end(az_t *z, const unsigned char *loc,
                                 apr_off_t eocd, az_cd_t *cd)
{
    apr_uint64_t at = az_le64(loc + 8), size, off;
    unsigned char *r = z->buf;
    xp_errcode_e rc;

    if (az_le32(loc + 4) != 0 || az_le32(loc + 16) != 1)
        return az_damaged(z, "its ZIP64 end record spans several disks");
    /* the locator (20 bytes) follows the record (at least 56) */
    if (eocd < 20 + 56 || at > (apr_uint64_t)(eocd - 20 - 56))
        return az_damaged(z, "its ZIP64 end record is outside the file");
    if ((rc = az_read(z, at, 56, r)) != XP_OK)
        return rc == XP_ENOTFOUND
                   ? az_damaged(z, "its ZIP64 end record is outside the file")
                   : rc;
    if (memcmp(r, "PK\6\6", 4))
        return az_damaged(z, "its ZIP64 end record has a bad signature");
    if (az_le32(r + 16) != 0 || az_le32(r + 20) != 0 ||
        az_le64(r + 24) != az_le64(r + 32))
        return az_damaged(z, "its ZIP64 end record spans several disks");
    cd->count = az_le64(r + 32);
    size = az_le64(r + 40);
    off = az_le64(r + 48);
    if (off > at || size > at - off)
        return az_damaged(z, "its central directory is outside the file");
    cd->start = (apr_off_t)off;
    cd->end = (apr_off_t)(off + size);
    cd->correction = 0;
    return XP_OK;
}

/* The end of central directory record at eocd (its bytes at e). */
static xp_errcode_e az_end_record(az_t *z, const unsigned char *e,
                                  apr_off_t eocd, az_cd_t *cd)
{
    apr_uint64_t size = az_le32(e + 12), off = az_le32(e + 16);

    if (az_le16(e + 4) != 0 || az_le16(e + 6) != 0 ||
        az_le16(e + 8) != az_le16(e + 10))
        return az_damaged(z, "it spans several disks");
    if (off + size > (apr_uint64_t)eocd)
        return az_damaged(z, "its central directory is outside the file");
    cd->count = az_le16(e + 10);
    cd->end = eocd;
    cd->start = eocd - (apr_off_t)size;
    cd->correction = cd->start - (apr_off_t)off;
    return XP_OK;
}

/* The last end of central directory record in the file's last 64 KiB. */
static xp_errcode_e az_find_end(az_t *z, az_cd_t *cd)
{
    apr_size_t n = z->size < AZ_TAIL ? (apr_size_t)z->size : AZ_TAIL, i;
    apr_off_t from = z->size - (apr_off_t)n, eocd;
    xp_errcode_e rc;

    if (n < AZ_EOCD ||
        (rc = az_read(z, (apr_uint64_t)from, n, z->buf)) == XP_ENOTFOUND)
        return az_damaged(z, "it has no end of central directory record");
    if (rc != XP_OK)
        return rc;
    for (i = n - AZ_EOCD + 1; i-- > 0;)
        if (!memcmp(z->buf + i, "PK\5\6", 4))
            break;
    if (i == (apr_size_t)-1)
        return az_damaged(z, "it has no end of central directory record");
    eocd = from + (apr_off_t)i;
    if (z->size - eocd >= AZ_LA_TAIL)
        return az_damaged(z, "its end of central directory record is not "
                             "within its last 16 KiB (a comment that long "
                             "is not supported)");
    if (i >= 20 && !memcmp(z->buf + i - 20, "PK\6\7", 4))
        return az_zip64_end(z, z->buf + i - 20, eocd, cd);
    return az_end_record(z, z->buf + i, eocd, cd);
}

/* The local header offset a ZIP64 extra field (0x0001) gives for the
 * directory record in h (its name n bytes, its extra x bytes). */
static int az_zip64_offset(const unsigned char *h, apr_size_t n, apr_size_t x,
                           apr_uint64_t *off)
{
    const unsigned char *d = h + AZ_CDH + n, *end = d + x;
    apr_size_t sz, skip;

    for (; end - d >= 4; d += 4 + sz) {
        sz = az_le16(d + 2);
        if ((apr_size_t)(end - d) - 4 < sz)
            return 0;
        if (az_le16(d) != 0x0001)
            continue;
        skip = (az_le32(h + 24) == 0xFFFFFFFF ? 8 : 0) +
               (az_le32(h + 20) == 0xFFFFFFFF ? 8 : 0);
        if (sz < skip + 8)
            return 0;
        *off = az_le64(d + 4 + skip);
        return 1;
    }
    return 0;
}

/* A local header's Info-ZIP Unicode Path field (0x7075: version, CRC-32
 * of the plain name, then the name), which libarchive prefers. */
static xp_errcode_e az_unicode_path(az_t *z, const unsigned char *d,
                                    apr_size_t x)
{
    const unsigned char *end = d + x;
    apr_size_t sz;

    for (; end - d >= 4; d += 4 + sz) {
        sz = az_le16(d + 2);
        if ((apr_size_t)(end - d) - 4 < sz)
            break;
        if (az_le16(d) == 0x7075 && sz > 5 && memchr(d + 9, 0, sz - 5))
            return az_bad(z, d + 9, sz - 5);
    }
    return XP_OK;
}

/* The local header of entry i, at off. */
static xp_errcode_e az_local(az_t *z, apr_uint64_t off, apr_uint64_t i)
{
    unsigned char *h = z->buf;
    apr_size_t n, x;
    xp_errcode_e rc;

    if ((rc = az_read(z, off, AZ_LFH, h)) == XP_OK && memcmp(h, "PK\3\4", 4))
        return az_damaged(z,
                          "the local header of entry %" APR_UINT64_T_FMT
                          " has a bad signature",
                          i + 1);
    n = az_le16(h + 26);
    x = az_le16(h + 28);
    if (rc == XP_OK)
        rc = az_read(z, off + AZ_LFH, n + x, h + AZ_LFH);
    if (rc == XP_ENOTFOUND)
        return az_damaged(z,
                          "the local header of entry %" APR_UINT64_T_FMT
                          " is outside the file",
                          i + 1);
    if (rc != XP_OK)
        return rc;
    if (memchr(h + AZ_LFH, 0, n))
        return az_bad(z, h + AZ_LFH, n);
    return az_unicode_path(z, h + AZ_LFH + n, x);
}

/* Directory record i at *pos, then the local header it points to;
 * *pos moves past the record. */
static xp_errcode_e az_entry(az_t *z, const az_cd_t *cd, apr_uint64_t i,
                             apr_off_t *pos)
{
    unsigned char *h = z->buf;
    apr_size_t n, x, c;
    apr_uint64_t local;
    xp_errcode_e rc;

    if (cd->end - *pos < AZ_CDH ||
        (rc = az_read(z, (apr_uint64_t)*pos, AZ_CDH, h)) == XP_ENOTFOUND)
        return az_damaged(
            z, "central directory entry %" APR_UINT64_T_FMT " is cut short",
            i + 1);
    if (rc != XP_OK)
        return rc;
    if (memcmp(h, "PK\1\2", 4))
        return az_damaged(z,
                          "central directory entry %" APR_UINT64_T_FMT
                          " has a bad signature",
                          i + 1);
    n = az_le16(h + 28);
    x = az_le16(h + 30);
    c = az_le16(h + 32);
    if ((apr_uint64_t)(cd->end - *pos) < AZ_CDH + n + x + c ||
        (rc = az_read(z, (apr_uint64_t)*pos + AZ_CDH, n + x, h + AZ_CDH)) ==
            XP_ENOTFOUND)
        return az_damaged(z,
                          "central directory entry %" APR_UINT64_T_FMT
                          " runs past the directory's end",
                          i + 1);
    if (rc != XP_OK)
        return rc;
    if (memchr(h + AZ_CDH, 0, n))
        return az_bad(z, h + AZ_CDH, n);
    /* as libarchive: the correction first, then 0xFFFFFFFF means ZIP64 */
    local = az_le32(h + 42) + (apr_uint64_t)cd->correction;
    if (local == 0xFFFFFFFF && !az_zip64_offset(h, n, x, &local))
        return az_damaged(z,
                          "central directory entry %" APR_UINT64_T_FMT
                          " lacks the ZIP64 field with its offset",
                          i + 1);
    *pos += (apr_off_t)(AZ_CDH + n + x + c);
    return az_local(z, local, i);
}

/* Every record from the directory's start to its end, as many as the
 * end record says, and an end record right after them (where libarchive
 * stops reading records). */
static xp_errcode_e az_walk(az_t *z, const az_cd_t *cd)
{
    apr_off_t pos = cd->start;
    apr_uint64_t i;
    xp_errcode_e rc;

    for (i = 0; pos < cd->end; i++)
        if ((rc = az_entry(z, cd, i, &pos)) != XP_OK)
            return rc;
    if (i != cd->count)
        return az_damaged(z,
                          "its central directory holds %" APR_UINT64_T_FMT
                          " entries, its end record says %" APR_UINT64_T_FMT,
                          i, cd->count);
    if ((rc = az_read(z, (apr_uint64_t)cd->end, 4, z->buf)) == XP_ENOTFOUND ||
        (rc == XP_OK && memcmp(z->buf, "PK\5\6", 4) &&
         memcmp(z->buf, "PK\6\6", 4)))
        return az_damaged(z, "its central directory does not end where its "
                             "end record says");
    return rc;
}

xp_errcode_e xp_azip_check_names(apr_pool_t *p, apr_file_t *f,
                                 xp_azip_bad_t *bad, xp_error_t *err)
{
    az_t z;
    az_cd_t cd;
    apr_finfo_t fi;
    apr_status_t rv;
    char ebuf[120];
    xp_errcode_e rc;

    memset(&z, 0, sizeof(z));
    memset(&cd, 0, sizeof(cd));
    bad->name = NULL;
    bad->len = 0;
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS)
        return xp_error_set(err, p, XP_EIO, "cannot read upload: %s",
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    z.p = p;
    z.f = f;
    z.size = fi.size;
    z.bad = bad;
    z.err = err;
    z.buf = apr_palloc(p, AZ_BUF);
    if ((rc = az_find_end(&z, &cd)) != XP_OK)
        return rc;
    return az_walk(&z, &cd);
}
