/*
 * import_batch.c -- checking and writing one batch of an import's rows
 * (SPEC 6.4, 6.5): the database is asked about the whole batch at once
 * (its keys, the rows its refs name), then each line is judged in order
 * as if alone, then the new rows go in with multi-row INSERTs (COPY on
 * PostgreSQL) and changed ones are updated, all through the sink
 * (src/engine/sink.c).
 *
 * A batch runs in a savepoint; when the database refuses one of its
 * statements (a constraint, a value its column cannot hold, a view's
 * trigger) the batch is undone and run again row by row, each in its own
 * savepoint, so that the message names the row. After the first
 * rejection nothing more is written (the transaction will be rolled
 * back), but every check goes on, so that one upload reports up to 100
 * problems. Columns declared hash=col:bcrypt are hashed here, where the
 * stored row is known (a password the stored hash was made from is no
 * change). An import for a tenant gives every row of a tenant= section
 * that tenant, whatever its line said, before anything is looked up.
 */
#include <string.h>

#include <apr_strings.h>

#include "xp_import_run.h"
#include "xp_hash.h"
#include "xp_keyset.h"

/* s cut to at most max bytes (not inside a UTF-8 sequence), "..." marking
 * the cut; a line may be 16 MiB and its values with it. */
const char *xp_imp_cut(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t n = strlen(s);

    if (n <= max)
        return apr_pstrdup(p, s);
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return apr_pstrcat(p, apr_pstrndup(p, s, n), "...", NULL);
}

/* Record one rejection; key may be NULL when the line did not say. */
void xp_imp_reject(xp_imp_run_t *run, long lineno, const char *key,
                   const char *what)
{
    const xp_imp_sec_t *is = run->cur;
    xp_imp_msg_t *m;

    run->errors++;
    if (run->messages->nelts >= XP_IMPORT_MAX_MESSAGES)
        return;
    m = apr_array_push(run->messages);
    m->section = is->sec->name;
    m->line = lineno;
    m->column = key ? xp_section_field(is->sec, is->sec->key) : NULL;
    m->key = key ? xp_imp_cut(run->pool, key, XP_IMPORT_MAX_KEY) : NULL;
    m->message = xp_imp_cut(run->pool, what, XP_IMPORT_MAX_MESSAGE);
}

/* A ref value that is NULL or empty refers to nothing: not checked. */
static int ref_value(const char *v)
{
    return v && *v;
}

/* One ref of the section, as a batch checks it. */
typedef struct {
    const xp_ref_t *ref;
    const xp_section_t *target;
    const char *tcol;    /* the target's column its values name */
    const char *seen_as; /* under which name the seen table has tcol's
                            values: the target's name (its keys) or
                            "target.col2" */
    int col;             /* the ref's column in the section */
    int tidx;            /* self reference: tcol's index in the section */
    unsigned char *ok;   /* per item: in the database, or shown before */
    const xp_keyset_t *written; /* tcol is the target's key: the keys
                                   this import wrote there, or NULL */
    apr_hash_t *shown;   /* self reference: tcol's values of this batch's
                            lines so far */
} batch_ref_t;

/* One batch being checked: items[0..n) of the current section. */
typedef struct {
    xp_imp_run_t *run;
    xp_imp_item_t *items;
    int n, single;
    const xp_section_t *sec;
    long *first;       /* per item: the line its key was first on, 0 */
    apr_hash_t *shown; /* key -> line, this batch */
    batch_ref_t *refs;
    int nrefs;
    const char **keys; /* the keys to remember, with their lines */
    long *lines;
    int nkeys;
    int *hashed; /* hash=col:bcrypt: the columns' indexes */
    int nhashed;
} batch_t;

/* The seen table's name for the values of sec's column col: the key's
 * are filed under the section's name, another column's (a ref's
 * .col2) under "section.col". */
static const char *seen_name(apr_pool_t *p, const xp_section_t *sec,
                             const char *col)
{
    return strcmp(col, sec->key) ? apr_pstrcat(p, sec->name, ".", col, NULL)
                                 : sec->name;
}

/* Which of the batch's keys the table has (their stored rows) and which
 * this archive showed before (b->first). */
