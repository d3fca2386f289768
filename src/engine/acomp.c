/*
 * acomp.c -- compressing a tar.gz / tar.zst export's section data on a
 * second thread while the first reads its rows (xp_acomp_*), and the
 * codecs that make the pieces of a pipelined archive (xp_codec_*): each
 * section's tar data becomes a deflate piece or zstd frame of its own,
 * which the archive writer (src/engine/archive.c) later copies into the
 * archive between the headers it compresses itself.
 *
 * The entry's file is created here with O_EXCL, counted against
 * XportMaxArchiveSize and hashed on the way (the SHA-256 of the entry's
 * data, the CRC-32 a gzip member's trailer needs).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "xp_codec.h"
#include "xp_hash.h"

/* ------------------------------------------------------------------ */
/* Codecs                                                               */
/* ------------------------------------------------------------------ */

void xp_codec_end(xp_codec_t *k)
{
    if (!k->ready)
        return;
    if (k->fmt == XP_FMT_TAR_GZ)
        deflateEnd(&k->z);
    else
        ZSTD_freeCCtx(k->zs);
    k->ready = 0;
}

/* 0, or -1 when the library cannot set up (out of memory). */
int xp_codec_init(xp_codec_t *k, xp_format_e fmt)
{
    memset(k, 0, sizeof(*k));
    k->fmt = fmt;
    if (fmt == XP_FMT_TAR_GZ) {
        if (deflateInit2(&k->z, XP_GZIP_LEVEL, Z_DEFLATED, -15, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
    } else {
        if (!(k->zs = ZSTD_createCCtx()))
            return -1;
        /* the checksum lets zstd -t (and any reader) verify each frame */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(k->zs, ZSTD_c_compressionLevel,
                                                XP_ZSTD_LEVEL)) ||
            ZSTD_isError(
                ZSTD_CCtx_setParameter(k->zs, ZSTD_c_checksumFlag, 1))) {
            ZSTD_freeCCtx(k->zs);
            return -1;
        }
    }
    k->ready = 1;
    return 0;
}

/* Compress n bytes of in; last ends the piece (and readies the codec for
 * the next one). Output goes to emit through obuf (ocap bytes). 0, -1 on
 * a codec error, -2 when emit failed. The gzip trailer's CRC-32 is the
 * caller's: a pipelined entry's is computed by the thread that hands the
 * data over, which has time to spare, not by the compressing one. */
