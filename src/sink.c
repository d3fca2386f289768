/*
 * sink.c -- the data source's write side of an import: one transaction,
 * per-section statements to look a key up, insert, update and check that
 * a referenced key exists, and the value comparison that tells an updated
 * row from an unchanged one.
 *
 * Why it looks like this:
 * - Everything an import writes happens in one transaction so that the
 *   data source is left exactly as it was when anything is rejected.
 *   SQLite takes the write lock up front (BEGIN IMMEDIATE, retried while
 *   another writer holds it, as the job store does).
 * - On PostgreSQL a failed statement aborts the whole transaction; every
 *   later statement would fail with "current transaction is aborted". A
 *   savepoint taken right after BEGIN lets us roll back to it after a
 *   rejected statement and keep reading (key lookups for later rows'
 *   refs), so that every bad row is still reported. Rolling back to it
 *   discards what was written so far, which is fine: a sink that saw a
 *   rejection never commits.
 * - Values are bound as text (NULL binds SQL NULL); the server converts
 *   them to the column's type. Statements are prepared once per SQL text
 *   (xp_db_t caches them), and the SQL for a row shape (which columns it
 *   carries) is built once per section and shape.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>

#include <apr_strings.h>

#include "xp_import.h"
#include "xp_source.h"
#include "xp_filter.h"
#include "xp_json.h"

#define XP_SINK_SAVEPOINT "xp_import"
/* Different column sets (row shapes) per section: each is a prepared
 * statement the driver keeps until the connection closes, so a file whose
 * rows each leave out other columns must not grow them without bound. */
#define XP_SINK_MAX_SHAPES 64

/* Statements of one section. */
typedef struct {
    const xp_section_t *sec;
    const char *table;  /* quoted */
    const char **qcols; /* quoted column names, per sec->columns */
    xp_type_e *types;   /* per sec->columns */
    int ncols, keyidx;
    const char *lookup_sql, *exists_sql;
    apr_hash_t *shapes; /* presence mask -> sink_shape_t */
} sink_sec_t;

/* INSERT / UPDATE for one set of present columns. */
typedef struct {
    const char *insert_sql, *update_sql;
    int *cols;  /* indexes of the bound columns, in order */
    int ncols;  /* insert columns */
    int *ucols; /* update SET columns (no key) */
    int nucols;
} sink_shape_t;

struct xp_sink_t {
    apr_pool_t *pool;
    xp_source_t *src;
    xp_db_t *db;
    apr_hash_t *secs; /* name -> sink_sec_t */
    int rejected;     /* a statement failed: never commit */
};

xp_errcode_e xp_sink_open(apr_pool_t *p, const char *driver, const char *params,
                          xp_sink_t **out, xp_error_t *err)
{
    xp_sink_t *s = apr_pcalloc(p, sizeof(*s));
    xp_errcode_e rc;

    *out = NULL;
    s->pool = p;
    s->secs = apr_hash_make(p);
    if ((rc = xp_source_open(p, driver, params, &s->src, err)) != XP_OK)
        return rc;
    s->db = xp_source_db(s->src);
    if (s->db->dialect == XP_DIALECT_SQLITE) {
        rc = xp_db_begin(s->db, p, "BEGIN IMMEDIATE", err);
    } else {
        rc = xp_db_begin(s->db, p, "BEGIN", err);
        if (rc == XP_OK &&
            (rc = xp_db_run(s->db, p, "SAVEPOINT " XP_SINK_SAVEPOINT, err)))
            xp_db_rollback(s->db, p);
    }
    if (rc != XP_OK) {
        xp_source_close(s->src);
        return rc;
    }
    *out = s;
    return XP_OK;
}

xp_errcode_e xp_sink_close(xp_sink_t *s, int commit, xp_error_t *err)
{
    xp_errcode_e rc = XP_OK;

    if (!s)
        return XP_OK;
    if (commit && !s->rejected)
        rc = xp_db_commit(s->db, s->pool, err);
    else
        xp_db_rollback(s->db, s->pool);
    xp_source_close(s->src);
    return rc;
}

