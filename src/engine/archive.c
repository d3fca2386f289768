/*
 * archive.c -- the one wrapper around libarchive, for writing exports.
 *
 * Every output byte, whatever the format, goes through the writer's one
 * xp_out_t (xp_out_write): it is hashed, counted against
 * XportMaxArchiveSize and written to a file this code created itself
 * with O_EXCL, so a job can never write through a pre-planted file or
 * symlink. libarchive reaches it through archive_write_open2 callbacks
 * (aw_sink_write). The two bare formats (ndjson, json) hand their bytes
 * to a thread of their own instead (xp_acomp_start_store), which writes
 * them through the same xp_out_t while the job's thread goes on
 * reading rows. Section files are streamed in
 * 64 KiB blocks, consulting the job's control between blocks so a cancel
 * or a timeout is noticed even on a huge section. A pipelined tar.gz /
 * tar.zst is assembled from entries compressed while the rows were read
 * (src/engine/acomp.c, with the codecs of xp_codec.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <apr_strings.h>

#include "xp_archive.h"
#include "xp_azipw.h"
#include "xp_codec.h"
#include "xp_hash.h"
#include "xp_json.h"

#define XP_AW_BLOCK (64 * 1024)

#define XP_STR(x) XP_STR_(x)
#define XP_STR_(x) #x

static struct archive_entry *aw_entry(xp_awriter_t *w, const char *name,
                                      apr_off_t size);
static xp_errcode_e aw_member(xp_awriter_t *w, const void *data, apr_size_t len,
                              xp_error_t *err);
static xp_errcode_e aw_pipe_mem(xp_awriter_t *w, const char *name,
                                const void *data, apr_size_t len,
                                xp_error_t *err);
static xp_errcode_e aw_zip_begin(xp_awriter_t *w, const char *name,
                                 xp_error_t *err);
static xp_errcode_e aw_put(xp_awriter_t *w, const char *name, const char *in,
                           apr_size_t n, xp_error_t *err);
static xp_errcode_e aw_zip_end_entry(xp_awriter_t *w, xp_error_t *err);
static xp_errcode_e aw_pipe_close(xp_awriter_t *w, xp_error_t *err);

/* XP_FMT_JSON: whether we are inside a line and how many lines have
 * started (see aw_json_block). */
typedef struct {
    int in_line;
    apr_int64_t lines;
} aw_json_state_t;

struct xp_awriter_t {
    apr_pool_t *pool;
    const char *path;
    xp_format_e fmt;
    xp_out_t o;        /* the file (fd -1 once closed), hashed */
    struct archive *a; /* NULL for the bare formats */
    apr_time_t mtime;
    int discard;   /* aborting: swallow libarchive's last flush */
    int done;      /* closed or aborted: nothing more to do */
    int entries;
    /* the entry xp_awriter_begin started, which xp_awriter_write fills:
     * a zip's, or the one section of a bare format */
    const char *open_entry;
    aw_json_state_t js; /* ... XP_FMT_JSON: the array made so far */
    char *block;     /* read buffer, XP_AW_BLOCK bytes */
    char *out;       /* XP_FMT_JSON output staging, 2 * block */
    int pipelined;   /* xp_awriter_open_pipelined: no libarchive stream */
    xp_codec_t hc;   /* pipelined: compresses headers in this thread */
    apr_array_header_t *zents; /* pipelined zip: xp_zipw_entry_t so far */
    xp_acomp_t *ecomp;         /* ... the begun entry's data compressor */
    xp_acomp_t *bcomp;         /* bare: the thread writing the file */
    const char *epath;         /* ... and the file it compresses into */
};

