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
 * problems.
 */
#include <string.h>

#include <apr_strings.h>

#include "xp_import_run.h"

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
    const char *m;

    run->errors++;
    if (run->messages->nelts >= XP_IMPORT_MAX_MESSAGES)
        return;
    m = key ? apr_psprintf(run->bp, "%s line %ld (%s=%s): %s", is->sec->name,
                           lineno, xp_section_field(is->sec, is->sec->key),
                           xp_imp_cut(run->bp, key, XP_IMPORT_MAX_KEY), what)
            : apr_psprintf(run->bp, "%s line %ld: %s", is->sec->name, lineno,
                           what);
    APR_ARRAY_PUSH(run->messages, const char *) =
        xp_imp_cut(run->pool, m, XP_IMPORT_MAX_MESSAGE);
}


static int column_index(const xp_section_t *sec, const char *name)
{
    int c;

    for (c = 0; c < sec->columns->nelts; c++)
        if (!strcmp(APR_ARRAY_IDX(sec->columns, c, const char *), name))
            return c;
    return -1;
}

/* What the database says about one ref column of the batch: ok[i] = 1
 * when item i's value names a row of the target's table, or (once rows
 * are no longer written) one the archive showed earlier. */
static xp_errcode_e batch_ref(xp_imp_run_t *run, xp_imp_item_t *items, int n,
                              int single, const xp_ref_t *ref, int c,
                              const xp_section_t *target, unsigned char *ok,
                              xp_error_t *err)
{
    apr_pool_t *bp = run->bp;
    const char **vals = apr_palloc(bp, sizeof(*vals) * (n + 1));
    int *at = apr_palloc(bp, sizeof(*at) * (n + 1));
    unsigned char *found = apr_pcalloc(bp, n + 1);
    long *first = apr_pcalloc(bp, sizeof(*first) * (n + 1));
    xp_error_t e = {0};
    xp_errcode_e rc;
    int m = 0, i;

    for (i = 0; i < n; i++) {
        ok[i] = 0;
        if (!items[i].refused && items[i].row.values[c]) {
            at[m] = i;
            vals[m++] = items[i].row.values[c];
        }
    }
    if (m == 0)
        return XP_OK;
    /* a value the key column cannot even hold (PostgreSQL: "invalid
     * input syntax for type integer") names no row: alone, that is the
     * answer; in a batch, which value it was is not known */
    rc = xp_sink_exist(run->sink, bp, target, m, vals, found, &e);
    if (rc == XP_EINVAL && single)
        memset(found, 0, m);
    else if (rc != XP_OK)
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    /* while nothing was rejected every row shown so far was written */
    if (run->errors > 0) {
        rc = xp_sink_seen_find(run->sink, bp, ref->section, m, vals, first, &e);
        if (rc != XP_OK)
            return xp_error_set(err, run->pool, rc, "%s", e.message);
    }
    for (i = 0; i < m; i++)
        ok[at[i]] = found[i] || first[i] > 0;
    return XP_OK;
}

