/*
 * xp_archive.h -- the one wrapper around libarchive (writing archives;
 * reading comes with imports), plus the output formats.
 */
#ifndef XP_ARCHIVE_H
#define XP_ARCHIVE_H

#include "xport.h"
#include "xp_hash.h"

typedef enum {
    XP_FMT_TAR_GZ = 0,
    XP_FMT_TAR_ZST,
    XP_FMT_ZIP,
    XP_FMT_NDJSON,  /* one section, bare .ndjson */
    XP_FMT_JSON,    /* one section, JSON array */
    XP_FMT_DOCUMENT /* one JSON document, export.json in a zip (document.c) */
} xp_format_e;

int xp_format_parse(const char *name, xp_format_e *out); /* 0 ok, -1 unknown */
const char *xp_format_name(xp_format_e f);               /* "tar.gz" */
const char *xp_format_ext(xp_format_e f); /* "tar.gz", "ndjson", "json";
                                             document: "zip" */
const char *
xp_format_mime(xp_format_e f); /* application/gzip, application/zstd,
                                  application/zip, application/x-ndjson,
                                  application/json; document:
                                  application/zip */
/* tar.gz, tar.zst, zip: a manifest and one data entry per section */
int xp_format_is_archive(xp_format_e f);

typedef struct xp_awriter_t xp_awriter_t;

/*
 * Create path (mode 0600, O_EXCL) and start writing fmt into it. Every byte
 * written is hashed (SHA-256) and counted; going over max_size (0 = no
 * limit) fails the current call with XP_ELIMIT and a message naming
 * XportMaxArchiveSize. mtime is the entries' modification time.
 */
xp_errcode_e xp_awriter_open(apr_pool_t *p, const char *path, xp_format_e fmt,
                             apr_off_t max_size, apr_time_t mtime,
                             xp_awriter_t **out, xp_error_t *err);
/* Add an entry from memory (archives only). Entries are regular files,
 * mode 0644, uid/gid 0, no user/group names. */
xp_errcode_e xp_awriter_add_mem(xp_awriter_t *w, const char *name,
                                const void *data, apr_size_t len,
                                xp_error_t *err);
/* Add an entry whose content is the file srcpath (size bytes), streamed.
 * For XP_FMT_NDJSON the content is copied as is; for XP_FMT_JSON the
 * NDJSON lines of srcpath become a JSON array. ctl->check is consulted
 * between blocks (may be NULL). */
xp_errcode_e xp_awriter_add_file(xp_awriter_t *w, const char *name,
                                 const char *srcpath, apr_off_t size,
                                 const xp_job_ctl_t *ctl, xp_error_t *err);
/* Start an entry whose size is not known yet, its data following through
 * xp_awriter_write as it is made. A zip entry is compressed on other
 * threads into a file beside the archive (path.entry) and goes into the
 * archive when it ends, with the next entry or xp_awriter_close (ZIP64
 * fields where its sizes need them). A bare format's one section is
 * written straight into the file (XP_FMT_JSON: made an array, closed by
 * xp_awriter_close). XP_EINVAL for a tar (its header needs the size
 * first). */
xp_errcode_e xp_awriter_begin(xp_awriter_t *w, const char *name,
                              xp_error_t *err);
xp_errcode_e xp_awriter_write(xp_awriter_t *w, const void *data, apr_size_t len,
                              xp_error_t *err);
/* Finish, fsync and close. *size and *sha256 (hex) describe the file. */
xp_errcode_e xp_awriter_close(xp_awriter_t *w, apr_off_t *size,
                              const char **sha256, xp_error_t *err);
/* Give up: close and unlink the file. Safe after a failed call; a no-op
 * after a successful xp_awriter_close. Also run by a cleanup of the pool
 * given to xp_awriter_open, so a forgotten writer never leaves a file. */
void xp_awriter_abort(xp_awriter_t *w);

/*
 * Pipelined tar.gz / tar.zst / zip (the export path). A gzip file may
 * hold many members, a zstd file many frames, and deflate pieces ended
 * on a byte in a block that is not the last concatenate into one zip
 * entry's deflate stream; so each entry's data can be compressed on its
 * own, by other threads while the rows are still being read, and the
 * archive assembled afterwards from its headers and those precompressed
 * pieces. A zip is always written so (xp_awriter_open too).
 */
