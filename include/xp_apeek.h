/*
 * xp_apeek.h -- a look into a stored upload before it is imported: its
 * manifest and the rows of a few sections, so that whoever plans the
 * import (a dialect deciding on rewrite rules) knows what the archive
 * holds. Reads like the import does (xp_areader, the same limits) but
 * writes nothing and checks no hash: the import does that later.
 */
#ifndef XP_APEEK_H
#define XP_APEEK_H

#include "xport.h"
#include "xp_json.h"
#include "xp_manifest.h"
#include "xp_areader.h"

/* The largest manifest.json an import or a peek reads. */
#define XP_APEEK_MAX_MANIFEST (4 * 1024 * 1024)

/* Called per row: line is its 1-based line in the section's file, row
 * the line's JSON object, valid only during the call. A non-XP_OK
 * result (with err set) stops the peek and is returned by it. */
typedef xp_errcode_e (*xp_apeek_fn)(void *baton, const char *section, long line,
                                    const xp_json_t *row, xp_error_t *err);

/*
 * manifest.json, which must be the archive's first entry, read from r
 * (just opened) and parsed (xp_manifest_parse). An empty archive,
 * another entry first or a manifest over XP_APEEK_MAX_MANIFEST are
 * XP_EINVAL; the reader's own failures are returned as they are.
 */
xp_errcode_e xp_apeek_manifest(apr_pool_t *p, xp_areader_t *r,
                               xp_manifest_t **out, xp_error_t *err);

/*
 * The rows of the sections named (a NULL-terminated list) in the archive
 * stored at path (a tar.gz, tar.zst, zip or tar, as xp_areader_open
 * opens it; never a bare file): the manifest first, then each named
 * section's data/<section>.ndjson line by line (lines of at most 16 MiB,
 * each a JSON object: no duplicate keys, no NUL, nesting at most 64), in
 * the archive's order. Reading stops as soon as every named section the
 * manifest lists has been read: the entries after it are never
 * decompressed. A named section the manifest does not list has no rows
 * (nothing is called for it). max_uncompressed (0 = none) caps the bytes
 * read as for an import (XP_ELIMIT).
 *
 * A malformed archive (not an archive, entries the import would refuse,
 * a bad manifest, an entry the manifest does not list, a listed entry
 * missing, a line that is not a JSON object) is XP_EINVAL with a message
 * naming the entry and line; an unreadable file XP_EIO. The archive is
 * closed before it returns.
 */
xp_errcode_e xp_apeek_rows(apr_pool_t *p, const char *path,
                           apr_off_t max_uncompressed,
                           const char *const *sections, xp_apeek_fn fn,
                           void *baton, xp_error_t *err);

#endif
