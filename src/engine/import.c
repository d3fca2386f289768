/*
 * import.c -- an import job from options to committed rows (SPEC 6).
 *
 * xp_import_prepare checks the options of an upload and turns them into a
 * queued job row; xp_import_run is what a worker thread does with it:
 * read the stored upload entry by entry (xp_areader), check manifest.json
 * against this server's sections, stream every data entry line by line
 * (hashing and counting it on the way), check each row, and apply it
 * through the sink (src/engine/sink.c) in one transaction that commits only when
 * nothing was rejected and the run is not a dry run.
 *
 * Rejected rows do not stop the reading: the client gets up to 100
 * messages (and the total) in one go instead of fixing one row per
 * upload. After the first rejection nothing more is written, since the
 * transaction will be rolled back anyway; every check goes on (rows are
 * still looked up, so that each on_conflict=fail clash is reported). Each
 * message is cut to a length a job record can hold. A ref is satisfied by
 * a row earlier in the archive or by one already in the database (asked
 * inside the same transaction).
 *
 * Rows are checked and written a batch (batch_rows lines) at a time, so
 * that the database sees a few statements per batch instead of several
 * per row: how a batch is checked and written is src/engine/import_batch.c.
 * This file reads: the upload, its manifest and entries, and the reader
 * thread that parses rows into batches while the batch before is written.
 *
 * Memory stays flat: every row lives in the batch pool, cleared after
 * each batch, when progress is reported and the worker is asked whether
 * to go on; the keys already seen are kept by the database.
 */
#include <string.h>
#include <strings.h>

#include <stdlib.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "xp_import_run.h"
#include "xp_apeek.h"
#include "xp_hash.h"
#include "xp_json.h"

/* ------------------------------------------------------------------ */
/* Options                                                              */
/* ------------------------------------------------------------------ */

static xp_errcode_e bad(xp_error_t *err, apr_pool_t *p, const char *field,
                        const char *fmt, const char *a)
{
    xp_error_set(err, p, XP_EINVAL, fmt, a);
    if (err)
        err->field = field;
    return XP_EINVAL;
}

static int parse_conflict(const char *s, xp_conflict_e *out)
{
    if (!s || !*s || !strcmp(s, "update"))
        *out = XP_CONFLICT_UPDATE;
    else if (!strcmp(s, "skip"))
        *out = XP_CONFLICT_SKIP;
    else if (!strcmp(s, "fail"))
        *out = XP_CONFLICT_FAIL;
    else
        return -1;
    return 0;
}

static const char *conflict_name(xp_conflict_e c)
{
    return c == XP_CONFLICT_SKIP   ? "skip"
           : c == XP_CONFLICT_FAIL ? "fail"
                                   : "update";
}

/* "users, bots" -> configured section names, each once. */
static xp_errcode_e parse_sections(apr_pool_t *p, const xp_sections_t *secs,
                                   const char *s, apr_array_header_t **out,
                                   xp_error_t *err)
{
    char *copy = apr_pstrdup(p, s), *last, *w;
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    int i;

    for (w = apr_strtok(copy, ", ", &last); w;
         w = apr_strtok(NULL, ", ", &last)) {
        if (!xp_sections_find(secs, w))
            return bad(err, p, "sections",
                       "sections: \"%s\" is not a section configured on "
                       "this server",
                       w);
        for (i = 0; i < a->nelts; i++)
            if (!strcmp(APR_ARRAY_IDX(a, i, const char *), w))
                return bad(err, p, "sections",
                           "sections: \"%s\" is named twice", w);
        APR_ARRAY_PUSH(a, const char *) = w;
    }
    if (a->nelts == 0)
        return bad(err, p, "sections",
                   "sections is empty; name one or more sections, e.g. "
                   "\"users,bots\"%s",
                   "");
    *out = a;
    return XP_OK;
}

/* The options as the job stores them (read back by opts_load). */
static xp_json_t *opts_json(apr_pool_t *p, const xp_imp_opts_t *o)
{
    xp_json_t *opt = xp_json_object(p), *arr;
    int i;

    xp_json_set_bool(opt, "dry_run", o->dry_run);
    xp_json_set_str(opt, "on_conflict", conflict_name(o->on_conflict));
    if (o->sections) {
        arr = xp_json_array(p);
        for (i = 0; i < o->sections->nelts; i++)
            xp_json_append_str(arr,
                               APR_ARRAY_IDX(o->sections, i, const char *));
        xp_json_set(opt, "sections", arr);
    } else {
        xp_json_set_null(opt, "sections");
    }
    xp_json_set_str(opt, "unknown_columns",
                    o->ignore_unknown ? "ignore" : "reject");
    /* the rules as JSON, not as a string holding JSON (checked already) */
    if (o->rewrite)
        xp_json_set(opt, "rewrite",
                    xp_json_parse(p, o->rewrite, strlen(o->rewrite), NULL));
    if (o->tenant)
        xp_json_set_str(opt, "tenant", o->tenant);
    return opt;
}

