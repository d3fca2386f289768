/*
 * xp_areader.h -- reading an uploaded archive entry by entry (SPEC 6.1),
 * never extracting anything to disk. The only reader of libarchive.
 */
#ifndef XP_AREADER_H
#define XP_AREADER_H

#include <apr_pools.h>
#include <apr_file_io.h>
#include "xport.h"

typedef struct xp_areader_t xp_areader_t;

typedef struct xp_aentry_t {
    const char *name; /* "manifest.json", "data/<ident>.ndjson", or "" (raw) */
    apr_int64_t size; /* from the header, -1 unknown; never trusted */
} xp_aentry_t;

/* Open a stored upload. Archives: tar (plain, gzip, zstd) and zip only
 * (libarchive read support limited to those formats/filters; anything
 * else, e.g. rar/7z/iso/cpio or nested compression, fails "not a tar.gz,
 * tar.zst, zip or tar archive"). A gzip upload is inflated with zlib, so
 * that every member's CRC-32 and length are checked (a mismatch fails
 * "the gzip stream is corrupt: ..."); a zip whose names hold a NUL byte,
 * in its central directory or a local header, fails naming the entry.
 * raw_format non-NULL ("ndjson" or "json") opens the file as one raw
 * entry named "" instead. max_uncompressed (0 = none) caps the bytes all
 * entries expand to: past it, read fails XP_ELIMIT naming
 * XportMaxUncompressedSize. The reader is closed when p is cleared. */
xp_errcode_e xp_areader_open(apr_pool_t *p, const char *path,
                             const char *raw_format, apr_off_t max_uncompressed,
                             xp_areader_t **out, xp_error_t *err);

/* Next entry header: XP_ENOTFOUND at the end, once the rest of a gzip
 * stream is read through and its last trailer checked (those bytes count
 * against max_uncompressed too). Fails XP_EINVAL for any entry that is
 * not a regular file (links, symlinks, devices, fifos, directories), whose
 * name is not "manifest.json" or "data/<ident>.ndjson"
 * (ident per xp_ident_valid), or that repeats an earlier name (also when
 * only the letter case differs). Unread data of the previous entry is
 * skipped (and still counted against max_uncompressed). */
xp_errcode_e xp_areader_next(xp_areader_t *r, xp_aentry_t *e, xp_error_t *err);

/* Next block (at most 64 KiB) of the current entry's data; *len 0 at its
 * end. The block is valid until the next call. */
xp_errcode_e xp_areader_read(xp_areader_t *r, const char **buf, apr_size_t *len,
                             xp_error_t *err);

/* Bytes decompressed so far over all entries. */
apr_off_t xp_areader_total(const xp_areader_t *r);

/* Check one entry name against the rules of xp_areader_next (exposed for
 * tests and fuzzing). NULL if fine, else the reason, e.g. "names outside
 * the archive are not allowed". */
const char *xp_areader_name_problem(const char *name);

#endif
