/*
 * xp_multipart.h -- a streaming multipart/form-data parser (RFC 7578 /
 * RFC 2046) for import uploads. Feed it the request body in chunks of any
 * size; it calls back for each part's headers, data and end, never
 * holding more than one part's header block (at most 8 KiB) in memory.
 * No httpd here: the glue (src/httpd/upload.c) feeds it, fuzz targets can too.
 */
#ifndef XP_MULTIPART_H
#define XP_MULTIPART_H

#include "xport.h"

#define XP_MP_MAX_HEADER (8 * 1024) /* header block of one part */
#define XP_MP_MAX_PARTS 16
#define XP_MP_MAX_FIELD (64 * 1024) /* data of a part that is not the
                                       file: an options JSON at most */
#define XP_MP_MAX_BOUNDARY 70

typedef struct xp_mp_t xp_mp_t;

/* One part, as its headers describe it. */
typedef struct xp_mp_part_t {
    int index;                /* 0-based */
    const char *name;         /* Content-Disposition name= */
    const char *filename;     /* filename= (or filename*=), NULL if none */
    const char *content_type; /* Content-Type, NULL if none */
    int is_file;              /* has a filename, or is the file field */
} xp_mp_part_t;

/* Callbacks; any of them may be NULL. A code other than XP_OK stops the
 * parse: xp_mp_feed returns it with the callback's err. */
typedef struct xp_mp_callbacks_t {
    void *baton;
    xp_errcode_e (*begin)(void *baton, const xp_mp_part_t *part,
                          xp_error_t *err);
    /* data of the part, in pieces of any size (never 0) */
    xp_errcode_e (*data)(void *baton, const xp_mp_part_t *part, const char *buf,
                         apr_size_t len, xp_error_t *err);
    xp_errcode_e (*end)(void *baton, const xp_mp_part_t *part, xp_error_t *err);
} xp_mp_callbacks_t;

/* The boundary parameter of a Content-Type value (quoted or not, 1 to 70
 * characters of RFC 2046's bchars). NULL with XP_EINVAL in err: "no
 * boundary in Content-Type", or what is wrong with it. */
const char *xp_mp_boundary(apr_pool_t *p, const char *content_type,
                           xp_error_t *err);

/* A parser for one body. file_field (may be NULL) names the part that
 * carries the file: it must be present (else "no part named \"...\""
 * at xp_mp_finish) and counts as the file part even without a filename.
 * At most one file part ("two file parts"), XP_MP_MAX_PARTS parts, and
 * XP_MP_MAX_FIELD bytes of data in every other part. Line ends are CRLF,
 * or bare LF when the first boundary line ends so. */
xp_mp_t *xp_mp_make(apr_pool_t *p, const char *boundary, const char *file_field,
                    const xp_mp_callbacks_t *cb);

/* Feed the next chunk (any size, 0 allowed). After an error every call
 * returns that error again. */
xp_errcode_e xp_mp_feed(xp_mp_t *m, const char *buf, apr_size_t len,
                        xp_error_t *err);

/* The body has ended: XP_EINVAL "body ends before the closing boundary"
 * unless the closing boundary was seen, or the file field's absence. */
xp_errcode_e xp_mp_finish(xp_mp_t *m, xp_error_t *err);

/* Parts seen so far. */
int xp_mp_parts(const xp_mp_t *m);

#endif
