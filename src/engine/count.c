/*
 * count.c -- an export's progress total, counted beside its read.
 *
 * Progress needs the number of rows an export will write before it has
 * written them. Counted first, on the reading connection, they held the
 * read back by a scan of every section, with the compressing threads
 * idle: on SQLite 0.1 s of the benchmark's 1 s tar.zst export of 1.1M
 * rows. Where the source says so (xp_source_count_beside: SQLite), the
 * count runs on a connection and a thread of its own while the rows are
 * read, and the export reports progress once it knows the total
 * (src/engine/export.c).
 *
 * Its connection reads what is committed when it starts, an instant
 * after the export's read began: a write in between moves the total by
 * what it wrote (SQLite cannot hand a snapshot to another connection).
 * The counts an export records come from the rows it wrote, never from
 * here; the total is only progress.
 *
 * The thread opens, uses and closes its connection in a pool of its own
 * allocator; the caller's pool is touched by the caller only.
 */
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>

#include "xp_count.h"
#include "xp_source.h"

struct xp_counter_t {
    apr_pool_t *pool; /* the thread's: its own allocator */
    const char *driver, *params;
    const xp_count_part_t *parts;
    int n;
    apr_thread_t *thr;
    apr_thread_mutex_t *mu; /* guards what follows */
    xp_source_t *src;       /* open while counting, for the interrupt */
    int stop;
    int state; /* as xp_counter_total answers */
    apr_int64_t total;
};

static int counter_stopped(xp_counter_t *c)
{
    int stop;

    apr_thread_mutex_lock(c->mu);
    stop = c->stop;
    apr_thread_mutex_unlock(c->mu);
    return stop;
}

/* Every part, on src (open, its read begun): 1 and *total, or 0. */
static int counter_count(xp_counter_t *c, xp_source_t *src, apr_int64_t *total)
{
    apr_pool_t *sp;
    xp_error_t err = {0};
    apr_int64_t n;
    int i, ok = 1;

    *total = 0;
    apr_pool_create(&sp, c->pool);
    for (i = 0; ok && i < c->n; i++) {
        const xp_count_part_t *part = &c->parts[i];
        ok = !counter_stopped(c) &&
             xp_source_count(src, sp, part->sec, part->where, part->args, &n,
                             &err) == XP_OK;
        *total += ok ? n : 0;
        apr_pool_clear(sp);
    }
    apr_pool_destroy(sp);
    return ok;
}

static void *APR_THREAD_FUNC counter_main(apr_thread_t *t, void *data)
{
    xp_counter_t *c = data;
    xp_source_t *src = NULL;
    xp_error_t err = {0};
    apr_int64_t total = 0;
    int ok = 0;

    (void)t;
    if (xp_source_open(c->pool, c->driver, c->params, &src, &err) == XP_OK) {
        xp_source_scan_only(src, c->pool);
        apr_thread_mutex_lock(c->mu);
        c->src = c->stop ? NULL : src;
        apr_thread_mutex_unlock(c->mu);
        if (c->src && xp_source_begin_read(src, &err) == XP_OK) {
            ok = counter_count(c, src, &total);
            xp_source_end_read(src);
        }
        apr_thread_mutex_lock(c->mu);
        c->src = NULL;
        apr_thread_mutex_unlock(c->mu);
        xp_source_close(src);
    }
    apr_thread_mutex_lock(c->mu);
    c->total = total;
    c->state = ok ? 1 : -1;
    apr_thread_mutex_unlock(c->mu);
    /* a plain return, as acomp.c's threads do: the thread's pool goes
     * with c->pool */
    return NULL;
}

static apr_status_t counter_cleanup(void *data)
{
    xp_counter_stop(data);
    return APR_SUCCESS;
}

xp_errcode_e xp_counter_start(apr_pool_t *p, const char *driver,
                              const char *params, const xp_count_part_t *parts,
                              int n, xp_counter_t **out, xp_error_t *err)
{
    xp_counter_t *c = apr_pcalloc(p, sizeof(*c));

    *out = NULL;
    c->pool = xp_pool_own(p);
    c->driver = apr_pstrdup(c->pool, driver);
    c->params = apr_pstrdup(c->pool, params ? params : "");
    c->parts = parts;
    c->n = n;
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, p) !=
            APR_SUCCESS ||
        apr_thread_create(&c->thr, NULL, counter_main, c, c->pool) !=
            APR_SUCCESS) {
        apr_pool_destroy(c->pool);
        return xp_error_set(err, p, XP_EIO,
                            "cannot start the thread counting the export's "
                            "rows");
    }
    /* before p's subpools (c->pool among them) go */
    apr_pool_pre_cleanup_register(p, c, counter_cleanup);
    *out = c;
    return XP_OK;
}

int xp_counter_total(xp_counter_t *c, apr_int64_t *total)
{
    int state;

    apr_thread_mutex_lock(c->mu);
    state = c->state;
    *total = state == 1 ? c->total : 0;
    apr_thread_mutex_unlock(c->mu);
    return state;
}

void xp_counter_stop(xp_counter_t *c)
{
    apr_status_t trv;

    if (!c || !c->thr)
        return;
    apr_thread_mutex_lock(c->mu);
    c->stop = 1;
    if (c->src)
        xp_source_interrupt(c->src);
    apr_thread_mutex_unlock(c->mu);
    apr_thread_join(&trv, c->thr);
    c->thr = NULL;
    apr_pool_destroy(c->pool);
}
