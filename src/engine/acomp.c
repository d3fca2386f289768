/*
 * acomp.c -- compressing a pipelined export's section data on threads
 * of its own while the job's thread reads its rows (tar.gz and zip on
 * two, tar.zst on one), with the codecs of src/engine/codec.c: each
 * section's data becomes gzip members, deflate pieces or a zstd frame of
 * its own, which the archive writer (src/engine/archive.c) later copies
 * into the archive between the headers it writes itself.
 *
 * The entry's file is created here with O_EXCL, counted against
 * XportMaxArchiveSize and its data's SHA-256 taken on the way.
 *
 * The same queue also serves a bare file (ndjson, json: no codec,
 * xp_acomp_start_store): its one thread writes the data as it is
 * through the archive writer's xp_out_t (which hashes and counts it), so
 * that the thread reading the rows does neither.
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
/* One entry's data compressed on threads of its own                    */
/* ------------------------------------------------------------------ */

/*
 * The producer (the job's thread, reading rows) fills 256 KiB slots in
 * turn; compressing threads take them in order and compress each into
 * the slot's own output; whichever thread finds the oldest slot done
 * writes the finished slots out in order, hashing their data on the
 * way (in order, off the producer's thread). Slots are counted, not
 * indexed: slot n lives in slots[n % AC_SLOTS].
 *
 * tar.gz and zip, two threads (deflate is the slow side: with both
 * cores it keeps up with the reading): every slot is a gzip member, or
 * a piece of the entry's deflate stream, of its own, so the output
 * depends on the data only, never on which thread took which slot.
 * Starting each 256 KiB afresh costs about 1% in size against one
 * stream. tar.zst, one thread (zstd is faster than the reading): one
 * frame across the slots, ended when the producer closes the entry.
 * A zip entry's data is not padded; its CRC-32 is summed with the hash.
 * A stored file, one thread: slots are written out as they are.
 */
#define AC_SLOTS 6 /* queue depth: 1.5 MiB of raw data at most */
#define AC_SLOT (256 * 1024)
#define AC_THREADS 2 /* for tar.gz and zip */
/* a slot's compressed output: more than a gzip member's bound for a
 * slot; zstd may also flush what it held */
#define AC_OUT (2 * AC_SLOT)

enum { AC_OK = 0, AC_ELIMIT, AC_EIO, AC_ECODEC };

typedef struct ac_slot_t {
    char *data;
    apr_size_t fill;
    apr_size_t hashed; /* its first bytes that are data (hashed) */
    char *out; /* the slot compressed */
    apr_size_t olen;
    int done; /* compressed, not yet written */
} ac_slot_t;

typedef struct ac_worker_t {
    xp_acomp_t *c;
    xp_codec_t codec;
    apr_thread_t *thr; /* NULL once joined */
} ac_worker_t;

struct xp_acomp_t {
    apr_pool_t *pool;
    const char *path;
    /* where the output goes: the caller's file (store: no codec, the
     * data as it is, hashed and counted there), or file, created,
     * closed (and removed on failure) here */
    xp_out_t *o, file;
    int store;
    apr_off_t raw;
    xp_format_e fmt;
    int nthreads;
    ac_worker_t workers[AC_THREADS];
    xp_sha256_t *sha; /* the entry's data (not its padding), if asked */
    ac_slot_t slots[AC_SLOTS];
    apr_uint64_t pushed;  /* slots handed over by the producer */
    apr_uint64_t taken;   /* ... taken by a compressing thread */
    apr_uint64_t written; /* ... written out */
    int writing;          /* a thread writes finished slots out */
    int closing;          /* producer done: end the piece */
    int stop;             /* abort: the threads leave at once */
    int failed;           /* the threads' verdict (AC_*) */
    apr_uint32_t crc;     /* zip: CRC-32 of the slots written out */
    int emit_failed;      /* ac_emit's, published as failed under mu */
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *more, *room;
    int done;
};

/* The current slot, the one the producer fills. */
#define AC_HEAD(c) (&(c)->slots[(c)->pushed % AC_SLOTS])

/* Output, in order: called by one thread at a time (the one writing
 * slots out, or the last frame's end). */
static int ac_emit(void *baton, const void *buf, apr_size_t n)
{
    xp_acomp_t *c = baton;

    if (xp_out_write(c->o, buf, n) == 0)
        return 0;
    c->emit_failed = c->o->limit_hit ? AC_ELIMIT : AC_EIO;
    return -1;
}

