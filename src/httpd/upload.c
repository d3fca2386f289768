/*
 * upload.c -- an import's request body streamed to storage (SPEC 3,
 * POST /imports): read from the input filters in 64 KiB pieces, through
 * the multipart parser when the body is a form, into
 * <storage>/uploads/<id>.part while its SHA-256 and size are computed,
 * then fsynced and renamed to <id>.upload. The body is never held in
 * memory, so a child's footprint does not grow with the upload.
 *
 * Everything that stops an upload (a limit, a malformed form, a client
 * that goes away) leaves no file: a cleanup on the request pool removes
 * the .part unless it was renamed. The connection is then closed instead
 * of reading (and throwing away) the rest of a large body.
 */
#include <string.h>
#include <fcntl.h>

#include <apr_strings.h>
#include <apr_buckets.h>
#include <apr_file_io.h>

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include "mod_xport_private.h"
#include "xport_http.h"
#include "xport_upload.h"
#include "xp_hash.h"
#include "xp_multipart.h"

#define UPLOAD_PIECE (64 * 1024)
/* Bytes written between two requests to start their writeback. */
#define UPLOAD_WRITEBACK (4 * 1024 * 1024)
/* What the multipart framing (boundaries, part headers, option fields)
 * may add to XportMaxUploadSize in a form body. */
#define UPLOAD_FORM_SLACK (XP_MP_MAX_PARTS * (XP_MP_MAX_HEADER + 1024))

typedef struct upload_ctx {
    xport_req_t *q;
    xport_upload_t *up;
    apr_file_t *fd;
    const char *part_path;
    int committed;
    xp_sha256_t *sha;
    apr_off_t max;
    apr_off_t body_bytes;
    xp_mp_t *mp;
    char field[XP_MP_MAX_FIELD + 1]; /* the text field being collected */
    apr_size_t field_len;
    apr_status_t write_rv; /* set when a write failed */
    apr_off_t written_back; /* bytes whose writeback was started */
} upload_ctx;

/* Request pool cleanup: a .part that was not renamed goes away. */
static apr_status_t part_cleanup(void *data)
{
    upload_ctx *u = data;

    if (!u->committed) {
        apr_file_remove(u->part_path, u->q->r->pool);
    }
    return APR_SUCCESS;
}

/* An engine message as a detail sentence: with a final period. */
static const char *sentence(apr_pool_t *p, const char *msg)
{
    apr_size_t n = strlen(msg);

    return n && (msg[n - 1] == '.' || msg[n - 1] == '?')
               ? msg
               : apr_pstrcat(p, msg, ".", NULL);
}

/* A problem after which the rest of the body is not read. */
static int refuse(xport_req_t *q, int status, const char *detail)
{
    q->r->connection->keepalive = AP_CONN_CLOSE;
    return xport_error(q, status, detail);
}

static const char *size_text(apr_pool_t *p, apr_off_t n)
{
    if (n >= 1024 * 1024 && n % (1024 * 1024) == 0) {
        return apr_psprintf(p, "%" APR_OFF_T_FMT " MiB", n / (1024 * 1024));
    }
    return apr_psprintf(p, "%" APR_OFF_T_FMT " bytes", n);
}

static int too_large(upload_ctx *u)
{
    request_rec *r = u->q->r;

    return refuse(u->q, HTTP_REQUEST_ENTITY_TOO_LARGE,
                  apr_psprintf(r->pool,
                               "The upload is larger than %s, the limit set "
                               "by XportMaxUploadSize; nothing was kept.",
                               size_text(r->pool, u->max)));
}

/* ------------------------------------------------------------------ */
/* Writing the file                                                    */
/* ------------------------------------------------------------------ */

/* The kernel is asked to start writing what came every UPLOAD_WRITEBACK
 * bytes (Linux: sync_file_range, which waits for nothing), so that the
 * fsync before the rename waits for the last few megabytes, not for the
 * whole upload (a 44 MB archive: its fsync took 77 ms, now about 50). */