static sink_sec_t *sink_sec(xp_sink_t *s, const xp_section_t *sec)
{
    sink_sec_t *ss = apr_hash_get(s->secs, sec->name, APR_HASH_KEY_STRING);
    apr_pool_t *p = s->pool;
    const char *list = NULL, *qkey;
    int i;

    if (ss)
        return ss;
    ss = apr_pcalloc(p, sizeof(*ss));
    ss->sec = sec;
    ss->ncols = sec->columns->nelts;
    ss->table = xp_sql_ident(p, sec->table ? sec->table : sec->name);
    ss->qcols = apr_pcalloc(p, sizeof(*ss->qcols) * (ss->ncols + 1));
    ss->types = apr_pcalloc(p, sizeof(*ss->types) * (ss->ncols + 1));
    ss->keyidx = -1;
    for (i = 0; i < ss->ncols; i++) {
        const char *c = APR_ARRAY_IDX(sec->columns, i, const char *);
        ss->qcols[i] = xp_sql_ident(p, c);
        ss->types[i] = xp_section_type(sec, c);
        if (!strcmp(c, sec->key))
            ss->keyidx = i;
        list = list ? apr_pstrcat(p, list, ", ", ss->qcols[i], NULL)
                    : ss->qcols[i];
    }
    qkey = xp_sql_ident(p, sec->key);
    ss->lookup_sql = apr_psprintf(p, "SELECT %s FROM %s WHERE %s = %%s",
                                  list ? list : qkey, ss->table, qkey);
    ss->exists_sql =
        apr_psprintf(p, "SELECT 1 FROM %s WHERE %s = %%s", ss->table, qkey);
    ss->shapes = apr_hash_make(p);
    apr_hash_set(s->secs, sec->name, APR_HASH_KEY_STRING, ss);
    return ss;
}

/* The INSERT and UPDATE of the columns marked in mask ('1' = written);
 * NULL past XP_SINK_MAX_SHAPES. */
static sink_shape_t *sink_shape(xp_sink_t *s, sink_sec_t *ss, const char *mask)
{
    sink_shape_t *sh = apr_hash_get(ss->shapes, mask, APR_HASH_KEY_STRING);
    apr_pool_t *p = s->pool;
    const char *cols = NULL, *vals = NULL, *sets = NULL;
    int i;

    if (sh)
        return sh;
    if (apr_hash_count(ss->shapes) >= XP_SINK_MAX_SHAPES)
        return NULL;
    sh = apr_pcalloc(p, sizeof(*sh));
    sh->cols = apr_pcalloc(p, sizeof(int) * (ss->ncols + 1));
    sh->ucols = apr_pcalloc(p, sizeof(int) * (ss->ncols + 1));
    for (i = 0; i < ss->ncols; i++) {
        if (mask[i] != '1')
            continue;
        sh->cols[sh->ncols++] = i;
        cols = cols ? apr_pstrcat(p, cols, ", ", ss->qcols[i], NULL)
                    : ss->qcols[i];
        vals = vals ? apr_pstrcat(p, vals, ", %s", NULL) : "%s";
        if (i == ss->keyidx)
            continue;
        sh->ucols[sh->nucols++] = i;
        sets = apr_pstrcat(p, sets ? sets : "", sets ? ", " : "", ss->qcols[i],
                           " = %s", NULL);
    }
    sh->insert_sql =
        cols ? apr_psprintf(p, "INSERT INTO %s (%s) VALUES (%s)", ss->table,
                            cols, vals)
             : apr_psprintf(p, "INSERT INTO %s DEFAULT VALUES", ss->table);
    if (sets)
        sh->update_sql =
            apr_psprintf(p, "UPDATE %s SET %s WHERE %s = %%s", ss->table, sets,
                         ss->keyidx >= 0 ? ss->qcols[ss->keyidx]
                                         : xp_sql_ident(p, ss->sec->key));
    apr_hash_set(ss->shapes, apr_pstrdup(p, mask), APR_HASH_KEY_STRING, sh);
    return sh;
}

/* A statement the database refused: remember it, make the PostgreSQL
 * transaction usable again, and keep only the driver's own words. */