int xp_codec_run(xp_codec_t *k, const void *in, apr_size_t n, int last,
                 char *obuf, apr_size_t ocap, xp_codec_emit_fn emit,
                 void *baton)
{
    if (k->fmt == XP_FMT_TAR_GZ) {
        int r;

        k->z.next_in = (Bytef *)in;
        k->z.avail_in = (uInt)n;
        do {
            k->z.next_out = (Bytef *)obuf;
            k->z.avail_out = (uInt)ocap;
            r = deflate(&k->z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            if (r == Z_STREAM_ERROR)
                return -1;
            if (k->z.avail_out < ocap &&
                emit(baton, obuf, ocap - k->z.avail_out) != 0)
                return -2;
        } while (k->z.avail_out == 0);
        return last && deflateReset(&k->z) != Z_OK ? -1 : 0;
    } else {
        ZSTD_inBuffer ib = {in, n, 0};
        size_t rem;

        for (;;) {
            ZSTD_outBuffer ob = {obuf, ocap, 0};
            rem = ZSTD_compressStream2(k->zs, &ob, &ib,
                                       last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(rem))
                return -1;
            if (ob.pos && emit(baton, obuf, ob.pos) != 0)
                return -2;
            if (last ? rem == 0 : ib.pos == ib.size)
                return 0;
        }
    }
}

/* ------------------------------------------------------------------ */
/* One entry's data compressed on a second thread                       */
/* ------------------------------------------------------------------ */

#define AC_SLOTS 4 /* queue depth: 1 MiB of raw data at most */
#define AC_SLOT (256 * 1024)
#define AC_OUT (256 * 1024) /* compressed output, written per fill */

enum { AC_OK = 0, AC_ELIMIT, AC_EIO, AC_ECODEC };

struct xp_acomp_t {
    apr_pool_t *pool;
    const char *path;
    int fd; /* -1 once closed */
    apr_off_t max_size, raw, out;
    xp_codec_t codec;
    uLong crc;        /* tar.gz: CRC-32 of the data written so far (producer) */
    xp_sha256_t *sha; /* the entry's data (not its padding), if asked */
    char *slot[AC_SLOTS], *obuf;
    apr_size_t fill[AC_SLOTS];
    apr_size_t hashed[AC_SLOTS]; /* tar.zst: bytes of a slot to hash there */
    int head;                    /* slot the producer fills */
    int tail;                    /* oldest queued slot */
    int queued;                  /* handed over, not yet compressed */
    int closing;                 /* producer done: end the member */
    int stop;                    /* abort: consumer leaves at once */
    int failed, io_errno;        /* the consumer's verdict (AC_*) */
    int emit_failed;             /* ac_emit's, published as failed under mu */
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *more, *room;
    apr_thread_t *thr; /* NULL once joined */
    int done;
};

/* Consumer side of the output: a file this code created with O_EXCL. */
static int ac_emit(void *baton, const void *buf, apr_size_t n)
{
    xp_acomp_t *c = baton;
    const char *p = buf;
    ssize_t r;

    if (c->max_size > 0 && c->out + (apr_off_t)n > c->max_size) {
        c->emit_failed = AC_ELIMIT;
        return -1;
    }
    while (n > 0) {
        r = write(c->fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            c->io_errno = errno;
            c->emit_failed = AC_EIO;
            return -1;
        }
        p += r;
        n -= (apr_size_t)r;
        c->out += r;
    }
    return 0;
}

/* The second thread: compress queued slots in order until the producer
 * closes the entry, the output fails, or abort says stop. It touches no
 * pool: everything it needs was allocated by xp_acomp_start. */
static void *APR_THREAD_FUNC ac_main(apr_thread_t *t, void *data)
{
    xp_acomp_t *c = data;
    int idx, r, last;

    for (;;) {
        apr_thread_mutex_lock(c->mu);
        while (!c->queued && !c->closing && !c->stop)
            apr_thread_cond_wait(c->more, c->mu);
        if (c->stop) {
            apr_thread_mutex_unlock(c->mu);
            break;
        }
        last = !c->queued; /* closing, nothing left */
        idx = c->tail;
        apr_thread_mutex_unlock(c->mu);
        if (!last && c->hashed[idx])
            xp_sha256_update(c->sha, c->slot[idx], c->hashed[idx]);
        r = xp_codec_run(&c->codec, last ? "" : c->slot[idx],
                         last ? 0 : c->fill[idx], last, c->obuf, AC_OUT,
                         ac_emit, c);
        apr_thread_mutex_lock(c->mu);
        if (r == -1)
            c->failed = AC_ECODEC;
        else if (r != 0)
            c->failed = c->emit_failed;
        if (!last) {
            c->tail = (c->tail + 1) % AC_SLOTS;
            c->queued--;
        }
        apr_thread_cond_signal(c->room);
        apr_thread_mutex_unlock(c->mu);
        if (r != 0 || last)
            break;
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static xp_errcode_e ac_error(xp_acomp_t *c, xp_error_t *err)
{
    switch (c->failed) {
    case AC_ELIMIT:
        return xp_error_set(err, c->pool, XP_ELIMIT,
                            "the archive would exceed XportMaxArchiveSize "
                            "(%" APR_OFF_T_FMT " bytes)",
                            c->max_size);
    case AC_EIO:
        return xp_error_set(err, c->pool, XP_EIO,
                            "cannot write %s: %s (is the disk full?)", c->path,
                            strerror(c->io_errno));
    default:
        return xp_error_set(err, c->pool, XP_EIO,
                            "cannot compress into %s: %s failed", c->path,
                            c->codec.fmt == XP_FMT_TAR_GZ ? "zlib" : "zstd");
    }
}

/* Wait for the thread to leave; stop tells it to leave now. */
static void ac_join(xp_acomp_t *c, int stop)
{
    apr_status_t trv;

    if (!c->thr)
        return;
    apr_thread_mutex_lock(c->mu);
    if (stop)
        c->stop = 1;
    apr_thread_cond_signal(c->more);
    apr_thread_mutex_unlock(c->mu);
    apr_thread_join(&trv, c->thr);
    c->thr = NULL;
}

void xp_acomp_abort(xp_acomp_t *c)
{
    if (!c || c->done)
        return;
    c->done = 1;
    ac_join(c, 1);
    xp_codec_end(&c->codec);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        unlink(c->path);
    }
}

static apr_status_t ac_cleanup(void *data)
{
    xp_acomp_abort(data);
    return APR_SUCCESS;
}

xp_errcode_e xp_acomp_start(apr_pool_t *p, xp_format_e fmt, const char *path,
                            apr_off_t max_size, xp_sha256_t *sha,
                            xp_acomp_t **out, xp_error_t *err)
{
    xp_acomp_t *c;
    int i;

    *out = NULL;
    if (!xp_format_pipelined(fmt))
        return xp_error_set(err, p, XP_EINVAL,
                            "format %s is not compressed "
                            "per entry",
                            xp_format_name(fmt));
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    c->path = apr_pstrdup(p, path);
    c->max_size = max_size;
    c->sha = sha;
    c->crc = crc32(0L, Z_NULL, 0);
    c->done = 1; /* nothing to undo until the file exists */
    for (i = 0; i < AC_SLOTS; i++)
        c->slot[i] = apr_palloc(p, AC_SLOT);
    c->obuf = apr_palloc(p, AC_OUT);
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, p) ||
        apr_thread_cond_create(&c->more, p) ||
        apr_thread_cond_create(&c->room, p))
        return xp_error_set(err, p, XP_EIO,
                            "cannot set up the compressor "
                            "for %s: no mutex",
                            path);
    c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (c->fd < 0)
        return xp_error_set(err, p, XP_EIO, "cannot create %s: %s", path,
                            strerror(errno));
    c->done = 0;
    /* before the subpools go, so the thread is gone first */
    apr_pool_pre_cleanup_register(p, c, ac_cleanup);
    if (xp_codec_init(&c->codec, fmt) != 0) {
        xp_acomp_abort(c);
        return xp_error_set(err, p, XP_EIO,
                            "cannot set up %s compression "
                            "for %s: out of memory",
                            xp_format_name(fmt), path);
    }
    if (apr_thread_create(&c->thr, NULL, ac_main, c, p) != APR_SUCCESS) {
        c->thr = NULL;
        xp_acomp_abort(c);
        return xp_error_set(err, p, XP_EIO,
                            "cannot start the compressor "
                            "thread for %s",
                            path);
    }
    *out = c;
    return XP_OK;
}