/* ------------------------------------------------------------------ */
/* Formats                                                              */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name, *ext, *mime;
} formats[] = {
    {"tar.gz", "tar.gz", "application/gzip"},
    {"tar.zst", "tar.zst", "application/zstd"},
    {"zip", "zip", "application/zip"},
    {"ndjson", "ndjson", "application/x-ndjson"},
    {"json", "json", "application/json"},
    {"document", "zip", "application/zip"},
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

int xp_format_parse(const char *name, xp_format_e *out)
{
    apr_size_t i;

    for (i = 0; name && i < N_FORMATS; i++) {
        if (strcmp(name, formats[i].name) == 0) {
            *out = (xp_format_e)i;
            return 0;
        }
    }
    return -1;
}

const char *xp_format_name(xp_format_e f)
{
    return (apr_size_t)f < N_FORMATS ? formats[f].name : "unknown";
}

const char *xp_format_ext(xp_format_e f)
{
    return (apr_size_t)f < N_FORMATS ? formats[f].ext : "bin";
}

const char *xp_format_mime(xp_format_e f)
{
    return (apr_size_t)f < N_FORMATS ? formats[f].mime
                                     : "application/octet-stream";
}

int xp_format_is_archive(xp_format_e f)
{
    return f == XP_FMT_TAR_GZ || f == XP_FMT_TAR_ZST || f == XP_FMT_ZIP;
}

/* ------------------------------------------------------------------ */
/* The sink: hash, count, limit, write                                  */
/* ------------------------------------------------------------------ */

int xp_out_write(xp_out_t *o, const void *buf, apr_size_t n)
{
    const char *p = buf;
    ssize_t r;

    if (o->max > 0 && o->written + (apr_off_t)n > o->max) {
        o->limit_hit = 1;
        return -1;
    }
    if (o->sha)
        xp_sha256_update(o->sha, buf, n);
    while (n > 0) {
        r = write(o->fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            o->io_errno = errno;
            return -1;
        }
        p += r;
        n -= (apr_size_t)r;
        o->written += r;
    }
    return 0;
}

static int aw_sink_write(xp_awriter_t *w, const void *buf, apr_size_t n)
{
    return w->discard ? 0 : xp_out_write(&w->o, buf, n);
}

static la_ssize_t aw_la_write(struct archive *a, void *baton, const void *buf,
                              size_t n)
{
    xp_awriter_t *w = baton;

    if (aw_sink_write(w, buf, n) == 0)
        return (la_ssize_t)n;
    if (w->o.limit_hit)
        archive_set_error(a, EFBIG, "archive size limit reached");
    else
        archive_set_error(a, w->o.io_errno, "%s", strerror(w->o.io_errno));
    return -1;
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* The limit wins over any other report: it is what the user can act on. */
xp_errcode_e xp_out_fail(const xp_out_t *o, apr_pool_t *p, const char *what,
                         const char *path, const char *why, xp_error_t *err)
{
    if (o->limit_hit)
        return xp_error_set(err, p, XP_ELIMIT,
                            "the archive would exceed XportMaxArchiveSize "
                            "(%" APR_OFF_T_FMT " bytes)",
                            o->max);
    if (!why && o->io_errno)
        why = strerror(o->io_errno);
    return xp_error_set(err, p, XP_EIO, "cannot %s %s: %s", what, path,
                        why ? why : "unknown error");
}

static xp_errcode_e aw_fail(xp_awriter_t *w, xp_error_t *err, const char *what)
{
    return xp_out_fail(&w->o, w->pool, what, w->path,
                       w->a ? archive_error_string(w->a) : NULL, err);
}

static xp_errcode_e aw_stopped(xp_awriter_t *w, xp_errcode_e code,
                               xp_error_t *err)
{
    const char *why;

    switch (code) {
    case XP_ECANCEL:
        why = "the job was cancelled";
        break;
    case XP_ETIMEOUT:
        why = "the job ran past XportJobTimeout";
        break;
    case XP_ESHUTDOWN:
        why = "the server is shutting down";
        break;
    default:
        why = "the job was stopped";
        break;
    }
    return xp_error_set(err, w->pool, code, "%s while writing %s", why,
                        w->path);
}

/* ------------------------------------------------------------------ */
/* Open                                                                 */
/* ------------------------------------------------------------------ */

static apr_status_t aw_cleanup(void *data)
{
    xp_awriter_abort(data);
    return APR_SUCCESS;
}

/* Format and filter choices are fixed: gzip without a timestamp (so
 * equal inputs give equal archives), the levels above. A zip is always
 * written pipelined. bytes_in_last_block=1 stops libarchive padding the
 * compressed stream to 10240 bytes, which gzip tools would call trailing
 * garbage. */
static int aw_setup(struct archive *a, xp_format_e fmt)
{
    int r = ARCHIVE_OK;

    switch (fmt) {
    case XP_FMT_TAR_GZ:
        if ((r = archive_write_set_format_pax_restricted(a)) == ARCHIVE_OK &&
            (r = archive_write_add_filter_gzip(a)) == ARCHIVE_OK &&
            (r = archive_write_set_filter_option(
                 a, "gzip", "compression-level", XP_STR(XP_GZIP_LEVEL))) ==
                ARCHIVE_OK)
            r = archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
        break;
    case XP_FMT_TAR_ZST:
        if ((r = archive_write_set_format_pax_restricted(a)) == ARCHIVE_OK &&
            (r = archive_write_add_filter_zstd(a)) == ARCHIVE_OK)
            r = archive_write_set_filter_option(a, "zstd", "compression-level",
                                                XP_STR(XP_ZSTD_LEVEL));
        break;
    default:
        return ARCHIVE_FATAL;
    }
    if (r == ARCHIVE_OK)
        r = archive_write_set_bytes_in_last_block(a, 1);
    return r;
}

xp_errcode_e xp_awriter_open(apr_pool_t *p, const char *path, xp_format_e fmt,
                             apr_off_t max_size, apr_time_t mtime,
                             xp_awriter_t **out, xp_error_t *err)
{
    xp_awriter_t *w;

    *out = NULL;
    if ((apr_size_t)fmt >= N_FORMATS)
        return xp_error_set(err, p, XP_EINVAL, "unknown archive format %d",
                            (int)fmt);
    if (fmt == XP_FMT_ZIP)
        return xp_awriter_open_pipelined(p, path, fmt, max_size, mtime, out,
                                         err);
    w = apr_pcalloc(p, sizeof(*w));
    w->pool = p;
    w->path = apr_pstrdup(p, path);
    w->fmt = fmt;
    w->o.max = max_size;
    w->mtime = mtime;
    w->block = apr_palloc(p, XP_AW_BLOCK);
    if (!(w->o.sha = xp_sha256_make(p)))
        return xp_error_set(err, p, XP_EIO,
                            "cannot set up SHA-256 for %s (libcrypto)", path);
    w->o.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->o.fd < 0)
        return xp_error_set(err, p, XP_EIO, "cannot create %s: %s", path,
                            strerror(errno));
    apr_pool_cleanup_register(p, w, aw_cleanup, apr_pool_cleanup_null);
    *out = w;
    if (!xp_format_is_archive(fmt))
        return XP_OK;
    if (!(w->a = archive_write_new()))
        return xp_error_set(err, p, XP_EIO,
                            "cannot start archive %s: "
                            "out of memory",
                            path);
    if (aw_setup(w->a, fmt) != ARCHIVE_OK ||
        archive_write_open2(w->a, w, NULL, aw_la_write, NULL, NULL) !=
            ARCHIVE_OK)
        return aw_fail(
            w, err, apr_psprintf(p, "start %s archive", xp_format_name(fmt)));
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Entries                                                              */
/* ------------------------------------------------------------------ */

static xp_errcode_e aw_header(xp_awriter_t *w, const char *name, apr_off_t size,
                              xp_error_t *err)
{
    struct archive_entry *e = aw_entry(w, name, size);
    int r;

    if (!e)
        return xp_error_set(err, w->pool, XP_EIO,
                            "cannot add %s to %s: out of memory", name,
                            w->path);
    r = archive_write_header(w->a, e);
    archive_entry_free(e);
    if (r < ARCHIVE_WARN)
        return aw_fail(w, err, apr_psprintf(w->pool, "add %s to", name));
    w->entries++;
    return XP_OK;
}

static xp_errcode_e aw_data(xp_awriter_t *w, const char *name, const char *data,
                            apr_size_t len, xp_error_t *err)
{
    la_ssize_t r;

    while (len > 0) {
        r = archive_write_data(w->a, data, len);
        if (r <= 0)
            return aw_fail(w, err,
                           apr_psprintf(w->pool, "write %s into", name));
        data += r;
        len -= (apr_size_t)r;
    }
    return XP_OK;
}

static xp_errcode_e aw_usable(xp_awriter_t *w, xp_error_t *err)
{
    if (w->done)
        return xp_error_set(err, w->pool, XP_EIO,
                            "archive %s is already closed", w->path);
    return XP_OK;
}

xp_errcode_e xp_awriter_add_mem(xp_awriter_t *w, const char *name,
                                const void *data, apr_size_t len,
                                xp_error_t *err)
{
    xp_errcode_e rc;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (w->pipelined)
        return aw_pipe_mem(w, name, data, len, err);
    if (!w->a)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "format %s holds a single section file, not "
                            "entries such as %s",
                            xp_format_name(w->fmt), name);
    if ((rc = aw_header(w, name, (apr_off_t)len, err)) != XP_OK)
        return rc;
    return aw_data(w, name, data, len, err);
}

/* ndjson, json: the one section, no archive around it. */
static int aw_bare(const xp_awriter_t *w)
{
    return !w->a && !w->pipelined;
}

/* A bare format's one section begins: the thread that writes it out. */
static xp_errcode_e aw_bare_start(xp_awriter_t *w, xp_error_t *err)
{
    w->entries++;
    if (w->fmt == XP_FMT_JSON && !w->out)
        w->out = apr_palloc(w->pool, 2 * XP_AW_BLOCK);
    return xp_acomp_start_store(w->pool, &w->o, w->path, &w->bcomp, err);
}

/* A bare format's one section, written as it is made. */
static xp_errcode_e aw_bare_begin(xp_awriter_t *w, const char *name,
                                  xp_error_t *err)
{
    if (w->entries > 0)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "format %s holds exactly one section; %s is "
                            "one too many",
                            xp_format_name(w->fmt), name);
    w->open_entry = apr_pstrdup(w->pool, name);
    return aw_bare_start(w, err);
}