xp_errcode_e xp_import_prepare(apr_pool_t *p, const xp_sections_t *secs,
                               const xp_import_params_t *in, xp_job_t **out,
                               xp_error_t *err)
{
    xp_imp_opts_t o;
    xp_job_t *job;
    xp_rewrite_t *rw;
    xp_json_t *opt;
    xp_errcode_e rc;

    *out = NULL;
    memset(&o, 0, sizeof(o));
    if (xp_parse_bool(in->dry_run, &o.dry_run) != 0)
        return bad(err, p, "dry_run",
                   "dry_run must be true or false, not \"%s\"", in->dry_run);
    if (parse_conflict(in->on_conflict, &o.on_conflict) != 0)
        return bad(err, p, "on_conflict",
                   "on_conflict must be update, skip or fail, not \"%s\"",
                   in->on_conflict);
    if (in->unknown_columns && *in->unknown_columns &&
        strcmp(in->unknown_columns, "reject") &&
        strcmp(in->unknown_columns, "ignore"))
        return bad(err, p, "unknown_columns",
                   "unknown_columns must be reject or ignore, not \"%s\"",
                   in->unknown_columns);
    o.ignore_unknown =
        in->unknown_columns && !strcmp(in->unknown_columns, "ignore");
    if (in->sections && *in->sections &&
        (rc = parse_sections(p, secs, in->sections, &o.sections, err)))
        return rc;
    if (in->raw_format && strcmp(in->raw_format, "ndjson") &&
        strcmp(in->raw_format, "json"))
        return bad(err, p, "format",
                   "a bare file must be ndjson or json, not \"%s\"",
                   in->raw_format);
    if (in->raw_format && (!o.sections || o.sections->nelts != 1))
        return bad(err, p, "sections",
                   "a bare %s file imports into one section: name it with "
                   "sections=<name>",
                   in->raw_format);
    if (in->tenant && !xp_tenant_valid(in->tenant))
        return bad(err, p, "tenant",
                   "tenant \"%s\" is not a tenant name (1 to 200 letters, "
                   "digits, '.', '_', '~' or '-')",
                   in->tenant);

    if (in->rewrite && (rc = xp_rewrite_make(p, secs, in->rewrite, &rw,
                                             err)) != XP_OK)
        return rc;
    o.rewrite = in->rewrite;
    o.tenant = in->tenant;

    job = apr_pcalloc(p, sizeof(*job));
    job->id = xp_new_id(p);
    job->kind = XP_KIND_IMPORT;
    job->status = XP_ST_QUEUED;
    job->format = in->raw_format ? apr_pstrdup(p, in->raw_format) : NULL;
    opt = opts_json(p, &o);
    if (xp_json_set_api_data(p, opt, in->api_data, err) != XP_OK)
        return XP_EINVAL;
    job->options = xp_json_dump(p, opt);
    job->tenant = in->tenant;
    job->source_system = in->source_system;
    job->correlation_id = in->correlation_id;
    job->created_at = job->updated_at = xp_now_ms();
    job->file_size = -1;
    *out = job;
    return XP_OK;
}