int xp_format_pipelined(xp_format_e f); /* tar.gz, tar.zst and zip */

/* A file written in order, as the archive writer and the entry
 * compressors write theirs: every write counted against max (0 = none)
 * and, with sha, hashed; the first failure says why. */
typedef struct {
    int fd;
    apr_off_t written; /* bytes that reached the file */
    apr_off_t max;
    xp_sha256_t *sha; /* NULL: not hashed */
    int limit_hit;    /* a write would have passed max */
    int io_errno;     /* errno of a failed write(2), 0 if none */
} xp_out_t;
/* 0, or -1 (limit_hit or io_errno says which). */
int xp_out_write(xp_out_t *o, const void *buf, apr_size_t n);
/* The error of o's failed write: XP_ELIMIT naming XportMaxArchiveSize,
 * else XP_EIO "cannot what path: why" (why NULL: o's errno). */
xp_errcode_e xp_out_fail(const xp_out_t *o, apr_pool_t *p, const char *what,
                         const char *path, const char *why, xp_error_t *err);

typedef struct xp_acomp_t xp_acomp_t;

/*
 * Start compressing one entry's data for fmt into path (created 0600,
 * O_EXCL) on threads of its own (tar.gz two, deflate being the slow
 * side; tar.zst one). Compressed output over max_size (0 = none) fails
 * with XP_ELIMIT. sha (may be NULL) gets the entry's data, hashed by
 * the thread writing the output; read it only after xp_acomp_finish.
 * tar.gz: a gzip member per 256 KiB of data. Memory: six 256 KiB slots,
 * each with room for its output (4.5 MiB in all), plus the compressors'
 * state, whatever the entry's size.
 */
xp_errcode_e xp_acomp_start(apr_pool_t *p, xp_format_e fmt, const char *path,
                            apr_off_t max_size, xp_sha256_t *sha,
                            xp_acomp_t **out, xp_error_t *err);
/* The same for a bare file (ndjson, json): the data as it is, written
 * through o (hashed, counted and limited there; path names its file in
 * messages; the caller opened it and closes it) by one thread of its
 * own, which alone touches o until xp_acomp_finish. Six 256 KiB slots. */
xp_errcode_e xp_acomp_start_store(apr_pool_t *p, xp_out_t *o, const char *path,
                                  xp_acomp_t **out, xp_error_t *err);
/* Queue len bytes (copied); waits while the compressor is behind. */
xp_errcode_e xp_acomp_write(xp_acomp_t *c, const void *data, apr_size_t len,
                            xp_error_t *err);
/* Pad the data to a tar block (not a zip's), end the piece, wait for
 * the threads and close the file. *raw: data bytes given; *csize: bytes
 * in path; *crc: zip, the data's CRC-32 (its headers need it), else 0. */
xp_errcode_e xp_acomp_finish(xp_acomp_t *c, apr_off_t *raw, apr_off_t *csize,
                             apr_uint32_t *crc, xp_error_t *err);
/* Stop the thread and remove the file, not a stored one's (no-op after
 * a finish; also run by a cleanup of the pool given to the start). */
void xp_acomp_abort(xp_acomp_t *c);

/*
 * A tar.gz / tar.zst writer whose entries are added as precompressed
 * members (xp_awriter_add_compressed) or from memory (xp_awriter_add_mem);
 * xp_awriter_close adds the end-of-archive blocks. Same sink, hashing and
 * limit as xp_awriter_open.
 */
xp_errcode_e xp_awriter_open_pipelined(apr_pool_t *p, const char *path,
                                       xp_format_e fmt, apr_off_t max_size,
                                       apr_time_t mtime, xp_awriter_t **out,
                                       xp_error_t *err);
/* Add entry name of size data bytes whose padded data, compressed by an
 * xp_acomp_t of the same format, is the file cpath (csize bytes; crc
 * as xp_acomp_finish gave it). */
xp_errcode_e xp_awriter_add_compressed(xp_awriter_t *w, const char *name,
                                       apr_off_t size, const char *cpath,
                                       apr_off_t csize, apr_uint32_t crc,
                                       const xp_job_ctl_t *ctl,
                                       xp_error_t *err);

#endif