xp_errcode_e xp_awriter_begin(xp_awriter_t *w, const char *name,
                              xp_error_t *err)
{
    xp_errcode_e rc;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (aw_bare(w))
        return aw_bare_begin(w, name, err);
    if (w->fmt != XP_FMT_ZIP)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "%s: only a zip entry can be written before its "
                            "size is known, not %s",
                            w->path, name);
    return aw_zip_begin(w, name, err);
}

xp_errcode_e xp_awriter_write(xp_awriter_t *w, const void *data, apr_size_t len,
                              xp_error_t *err)
{
    const char *d = data;
    apr_size_t n;
    xp_errcode_e rc;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (w->ecomp)
        return xp_acomp_write(w->ecomp, data, len, err);
    if (!aw_bare(w) || !w->open_entry)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "%s: no entry was begun to write into", w->path);
    for (; len > 0; d += n, len -= n) { /* a bare format's one section */
        n = len < XP_AW_BLOCK ? len : XP_AW_BLOCK;
        if ((rc = aw_put(w, w->open_entry, d, n, err)) != XP_OK)
            return rc;
    }
    return XP_OK;
}

/*
 * XP_FMT_JSON: each non-empty NDJSON line becomes an array element.
 * Lines are copied as they come; only the separators are added, so the
 * state across blocks is whether we are inside a line and how many lines
 * have started. Output per block is at most 1.5x the input plus 2, which
 * the 2x staging buffer covers.
 */

