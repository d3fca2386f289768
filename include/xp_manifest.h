/*
 * xp_manifest.h -- manifest.json of archive format version 1 (SPEC 5).
 */
#ifndef XP_MANIFEST_H
#define XP_MANIFEST_H

#include "xport.h"
#include "xp_json.h"

typedef struct xp_mf_section_t {
    const char *name;
    const char *file;              /* data/<name>.ndjson */
    const char *key;
    apr_array_header_t *columns;   /* const char * */
    apr_int64_t count;
    apr_int64_t bytes;
    const char *sha256;            /* hex */
    int windowed;                  /* 0 -> "window": null (exported whole) */
    const char *since, *until;     /* window bounds, NULL -> null */
} xp_mf_section_t;

typedef struct xp_manifest_t {
    const char *created_at;        /* ISO 8601 */
    const char *instance;
    const char *filter;
    const char *since, *until;     /* NULL -> null */
    int closure;
    apr_array_header_t *sections;  /* xp_mf_section_t */
} xp_manifest_t;

/* The manifest as JSON text, keys in the order of SPEC 5, pretty printed
 * (2-space indent) and ending with a newline. */
const char *xp_manifest_render(apr_pool_t *p, const xp_manifest_t *m);

#endif