/* The options stored with a job (written by xp_import_prepare). */
static xp_errcode_e opts_load(apr_pool_t *p, const xp_job_t *job, xp_imp_opts_t *o,
                              xp_error_t *err)
{
    xp_json_t *j = NULL, *a;
    apr_size_t i;

    memset(o, 0, sizeof(*o));
    o->tenant = job->tenant;
    if (job->options && *job->options &&
        !(j = xp_json_parse(p, job->options, strlen(job->options), err)))
        return xp_error_set(err, p, XP_EINVAL,
                            "job %s: its stored options are not JSON", job->id);
    if (!j)
        return XP_OK;
    if (!o->tenant)
        o->tenant = xp_json_get_str(j, "tenant");
    o->dry_run = xp_json_get_bool(j, "dry_run", 0);
    if (parse_conflict(xp_json_get_str(j, "on_conflict"), &o->on_conflict))
        o->on_conflict = XP_CONFLICT_UPDATE;
    o->ignore_unknown = !strcmp(xp_json_get_str(j, "unknown_columns")
                                    ? xp_json_get_str(j, "unknown_columns")
                                    : "",
                                "ignore");
    a = xp_json_get(p, j, "sections");
    if (a && xp_json_is_array(a)) {
        o->sections = apr_array_make(p, 4, sizeof(const char *));
        for (i = 0; i < xp_json_size(a); i++) {
            const char *s = xp_json_str_value(xp_json_at(p, a, i));
            if (s)
                APR_ARRAY_PUSH(o->sections, const char *) = apr_pstrdup(p, s);
        }
    }
    a = xp_json_get(p, j, "rewrite");
    o->rewrite = a && xp_json_is_array(a) ? xp_json_dump(p, a) : NULL;
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* The run                                                              */
/* ------------------------------------------------------------------ */

/*
 * Reading and writing an entry overlap: a reader thread decompresses,
 * hashes, cuts and parses rows into batches while this thread checks and
 * writes the batch before (the database's work, which for SQLite is in
 * this process). Batch slots (IMP_SLOTS), each with its own pool and
 * allocator, change hands in turn under a mutex: the reader fills the
 * free ones while the writer empties the full ones. The reader allocates
 * only from the slots, the entry's pool and the archive reader's pool,
 * never from the job's pool, so the two threads never share an
 * allocator.
 *
 * Each side wakes the other only when it waits, and a reader that found
 * every slot full waits until half of them are free again. Woken for
 * every slot freed, the reader (the faster of the two) was put on the
 * writer's CPU and took it over, a thousand times per million rows:
 * the two threads shared one core while the other stood idle.
 */
typedef struct {
    apr_pool_t *pool; /* own allocator */
    xp_imp_item_t *items;
    int n;
} imp_batch_t;

/* Batches in hand at once: two would do if every batch took as long as
 * the next, but one that is slow to write (a cache spill, a key lookup
 * that reads the disk) or to read then holds the other side up. Up to
 * IMP_SLOTS of them, as long as they hold no more than IMP_ROWS rows
 * together (SQLite's batches are a tenth of PostgreSQL's): the worker's
 * memory stays the same. */
#define IMP_SLOTS 8
#define IMP_ROWS 20000

typedef struct imp_pipe_t {
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cv;
    imp_batch_t slot[IMP_SLOTS];
    int nfull; /* slots handed to the writer: take, take + 1, ... */
    int nslots;          /* slots in use */
    int reader_waits;    /* for nfull to fall to nslots / 2 */
    int writer_waits;    /* for a full slot or the end */
    int fill;     /* the slot the reader fills */
    int take;     /* the slot the writer takes next */
    int done;     /* the reader has ended, with rc */
    int stop;     /* the writer has stopped: the reader is to stop too */
    xp_errcode_e rc;
    xp_error_t err;  /* the reader's, messages in ep */
    apr_pool_t *ep;  /* the entry's (own allocator) */
    xp_imp_run_t *run;
    xp_imp_sec_t *is;
    xp_areader_t *r;
    xp_lines_t *lines;
    xp_jarray_t *ja;
    xp_sha256_t *sha;
} imp_pipe_t;

static xp_imp_sec_t *run_find(xp_imp_run_t *run, const char *name)
{
    int i;

    for (i = 0; i < run->plan->nelts; i++) {
        xp_imp_sec_t *is = APR_ARRAY_IDX(run->plan, i, xp_imp_sec_t *);
        if (!strcmp(is->sec ? is->sec->name : is->mf->name, name))
            return is;
    }
    return NULL;
}

/* A message as the job stores it (xp_imp_msg_t). */
static xp_json_t *msg_json(apr_pool_t *p, const xp_imp_msg_t *m)
{
    xp_json_t *o;

    if (!m->section)
        return xp_json_string(p, m->message);
    o = xp_json_object(p);
    xp_json_set_str(o, "section", m->section);
    xp_json_set_int(o, "line", m->line);
    if (m->key) {
        xp_json_set_str(o, "column", m->column);
        xp_json_set_str(o, "key", m->key);
    }
    xp_json_set_str(o, "message", m->message);
    return o;
}

/* The same as one sentence: "users line 3 (id=u7): ...". */
static const char *msg_text(apr_pool_t *p, const xp_imp_msg_t *m)
{
    if (!m->section)
        return m->message;
    if (m->key)
        return apr_psprintf(p, "%s line %ld (%s=%s): %s", m->section, m->line,
                            m->column, m->key, m->message);
    return apr_psprintf(p, "%s line %ld: %s", m->section, m->line, m->message);
}

/* A problem with the upload as a whole: listed like a row's, and the
 * run's error. It takes the last place when the list is full: a damaged
 * entry first shows as 100 rows of garbage, and the reason (its SHA-256,
 * a bad CRC) must not be the one message left out. */
static xp_errcode_e run_fail(xp_imp_run_t *run, xp_error_t *err, xp_errcode_e code,
                             const char *msg)
{
    xp_imp_msg_t *m;

    msg = xp_imp_cut(run->pool, msg, XP_IMPORT_MAX_MESSAGE);
    run->errors++;
    m = run->messages->nelts < XP_IMPORT_MAX_MESSAGES
            ? apr_array_push(run->messages)
            : &APR_ARRAY_IDX(run->messages, run->messages->nelts - 1,
                             xp_imp_msg_t);
    memset(m, 0, sizeof(*m));
    m->message = msg;
    return xp_error_set(err, run->pool, code, "%s", msg);
}

/* A failure of the reader (a forbidden entry, a limit hit) is the
 * upload's fault: listed like the others; faults (I/O) are not. */
static xp_errcode_e run_input(xp_imp_run_t *run, xp_error_t *err, xp_errcode_e rc)
{
    if (rc != XP_EINVAL && rc != XP_ELIMIT)
        return rc;
    return run_fail(run, err, rc, err && err->message ? err->message : "");
}

/* The key of a line that xp_row_parse refused, if it can be read. */
static const char *line_key(apr_pool_t *p, const xp_section_t *sec,
                            const char *line, apr_size_t len)
{
    xp_json_t *o = xp_json_parse(p, line, len, NULL), *k;

    if (!o || !xp_json_is_object(o) ||
        !(k = xp_json_get(p, o, xp_section_field(sec, sec->key))))
        return NULL;
    if (xp_json_is_string(k))
        return xp_json_str_value(k);
    return xp_json_dump(p, k);
}

static const char *stop_reason(xp_errcode_e rc)
{
    switch (rc) {
    case XP_ECANCEL:
        return "the import was cancelled; nothing was changed";
    case XP_ETIMEOUT:
        return "the import ran longer than XportJobTimeout; nothing was "
               "changed";
    case XP_ESHUTDOWN:
        return "the server is shutting down; the import will run again";
    default:
        return "the import was stopped";
    }
}

/* Between batches: free the batch, report progress, ask whether to go
 * on. */
static xp_errcode_e run_batch_end(xp_imp_run_t *run, xp_error_t *err)
{
    xp_errcode_e rc;

    run->nitems = 0;
    apr_pool_clear(run->bp);
    if (run->ctl && run->ctl->progress)
        run->ctl->progress(run->ctl->baton, run->done, run->total);
    if (run->ctl && run->ctl->check &&
        (rc = run->ctl->check(run->ctl->baton)) != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", stop_reason(rc));
    return XP_OK;
}

/* Reader: hand the filled slot over and wait for the other to be free.
 * Not XP_OK once the writer has stopped. */
static xp_errcode_e pipe_send(imp_pipe_t *pp, xp_error_t *err)
{
    int stopped;

    apr_thread_mutex_lock(pp->mu);
    pp->nfull++;
    if (pp->writer_waits)
        apr_thread_cond_broadcast(pp->cv);
    pp->fill = (pp->fill + 1) % pp->nslots;
    if (pp->nfull == pp->nslots) { /* the next one to fill is full too */
        pp->reader_waits = 1;
        while (pp->nfull > pp->nslots / 2 && !pp->stop)
            apr_thread_cond_wait(pp->cv, pp->mu);
        pp->reader_waits = 0;
    }
    stopped = pp->stop;
    apr_thread_mutex_unlock(pp->mu);
    if (stopped)
        return xp_error_set(err, pp->ep, XP_ECANCEL, "the import stopped");
    return XP_OK;
}

/* Reader: one line into the slot being filled. */
static xp_errcode_e run_line(void *baton, const char *line, apr_size_t len,
                             long lineno, xp_error_t *err)
{
    imp_pipe_t *pp = baton;
    imp_batch_t *b = &pp->slot[pp->fill];
    xp_imp_sec_t *is = pp->is;
    xp_error_t e = {0};
    xp_imp_item_t *it;
    xp_errcode_e rc;

    is->rows++;
    if (!b->items)
        b->items = apr_palloc(b->pool, sizeof(*it) * pp->run->batch_rows);
    it = &b->items[b->n++];
    memset(it, 0, sizeof(*it));
    it->lineno = lineno;
    rc = xp_row_parse(b->pool, is->sec, line, len, &it->row, &e);
    if (rc == XP_EINVAL) {
        it->refused = e.message;
        it->key = line_key(b->pool, is->sec, line, len);
    } else if (rc != XP_OK) {
        return xp_error_set(err, pp->ep, rc, "%s line %ld: %s", is->sec->name,
                            lineno, e.message);
    } else {
        /* rules see the row before any check does */
        if (pp->run->rw) {
            it->key = is->keyidx >= 0 ? it->row.values[is->keyidx] : NULL;
            it->refused = xp_rewrite_row(pp->run->rw, is->sec, &it->row);
        }
        if (is->keyidx >= 0 && !it->refused)
            it->key = it->row.values[is->keyidx];
    }
    if (b->n < pp->run->batch_rows)
        return XP_OK;
    return pipe_send(pp, err);
}

/* The reader thread: the entry from the archive to parsed batches. */
static void *APR_THREAD_FUNC entry_reader(apr_thread_t *t, void *data)
{
    imp_pipe_t *pp = data;
    const char *buf;
    apr_size_t len;
    xp_errcode_e rc;
    int eof = 0;

    (void)t;
    do {
        if ((rc = xp_areader_read(pp->r, &buf, &len, &pp->err)) != XP_OK)
            break;
        eof = len == 0;
        xp_sha256_update(pp->sha, buf, len);
        rc = pp->ja ? xp_jarray_feed(pp->ja, buf, len, eof, run_line, pp,
                                     &pp->err)
                    : xp_lines_feed(pp->lines, buf, len, eof, run_line, pp,
                                    &pp->err);
    } while (rc == XP_OK && !eof);
    if (rc == XP_OK && pp->slot[pp->fill].n > 0)
        rc = pipe_send(pp, &pp->err);
    apr_thread_mutex_lock(pp->mu);
    pp->rc = rc;
    pp->done = 1;
    apr_thread_cond_broadcast(pp->cv);
    apr_thread_mutex_unlock(pp->mu);
    /* returning ends the thread; apr_thread_join collects it */
    return NULL;
}

/* Writer: every batch the reader hands over, until it is done or this
 * side fails (then the reader is told to stop). */
static xp_errcode_e pipe_consume(xp_imp_run_t *run, imp_pipe_t *pp,
                                 xp_error_t *err)
{
    xp_errcode_e rc = XP_OK;
    imp_batch_t *b;

    for (;;) {
        apr_thread_mutex_lock(pp->mu);
        pp->writer_waits = 1;
        while (!pp->nfull && !pp->done)
            apr_thread_cond_wait(pp->cv, pp->mu);
        pp->writer_waits = 0;
        if (!pp->nfull) {
            apr_thread_mutex_unlock(pp->mu);
            return XP_OK;
        }
        apr_thread_mutex_unlock(pp->mu);
        b = &pp->slot[pp->take];
        run->bp = b->pool;
        run->items = b->items;
        run->nitems = b->n;
        run->done += b->n;
        rc = xp_imp_flush(run, err);
        if (rc == XP_OK)
            rc = run_batch_end(run, err); /* clears b->pool */
        else
            apr_pool_clear(b->pool);
        b->items = NULL;
        b->n = 0;
        apr_thread_mutex_lock(pp->mu);
        pp->nfull--;
        pp->take = (pp->take + 1) % pp->nslots;
        if (rc != XP_OK)
            pp->stop = 1;
        if (pp->stop || (pp->reader_waits && pp->nfull <= pp->nslots / 2))
            apr_thread_cond_broadcast(pp->cv);
        apr_thread_mutex_unlock(pp->mu);
        if (rc != XP_OK)
            return rc;
    }
}

/* ------------------------------------------------------------------ */
/* Manifest and entries                                                 */
/* ------------------------------------------------------------------ */

static xp_imp_sec_t *plan_add(xp_imp_run_t *run, const xp_section_t *sec,
                           const xp_mf_section_t *mf, int selected)
{
    xp_imp_sec_t *is = apr_pcalloc(run->pool, sizeof(*is));

    is->sec = sec;
    is->mf = mf;
    is->selected = selected;
    is->keyidx = sec ? xp_section_column_index(sec, sec->key) : -1;
    APR_ARRAY_PUSH(run->plan, xp_imp_sec_t *) = is;
    return is;
}

static int str_listed(const apr_array_header_t *a, const char *s)
{
    int i;

    for (i = 0; a && i < a->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), s))
            return 1;
    return 0;
}