static apr_size_t aw_json_block(aw_json_state_t *st, const char *in,
                                apr_size_t n, char *o)
{
    char *start = o;
    const char *end = in + n, *nl;
    apr_size_t seg;

    while (in < end) {
        nl = memchr(in, '\n', (apr_size_t)(end - in));
        seg = (apr_size_t)((nl ? nl : end) - in);
        if (seg && !st->in_line) {
            memcpy(o, st->lines ? ",\n" : "[\n", 2);
            o += 2;
            st->in_line = 1;
            st->lines++;
        }
        memcpy(o, in, seg);
        o += seg;
        in += seg;
        if (nl) {
            st->in_line = 0;
            in++;
        }
    }
    return (apr_size_t)(o - start);
}

/* Write n bytes (at most a block) of an entry's data in the writer's
 * format: through libarchive, to a bare file's thread, or (a pipelined
 * archive's precompressed data) into the sink. */
static xp_errcode_e aw_put(xp_awriter_t *w, const char *name, const char *in,
                           apr_size_t n, xp_error_t *err)
{
    if (w->a)
        return aw_data(w, name, in, n, err);
    if (w->fmt == XP_FMT_JSON) {
        n = aw_json_block(&w->js, in, n, w->out);
        in = w->out;
    }
    if (w->bcomp)
        return xp_acomp_write(w->bcomp, in, n, err);
    if (aw_sink_write(w, in, n) != 0)
        return aw_fail(w, err, "write");
    return XP_OK;
}

/* XP_FMT_JSON: close the array (or write an empty one). */
static xp_errcode_e aw_json_end(xp_awriter_t *w, xp_error_t *err)
{
    const char *tail = w->js.lines ? "\n]\n" : "[]\n";

    return xp_acomp_write(w->bcomp, tail, strlen(tail), err);
}