static xp_errcode_e batch_lookup(batch_t *b, xp_error_t *err)
{
    xp_imp_run_t *run = b->run;
    apr_pool_t *bp = run->bp;
    const char **keys = apr_palloc(bp, sizeof(*keys) * (b->n + 1));
    const char ***stored = apr_pcalloc(bp, sizeof(*stored) * (b->n + 1));
    const char **ask = apr_palloc(bp, sizeof(*ask) * (b->n + 1));
    long *got = apr_pcalloc(bp, sizeof(*got) * (b->n + 1));
    int *at = apr_palloc(bp, sizeof(*at) * (b->n + 1));
    int *from = apr_palloc(bp, sizeof(*from) * (b->n + 1));
    xp_error_t e = {0};
    xp_errcode_e rc;
    int m = 0, na = 0, i, k;

    for (i = 0; i < b->n; i++)
        if (!b->items[i].refused && b->items[i].key) {
            at[m] = i;
            keys[m++] = b->items[i].key;
        }
    if (m == 0)
        return XP_OK;
    rc = xp_sink_lookup(run->sink, bp, b->sec, m, keys, stored, &e);
    /* While nothing was rejected every key shown so far went into the
     * table (or was there): only a key found there can have been shown
     * before, and a fresh import asks about none. */
    for (k = 0; rc == XP_OK && k < m; k++)
        if (run->errors > 0 || stored[k]) {
            from[na] = k;
            ask[na++] = keys[k];
        }
    if (na > 0)
        rc = xp_sink_seen_find(run->sink, bp, b->sec->name, na, ask, got, &e);
    for (k = 0; rc == XP_OK && k < na; k++)
        b->first[at[from[k]]] = got[k];
    if (rc == XP_EINVAL && b->single) {
        /* the key itself was refused (not a value its column holds) */
        b->items[0].refused = e.message;
        return XP_OK;
    }
    if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    for (k = 0; k < m; k++)
        b->items[at[k]].stored = stored[k];
    return XP_OK;
}

/* What the database says about one ref of the batch: r->ok[i] = 1 when
 * item i's value names a row of the target's table, or (once rows are no
 * longer written) one the archive showed earlier. */
static xp_errcode_e batch_ref(batch_t *b, batch_ref_t *r, xp_error_t *err)
{
    xp_imp_run_t *run = b->run;
    apr_pool_t *bp = run->bp;
    const char **vals = apr_palloc(bp, sizeof(*vals) * (b->n + 1));
    int *at = apr_palloc(bp, sizeof(*at) * (b->n + 1));
    unsigned char *found = apr_pcalloc(bp, b->n + 1);
    long *first = apr_pcalloc(bp, sizeof(*first) * (b->n + 1));
    xp_error_t e = {0};
    xp_errcode_e rc;
    int m = 0, i;

    for (i = 0; i < b->n; i++) {
        const char *v = b->items[i].row.values[r->col];
        if (b->items[i].refused || !ref_value(v))
            continue;
        if (r->written && xp_keyset_has(r->written, v))
            r->ok[i] = 1;
        else {
            at[m] = i;
            vals[m++] = v;
        }
    }
    if (m == 0)
        return XP_OK;
    /* a value the column cannot even hold (PostgreSQL: "invalid input
     * syntax for type integer") names no row: alone, that is the
     * answer; in a batch, which value it was is not known */
    rc = xp_sink_exist(run->sink, bp, r->target, r->tcol, m, vals, found, &e);
    if (rc == XP_EINVAL && b->single)
        memset(found, 0, m);
    else if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    /* while nothing was rejected every row shown so far was written */
    if (run->errors > 0) {
        rc = xp_sink_seen_find(run->sink, bp, r->seen_as, m, vals, first, &e);
        if (rc != XP_OK)
            return xp_error_set(err, run->pool, rc, "%s", e.message);
    }
    for (i = 0; i < m; i++)
        r->ok[at[i]] = found[i] || first[i] > 0;
    return XP_OK;
}