static xp_errcode_e sink_rejected(xp_sink_t *s, apr_pool_t *bp, xp_error_t *err)
{
    const char *msg = err && err->message ? err->message : "";
    const char *w = strstr(msg, "\" failed: ");
    int n = 0;

    /* not this row's fault: the whole import stops, saying so */
    if (!strncmp(msg, XP_DB_LOST, strlen(XP_DB_LOST)))
        return XP_EDB;
    s->rejected = 1;
    if (s->db->dialect == XP_DIALECT_PGSQL && s->db->handle)
        apr_dbd_query(s->db->driver, s->db->handle, &n,
                      "ROLLBACK TO SAVEPOINT " XP_SINK_SAVEPOINT);
    if (w)
        msg = w + strlen("\" failed: ");
    return xp_error_set(err, bp, XP_EINVAL, "the database rejected the row: %s",
                        msg);
}

static xp_errcode_e sink_exec(xp_sink_t *s, apr_pool_t *bp, const char *sql,
                              int nargs, const char **args, xp_error_t *err)
{
    if (xp_db_exec(s->db, bp, sql, nargs, args, NULL, err) != XP_OK)
        return sink_rejected(s, bp, err);
    return XP_OK;
}

/* The stored row of key (values per sec->columns) or *found = 0. */
static xp_errcode_e sink_lookup(xp_sink_t *s, apr_pool_t *bp, sink_sec_t *ss,
                                const char *key, const char ***vals, int *found,
                                xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *args[1];
    int i;

    *found = 0;
    args[0] = key;
    if (xp_db_select(s->db, bp, ss->lookup_sql, 1, args, &res, err) != XP_OK)
        return sink_rejected(s, bp, err);
    *vals = apr_pcalloc(bp, sizeof(**vals) * (ss->ncols + 1));
    while (xp_db_next(s->db, bp, res, &row)) {
        if (*found)
            continue;
        *found = 1;
        for (i = 0; i < ss->ncols; i++) {
            const char *v = xp_db_str(s->db, row, i);
            (*vals)[i] = v ? apr_pstrdup(bp, v) : NULL;
        }
    }
    return XP_OK;
}