static void start_writeback(upload_ctx *u)
{
#ifdef SYNC_FILE_RANGE_WRITE
    apr_os_file_t fd;

    if (u->up->size - u->written_back < UPLOAD_WRITEBACK ||
        apr_os_file_get(&fd, u->fd) != APR_SUCCESS)
        return;
    (void)sync_file_range(fd, u->written_back, u->up->size - u->written_back,
                          SYNC_FILE_RANGE_WRITE);
    u->written_back = u->up->size;
#else
    (void)u;
#endif
}

static xp_errcode_e store_bytes(upload_ctx *u, const char *buf, apr_size_t len,
                                xp_error_t *err)
{
    apr_pool_t *p = u->q->r->pool;
    apr_status_t rv;

    if (u->up->size + (apr_off_t)len > u->max) {
        return xp_error_set(err, p, XP_ELIMIT, "over XportMaxUploadSize");
    }
    if ((rv = apr_file_write_full(u->fd, buf, len, NULL)) != APR_SUCCESS) {
        u->write_rv = rv;
        return xp_error_set(err, p, XP_EIO, "cannot write %s", u->part_path);
    }
    xp_sha256_update(u->sha, buf, len);
    u->up->size += (apr_off_t)len;
    start_writeback(u);
    return XP_OK;
}

/* Multipart callbacks: the file part goes to disk, text fields to the
 * table (the parser refuses them over XP_MP_MAX_FIELD). */
static xp_errcode_e mp_begin(void *baton, const xp_mp_part_t *part,
                             xp_error_t *err)
{
    upload_ctx *u = baton;

    (void)err;
    u->field_len = 0;
    if (part->is_file) {
        u->up->content_type =
            part->content_type ? apr_pstrdup(u->q->r->pool, part->content_type)
                               : NULL;
        u->up->filename =
            part->filename ? apr_pstrdup(u->q->r->pool, part->filename) : NULL;
    }
    return XP_OK;
}

static xp_errcode_e mp_data(void *baton, const xp_mp_part_t *part,
                            const char *buf, apr_size_t len, xp_error_t *err)
{
    upload_ctx *u = baton;

    if (part->is_file) {
        return store_bytes(u, buf, len, err);
    }
    if (u->field_len + len > XP_MP_MAX_FIELD) { /* the parser refuses it */
        return xp_error_set(err, u->q->r->pool, XP_EINVAL,
                            "the form field \"%s\" is too long", part->name);
    }
    memcpy(u->field + u->field_len, buf, len);
    u->field_len += len;
    return XP_OK;
}

static xp_errcode_e mp_end(void *baton, const xp_mp_part_t *part,
                           xp_error_t *err)
{
    upload_ctx *u = baton;
    apr_pool_t *p = u->q->r->pool;

    if (part->is_file) {
        return XP_OK;
    }
    if (memchr(u->field, '\0', u->field_len)) {
        return xp_error_set(err, p, XP_EINVAL,
                            "the form field \"%s\" contains a NUL byte",
                            part->name);
    }
    apr_table_set(u->up->fields, part->name,
                  apr_pstrmemdup(p, u->field, u->field_len));
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Reading the body                                                    */
/* ------------------------------------------------------------------ */

/* One piece of the body, raw or through the parser. */
static xp_errcode_e consume(upload_ctx *u, const char *buf, apr_size_t len,
                            xp_error_t *err)
{
    u->body_bytes += (apr_off_t)len;
    if (!u->mp) {
        return store_bytes(u, buf, len, err);
    }
    if (u->body_bytes > u->max + UPLOAD_FORM_SLACK) {
        return xp_error_set(err, u->q->r->pool, XP_ELIMIT,
                            "over XportMaxUploadSize");
    }
    return xp_mp_feed(u->mp, buf, len, err);
}

/* Read until EOS. XP_OK, or an engine code with err; *rv is set to the
 * input filters' status when reading failed (code XP_EIO then). */
static xp_errcode_e read_body(upload_ctx *u, apr_status_t *rv, xp_error_t *err)
{
    request_rec *r = u->q->r;
    apr_bucket_brigade *bb =
        apr_brigade_create(r->pool, r->connection->bucket_alloc);
    xp_errcode_e rc = XP_OK;
    int eos = 0;

    *rv = APR_SUCCESS;
    while (!eos && rc == XP_OK) {
        apr_bucket *b;

        *rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                             APR_BLOCK_READ, UPLOAD_PIECE);
        if (*rv != APR_SUCCESS) {
            rc = xp_error_set(err, r->pool, XP_EIO, "reading the body failed");
            break;
        }
        for (b = APR_BRIGADE_FIRST(bb);
             b != APR_BRIGADE_SENTINEL(bb) && rc == XP_OK;
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(b)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            *rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (*rv != APR_SUCCESS) {
                rc = xp_error_set(err, r->pool, XP_EIO,
                                  "reading the body failed");
                break;
            }
            rc = consume(u, data, len, err);
        }
        apr_brigade_cleanup(bb); /* buckets back to the allocator */
    }
    apr_brigade_destroy(bb);
    if (rc == XP_OK && u->mp) {
        rc = xp_mp_finish(u->mp, err);
    }
    return rc;
}