static xp_errcode_e aw_stream(xp_awriter_t *w, const char *name, int fd,
                              const char *srcpath, apr_off_t size,
                              const xp_job_ctl_t *ctl, xp_error_t *err)
{
    apr_off_t total = 0;
    xp_errcode_e rc;
    ssize_t n;

    for (;;) {
        if (ctl && ctl->check && (rc = ctl->check(ctl->baton)) != XP_OK)
            return aw_stopped(w, rc, err);
        n = read(fd, w->block, XP_AW_BLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return xp_error_set(err, w->pool, XP_EIO, "cannot read %s: %s",
                                srcpath, strerror(errno));
        if (n == 0)
            break;
        /* A tar header already promised size bytes: a file that grew or
         * shrank would corrupt the archive, so refuse it. */
        if (total + n > size)
            break;
        total += n;
        if ((rc = aw_put(w, name, w->block, (apr_size_t)n, err)) != XP_OK)
            return rc;
    }
    if (total != size || n != 0)
        return xp_error_set(
            err, w->pool, XP_EIO,
            "%s changed while being archived (expected %" APR_OFF_T_FMT
            " bytes)",
            srcpath, size);
    return w->fmt == XP_FMT_JSON ? aw_json_end(w, err) : XP_OK;
}

xp_errcode_e xp_awriter_add_file(xp_awriter_t *w, const char *name,
                                 const char *srcpath, apr_off_t size,
                                 const xp_job_ctl_t *ctl, xp_error_t *err)
{
    struct stat sb;
    xp_errcode_e rc;
    int fd;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (w->pipelined)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "%s: a pipelined "
                            "writer takes precompressed entries, not %s",
                            w->path, srcpath);
    if (aw_bare(w) && w->entries > 0)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "format %s holds exactly one section; %s is "
                            "one too many",
                            xp_format_name(w->fmt), name);
    fd = open(srcpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return xp_error_set(err, w->pool, XP_EIO, "cannot open %s: %s", srcpath,
                            strerror(errno));
    if (size < 0) {
        if (fstat(fd, &sb) != 0) {
            rc = xp_error_set(err, w->pool, XP_EIO, "cannot stat %s: %s",
                              srcpath, strerror(errno));
            close(fd);
            return rc;
        }
        size = (apr_off_t)sb.st_size;
    }
    rc = w->a ? aw_header(w, name, size, err) : aw_bare_start(w, err);
    if (rc == XP_OK)
        rc = aw_stream(w, name, fd, srcpath, size, ctl, err);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Close / abort                                                        */
/* ------------------------------------------------------------------ */

/* A bare file's data all written out (by its thread, now gone). */
static xp_errcode_e aw_bare_finish(xp_awriter_t *w, xp_error_t *err)
{
    apr_off_t raw, out;
    apr_uint32_t crc;
    xp_errcode_e rc;

    rc = xp_acomp_finish(w->bcomp, &raw, &out, &crc, err);
    w->bcomp = NULL;
    return rc;
}

xp_errcode_e xp_awriter_close(xp_awriter_t *w, apr_off_t *size,
                              const char **sha256, xp_error_t *err)
{
    xp_errcode_e rc;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (w->a) {
        /* archive_write_close flushes the compressor: the limit can still
         * be hit here. */
        if (archive_write_close(w->a) != ARCHIVE_OK)
            return aw_fail(w, err, "finish");
        archive_write_free(w->a);
        w->a = NULL;
    }
    if (w->pipelined && (rc = aw_pipe_close(w, err)) != XP_OK)
        return rc;
    if (aw_bare(w) && w->open_entry && w->fmt == XP_FMT_JSON &&
        (rc = aw_json_end(w, err)) != XP_OK)
        return rc;
    if (w->bcomp && (rc = aw_bare_finish(w, err)) != XP_OK)
        return rc;
    if (fsync(w->o.fd) != 0) {
        w->o.io_errno = errno;
        return aw_fail(w, err, "sync");
    }
    if (close(w->o.fd) != 0) {
        w->o.fd = -1;
        w->o.io_errno = errno;
        return aw_fail(w, err, "close");
    }
    w->o.fd = -1;
    w->done = 1;
    if (size)
        *size = w->o.written;
    if (sha256)
        *sha256 = xp_sha256_final(w->o.sha, w->pool, NULL);
    return XP_OK;
}

void xp_awriter_abort(xp_awriter_t *w)
{
    if (!w || w->done)
        return;
    w->done = 1;
    w->discard = 1;
    xp_codec_end(&w->hc);
    xp_acomp_abort(w->ecomp);
    xp_acomp_abort(w->bcomp); /* before its file is closed */
    if (w->a) {
        archive_write_free(w->a); /* its final flush goes nowhere */
        w->a = NULL;
    }
    if (w->o.fd >= 0) {
        close(w->o.fd);
        w->o.fd = -1;
    }
    unlink(w->path);
}

/* ------------------------------------------------------------------ */
/* Pipelined tar.gz / tar.zst                                           */
/* ------------------------------------------------------------------ */

int xp_format_pipelined(xp_format_e f)
{
    return f == XP_FMT_TAR_GZ || f == XP_FMT_TAR_ZST || f == XP_FMT_ZIP;
}

/* ------------------------------------------------------------------ */
/* Pipelined: assembling the archive                                    */
/* ------------------------------------------------------------------ */

static int aw_emit_sink(void *baton, const void *buf, apr_size_t n)
{
    return aw_sink_write(baton, buf, n);
}

/* Compress len bytes as one member/frame of their own into the sink. */
static xp_errcode_e aw_member(xp_awriter_t *w, const void *data, apr_size_t len,
                              xp_error_t *err)
{
    int r;

    r = xp_codec_run(&w->hc, data, len, 1, w->block, XP_AW_BLOCK, aw_emit_sink,
                     w);
    if (r == -2)
        return aw_fail(w, err, "write");
    if (r != 0)
        return xp_error_set(err, w->pool, XP_EIO, "cannot compress into %s",
                            w->path);
    return XP_OK;
}

/* The tar header(s) of an entry, as libarchive writes them (a pax header
 * first when a name needs one), caught through an unbuffered writer that
 * drops everything after the header. */
typedef struct {
    char buf[8192];
    apr_size_t len;
    int done, overflow;
} aw_hdr_t;

static la_ssize_t aw_hdr_write(struct archive *a, void *baton, const void *buf,
                               size_t n)
{
    aw_hdr_t *h = baton;

    (void)a;
    if (h->done)
        return (la_ssize_t)n;
    if (h->len + n > sizeof(h->buf))
        h->overflow = 1;
    else {
        memcpy(h->buf + h->len, buf, n);
        h->len += n;
    }
    return (la_ssize_t)n;
}

static struct archive_entry *aw_entry(xp_awriter_t *w, const char *name,
                                      apr_off_t size)
{
    struct archive_entry *e = archive_entry_new();

    if (!e)
        return NULL;
    /* Plain, owner-neutral entries: nothing of the server's accounts or
     * clock resolution leaks into the archive. */
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, (time_t)apr_time_sec(w->mtime), 0);
    archive_entry_set_size(e, (la_int64_t)size);
    return e;
}

