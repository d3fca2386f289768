/*
 * xp_azipw.h -- the records of a zip the archive writer makes: local
 * headers, the central directory and its end (ZIP64 where a size, an
 * offset or the count needs it). Internal to src/engine/archive.c; the
 * entries' data is compressed elsewhere (src/engine/acomp.c).
 */
#ifndef XP_AZIPW_H
#define XP_AZIPW_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

/* One entry: deflated, its sizes and CRC-32 known before its header is
 * written (no data descriptor). */
typedef struct xp_zipw_entry_t {
    const char *name;
    apr_uint32_t crc;
    apr_uint64_t csize, usize;
    apr_uint64_t offset; /* of its local header */
    apr_time_t mtime;
} xp_zipw_entry_t;

/* The most a local header takes beyond its name. */
#define XP_ZIPW_LOCAL_MAX (30 + 20 + 9)

/* The local header of e into buf (XP_ZIPW_LOCAL_MAX + the name's length
 * bytes); its length. */
apr_size_t xp_zipw_local(const xp_zipw_entry_t *e, unsigned char *buf);
/* The central directory of entries (xp_zipw_entry_t) and the end
 * records, the directory starting at offset cd; *len its length. */
unsigned char *xp_zipw_central(apr_pool_t *p, const apr_array_header_t *entries,
                               apr_uint64_t cd, apr_size_t *len);

#endif