/* The batch's refs, each asked about once for all its lines. */
static xp_errcode_e batch_refs(batch_t *b, xp_error_t *err)
{
    const xp_section_t *sec = b->sec;
    apr_pool_t *bp = b->run->bp;
    xp_errcode_e rc;
    int i;

    b->refs = apr_pcalloc(bp, sizeof(*b->refs) * (sec->refs->nelts + 1));
    for (i = 0; i < sec->refs->nelts; i++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, i, xp_ref_t);
        batch_ref_t *r = &b->refs[b->nrefs];
        r->ref = ref;
        r->target = xp_sections_find(b->run->env->secs, ref->section);
        r->col = xp_section_column_index(sec, ref->column);
        if (r->col < 0 || !r->target)
            continue;
        r->tcol = xp_ref_target(b->run->env->secs, ref);
        r->seen_as = seen_name(bp, r->target, r->tcol);
        r->tidx = xp_ref_is_self(sec, ref)
                      ? xp_section_column_index(sec, r->tcol)
                      : -1;
        r->shown = apr_hash_make(bp);
        r->ok = apr_pcalloc(bp, b->n + 1);
        if (!strcmp(r->tcol, r->target->key))
            r->written = apr_hash_get(b->run->written, r->target->name,
                                      APR_HASH_KEY_STRING);
        b->nrefs++;
        if ((rc = batch_ref(b, r, err)) != XP_OK)
            return rc;
    }
    return XP_OK;
}

/* Every line of a tenant= section is the import's tenant's (the sink
 * looks its key up within that tenant). */
static void batch_tenant(batch_t *b)
{
    const char *tenant = b->run->opts.tenant;
    int c, i;

    if (!tenant || !b->sec->tenant ||
        (c = xp_section_column_index(b->sec, b->sec->tenant)) < 0)
        return;
    for (i = 0; i < b->n; i++) {
        if (b->items[i].refused)
            continue;
        b->items[i].row.values[c] = tenant;
        b->items[i].row.present[c] = 1;
    }
}

/* Unknown columns and a missing key: the checks that need no database. */
static int item_checks(xp_imp_run_t *run, xp_imp_item_t *it)
{
    xp_imp_sec_t *is = run->cur;
    int i;

    if (it->row.unknown && it->row.unknown->nelts &&
        !run->opts.ignore_unknown) {
        const char *names = NULL;
        for (i = 0; i < it->row.unknown->nelts; i++) {
            const char *q =
                apr_psprintf(run->bp, "\"%s\"",
                             APR_ARRAY_IDX(it->row.unknown, i, const char *));
            names = names ? apr_pstrcat(run->bp, names, ", ", q, NULL) : q;
        }
        xp_imp_reject(run, it->lineno, it->key,
                      apr_psprintf(run->bp,
                                   "unknown column%s %s (leave %s out, or "
                                   "import with unknown_columns=ignore)",
                                   it->row.unknown->nelts > 1 ? "s" : "", names,
                                   it->row.unknown->nelts > 1 ? "them" : "it"));
        return 0;
    }
    if (is->sec->mode != XP_MODE_APPEND && !it->key) {
        xp_imp_reject(run, it->lineno, NULL,
                      apr_psprintf(run->bp,
                                   "the key column \"%s\" is missing or null",
                                   xp_section_field(is->sec, is->sec->key)));
        return 0;
    }
    return 1;
}

/* A key shown twice is refused; else it is remembered (this batch and,
 * through b->keys, the seen table). 0 when refused. */
static int item_unique(batch_t *b, int i)
{
    xp_imp_item_t *it = &b->items[i];
    long *prev, was;

    /* A batch into a fresh table (its keys not looked up) skips the
     * check: the table's unique index refuses a key shown twice, and the
     * batch then runs again a row at a time, checked here. The hash was
     * a tenth of the writing thread's time in a 1M-row import. */
    if (!(b->run->skip_lookup && !b->single)) {
        prev = apr_hash_get(b->shown, it->key, APR_HASH_KEY_STRING);
        was = prev ? *prev : b->first[i];
        if (was > 0) {
            xp_imp_reject(b->run, it->lineno, it->key,
                          apr_psprintf(b->run->bp,
                                       "the same key appears again (first "
                                       "on line %ld); keys must be unique "
                                       "in a section",
                                       was));
            return 0;
        }
        apr_hash_set(b->shown, it->key, APR_HASH_KEY_STRING, &it->lineno);
    }
    b->keys[b->nkeys] = it->key;
    b->lines[b->nkeys++] = it->lineno;
    return 1;
}