/* Unknown columns and a missing key: the checks that need no database. */
static int item_checks(xp_imp_run_t *run, xp_imp_item_t *it)
{
    xp_imp_sec_t *is = run->cur;
    int i;

    if (it->row.unknown && it->row.unknown->nelts && !run->opts.ignore_unknown) {
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

/* Write what the batch's rows need. Alone (single), a refused write is
 * that row's rejection; in a batch it is handed back (XP_EINVAL). */
static xp_errcode_e batch_write(xp_imp_run_t *run, xp_imp_item_t *items, int n,
                                int single, xp_error_t *err)
{
    const xp_section_t *sec = run->cur->sec;
    xp_sink_wrow_t *rows = apr_palloc(run->bp, sizeof(*rows) * (n + 1));
    xp_error_t e = {0};
    xp_errcode_e rc;
    int m = 0, i;

    for (i = 0; i < n; i++)
        if (items[i].classified && items[i].op == XP_SINK_INSERT) {
            rows[m].values = items[i].row.values;
            rows[m++].present = items[i].row.present;
        }
    rc = m ? xp_sink_insert(run->sink, run->bp, sec, m, rows, &e) : XP_OK;
    for (i = 0; rc == XP_OK && i < n; i++)
        if (items[i].classified && items[i].op == XP_SINK_UPDATE)
            rc = xp_sink_update(run->sink, run->bp, sec, items[i].row.values,
                                items[i].row.present, &e);
    if (rc == XP_EINVAL && single) {
        xp_imp_reject(run, items[0].lineno, items[0].key, e.message);
        items[0].classified = 0;
        return XP_OK;
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
    xp_imp_sec_t *is = run->cur;
    const xp_section_t *sec = is->sec;
    apr_pool_t *bp = run->bp;
    int append = sec->mode == XP_MODE_APPEND, nrefs, r, i, k, m = 0, ok;
    const char **keys = apr_palloc(bp, sizeof(*keys) * (n + 1));
    const char ***stored = apr_pcalloc(bp, sizeof(*stored) * (n + 1));
    long *first = apr_pcalloc(bp, sizeof(*first) * (n + 1));
    long *lines = apr_palloc(bp, sizeof(*lines) * (n + 1));
    int *at = apr_palloc(bp, sizeof(*at) * (n + 1));
    unsigned char **refok;
    int *refcol; /* per ref: its column in sec */
    apr_hash_t *shown = apr_hash_make(bp); /* key -> line, this batch */
    xp_error_t e = {0};
    xp_errcode_e rc;

    for (i = 0; i < n; i++)
        if (!append && !items[i].refused && items[i].key) {
            at[m] = i;
            keys[m++] = items[i].key;
        }
    /* a fresh table holds only rows this batch's predecessors wrote, and
     * its unique index refuses a key shown twice (xp_sink_fresh) */
    if (m > 0 && !(run->skip_lookup && !single)) {
        rc = xp_sink_lookup(run->sink, bp, sec, m, keys, stored, &e);
        if (rc == XP_OK) {
            /* While nothing was rejected every key shown so far went into
             * the table (or was there): only a key found there can have
             * been shown before, and a fresh import asks about none. */
            const char **ask = apr_palloc(bp, sizeof(*ask) * (m + 1));
            long *got = apr_pcalloc(bp, sizeof(*got) * (m + 1));
            int *from = apr_palloc(bp, sizeof(*from) * (m + 1)), na = 0;
            for (k = 0; k < m; k++)
                if (run->errors > 0 || stored[k]) {
                    from[na] = k;
                    ask[na++] = keys[k];
                }
            if (na > 0)
                rc = xp_sink_seen_find(run->sink, bp, sec->name, na, ask, got,
                                       &e);
            for (k = 0; rc == XP_OK && k < na; k++)
                first[from[k]] = got[k];
        }
        if (rc == XP_EINVAL && single) {
            /* the key itself was refused (not a value its column holds) */
            items[0].refused = e.message;
        } else if (rc != XP_OK) {
            return xp_error_set(err, run->pool, rc, "%s", e.message);
        }
        for (k = 0; rc == XP_OK && k < m; k++)
            items[at[k]].stored = stored[k];
    }
    nrefs = sec->refs ? sec->refs->nelts : 0;
    refok = apr_pcalloc(bp, sizeof(*refok) * (nrefs + 1));
    refcol = apr_palloc(bp, sizeof(*refcol) * (nrefs + 1));
    for (r = 0; r < nrefs; r++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, r, xp_ref_t);
        const xp_section_t *target =
            xp_sections_find(run->env->secs, ref->section);
        int c = refcol[r] = column_index(sec, ref->column);
        if (c < 0 || !target)
            continue;
        refok[r] = apr_palloc(bp, n + 1);
        if ((rc = batch_ref(run, items, n, single, ref, c, target, refok[r],
                            err)) != XP_OK)
            return rc;
    }

    /* each line in order, as if alone */
    m = 0;
    for (i = 0, k = 0; i < n; i++) {
        xp_imp_item_t *it = &items[i];
        long *prev;

        if (!append && !it->refused && it->key)
            k++; /* first[k - 1] is this line's */
        if (it->refused) {
            xp_imp_reject(run, it->lineno, it->key, it->refused);
            continue;
        }
        if (!item_checks(run, it))
            continue;
        if (!append) {
            long was = (prev = apr_hash_get(shown, it->key,
                                            APR_HASH_KEY_STRING))
                           ? *prev
                           : first[k - 1];
            if (was > 0) {
                xp_imp_reject(run, it->lineno, it->key,
                           apr_psprintf(bp,
                                        "the same key appears again (first "
                                        "on line %ld); keys must be unique in "
                                        "a section",
                                        was));
                continue;
            }
            apr_hash_set(shown, it->key, APR_HASH_KEY_STRING, &it->lineno);
            keys[m] = it->key;
            lines[m++] = it->lineno;
        }
        for (r = 0, ok = 1; r < nrefs; r++) {
            const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, r, xp_ref_t);
            const char *v;
            if (!refok[r] || refok[r][i] || !(v = it->row.values[refcol[r]]))
                continue;
            /* earlier in this batch of the same section (or the row
             * itself) */
            if (!strcmp(ref->section, sec->name) &&
                apr_hash_get(shown, v, APR_HASH_KEY_STRING))
                continue;
            ok = 0;
            xp_imp_reject(run, it->lineno, it->key,
                       apr_psprintf(bp,
                                    "%s \"%s\" references %s, which has no "
                                    "such row",
                                    xp_section_field(sec, ref->column),
                                    xp_imp_cut(bp, v, XP_IMPORT_MAX_KEY),
                                    ref->section));
        }
        if (!ok)
            continue;
        rc = xp_sink_classify(run->sink, bp, sec, run->opts.on_conflict,
                              it->row.values, it->row.present, it->stored,
                              &it->op, &it->change, &e);
        if (rc != XP_OK) {
            xp_imp_reject(run, it->lineno, it->key, e.message);
            continue;
        }
        it->classified = 1;
    }

    /* once anything was rejected nothing more is written: the
     * transaction will be rolled back */
    if (run->errors == 0 && (rc = batch_write(run, items, n, single, err)))
        return rc;
    for (i = 0; i < n; i++)
        if (items[i].classified)
            is->n[items[i].change]++;
    if (m > 0 &&
        (rc = xp_sink_seen_add(run->sink, bp, sec->name, m, keys, lines, &e)))
        return xp_error_set(err, run->pool, rc, "%s", e.message);
    return XP_OK;
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