static xp_errcode_e aw_tar_header(xp_awriter_t *w, const char *name,
                                  apr_off_t size, aw_hdr_t *h, xp_error_t *err)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = aw_entry(w, name, size);
    int r = ARCHIVE_FATAL;

    memset(h, 0, sizeof(*h));
    if (a && e && archive_write_set_format_pax_restricted(a) == ARCHIVE_OK &&
        archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK &&
        archive_write_open2(a, h, NULL, aw_hdr_write, NULL, NULL) == ARCHIVE_OK)
        r = archive_write_header(a, e);
    h->done = 1;
    if (r < ARCHIVE_WARN || h->overflow || h->len == 0 || h->len % 512)
        r = ARCHIVE_FATAL;
    if (a)
        archive_write_free(a); /* its padding and end blocks are dropped */
    if (e)
        archive_entry_free(e);
    if (r == ARCHIVE_FATAL)
        return xp_error_set(err, w->pool, XP_EIO,
                            "cannot make the tar header of %s in %s", name,
                            w->path);
    w->entries++;
    return XP_OK;
}

xp_errcode_e xp_awriter_open_pipelined(apr_pool_t *p, const char *path,
                                       xp_format_e fmt, apr_off_t max_size,
                                       apr_time_t mtime, xp_awriter_t **out,
                                       xp_error_t *err)
{
    xp_awriter_t *w;
    xp_errcode_e rc;

    *out = NULL;
    if (!xp_format_pipelined(fmt))
        return xp_error_set(err, p, XP_EINVAL,
                            "format %s is not compressed "
                            "per entry",
                            xp_format_name(fmt));
    /* as a bare writer (no libarchive stream), then switched over */
    if ((rc = xp_awriter_open(p, path, XP_FMT_NDJSON, max_size, mtime, &w,
                              err)) != XP_OK)
        return rc;
    w->fmt = fmt;
    if (xp_codec_init(&w->hc, fmt) != 0) {
        xp_awriter_abort(w);
        return xp_error_set(err, p, XP_EIO,
                            "cannot set up %s compression "
                            "for %s: out of memory",
                            xp_format_name(fmt), path);
    }
    w->pipelined = 1;
    *out = w;
    return XP_OK;
}