/* Every ref of item i names a row: in the database, earlier in the
 * archive, or (a self reference) earlier in this batch or the row
 * itself. 0 when one does not. */
static int item_refs(batch_t *b, int i)
{
    xp_imp_item_t *it = &b->items[i];
    const char *v;
    int k, ok = 1;

    /* the row's own values first: it may name itself */
    for (k = 0; k < b->nrefs; k++) {
        batch_ref_t *r = &b->refs[k];
        if (r->tidx >= 0 && ref_value(v = it->row.values[r->tidx]))
            apr_hash_set(r->shown, v, APR_HASH_KEY_STRING, "");
    }
    for (k = 0; k < b->nrefs; k++) {
        batch_ref_t *r = &b->refs[k];
        if (r->ok[i] || !ref_value(v = it->row.values[r->col]) ||
            (r->tidx >= 0 && apr_hash_get(r->shown, v, APR_HASH_KEY_STRING)))
            continue;
        ok = 0;
        xp_imp_reject(b->run, it->lineno, it->key,
                      apr_psprintf(b->run->bp,
                                   "%s \"%s\" references %s, which has no "
                                   "such row",
                                   xp_section_field(b->sec, r->ref->column),
                                   xp_imp_cut(b->run->bp, v, XP_IMPORT_MAX_KEY),
                                   r->ref->section));
    }
    return ok;
}

/* hash=col:bcrypt: a plain value is stored as its bcrypt hash, a value
 * that already is one as it is (an export imports back unchanged), and
 * a plain value the stored hash was made from keeps the stored hash (the
 * row is unchanged). NULL and "" are no password: stored as they are. 0
 * when hashing failed (the row is rejected). */
static int item_hash(batch_t *b, int i)
{
    xp_imp_item_t *it = &b->items[i];
    const char *v;
    int k, c;

    for (k = 0; k < b->nhashed; k++) {
        c = b->hashed[k];
        v = it->row.values[c];
        if (!v || !*v || xp_bcrypt_is_hash(v))
            continue;
        if (it->stored && it->stored[c] && xp_bcrypt_is_hash(it->stored[c]) &&
            xp_bcrypt_matches(v, it->stored[c])) {
            it->row.values[c] = it->stored[c];
            continue;
        }
        if ((it->row.values[c] = xp_bcrypt_hash(b->run->bp, v)) == NULL) {
            xp_imp_reject(b->run, it->lineno, it->key,
                          "the password could not be hashed (no random "
                          "bytes for its salt)");
            return 0;
        }
    }
    return 1;
}

/* Judge item i as if alone: what the line itself says, its key, its
 * refs, its hashes, then what writing it means (xp_sink_classify). */
static void item_judge(batch_t *b, int i)
{
    xp_imp_run_t *run = b->run;
    xp_imp_item_t *it = &b->items[i];
    xp_error_t e = {0};

    if (it->refused) {
        xp_imp_reject(run, it->lineno, it->key, it->refused);
        return;
    }
    if (!item_checks(run, it))
        return;
    if (b->sec->mode != XP_MODE_APPEND && !item_unique(b, i))
        return;
    if (!item_refs(b, i) || !item_hash(b, i))
        return;
    if (xp_sink_classify(run->sink, run->bp, b->sec, run->opts.on_conflict,
                         it->row.values, it->row.present, it->stored, &it->op,
                         &it->change, &e) != XP_OK) {
        xp_imp_reject(run, it->lineno, it->key, e.message);
        return;
    }
    it->classified = 1;
}

/* The batch is written: every key it judged is in the table now
 * (created, updated, unchanged or kept). */
static void batch_written(batch_t *b)
{
    apr_hash_t *w = b->run->written;
    xp_keyset_t *ks;
    int i;

    if (b->sec->mode == XP_MODE_APPEND || !b->sec->key)
        return;
    if (!(ks = apr_hash_get(w, b->sec->name, APR_HASH_KEY_STRING))) {
        ks = xp_keyset_make(b->run->pool);
        apr_hash_set(w, b->sec->name, APR_HASH_KEY_STRING, ks);
    }
    for (i = 0; i < b->n; i++)
        if (b->items[i].classified)
            xp_keyset_add(ks, b->items[i].key);
}