/* The answer to a body that could not be stored. */
static int read_failed(upload_ctx *u, xp_errcode_e rc, apr_status_t rv,
                       const xp_error_t *err)
{
    xport_req_t *q = u->q;
    request_rec *r = q->r;
    int status;

    switch (rc) {
    case XP_ELIMIT:
        return too_large(u);
    case XP_EINVAL:
        return refuse(q, HTTP_BAD_REQUEST, sentence(r->pool, err->message));
    default:
        break;
    }
    if (u->write_rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, u->write_rv, r,
                      "XP0701: upload %s: cannot write %s; is XportStorage "
                      "full or not writable?",
                      u->up->id, u->part_path);
        return refuse(q,
                      APR_STATUS_IS_ENOSPC(u->write_rv)
                          ? HTTP_INSUFFICIENT_STORAGE
                          : HTTP_INTERNAL_SERVER_ERROR,
                      "The upload could not be stored; the error log has "
                      "the details.");
    }
    status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                  "XP0702: upload %s interrupted after %" APR_OFF_T_FMT
                  " bytes (client gone or read error); nothing kept",
                  u->up->id, u->body_bytes);
    if (status == AP_FILTER_ERROR) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return AP_FILTER_ERROR; /* a filter has answered already */
    }
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return too_large(u); /* LimitRequestBody below our limit */
    }
    return refuse(q, status,
                  "The request body could not be read completely; "
                  "nothing was kept.");
}

/* ------------------------------------------------------------------ */
/* The entry points                                                    */
/* ------------------------------------------------------------------ */

/* 413 by Content-Length, before reading anything. 0: go on. */
static int length_refused(upload_ctx *u, int multipart, int *rc)
{
    request_rec *r = u->q->r;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t n;

    if (!cl || apr_strtoff(&n, cl, NULL, 10) != APR_SUCCESS || n < 0) {
        return 0; /* chunked, or HTTP_IN answers the malformed header */
    }
    if (n > u->max + (multipart ? UPLOAD_FORM_SLACK : 0)) {
        *rc = too_large(u);
        return 1;
    }
    return 0;
}

static int open_part(upload_ctx *u, xport_req_t *q, const char *id)
{
    request_rec *r = q->r;
    const char *dir =
        apr_pstrcat(r->pool, xport_cfg_storage(q->cfg), "/uploads", NULL);
    apr_status_t rv;

    u->part_path = apr_pstrcat(r->pool, dir, "/", id, ".part", NULL);
    u->up->path = apr_pstrcat(r->pool, dir, "/", id, ".upload", NULL);
    rv = apr_file_open(&u->fd, u->part_path,
                       APR_FOPEN_CREATE | APR_FOPEN_EXCL | APR_FOPEN_WRITE |
                           APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, r->pool);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "XP0703: cannot create the upload file %s; does "
                      "XportStorage/uploads exist and belong to User?",
                      u->part_path);
        return refuse(q, HTTP_INTERNAL_SERVER_ERROR,
                      "The upload could not be stored; the error log has "
                      "the details.");
    }
    /* registered after the file's own cleanup: runs first, while open */
    apr_pool_cleanup_register(r->pool, u, part_cleanup, apr_pool_cleanup_null);
    /* The lock says "being written": if this child is killed mid-upload,
     * the lock goes with it and the worker's housekeeping removes the
     * .part (worker_maint.c, maint_sweep_uploads). */
    rv = apr_file_lock(u->fd, APR_FLOCK_EXCLUSIVE | APR_FLOCK_NONBLOCK);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r,
                      "XP0706: cannot lock the upload file %s; if this "
                      "request dies, the file stays until removed by hand",
                      u->part_path);
    }
    return OK;
}