/* A compressing thread's output goes to its slot first (a gzip member
 * is compressed right into it). */
static int ac_to_slot(void *baton, const void *buf, apr_size_t n)
{
    ac_slot_t *sl = baton;

    if (sl->olen + n > AC_OUT)
        return -1; /* cannot happen within the bounds above */
    if (buf != sl->out + sl->olen)
        memcpy(sl->out + sl->olen, buf, n);
    sl->olen += n;
    return 0;
}

/* Compress one slot with codec k: 0, or AC_ECODEC. */
static int ac_compress(xp_acomp_t *c, xp_codec_t *k, ac_slot_t *sl)
{
    char ob[16 * 1024];
    int r;

    sl->olen = 0;
    if (c->store) /* written out from the slot's data */
        r = 0;
    else if (c->fmt != XP_FMT_TAR_ZST) /* a member or piece, in one call */
        r = xp_codec_run(k, sl->data, sl->fill, 1, sl->out, AC_OUT, ac_to_slot,
                         sl);
    else
        r = xp_codec_run(k, sl->data, sl->fill, 0, ob, sizeof(ob), ac_to_slot,
                         sl);
    return r == 0 ? AC_OK : AC_ECODEC;
}

/* Hash a slot's data and write its output: 0, or -1 (emit_failed). */
static int ac_flush_slot(xp_acomp_t *c, ac_slot_t *sl)
{
    if (sl->hashed)
        xp_sha256_update(c->sha, sl->data, sl->hashed);
    if (c->fmt == XP_FMT_ZIP)
        c->crc = libdeflate_crc32(c->crc, sl->data, sl->fill);
    if (c->store)
        return ac_emit(c, sl->data, sl->fill);
    return sl->olen ? ac_emit(c, sl->out, sl->olen) : 0;
}

/* Write the finished slots out in order, under mu (let go while
 * writing), unless another thread does it already. */
static void ac_write_out(xp_acomp_t *c)
{
    ac_slot_t *sl;
    int r;

    if (c->writing)
        return;
    c->writing = 1;
    while (!c->failed && !c->stop && c->written < c->taken &&
           (sl = &c->slots[c->written % AC_SLOTS])->done) {
        apr_thread_mutex_unlock(c->mu);
        r = ac_flush_slot(c, sl);
        apr_thread_mutex_lock(c->mu);
        if (r != 0)
            c->failed = c->emit_failed;
        sl->done = 0;
        c->written++;
        apr_thread_cond_signal(c->room);
    }
    c->writing = 0;
}

/* A compressing thread: take the oldest queued slot, compress it, write
 * out what is finished; until the producer closes the entry (tar.zst:
 * then end the frame), a failure, or abort says stop. It touches no
 * pool: everything it needs was allocated by xp_acomp_start. */
static void *APR_THREAD_FUNC ac_main(apr_thread_t *t, void *data)
{
    ac_worker_t *wk = data;
    xp_acomp_t *c = wk->c;
    xp_codec_t *k = &wk->codec;
    ac_slot_t *sl;
    int r;

    apr_thread_mutex_lock(c->mu);
    for (;;) {
        while (c->taken == c->pushed && !c->closing && !c->stop && !c->failed)
            apr_thread_cond_wait(c->more, c->mu);
        if (c->stop || c->failed || c->taken == c->pushed)
            break;
        sl = &c->slots[c->taken++ % AC_SLOTS];
        apr_thread_mutex_unlock(c->mu);
        r = ac_compress(c, k, sl);
        apr_thread_mutex_lock(c->mu);
        if (r != AC_OK && !c->failed)
            c->failed = r;
        sl->done = 1;
        ac_write_out(c);
    }
    /* tar.zst: the one thread ends its frame once all is written */
    if (c->fmt == XP_FMT_TAR_ZST && !c->stop && !c->failed) {
        char ob[16 * 1024];

        r = xp_codec_run(k, "", 0, 1, ob, sizeof(ob), ac_emit, c);
        if (r != 0)
            c->failed = r == -1 ? AC_ECODEC : c->emit_failed;
    }
    apr_thread_cond_broadcast(c->room);
    apr_thread_mutex_unlock(c->mu);
    /* a plain return, not apr_thread_exit(): pthread_exit() unwinds
     * without leaving the frames, which AddressSanitizer takes for a use
     * of their locals; the thread's pool goes with c->pool */
    (void)t;
    return NULL;
}

