/*
 * xp_agzip.h -- the gzip layer of an uploaded tar.gz, done with
 * libdeflate and zlib instead of libarchive so that every member's
 * trailer (CRC-32 and length) is checked (SPEC 6.1). Internal to the
 * archive reader.
 */
#ifndef XP_AGZIP_H
#define XP_AGZIP_H

#include <apr_pools.h>
#include <apr_file_io.h>
#include "xport.h"

typedef struct xp_agzip_t xp_agzip_t;

/* 1 if f starts with the gzip magic 1f 8b; f is left at its start. */
int xp_agzip_sniff(apr_file_t *f);

/* Decompress f (at its start) as gzip members, one after another. The
 * stream is released when p is cleared. */
xp_errcode_e xp_agzip_open(apr_pool_t *p, apr_file_t *f, xp_agzip_t **out,
                           xp_error_t *err);

/* The next decompressed bytes (at most 320 KiB, valid until the next
 * call); *len 0 after the last member's trailer. Fails XP_EINVAL for a
 * corrupt or truncated stream or a trailer that does not match the data
 * ("the gzip stream is corrupt: the CRC-32 in its trailer does not match
 * the data"), XP_EIO when the file cannot be read; a failure repeats on
 * every later call. */
xp_errcode_e xp_agzip_read(xp_agzip_t *g, const void **buf, apr_size_t *len,
                           xp_error_t *err);

#endif