/* A zip entry's local header, the entry remembered for the directory. */
static xp_errcode_e aw_zip_header(xp_awriter_t *w, const char *name,
                                  apr_off_t usize, apr_off_t csize,
                                  apr_uint32_t crc, xp_error_t *err)
{
    apr_size_t nlen = strlen(name);
    xp_zipw_entry_t *e;
    unsigned char *buf;

    if (nlen > 65535)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "%s: a zip name holds 65535 bytes at most, not "
                            "the %" APR_SIZE_T_FMT " of %.40s...",
                            w->path, nlen, name);
    if (!w->zents)
        w->zents = apr_array_make(w->pool, 8, sizeof(xp_zipw_entry_t));
    e = apr_array_push(w->zents);
    e->name = apr_pstrdup(w->pool, name);
    e->crc = crc;
    e->usize = (apr_uint64_t)usize;
    e->csize = (apr_uint64_t)csize;
    e->offset = (apr_uint64_t)w->o.written;
    e->mtime = w->mtime;
    buf = apr_palloc(w->pool, XP_ZIPW_LOCAL_MAX + nlen);
    w->entries++;
    if (aw_sink_write(w, buf, xp_zipw_local(e, buf)) != 0)
        return aw_fail(w, err, "write");
    return XP_OK;
}

/* Compressed bytes collected in memory (a zip entry added from memory:
 * its header needs their number first). */
static int aw_collect(void *baton, const void *buf, apr_size_t n)
{
    xp_buf_add(baton, buf, n);
    return 0;
}

/* Pipelined zip add_mem: compressed as one piece and the end block. */
static xp_errcode_e aw_zip_mem(xp_awriter_t *w, const char *name,
                               const void *data, apr_size_t len,
                               xp_error_t *err)
{
    xp_buf_t m;
    xp_errcode_e rc;

    if ((rc = aw_zip_end_entry(w, err)) != XP_OK)
        return rc;
    xp_buf_init(&m, w->pool, len / 2 + 64);
    if (xp_codec_run(&w->hc, data, len, 1, w->block, XP_AW_BLOCK, aw_collect,
                     &m) != 0)
        return xp_error_set(err, w->pool, XP_EIO, "cannot compress %s into %s",
                            name, w->path);
    xp_buf_add(&m, XP_CODEC_ZIP_END, 2);
    if ((rc = aw_zip_header(w, name, (apr_off_t)len, (apr_off_t)m.len,
                            libdeflate_crc32(0, data, len), err)) != XP_OK)
        return rc;
    if (aw_sink_write(w, m.data, m.len) != 0)
        return aw_fail(w, err, "write");
    return XP_OK;
}

/* Pipelined add_mem: tar, header, data and padding as one member. */
static xp_errcode_e aw_pipe_mem(xp_awriter_t *w, const char *name,
                                const void *data, apr_size_t len,
                                xp_error_t *err)
{
    aw_hdr_t *h;
    apr_size_t pad = (512 - len % 512) % 512;
    char *all;
    xp_errcode_e rc;

    if (w->fmt == XP_FMT_ZIP)
        return aw_zip_mem(w, name, data, len, err);
    h = apr_palloc(w->pool, sizeof(*h));
    if ((rc = aw_tar_header(w, name, (apr_off_t)len, h, err)) != XP_OK)
        return rc;
    all = apr_pcalloc(w->pool, h->len + len + pad);
    memcpy(all, h->buf, h->len);
    memcpy(all + h->len, data, len);
    return aw_member(w, all, h->len + len + pad, err);
}

/* The header of a precompressed entry: a tar header as a member (frame)
 * of its own, or a zip local header. */