static xp_errcode_e ac_error(xp_acomp_t *c, xp_error_t *err)
{
    switch (c->failed) {
    case AC_ELIMIT:
    case AC_EIO:
        return xp_out_fail(c->o, c->pool, "write", c->path, NULL, err);
    default:
        return xp_error_set(err, c->pool, XP_EIO,
                            "cannot compress into %s: %s failed", c->path,
                            c->fmt == XP_FMT_TAR_ZST ? "zstd" : "libdeflate");
    }
}

/* Wait for the threads to leave; stop tells them to leave now. */
static void ac_join(xp_acomp_t *c, int stop)
{
    apr_status_t trv;
    int i;

    apr_thread_mutex_lock(c->mu);
    if (stop)
        c->stop = 1;
    apr_thread_cond_broadcast(c->more);
    apr_thread_mutex_unlock(c->mu);
    for (i = 0; i < c->nthreads; i++) {
        if (c->workers[i].thr)
            apr_thread_join(&trv, c->workers[i].thr);
        c->workers[i].thr = NULL;
    }
}

static void ac_codecs_end(xp_acomp_t *c)
{
    int i;

    for (i = 0; i < c->nthreads; i++)
        xp_codec_end(&c->workers[i].codec);
}

void xp_acomp_abort(xp_acomp_t *c)
{
    if (!c || c->done)
        return;
    c->done = 1;
    ac_join(c, 1);
    ac_codecs_end(c);
    if (!c->store && c->file.fd >= 0) {
        close(c->file.fd);
        unlink(c->path);
        c->file.fd = -1;
    }
}

static apr_status_t ac_cleanup(void *data)
{
    xp_acomp_abort(data);
    return APR_SUCCESS;
}

/* The slots' buffers, the lock and the file (unless given). */
static xp_errcode_e ac_setup(xp_acomp_t *c, xp_error_t *err)
{
    int i;

    for (i = 0; i < AC_SLOTS; i++) {
        c->slots[i].data = apr_palloc(c->pool, AC_SLOT);
        c->slots[i].out = c->store ? NULL : apr_palloc(c->pool, AC_OUT);
    }
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, c->pool) ||
        apr_thread_cond_create(&c->more, c->pool) ||
        apr_thread_cond_create(&c->room, c->pool))
        return xp_error_set(err, c->pool, XP_EIO,
                            "cannot set up the compressor for %s: no mutex",
                            c->path);
    if (c->store)
        return XP_OK;
    c->file.fd = open(c->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (c->file.fd < 0)
        return xp_error_set(err, c->pool, XP_EIO, "cannot create %s: %s",
                            c->path, strerror(errno));
    return XP_OK;
}

/* Each thread with a codec of its own. */
static xp_errcode_e ac_threads(xp_acomp_t *c, xp_error_t *err)
{
    int i;

    for (i = 0; i < c->nthreads; i++) {
        ac_worker_t *wk = &c->workers[i];

        wk->c = c;
        if (!c->store && xp_codec_init(&wk->codec, c->fmt) != 0)
            return xp_error_set(err, c->pool, XP_EIO,
                                "cannot set up %s compression for %s: out "
                                "of memory",
                                xp_format_name(c->fmt), c->path);
        if (apr_thread_create(&wk->thr, NULL, ac_main, wk, c->pool) !=
            APR_SUCCESS) {
            wk->thr = NULL;
            return xp_error_set(err, c->pool, XP_EIO,
                                "cannot start the compressor thread for %s",
                                c->path);
        }
    }
    return XP_OK;
}

/* Shared by both starts: o NULL creates path, limited to max_size. */
static xp_errcode_e ac_start(apr_pool_t *p, xp_format_e fmt, xp_out_t *o,
                             const char *path, apr_off_t max_size,
                             xp_sha256_t *sha, xp_acomp_t **out,
                             xp_error_t *err)
{
    xp_acomp_t *c;
    xp_errcode_e rc;

    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    c->path = apr_pstrdup(p, path);
    c->fmt = fmt;
    c->store = !xp_format_pipelined(fmt);
    c->nthreads = fmt == XP_FMT_TAR_GZ || fmt == XP_FMT_ZIP ? AC_THREADS : 1;
    c->file.fd = -1;
    c->file.max = max_size;
    c->o = o ? o : &c->file;
    c->sha = sha;
    c->done = 1; /* nothing to undo until the file exists */
    if ((rc = ac_setup(c, err)) != XP_OK)
        return rc;
    c->done = 0;
    /* before the subpools go, so the threads are gone first */
    apr_pool_pre_cleanup_register(p, c, ac_cleanup);
    if ((rc = ac_threads(c, err)) != XP_OK) {
        xp_acomp_abort(c);
        return rc;
    }
    *out = c;
    return XP_OK;
}

