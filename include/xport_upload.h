/*
 * xport_upload.h -- what src/httpd/upload.c (streaming an import's request body
 * to storage) offers to the API files. Only the glue includes this file.
 */
#ifndef XPORT_UPLOAD_H
#define XPORT_UPLOAD_H

#include "xport_http.h"

/* A stored upload. */
typedef struct xport_upload_t {
    const char *id;   /* the job id it was stored for */
    const char *file; /* "uploads/<id>.upload", below XportStorage */
    const char *path; /* the absolute path of file */
    apr_off_t size;
    const char *sha256;       /* lowercase hex of the stored bytes */
    const char *content_type; /* the file part's Content-Type (multipart),
                                 else the body's media type; may be NULL */
    const char *filename;     /* the file part's filename, or NULL */
    apr_table_t *fields;      /* the multipart body's other (text) fields,
                                 each at most 64 KiB; empty for raw bodies */
} xport_upload_t;


/*
 * Stream the request body to <storage>/uploads/<id>.part (created
 * exclusively, mode 0600) in 64 KiB pieces, hashing and counting, then
 * fsync and rename it to uploads/<id>.upload. multipart: the body is
 * multipart/form-data and only the part named file_field is stored.
 * Over XportMaxUploadSize (by Content-Length before reading, or while
 * reading a chunked body) -> 413; a malformed multipart body -> 400; a
 * client abort or read error -> nothing kept. The .part never outlives
 * the request. Returns OK with *up set when stored, OK with *up NULL when
 * a problem has been sent, or another status for httpd (AP_FILTER_ERROR).
 * On every failure the connection is closed rather than the rest of the
 * body read.
 */
int xport_upload_receive(xport_req_t *q, const char *id, int multipart,
                         const char *file_field, xport_upload_t **up);

/* Remove a stored upload (the job it was for could not be created). */
void xport_upload_remove(xport_req_t *q, const xport_upload_t *up);

#endif