static xp_errcode_e aw_pipe_header(xp_awriter_t *w, const char *name,
                                   apr_off_t size, apr_off_t csize,
                                   apr_uint32_t crc, xp_error_t *err)
{
    aw_hdr_t *h;
    xp_errcode_e rc;

    if (w->fmt == XP_FMT_ZIP)
        return aw_zip_header(w, name, size, csize, crc, err);
    h = apr_palloc(w->pool, sizeof(*h));
    if ((rc = aw_tar_header(w, name, size, h, err)) != XP_OK)
        return rc;
    return aw_member(w, h->buf, h->len, err);
}

xp_errcode_e xp_awriter_add_compressed(xp_awriter_t *w, const char *name,
                                       apr_off_t size, const char *cpath,
                                       apr_off_t csize, apr_uint32_t crc,
                                       const xp_job_ctl_t *ctl, xp_error_t *err)
{
    xp_errcode_e rc;
    int fd;

    if ((rc = aw_usable(w, err)) != XP_OK)
        return rc;
    if (!w->pipelined)
        return xp_error_set(err, w->pool, XP_EINVAL,
                            "%s: precompressed "
                            "entries need a pipelined writer",
                            w->path);
    if ((rc = aw_zip_end_entry(w, err)) != XP_OK ||
        (rc = aw_pipe_header(w, name, size, csize, crc, err)) != XP_OK)
        return rc;
    fd = open(cpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return xp_error_set(err, w->pool, XP_EIO, "cannot open %s: %s", cpath,
                            strerror(errno));
    /* the members or frame are copied as they are: they need no framing */
    rc = aw_stream(w, name, fd, cpath, csize, ctl, err);
    close(fd);
    return rc;
}

/* Start a zip entry of unknown size: its data is compressed into a file
 * beside the archive, added when the entry ends. */
static xp_errcode_e aw_zip_begin(xp_awriter_t *w, const char *name,
                                 xp_error_t *err)
{
    xp_errcode_e rc;

    if ((rc = aw_zip_end_entry(w, err)) != XP_OK)
        return rc;
    w->epath = apr_pstrcat(w->pool, w->path, ".entry", NULL);
    if ((rc = xp_acomp_start(w->pool, XP_FMT_ZIP, w->epath, w->o.max, NULL,
                             &w->ecomp, err)) != XP_OK)
        return rc;
    w->open_entry = apr_pstrdup(w->pool, name);
    return XP_OK;
}

/* End the begun zip entry, if any: its data into the archive. */
static xp_errcode_e aw_zip_end_entry(xp_awriter_t *w, xp_error_t *err)
{
    xp_acomp_t *c = w->ecomp;
    apr_off_t raw = 0, csize = 0;
    apr_uint32_t crc = 0;
    xp_errcode_e rc;
    int fd;

    if (!c)
        return XP_OK;
    w->ecomp = NULL;
    if ((rc = xp_acomp_finish(c, &raw, &csize, &crc, err)) != XP_OK)
        return rc;
    rc = aw_zip_header(w, w->open_entry, raw, csize, crc, err);
    fd = rc == XP_OK ? open(w->epath, O_RDONLY | O_CLOEXEC) : -1;
    if (rc == XP_OK && fd < 0)
        rc = xp_error_set(err, w->pool, XP_EIO, "cannot open %s: %s", w->epath,
                          strerror(errno));
    if (fd >= 0) {
        rc = aw_stream(w, w->open_entry, fd, w->epath, csize, NULL, err);
        close(fd);
    }
    unlink(w->epath);
    return rc;
}

/* The end of a pipelined archive: a zip's directory, a tar's two zero
 * blocks. */
static xp_errcode_e aw_pipe_close(xp_awriter_t *w, xp_error_t *err)
{
    static const char end[1024];
    apr_array_header_t none = {0};
    unsigned char *cd;
    apr_size_t n;
    xp_errcode_e rc;

    if (w->fmt != XP_FMT_ZIP)
        rc = aw_member(w, end, sizeof(end), err);
    else if ((rc = aw_zip_end_entry(w, err)) == XP_OK) {
        cd = xp_zipw_central(w->pool, w->zents ? w->zents : &none,
                             (apr_uint64_t)w->o.written, &n);
        if (aw_sink_write(w, cd, n) != 0)
            rc = aw_fail(w, err, "write");
    }
    xp_codec_end(&w->hc);
    return rc;
}