/* Hand the filled slot over; wait while every slot is queued. */
static xp_errcode_e ac_push(xp_acomp_t *c, xp_error_t *err)
{
    int failed;

    apr_thread_mutex_lock(c->mu);
    if (c->fill[c->head] > 0) {
        c->queued++;
        c->head = (c->head + 1) % AC_SLOTS;
        apr_thread_cond_signal(c->more);
    }
    while (c->queued == AC_SLOTS && !c->failed)
        apr_thread_cond_wait(c->room, c->mu);
    c->fill[c->head] = 0;
    c->hashed[c->head] = 0;
    failed = c->failed;
    apr_thread_mutex_unlock(c->mu);
    return failed ? ac_error(c, err) : XP_OK;
}

/* Queue len bytes: the entry's data (counted and hashed), or its tar
 * padding (is_data = 0: only compressed, and summed into the CRC-32). */
static xp_errcode_e ac_write(xp_acomp_t *c, const void *data, apr_size_t len,
                             int is_data, xp_error_t *err)
{
    const char *d = data;
    /* Checksums go to the thread with room. deflate is slower than the
     * reading, so for tar.gz this thread sums the CRC-32 and the SHA-256
     * while the compressing one is what the export waits for; zstd is
     * faster than the reading, so it hashes each slot before compressing
     * it. */
    int gz = c->codec.fmt == XP_FMT_TAR_GZ;
    int hash = is_data && c->sha != NULL;
    apr_size_t n;
    xp_errcode_e rc;

    if (c->done)
        return xp_error_set(err, c->pool, XP_EIO,
                            "the compressor for %s "
                            "is already finished",
                            c->path);
    if (is_data)
        c->raw += (apr_off_t)len;
    if (gz) {
        c->crc = crc32_z(c->crc, (const Bytef *)data, len);
        if (hash)
            xp_sha256_update(c->sha, data, len);
    }
    while (len > 0) {
        n = AC_SLOT - c->fill[c->head];
        if (n > len)
            n = len;
        memcpy(c->slot[c->head] + c->fill[c->head], d, n);
        c->fill[c->head] += n;
        if (hash && !gz)
            c->hashed[c->head] += n;
        d += n;
        len -= n;
        if (c->fill[c->head] == AC_SLOT && (rc = ac_push(c, err)) != XP_OK)
            return rc;
    }
    return XP_OK;
}

xp_errcode_e xp_acomp_write(xp_acomp_t *c, const void *data, apr_size_t len,
                            xp_error_t *err)
{
    return ac_write(c, data, len, 1, err);
}

xp_errcode_e xp_acomp_finish(xp_acomp_t *c, apr_off_t *raw, apr_off_t *csize,
                             apr_uint32_t *crc, xp_error_t *err)
{
    static const char zeros[512];
    apr_off_t data = c->raw;
    xp_errcode_e rc;

    /* tar pads an entry's data to a whole 512-byte block */
    if ((rc = ac_write(c, zeros, (apr_size_t)((512 - data % 512) % 512), 0,
                       err)) != XP_OK ||
        (rc = ac_push(c, err)) != XP_OK) {
        xp_acomp_abort(c);
        return rc;
    }
    apr_thread_mutex_lock(c->mu);
    c->closing = 1;
    apr_thread_mutex_unlock(c->mu);
    ac_join(c, 0);
    if (c->failed) {
        rc = ac_error(c, err);
        xp_acomp_abort(c);
        return rc;
    }
    xp_codec_end(&c->codec);
    c->done = 1;
    if (close(c->fd) != 0) {
        rc = xp_error_set(err, c->pool, XP_EIO, "cannot close %s: %s", c->path,
                          strerror(errno));
        c->fd = -1;
        unlink(c->path);
        return rc;
    }
    c->fd = -1;
    *raw = data;
    *csize = c->out;
    *crc = (apr_uint32_t)c->crc;
    return XP_OK;
}
