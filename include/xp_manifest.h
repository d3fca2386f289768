/*
 * xp_manifest.h -- manifest.json of archive format version 1 (SPEC 5).
 */
#ifndef XP_MANIFEST_H
#define XP_MANIFEST_H

#include "xport.h"
#include "xp_json.h"

typedef struct xp_mf_section_t {
    const char *name;
    const char *file; /* data/<name>.ndjson */
    const char *key;
    apr_array_header_t *columns; /* const char * */
    apr_int64_t count;
    apr_int64_t bytes;
    const char *sha256;        /* hex */
    int windowed;              /* 0 -> "window": null (exported whole) */
    const char *since, *until; /* window bounds, NULL -> null */
} xp_mf_section_t;

typedef struct xp_manifest_t {
    const char *created_at; /* ISO 8601 */
    const char *instance;
    const char *filter;
    const char *since, *until; /* NULL -> null */
    int closure;
    apr_array_header_t *sections; /* xp_mf_section_t */
} xp_manifest_t;

/* The manifest as JSON text, keys in the order of SPEC 5, pretty printed
 * (2-space indent) and ending with a newline. */
const char *xp_manifest_render(apr_pool_t *p, const xp_manifest_t *m);

/* Parse and validate manifest.json text (SPEC 5, 6.2): format
 * "xport-archive", version 1 (other: "unsupported archive version N (this
 * server reads 1)"), sections an array of objects with name (ident), file
 * ("data/<name>.ndjson"), key, columns (the file's names of the columns,
 * fields= names included: 1 to 255 bytes of UTF-8 without control
 * characters, unique, holding the key),
 * count and bytes (integers >= 0), sha256 (64 hex, kept lowercase); names
 * unique. Optional fields (created_at, instance, filter, since, until,
 * closure, window) are read when present. XP_EINVAL with a message
 * starting "manifest.json: " and naming the section and field. */
xp_errcode_e xp_manifest_parse(apr_pool_t *p, const char *text, apr_size_t len,
                               xp_manifest_t **out, xp_error_t *err);

#endif