/* Write what the batch's rows need. Alone (single), a refused write is
 * that row's rejection; in a batch it is handed back (XP_EINVAL). */
static xp_errcode_e batch_write(batch_t *b, xp_error_t *err)
{
    xp_imp_run_t *run = b->run;
    xp_imp_item_t *items = b->items;
    xp_sink_wrow_t *rows = apr_palloc(run->bp, sizeof(*rows) * (b->n + 1));
    xp_error_t e = {0};
    xp_errcode_e rc;
    int m = 0, i;

    for (i = 0; i < b->n; i++)
        if (items[i].classified && items[i].op == XP_SINK_INSERT) {
            rows[m].values = items[i].row.values;
            rows[m++].present = items[i].row.present;
        }
    rc = m ? xp_sink_insert(run->sink, run->bp, b->sec, m, rows, &e) : XP_OK;
    for (i = 0; rc == XP_OK && i < b->n; i++)
        if (items[i].classified && items[i].op == XP_SINK_UPDATE)
            rc = xp_sink_update(run->sink, run->bp, b->sec, items[i].row.values,
                                items[i].row.present, &e);
    if (rc == XP_OK)
        batch_written(b);
    if (rc == XP_EINVAL && b->single) {
        xp_imp_reject(run, items[0].lineno, items[0].key, e.message);
        items[0].classified = 0;
        return XP_OK;
    }
    if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    return XP_OK;
}

/* The keys the batch showed, and the values of each column another
 * section's ref=col:SECTION.col2 names, into the seen table: a later
 * check asks it once rows are no longer written. */
static xp_errcode_e batch_remember(batch_t *b, xp_error_t *err)
{
    xp_imp_run_t *run = b->run;
    const xp_sections_t *secs = run->env->secs;
    xp_error_t e = {0};
    xp_errcode_e rc = XP_OK;
    int s, k, i, c, m;

    if (b->nkeys > 0)
        rc = xp_sink_seen_add(run->sink, run->bp, b->sec->name, b->nkeys,
                              b->keys, b->lines, &e);
    for (s = 0; rc == XP_OK && s < secs->list->nelts; s++) {
        const xp_section_t *o = APR_ARRAY_IDX(secs->list, s, xp_section_t *);
        for (k = 0; rc == XP_OK && k < o->refs->nelts; k++) {
            const xp_ref_t *ref = &APR_ARRAY_IDX(o->refs, k, xp_ref_t);
            if (strcmp(ref->section, b->sec->name) || !ref->target ||
                !strcmp(ref->target, b->sec->key) ||
                (c = xp_section_column_index(b->sec, ref->target)) < 0)
                continue;
            for (i = 0, m = 0; i < b->n; i++)
                if (b->items[i].classified &&
                    ref_value(b->items[i].row.values[c])) {
                    b->keys[m] = b->items[i].row.values[c];
                    b->lines[m++] = b->items[i].lineno;
                }
            if (m > 0)
                rc = xp_sink_seen_add(run->sink, run->bp,
                                      seen_name(run->bp, b->sec, ref->target),
                                      m, b->keys, b->lines, &e);
        }
    }
    if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    return XP_OK;
}

/*
 * Check and apply items[0..n) of the current section: look up what the
 * database knows about them, judge each line in order, write, remember
 * the keys. XP_EINVAL only in a batch (single == 0) whose statement the
 * database refused: the caller undoes it and goes row by row.
 */