/* fsync, close and rename the .part into place. */
static int commit_part(upload_ctx *u)
{
    request_rec *r = u->q->r;
    apr_status_t rv;

    if ((rv = apr_file_sync(u->fd)) == APR_SUCCESS &&
        (rv = apr_file_close(u->fd)) == APR_SUCCESS) {
        u->fd = NULL;
        rv = apr_file_rename(u->part_path, u->up->path, r->pool);
    }
    if (rv != APR_SUCCESS) {
        u->write_rv = rv;
        return read_failed(u, XP_EIO, rv, NULL);
    }
    u->committed = 1;
    return OK;
}

int xport_upload_receive(xport_req_t *q, const char *id, int multipart,
                         const char *file_field, xport_upload_t **out)
{
    request_rec *r = q->r;
    upload_ctx *u = apr_pcalloc(r->pool, sizeof(*u));
    xp_error_t err = {0};
    apr_status_t rv;
    xp_errcode_e rc;
    int status;

    *out = NULL;
    u->q = q;
    u->up = apr_pcalloc(r->pool, sizeof(*u->up));
    u->up->id = id;
    u->up->file = apr_pstrcat(r->pool, "uploads/", id, ".upload", NULL);
    u->up->fields = apr_table_make(r->pool, 4);
    u->max = xport_cfg_upload_limit(r);
    if (length_refused(u, multipart, &status)) {
        return status;
    }
    if (multipart) {
        xp_mp_callbacks_t cb = {u, mp_begin, mp_data, mp_end};
        const char *b = xp_mp_boundary(
            r->pool, apr_table_get(r->headers_in, "Content-Type"), &err);
        if (!b) {
            return refuse(q, HTTP_BAD_REQUEST, sentence(r->pool, err.message));
        }
        u->mp = xp_mp_make(r->pool, b, file_field, &cb);
    } else {
        u->up->content_type = xport_media_type(r);
    }
    if ((status = open_part(u, q, id)) != OK) {
        return status;
    }
    u->sha = xp_sha256_make(r->pool);
    if ((rc = read_body(u, &rv, &err)) != XP_OK) {
        return read_failed(u, rc, rv, &err);
    }
    if (u->up->size == 0) {
        return refuse(q, HTTP_BAD_REQUEST,
                      multipart ? apr_psprintf(r->pool,
                                               "The \"%s\" part is empty; "
                                               "send the archive in it.",
                                               file_field)
                                : "The request body is empty; send the "
                                  "archive as the body.");
    }
    if ((status = commit_part(u)) != OK) {
        return status;
    }
    u->up->sha256 = xp_sha256_final(u->sha, r->pool, NULL);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XP0704: upload %s stored: %" APR_OFF_T_FMT " bytes, "
                  "sha256 %s",
                  id, u->up->size, u->up->sha256);
    *out = u->up;
    return OK;
}

void xport_upload_remove(xport_req_t *q, const xport_upload_t *up)
{
    apr_status_t rv = apr_file_remove(up->path, q->r->pool);

    if (rv != APR_SUCCESS && !APR_STATUS_IS_ENOENT(rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, q->r,
                      "XP0705: cannot remove the upload %s of a job that "
                      "was not created; remove it by hand",
                      up->path);
    }
}