/* Check the manifest's sections against this server's and plan them. */
static xp_errcode_e run_plan(xp_imp_run_t *run, const xp_manifest_t *m,
                             xp_error_t *err)
{
    apr_pool_t *p = run->pool;
    const apr_array_header_t *only = run->opts.sections;
    int i, c;

    for (i = 0; i < m->sections->nelts; i++) {
        const xp_mf_section_t *mf =
            &APR_ARRAY_IDX(m->sections, i, xp_mf_section_t);
        const xp_section_t *sec;

        if (only && !str_listed(only, mf->name)) {
            plan_add(run, NULL, mf, 0);
            continue;
        }
        if (!(sec = xp_sections_find(run->env->secs, mf->name)) ||
            !sec->columns)
            return run_fail(run, err, XP_EINVAL,
                            apr_psprintf(p,
                                         "section \"%s\" is not configured on "
                                         "this server (leave it out with "
                                         "sections=)",
                                         mf->name));
        for (c = 0; mf->columns && c < mf->columns->nelts; c++) {
            const char *col = APR_ARRAY_IDX(mf->columns, c, const char *);
            if (xp_section_field_index(sec, col) < 0 &&
                !run->opts.ignore_unknown)
                return run_fail(
                    run, err, XP_EINVAL,
                    apr_psprintf(p,
                                 "section \"%s\": the archive has column "
                                 "\"%s\", which this server's section does "
                                 "not (import with unknown_columns=ignore to "
                                 "drop it)",
                                 mf->name, col));
        }
        plan_add(run, sec, mf, 1);
        run->total += mf->count;
    }
    for (i = 0; only && i < only->nelts; i++)
        if (!run_find(run, APR_ARRAY_IDX(only, i, const char *)))
            return run_fail(run, err, XP_EINVAL,
                            apr_psprintf(p,
                                         "sections names \"%s\", which this "
                                         "archive does not contain",
                                         APR_ARRAY_IDX(only, i, const char *)));
    return XP_OK;
}

