/*
 * xp_azip.h -- a zip's entry names checked byte by byte, from its
 * central directory and the local headers it points to (SPEC 6.1).
 * Internal to the archive reader: libarchive cuts a name at its first
 * NUL, so "data/users.ndjson\0junk" would arrive as "data/users.ndjson".
 */
#ifndef XP_AZIP_H
#define XP_AZIP_H

#include <apr_pools.h>
#include <apr_file_io.h>
#include "xport.h"

/* A name holding a NUL byte: its bytes, all of them. */
typedef struct xp_azip_bad_t {
    const char *name;
    apr_size_t len;
} xp_azip_bad_t;

/* Walk the central directory of the zip in f. XP_OK if no name (in the
 * directory, in a local header, or in a local header's Info-ZIP Unicode
 * Path field) holds a NUL byte. Else XP_EINVAL with bad->name set (err
 * untouched: the caller words it), or XP_EINVAL with err saying how the
 * zip is damaged ("the zip is damaged: ..."), or XP_EIO. Reads with a
 * bounded buffer whatever the counts in the file say. */
xp_errcode_e xp_azip_check_names(apr_pool_t *p, apr_file_t *f,
                                 xp_azip_bad_t *bad, xp_error_t *err);

#endif