static xp_errcode_e batch_apply(xp_imp_run_t *run, xp_imp_item_t *items, int n,
                                int single, xp_error_t *err)
{
    apr_pool_t *bp = run->bp;
    xp_imp_sec_t *is = run->cur;
    xp_errcode_e rc;
    batch_t b;
    int i;

    memset(&b, 0, sizeof(b));
    b.run = run;
    b.items = items;
    b.n = n;
    b.single = single;
    b.sec = is->sec;
    b.first = apr_pcalloc(bp, sizeof(*b.first) * (n + 1));
    b.shown = apr_hash_make(bp);
    b.keys = apr_palloc(bp, sizeof(*b.keys) * (n + 1));
    b.lines = apr_palloc(bp, sizeof(*b.lines) * (n + 1));
    b.hashed = apr_palloc(bp, sizeof(*b.hashed) * (b.sec->bcrypt->nelts + 1));
    for (i = 0; i < b.sec->bcrypt->nelts; i++)
        if ((b.hashed[b.nhashed] = xp_section_column_index(
                 b.sec, APR_ARRAY_IDX(b.sec->bcrypt, i, const char *))) >= 0)
            b.nhashed++;
    batch_tenant(&b);
    /* a fresh table holds only rows this batch's predecessors wrote, and
     * its unique index refuses a key shown twice (xp_sink_fresh) */
    if (b.sec->mode != XP_MODE_APPEND && !(run->skip_lookup && !single) &&
        (rc = batch_lookup(&b, err)) != XP_OK)
        return rc;
    if ((rc = batch_refs(&b, err)) != XP_OK)
        return rc;
    for (i = 0; i < n; i++)
        item_judge(&b, i);
    /* once anything was rejected nothing more is written: the
     * transaction will be rolled back */
    if (run->errors == 0 && (rc = batch_write(&b, err)) != XP_OK)
        return rc;
    for (i = 0; i < n; i++)
        if (items[i].classified)
            is->n[items[i].change]++;
    return batch_remember(&b, err);
}

/* Forget what a batch run did to the run's state (its savepoint is
 * rolled back): messages, error and change counts, the items' verdicts. */
static void batch_forget(xp_imp_run_t *run, long errors, int nmsgs,
                         const apr_int64_t *n)
{
    int i;

    run->errors = errors;
    run->messages->nelts = nmsgs;
    memcpy(run->cur->n, n, sizeof(run->cur->n));
    for (i = 0; i < run->nitems; i++) {
        run->items[i].stored = NULL;
        run->items[i].classified = 0;
    }
}

/*
 * The batch so far, in a savepoint. A fresh table (xp_sink_fresh) has
 * its keys looked up only once something is rejected: a batch that
 * rejects a row after having skipped the lookup is undone and checked
 * again with it, so that every later row of it is still judged against
 * the table (a key shown batches before). A batch the database refuses
 * is undone and run again a row at a time.
 */
xp_errcode_e xp_imp_flush(xp_imp_run_t *run, xp_error_t *err)
{
    xp_sink_t *sink = run->sink;
    long errors = run->errors;
    int nmsgs = run->messages->nelts, i;
    apr_int64_t n[4];
    xp_error_t e = {0};
    xp_errcode_e rc;

    if (run->nitems == 0)
        return XP_OK;
    memcpy(n, run->cur->n, sizeof(n));
    run->skip_lookup = run->cur->fresh && run->errors == 0;
    if ((rc = xp_sink_savepoint(sink, run->bp, "xp_batch", err)) != XP_OK)
        return rc;
    rc = batch_apply(run, run->items, run->nitems, 0, err);
    if (rc == XP_OK && run->skip_lookup && run->errors > errors) {
        run->skip_lookup = 0;
        if ((rc = xp_sink_release(sink, run->bp, 1, err)) != XP_OK)
            return rc;
        batch_forget(run, errors, nmsgs, n);
        if ((rc = xp_sink_savepoint(sink, run->bp, "xp_batch", err)) != XP_OK)
            return rc;
        rc = batch_apply(run, run->items, run->nitems, 0, err);
    }
    run->skip_lookup = 0;
    if (rc == XP_OK)
        return xp_sink_release(sink, run->bp, 0, err);
    xp_sink_release(sink, run->bp, 1, &e);
    if (rc != XP_EINVAL)
        return rc;
    batch_forget(run, errors, nmsgs, n);
    for (i = 0; i < run->nitems; i++) {
        if ((rc = xp_sink_savepoint(sink, run->bp, "xp_row", err)) != XP_OK)
            return rc;
        rc = batch_apply(run, &run->items[i], 1, 1, err);
        xp_sink_release(sink, run->bp, rc != XP_OK, &e);
        if (rc != XP_OK)
            return rc;
    }
    return XP_OK;
}