xp_errcode_e xp_sink_key_exists(xp_sink_t *s, apr_pool_t *bp,
                                const xp_section_t *sec, const char *key,
                                int *exists, xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *args[1];
    xp_error_t e2 = {0};

    *exists = 0;
    args[0] = key;
    /* A value the key column cannot even hold (PostgreSQL: "invalid
     * input syntax for type integer") names no row: that is the answer,
     * not a fault. */
    if (xp_db_select(s->db, bp, ss->exists_sql, 1, args, &res, &e2) != XP_OK) {
        sink_rejected(s, bp, &e2);
        return XP_OK;
    }
    while (xp_db_next(s->db, bp, res, &row))
        *exists = 1;
    (void)err;
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Comparing values                                                     */
/* ------------------------------------------------------------------ */

static int parse_num(const char *s, double *out)
{
    char *end;

    if (!*s)
        return 0;
    errno = 0;
    *out = strtod(s, &end);
    return *end == '\0' && errno != ERANGE;
}

static int parse_int(const char *s, apr_int64_t *out)
{
    char *end;

    if (!*s)
        return 0;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return *end == '\0' && errno != ERANGE;
}

/* 1 true, 0 false, -1 not a boolean */
static int parse_truth(const char *s)
{
    if (!strcmp(s, "1") || !strcasecmp(s, "t") || !strcasecmp(s, "true"))
        return 1;
    if (!strcmp(s, "0") || !strcasecmp(s, "f") || !strcasecmp(s, "false"))
        return 0;
    return -1;
}

static const char *json_canon(apr_pool_t *p, const char *s)
{
    xp_json_t *j = xp_json_parse(p, s, strlen(s), NULL);

    return j ? xp_json_dump(p, j) : NULL;
}

int xp_sink_same(apr_pool_t *p, xp_type_e t, const char *a, const char *b)
{
    apr_int64_t ia, ib;
    double da, db;
    const char *ca, *cb;
    int ta, tb;

    if (!a || !b) {
        /* a JSON column's null arrives as SQL NULL but may be stored as
         * the text "null" */
        if (t == XP_TYPE_JSON && (a || b))
            return !strcmp(a ? a : b, "null");
        return a == b;
    }
    if (!strcmp(a, b))
        return 1;
    switch (t) {
    case XP_TYPE_INT:
    case XP_TYPE_REAL:
        if (parse_int(a, &ia) && parse_int(b, &ib))
            return ia == ib;
        return parse_num(a, &da) && parse_num(b, &db) && da == db;
    case XP_TYPE_BOOL:
        ta = parse_truth(a);
        tb = parse_truth(b);
        return ta >= 0 && ta == tb;
    case XP_TYPE_JSON:
        ca = json_canon(p, a);
        cb = json_canon(p, b);
        return ca && cb && !strcmp(ca, cb);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Applying a row                                                       */
/* ------------------------------------------------------------------ */

static const char **sink_args(apr_pool_t *bp, const int *idx, int n,
                              const char *const *values, const char *extra)
{
    const char **a = apr_pcalloc(bp, sizeof(*a) * (n + 2));
    int i;

    for (i = 0; i < n; i++)
        a[i] = values[idx[i]];
    a[n] = extra;
    return a;
}

static int sink_differs(apr_pool_t *bp, const sink_sec_t *ss,
                        const sink_shape_t *sh, const char *const *values,
                        const char *const *stored)
{
    int i;

    for (i = 0; i < sh->nucols; i++) {
        int c = sh->ucols[i];
        if (!xp_sink_same(bp, ss->types[c], values[c], stored[c]))
            return 1;
    }
    return 0;
}

xp_errcode_e xp_sink_row(xp_sink_t *s, apr_pool_t *bp, const xp_section_t *sec,
                         xp_conflict_e on_conflict, const char *const *values,
                         const unsigned char *present, int apply,
                         xp_change_e *change, xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    sink_shape_t *sh;
    const char **stored = NULL, *key;
    char *mask = apr_palloc(bp, ss->ncols + 1);
    int i, found = 0, append = sec->mode == XP_MODE_APPEND;
    xp_errcode_e rc;

    for (i = 0; i < ss->ncols; i++)
        mask[i] = present[i] && !(append && i == ss->keyidx) ? '1' : '0';
    mask[ss->ncols] = '\0';
    sh = sink_shape(s, ss, mask);
    *change = XP_CHANGE_CREATED;
    if (!sh)
        return xp_error_set(err, bp, XP_EINVAL,
                            "the rows of this section come with more than %d "
                            "different sets of columns; give every row the "
                            "same columns",
                            XP_SINK_MAX_SHAPES);
    if (append && !apply)
        return XP_OK;
    if (append)
        return sink_exec(s, bp, sh->insert_sql, sh->ncols,
                         sink_args(bp, sh->cols, sh->ncols, values, NULL), err);
    if (ss->keyidx < 0 || !(key = values[ss->keyidx]))
        return xp_error_set(err, bp, XP_EINVAL,
                            "the key column \"%s\" is "
                            "missing or null",
                            sec->key);
    rc = sink_lookup(s, bp, ss, key, &stored, &found, err);
    if (rc != XP_OK)
        return rc;
    if (!found && !apply)
        return XP_OK;
    if (!found)
        return sink_exec(s, bp, sh->insert_sql, sh->ncols,
                         sink_args(bp, sh->cols, sh->ncols, values, NULL), err);
    if (on_conflict == XP_CONFLICT_SKIP) {
        *change = XP_CHANGE_SKIPPED;
        return XP_OK;
    }
    if (on_conflict == XP_CONFLICT_FAIL)
        return xp_error_set(err, bp, XP_EINVAL,
                            "a row with this key already exists and "
                            "on_conflict is fail");
    if (!sh->update_sql || !sink_differs(bp, ss, sh, values, stored)) {
        *change = XP_CHANGE_UNCHANGED;
        return XP_OK;
    }
    *change = XP_CHANGE_UPDATED;
    if (!apply)
        return XP_OK;
    return sink_exec(s, bp, sh->update_sql, sh->nucols,
                     sink_args(bp, sh->ucols, sh->nucols, values, key), err);
}