/* manifest.json, which must lead the archive. */
static xp_errcode_e run_manifest(xp_imp_run_t *run, xp_areader_t *r,
                                 xp_manifest_t **m, xp_error_t *err)
{
    xp_errcode_e rc = xp_apeek_manifest(run->pool, r, m, err);

    return rc == XP_OK ? rc : run_input(run, err, rc);
}

/* Stream one data entry's rows (read on a second thread, written on
 * this one), then check its count and SHA-256. */
static xp_errcode_e run_entry(xp_imp_run_t *run, xp_areader_t *r, xp_imp_sec_t *is,
                              xp_error_t *err)
{
    imp_pipe_t pp;
    apr_thread_t *reader = NULL;
    apr_status_t st, trv;
    const char *name = is->mf ? is->mf->file : "the file", *hex;
    xp_errcode_e rc, wrc;
    int i;

    if ((rc = xp_sink_fresh(run->sink, run->pool, is->sec, &is->fresh, err)) !=
        XP_OK)
        return rc;
    memset(&pp, 0, sizeof(pp));
    pp.ep = xp_pool_own(run->pool);
    pp.nslots = IMP_ROWS / run->batch_rows;
    pp.nslots = pp.nslots < 2           ? 2
                : pp.nslots > IMP_SLOTS ? IMP_SLOTS
                                        : pp.nslots;
    for (i = 0; i < pp.nslots; i++)
        pp.slot[i].pool = xp_pool_own(run->pool);
    pp.run = run;
    pp.is = is;
    pp.r = r;
    pp.lines = xp_lines_make(pp.ep, XP_NDJSON_MAX_LINE);
    if (run->job->format && !strcmp(run->job->format, "json"))
        pp.ja = xp_jarray_make(pp.ep, XP_NDJSON_MAX_LINE);
    pp.sha = xp_sha256_make(pp.ep);
    run->cur = is;
    st = apr_thread_mutex_create(&pp.mu, APR_THREAD_MUTEX_DEFAULT, pp.ep);
    if (st == APR_SUCCESS)
        st = apr_thread_cond_create(&pp.cv, pp.ep);
    if (st == APR_SUCCESS)
        st = apr_thread_create(&reader, NULL, entry_reader, &pp, pp.ep);
    if (st != APR_SUCCESS) {
        rc = xp_error_set(err, run->pool, XP_EIO,
                          "cannot start the import's reader thread (%d)", st);
        goto done;
    }
    wrc = pipe_consume(run, &pp, err);
    apr_thread_join(&trv, reader);
    /* the writer's own failure (a fault, a cancel) is the reason; else
     * whatever stopped the reader */
    rc = wrc;
    if (rc == XP_OK && pp.rc != XP_OK)
        rc = xp_error_set(err, run->pool, pp.rc, "%s",
                          pp.err.message ? pp.err.message : "read failed");
done:
    hex = xp_sha256_final(pp.sha, run->pool, NULL);
    run->bp = NULL;
    for (i = 0; i < pp.nslots; i++)
        apr_pool_destroy(pp.slot[i].pool);
    apr_pool_destroy(pp.ep);
    if (rc == XP_EINVAL || rc == XP_ELIMIT) /* the file itself: not a JSON
                                               array, a line too long */
        return run_fail(run, err, rc,
                        apr_psprintf(run->pool, "%s: %s", name, err->message));
    if (rc != XP_OK || !is->mf)
        return rc;
    if (is->rows != is->mf->count)
        return run_fail(run, err, XP_EINVAL,
                        apr_psprintf(run->pool,
                                     "%s has %" APR_INT64_T_FMT " rows, but "
                                     "manifest.json says %" APR_INT64_T_FMT,
                                     name, is->rows, is->mf->count));
    if (is->mf->sha256 && strcasecmp(hex, is->mf->sha256))
        return run_fail(run, err, XP_EINVAL,
                        apr_psprintf(run->pool,
                                     "%s does not match its SHA-256 in "
                                     "manifest.json (the archive was changed "
                                     "or damaged)",
                                     name));
    return XP_OK;
}