xp_errcode_e xp_acomp_start(apr_pool_t *p, xp_format_e fmt, const char *path,
                            apr_off_t max_size, xp_sha256_t *sha,
                            xp_acomp_t **out, xp_error_t *err)
{
    *out = NULL;
    if (!xp_format_pipelined(fmt))
        return xp_error_set(err, p, XP_EINVAL,
                            "format %s is not compressed "
                            "per entry",
                            xp_format_name(fmt));
    return ac_start(p, fmt, NULL, path, max_size, sha, out, err);
}

xp_errcode_e xp_acomp_start_store(apr_pool_t *p, xp_out_t *o, const char *path,
                                  xp_acomp_t **out, xp_error_t *err)
{
    *out = NULL;
    return ac_start(p, XP_FMT_NDJSON, o, path, 0, NULL, out, err);
}

/* Hand the filled slot over; wait while every slot is in use. */
static xp_errcode_e ac_push(xp_acomp_t *c, xp_error_t *err)
{
    ac_slot_t *sl = AC_HEAD(c), *next;
    int failed;

    apr_thread_mutex_lock(c->mu);
    if (sl->fill > 0) {
        c->pushed++;
        apr_thread_cond_signal(c->more);
    }
    while (c->pushed - c->written == AC_SLOTS && !c->failed)
        apr_thread_cond_wait(c->room, c->mu);
    failed = c->failed;
    apr_thread_mutex_unlock(c->mu);
    /* the slot is the producer's again: no thread touches it now */
    next = AC_HEAD(c);
    if (next != sl)
        next->fill = next->hashed = 0;
    return failed ? ac_error(c, err) : XP_OK;
}

/* Queue len bytes: the entry's data (counted and hashed), or its tar
 * padding (is_data = 0: only compressed). The hashing is left to the
 * thread writing the slots out: this one, reading the rows, is what the
 * export waits for. */
static xp_errcode_e ac_write(xp_acomp_t *c, const void *data, apr_size_t len,
                             int is_data, xp_error_t *err)
{
    const char *d = data;
    int hash = is_data && c->sha != NULL;
    ac_slot_t *sl;
    apr_size_t n;
    xp_errcode_e rc;

    if (c->done)
        return xp_error_set(err, c->pool, XP_EIO,
                            "the compressor for %s "
                            "is already finished",
                            c->path);
    if (is_data)
        c->raw += (apr_off_t)len;
    while (len > 0) {
        sl = AC_HEAD(c);
        n = AC_SLOT - sl->fill;
        if (n > len)
            n = len;
        memcpy(sl->data + sl->fill, d, n);
        sl->fill += n;
        if (hash)
            sl->hashed += n;
        d += n;
        len -= n;
        if (sl->fill == AC_SLOT && (rc = ac_push(c, err)) != XP_OK)
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
    /* tar pads an entry's data to a whole 512-byte block */
    apr_size_t pad = c->fmt == XP_FMT_TAR_GZ || c->fmt == XP_FMT_TAR_ZST
                         ? (apr_size_t)((512 - data % 512) % 512)
                         : 0;
    xp_errcode_e rc;

    if ((rc = ac_write(c, zeros, pad, 0, err)) != XP_OK ||
        (rc = ac_push(c, err)) != XP_OK) {
        xp_acomp_abort(c);
        return rc;
    }
    apr_thread_mutex_lock(c->mu);
    c->closing = 1;
    apr_thread_mutex_unlock(c->mu);
    ac_join(c, 0);
    /* the threads are gone: a zip entry's deflate data ends here */
    if (!c->failed && c->fmt == XP_FMT_ZIP &&
        ac_emit(c, XP_CODEC_ZIP_END, 2) != 0)
        c->failed = c->emit_failed;
    if (c->failed) {
        rc = ac_error(c, err);
        xp_acomp_abort(c);
        return rc;
    }
    ac_codecs_end(c);
    c->done = 1;
    if (!c->store && close(c->file.fd) != 0) {
        rc = xp_error_set(err, c->pool, XP_EIO, "cannot close %s: %s", c->path,
                          strerror(errno));
        c->file.fd = -1;
        unlink(c->path);
        return rc;
    }
    c->file.fd = -1;
    *raw = data;
    *csize = c->o->written;
    *crc = c->crc;
    return XP_OK;
}