/* Every entry after the manifest: each a listed file, each listed file
 * there. */
static xp_errcode_e run_entries(xp_imp_run_t *run, xp_areader_t *r,
                                xp_error_t *err)
{
    apr_pool_t *p = run->pool;
    xp_imp_sec_t *is = NULL;
    xp_aentry_t e;
    xp_errcode_e rc;
    int i;

    while ((rc = xp_areader_next(r, &e, err)) == XP_OK) {
        for (i = 0, is = NULL; !is && i < run->plan->nelts; i++) {
            xp_imp_sec_t *c = APR_ARRAY_IDX(run->plan, i, xp_imp_sec_t *);
            if (!strcmp(c->mf->file, e.name))
                is = c;
        }
        if (!is)
            return run_fail(run, err, XP_EINVAL,
                            apr_psprintf(p,
                                         "the archive holds \"%s\", which "
                                         "manifest.json does not list",
                                         e.name));
        if (is->seen)
            return run_fail(
                run, err, XP_EINVAL,
                apr_psprintf(p, "\"%s\" is in the archive twice", e.name));
        is->seen = 1;
        if (is->selected && (rc = run_entry(run, r, is, err)) != XP_OK)
            return rc;
    }
    if (rc != XP_ENOTFOUND)
        return run_input(run, err, rc);
    for (i = 0; i < run->plan->nelts; i++) {
        is = APR_ARRAY_IDX(run->plan, i, xp_imp_sec_t *);
        if (is->selected && !is->seen)
            return run_fail(run, err, XP_EINVAL,
                            apr_psprintf(p,
                                         "manifest.json lists \"%s\", which "
                                         "the archive does not hold",
                                         is->mf->file));
    }
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Putting it together                                                  */
/* ------------------------------------------------------------------ */

static void run_fill_job(xp_imp_run_t *run)
{
    static const char *const names[] = {"created", "updated", "unchanged",
                                        "skipped"};
    apr_pool_t *p = run->pool;
    xp_json_t *counts = xp_json_object(p), *changes = xp_json_object(p);
    xp_json_t *msgs = xp_json_array(p);
    int i, k;

    for (i = 0; i < run->plan->nelts; i++) {
        const xp_imp_sec_t *is = APR_ARRAY_IDX(run->plan, i, xp_imp_sec_t *);
        xp_json_t *c;
        if (!is->selected)
            continue;
        xp_json_set_int(counts, is->sec->name, is->rows);
        c = xp_json_object(p);
        for (k = 0; k < 4; k++)
            xp_json_set_int(c, names[k], is->n[k]);
        xp_json_set(changes, is->sec->name, c);
    }
    for (i = 0; i < run->messages->nelts; i++)
        xp_json_append(msgs, msg_json(p, &APR_ARRAY_IDX(run->messages, i,
                                                        xp_imp_msg_t)));
    run->job->counts = xp_json_dump(p, counts);
    run->job->changes = xp_json_dump(p, changes);
    run->job->error_messages = xp_json_dump(p, msgs);
    run->job->errors_total = run->errors;
    run->job->progress_done = run->done;
    run->job->progress_total = run->total > run->done ? run->total : run->done;
}

/* The data source's write transaction; the batch size it suits unless
 * the caller chose one. */
static xp_errcode_e run_sink_open(xp_imp_run_t *run, xp_error_t *err)
{
    xp_errcode_e rc = xp_sink_open(run->pool, run->env->source_driver,
                                   run->env->source_params, &run->sink, err);

    if (rc == XP_OK)
        xp_sink_set_tenant(run->sink, run->opts.tenant);
    if (rc == XP_OK && run->batch_rows <= 0)
        run->batch_rows = xp_sink_batch_rows(run->sink);
    if (rc == XP_OK && run->ctl && run->ctl->source)
        run->ctl->source(run->ctl->baton, xp_sink_source(run->sink));
    return rc;
}

/* The rewrite rules, made again against the sections this worker knows
 * (the server's configuration may have changed since the job was
 * queued). Their pool has its own allocator: the reader thread files
 * renamed keys in it while this thread writes. */
static xp_errcode_e run_rewrite(xp_imp_run_t *run, xp_error_t *err)
{
    xp_errcode_e rc;

    if (!run->opts.rewrite)
        return XP_OK;
    rc = xp_rewrite_make(xp_pool_own(run->pool), run->env->secs,
                         run->opts.rewrite, &run->rw, err);
    return rc == XP_OK ? rc : run_input(run, err, rc);
}

/* Open the upload and the sink and read everything. */
static xp_errcode_e run_read(xp_imp_run_t *run, xp_error_t *err)
{
    const char *raw = run->job->format, *path;
    xp_areader_t *r;
    xp_manifest_t *m;
    xp_aentry_t e;
    xp_errcode_e rc;

    if (!run->job->file || !*run->job->file)
        return xp_error_set(err, run->pool, XP_EINVAL,
                            "job %s has no uploaded file", run->job->id);
    path = apr_pstrcat(run->pool, run->env->storage, "/", run->job->file, NULL);
    /* its pool has its own allocator: the reader thread allocates from it
     * (an error's message) while this thread writes */
    run->rp = xp_pool_own(run->pool);
    rc = xp_areader_open(run->rp, path, raw, run->env->max_uncompressed, &r,
                         err);
    if (rc != XP_OK)
        return run_input(run, err, rc);
    if (raw) {
        const xp_section_t *sec = NULL;
        if (run->opts.sections && run->opts.sections->nelts == 1)
            sec = xp_sections_find(
                run->env->secs,
                APR_ARRAY_IDX(run->opts.sections, 0, const char *));
        if (!sec || !sec->columns)
            return run_fail(run, err, XP_EINVAL,
                            "a bare file needs sections= naming one section "
                            "configured on this server");
        if ((rc = xp_areader_next(r, &e, err)) != XP_OK)
            return rc == XP_ENOTFOUND ? XP_EIO : run_input(run, err, rc);
        if ((rc = run_sink_open(run, err)) != XP_OK)
            return rc;
        return run_entry(run, r, plan_add(run, sec, NULL, 1), err);
    }
    if ((rc = run_manifest(run, r, &m, err)) != XP_OK ||
        (rc = run_plan(run, m, err)) != XP_OK)
        return rc;
    if ((rc = run_sink_open(run, err)) != XP_OK)
        return rc;
    return run_entries(run, r, err);
}

xp_errcode_e xp_import_run(apr_pool_t *p, const xp_import_env_t *env,
                           xp_job_t *job, const xp_job_ctl_t *ctl,
                           xp_error_t *err)
{
    xp_imp_run_t run;
    xp_errcode_e rc, crc;
    int commit;

    memset(&run, 0, sizeof(run));
    run.pool = p;
    run.env = env;
    run.job = job;
    run.ctl = ctl;
    run.batch_rows = env->batch_rows;
    run.plan = apr_array_make(p, 8, sizeof(xp_imp_sec_t *));
    run.written = apr_hash_make(p);
    run.messages = apr_array_make(p, 16, sizeof(xp_imp_msg_t));
    if ((rc = opts_load(p, job, &run.opts, err)) == XP_OK &&
        (rc = run_rewrite(&run, err)) == XP_OK)
        rc = run_read(&run, err);
    if (rc == XP_OK && run.errors > 0)
        rc = xp_error_set(err, p, XP_EINVAL,
                          "the import was rejected with %ld error%s; nothing "
                          "was changed (first: %s)",
                          run.errors, run.errors > 1 ? "s" : "",
                          msg_text(p, &APR_ARRAY_IDX(run.messages, 0,
                                                     xp_imp_msg_t)));
    commit = rc == XP_OK && !run.opts.dry_run;
    if (run.sink && ctl && ctl->source)
        ctl->source(ctl->baton, NULL);
    crc = xp_sink_close(run.sink, commit, err);
    if (rc == XP_OK)
        rc = crc;
    run_fill_job(&run);
    if (rc == XP_OK && ctl && ctl->progress)
        ctl->progress(ctl->baton, run.done, run.done);
    return rc;
}
