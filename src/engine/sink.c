/*
 * sink.c -- the data source's write side of an import: one transaction,
 * and per-section statements that work on a batch of rows at a time:
 * look keys up, check that referenced keys exist, remember the keys the
 * archive has shown (to find duplicates), insert many rows per statement
 * and update the ones that changed; plus the value comparison that tells
 * an updated row from an unchanged one.
 *
 * Why it looks like this:
 * - Everything an import writes happens in one transaction so that the
 *   data source is left exactly as it was when anything is rejected.
 *   SQLite takes the write lock up front (BEGIN IMMEDIATE, retried while
 *   another writer holds it, as the job store does).
 * - A statement per row made an import a round trip per row and per
 *   check (PostgreSQL: under a thousand rows a second). The caller
 *   (src/engine/import.c) hands over a batch; keys are looked up with one
 *   IN (...) list per batch and new rows go in with multi-row INSERTs.
 *   IN lists have one fixed length (padded with the last key) and INSERTs
 *   a few fixed row counts, so each is one cached prepared statement.
 * - The keys seen so far live in a temporary table of the import's own
 *   connection (xp_import_seen), not in memory: the worker's memory stays
 *   the same for a thousand rows or a hundred million. They reach it on
 *   their way through a temporary file (src/engine/spill.c), and only
 *   when a lookup needs them: a clean import into empty tables, which
 *   never looks one up, does not write them twice.
 * - On PostgreSQL a failed statement aborts the whole transaction. The
 *   caller wraps a batch (and, when a batch fails, each of its rows) in a
 *   savepoint; a refused statement rolls back to the innermost one, so
 *   the transaction stays usable and every bad row is still reported.
 * - Values are bound as text (NULL binds SQL NULL); the server converts
 *   them to the column's type. The SQL for a row shape (which columns it
 *   carries) is built once per section and shape.
 * - SQLite's multi-row INSERTs run on the native handle (sq_insert), as
 *   PostgreSQL's rows go by COPY: through apr_dbd every value of a
 *   thousand-row statement was bound under a mutex taken and let go
 *   again, and the statement's 30 KB text compared with the cached one,
 *   about a quarter of the writing thread's time.
 * - Keys come back from the database in its own spelling (an integer key
 *   "007" is 7): rows are matched to keys through key_canon.
 * - An import for a tenant (xp_sink_set_tenant) looks keys up, checks
 *   refs and updates rows of a tenant= section within that tenant only:
 *   each such statement ends in "AND tenantcol = %s", the tenant bound
 *   last. The same key in another tenant is another row.
 * - types=col:bytes values are base64 text here as everywhere in the
 *   engine: selected through xp_bytes_read_sql, written through
 *   xp_bytes_write_sql (COPY: bytea's hex text), so the column holds the
 *   bytes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>

#include <apr_strings.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "xp_import.h"
#include "xp_source.h"
#include "xp_filter.h"
#include "xp_json.h"
#include "xp_bytes.h"
#include "xp_spill.h"

#define XP_SINK_SAVEPOINT "xp_import"
/* Different column sets (row shapes) per section: each is a prepared
 * statement the driver keeps until the connection closes, so a file whose
 * rows each leave out other columns must not grow them without bound. */
#define XP_SINK_MAX_SHAPES 64
/* Keys per IN (...) list. */
#define XP_SINK_IN 1000
/* Rows per multi-row INSERT, and the bound values one may carry (SQLite
 * allows 32766, PostgreSQL 65535). */
#define XP_SINK_ROWS 1000
#define XP_SINK_MAX_ARGS 30000
#define XP_SINK_MAX_DEPTH 4 /* savepoints */
#define XP_SINK_SEEN "xp_import_seen"
/* Rows per batch when the caller leaves it to the sink. A PostgreSQL
 * COPY has a fixed cost in the server (about a thousand tuple slots made
 * and dropped per statement), and each batch is a subtransaction: ten
 * thousand rows a batch cut the benchmark's 1M-row import by about 40%.
 * SQLite's statements are cheap to start; a smaller batch keeps memory
 * low. */
#define XP_SINK_BATCH_SQLITE 1000
#define XP_SINK_BATCH_PGSQL 10000

/* Statements of one section. */
typedef struct {
    const xp_section_t *sec;
    const char *table;  /* quoted */
    const char **qcols; /* quoted column names, per sec->columns */
    xp_type_e *types;   /* per sec->columns */
    int ncols, keyidx;
    int tenantidx;          /* the tenant column's index, -1 if none */
    const char *tenant;     /* the tenant bound after every key, or NULL */
    const char *tenant_sql; /* " AND tenantcol = %s", or "" */
    xp_type_e keytype;
    const char *lookup_sql, *exists_sql; /* IN lists of XP_SINK_IN keys */
    apr_hash_t *exists_by; /* column -> its exists_sql (ref=col:S.col2) */
    apr_hash_t *shapes; /* presence mask -> sink_shape_t */
    struct sink_shape_t *last;    /* the shape of the last row asked */
    unsigned char *last_present; /* and its present[] */
} sink_sec_t;

/* INSERT / UPDATE for one set of present columns. */
typedef struct sink_shape_t {
    const char *head, *tuple; /* "INSERT INTO t (a, b) VALUES ", "(%s, %s)" */
    const char *insert_sql[4]; /* per row count in sink_chunks */
    const char *update_sql;
    const char *copy_sql; /* PostgreSQL: COPY t (a, b) FROM STDIN */
    sqlite3_stmt *sq[4];  /* SQLite: insert_sql[] prepared (sq_insert) */
    int *cols;  /* indexes of the bound columns, in order */
    int ncols;  /* insert columns */
    int *ucols; /* update SET columns (no key) */
    int nucols;
    int chunks[4]; /* rows per INSERT: the largest, then 100, 10, 1 */
} sink_shape_t;

struct xp_sink_t {
    apr_pool_t *pool;
    xp_source_t *src;
    xp_db_t *db;
    apr_hash_t *secs; /* name -> sink_sec_t */
    const char *sp[XP_SINK_MAX_DEPTH]; /* open savepoints, innermost last */
    xp_spill_mark_t spm[XP_SINK_MAX_DEPTH]; /* the seen keys' at each */
    int nsp;
    xp_spill_t *seen; /* keys seen, not yet in xp_import_seen */
    const char *seen_find_sql, *seen_add_sql[4];
    int seen_chunks[4];
    apr_hash_t *pgstmts; /* PostgreSQL: SQL text -> prepared name */
    int seen_indexed;    /* xp_import_seen has its index (as far as known) */
    xp_buf_t copybuf;    /* PostgreSQL: COPY data on its way */
    const char *tenant;  /* xp_sink_set_tenant; NULL: none */
};

/* "%s, %s, ..." n times */
static const char *marks(apr_pool_t *p, int n, const char *one)
{
    apr_size_t len = strlen(one);
    char *buf = apr_palloc(p, n * (len + 2) + 1), *w = buf;
    int i;

    for (i = 0; i < n; i++) {
        if (i) {
            memcpy(w, ", ", 2);
            w += 2;
        }
        memcpy(w, one, len);
        w += len;
    }
    *w = '\0';
    return buf;
}

/* Row counts per multi-row statement of nargs values a row: the largest
 * the limits allow, then 100, 10 and 1 for what is left, so that a few
 * prepared statements serve any batch. */
static void chunk_sizes(int nargs, int *chunks)
{
    int big = XP_SINK_ROWS, i;

    if (nargs > 0 && big * nargs > XP_SINK_MAX_ARGS)
        big = XP_SINK_MAX_ARGS / nargs;
    if (big < 1)
        big = 1;
    chunks[0] = big;
    chunks[1] = big > 100 ? 100 : big;
    chunks[2] = big > 10 ? 10 : big;
    chunks[3] = 1;
    for (i = 1; i < 4; i++)
        if (chunks[i] > chunks[i - 1])
            chunks[i] = chunks[i - 1];
}

/* The statement of the largest chunk size that fits n rows. */
static int chunk_pick(const int *chunks, int n)
{
    int i;

    for (i = 0; i < 3; i++)
        if (n >= chunks[i])
            return i;
    return 3;
}

static const char *multi_sql(apr_pool_t *p, const char *head,
                             const char *tuple, int rows)
{
    return apr_pstrcat(p, head, marks(p, rows, tuple), NULL);
}

/* Finalize the statements sq_insert prepared, every section's shapes':
 * before the connection closes, which it cannot while one is left. */
static apr_status_t sink_finalize(void *data)
{
    xp_sink_t *s = data;
    apr_hash_index_t *hs, *hh;
    int c;

    for (hs = apr_hash_first(NULL, s->secs); hs; hs = apr_hash_next(hs)) {
        sink_sec_t *ss = apr_hash_this_val(hs);
        for (hh = apr_hash_first(NULL, ss->shapes); hh;
             hh = apr_hash_next(hh)) {
            sink_shape_t *sh = apr_hash_this_val(hh);
            for (c = 0; c < 4; c++) {
                sqlite3_finalize(sh->sq[c]);
                sh->sq[c] = NULL;
            }
        }
    }
    return APR_SUCCESS;
}

xp_errcode_e xp_sink_open(apr_pool_t *p, const char *driver, const char *params,
                          xp_sink_t **out, xp_error_t *err)
{
    xp_sink_t *s = apr_pcalloc(p, sizeof(*s));
    const char *head = "INSERT INTO " XP_SINK_SEEN " (s, k, line) VALUES ";
    xp_errcode_e rc;
    int i;

    *out = NULL;
    s->pool = p;
    s->secs = apr_hash_make(p);
    s->pgstmts = xp_sql_hash_make(p);
    s->seen = xp_spill_make(p);
    if ((rc = xp_source_open(p, driver, params, &s->src, err)) != XP_OK)
        return rc;
    /* registered after the connection's: runs before it closes */
    apr_pool_cleanup_register(p, s, sink_finalize, apr_pool_cleanup_null);
    s->db = xp_source_db(s->src);
    if (s->db->dialect == XP_DIALECT_SQLITE) {
        rc = xp_db_begin(s->db, p, "BEGIN IMMEDIATE", err);
        if (rc == XP_OK)
            rc = xp_db_run(s->db, p,
                           "CREATE TEMP TABLE " XP_SINK_SEEN
                           " (s TEXT NOT NULL, k TEXT NOT NULL, line INTEGER "
                           "NOT NULL)",
                           err);
    } else {
        rc = xp_db_begin(s->db, p, "BEGIN", err);
        /* The tables grow inside this transaction, where statistics
         * never see the new rows: planned as the small tables they were,
         * every key lookup would scan them whole (quadratic time). Keys
         * are looked up through their index. */
        if (rc == XP_OK)
            rc = xp_db_run(s->db, p, "SET LOCAL enable_seqscan = off", err);
        if (rc == XP_OK)
            rc = xp_db_run(s->db, p,
                           "CREATE TEMP TABLE " XP_SINK_SEEN
                           " (s text NOT NULL, k text NOT NULL, line bigint "
                           "NOT NULL) ON COMMIT DROP",
                           err);
        if (rc == XP_OK)
            rc = xp_sink_savepoint(s, p, XP_SINK_SAVEPOINT, err);
    }
    if (rc != XP_OK) {
        xp_db_rollback(s->db, p);
        xp_source_close(s->src);
        return rc;
    }
    s->seen_find_sql =
        apr_pstrcat(p, "SELECT k, line FROM " XP_SINK_SEEN " WHERE s = %s AND k IN (",
                    marks(p, XP_SINK_IN, "%s"), ")", NULL);
    chunk_sizes(3, s->seen_chunks);
    for (i = 0; i < 4; i++)
        s->seen_add_sql[i] =
            multi_sql(p, head, "(%s, %s, %s)", s->seen_chunks[i]);
    *out = s;
    return XP_OK;
}

void xp_sink_set_tenant(xp_sink_t *s, const char *tenant)
{
    s->tenant = tenant ? apr_pstrdup(s->pool, tenant) : NULL;
}

int xp_sink_batch_rows(const xp_sink_t *s)
{
    return s->db->dialect == XP_DIALECT_PGSQL ? XP_SINK_BATCH_PGSQL
                                              : XP_SINK_BATCH_SQLITE;
}

xp_source_t *xp_sink_source(xp_sink_t *s)
{
    return s ? s->src : NULL;
}

xp_errcode_e xp_sink_close(xp_sink_t *s, int commit, xp_error_t *err)
{
    xp_errcode_e rc = XP_OK;

    if (!s)
        return XP_OK;
    if (commit)
        rc = xp_db_commit(s->db, s->pool, err);
    else
        xp_db_rollback(s->db, s->pool);
    apr_pool_cleanup_run(s->pool, s, sink_finalize);
    xp_source_close(s->src);
    xp_spill_close(s->seen);
    return rc;
}

xp_errcode_e xp_sink_savepoint(xp_sink_t *s, apr_pool_t *bp, const char *name,
                               xp_error_t *err)
{
    xp_errcode_e rc;

    if (s->nsp >= XP_SINK_MAX_DEPTH)
        return xp_error_set(err, bp, XP_EDB, "savepoints nested too deep");
    if ((rc = xp_db_run(s->db, bp, apr_pstrcat(bp, "SAVEPOINT ", name, NULL),
                        err)) != XP_OK)
        return rc;
    xp_spill_mark(s->seen, &s->spm[s->nsp]);
    s->sp[s->nsp++] = name;
    return XP_OK;
}

xp_errcode_e xp_sink_release(xp_sink_t *s, apr_pool_t *bp, int rollback,
                             xp_error_t *err)
{
    const char *name;
    xp_errcode_e rc = XP_OK;

    if (s->nsp == 0)
        return XP_OK;
    name = s->sp[--s->nsp];
    if (rollback) {
        s->seen_indexed = 0;
        xp_spill_restore(s->seen, &s->spm[s->nsp]);
        rc = xp_db_run(s->db, bp,
                       apr_pstrcat(bp, "ROLLBACK TO SAVEPOINT ", name, NULL),
                       err);
    }
    if (rc == XP_OK)
        rc = xp_db_run(s->db, bp,
                       apr_pstrcat(bp, "RELEASE SAVEPOINT ", name, NULL), err);
    return rc;
}

static sink_sec_t *sink_sec(xp_sink_t *s, const xp_section_t *sec)
{
    sink_sec_t *ss = apr_hash_get(s->secs, sec->name, APR_HASH_KEY_STRING);
    apr_pool_t *p = s->pool;
    const char *list = NULL, *qkey, *in;
    int i;

    if (ss)
        return ss;
    ss = apr_pcalloc(p, sizeof(*ss));
    ss->sec = sec;
    ss->ncols = sec->columns->nelts;
    ss->table = xp_sql_ident(p, sec->table ? sec->table : sec->name);
    ss->qcols = apr_pcalloc(p, sizeof(*ss->qcols) * (ss->ncols + 1));
    ss->types = apr_pcalloc(p, sizeof(*ss->types) * (ss->ncols + 1));
    ss->last_present = apr_pcalloc(p, ss->ncols + 1);
    ss->keyidx = ss->tenantidx = -1;
    for (i = 0; i < ss->ncols; i++) {
        const char *c = APR_ARRAY_IDX(sec->columns, i, const char *), *r;
        ss->qcols[i] = r = xp_sql_ident(p, c);
        ss->types[i] = xp_section_type(sec, c);
        if (!strcmp(c, sec->key))
            ss->keyidx = i;
        if (sec->tenant && !strcmp(c, sec->tenant))
            ss->tenantidx = i;
        if (ss->types[i] == XP_TYPE_BYTES)
            r = xp_bytes_read_sql(p, s->db->dialect, r);
        list = list ? apr_pstrcat(p, list, ", ", r, NULL) : r;
    }
    ss->keytype = xp_section_type(sec, sec->key);
    ss->tenant = sec->tenant ? s->tenant : NULL;
    ss->tenant_sql = ss->tenant ? apr_pstrcat(p, " AND ",
                                              xp_sql_ident(p, sec->tenant),
                                              " = %s", NULL)
                                : "";
    qkey = xp_sql_ident(p, sec->key);
    in = marks(p, XP_SINK_IN, "%s");
    /* the key comes last again: a section's columns need not include it */
    ss->lookup_sql =
        apr_psprintf(p, "SELECT %s%s%s FROM %s WHERE %s IN (%s)%s",
                     list ? list : "", list ? ", " : "", qkey, ss->table,
                     qkey, in, ss->tenant_sql);
    ss->exists_sql =
        apr_psprintf(p, "SELECT %s FROM %s WHERE %s IN (%s)%s", qkey,
                     ss->table, qkey, in, ss->tenant_sql);
    ss->shapes = apr_hash_make(p);
    ss->exists_by = apr_hash_make(p);
    apr_hash_set(s->secs, sec->name, APR_HASH_KEY_STRING, ss);
    return ss;
}

/* The INSERT and UPDATE of the columns marked in mask ('1' = written);
 * NULL past XP_SINK_MAX_SHAPES. */
static sink_shape_t *sink_shape(xp_sink_t *s, sink_sec_t *ss, const char *mask)
{
    sink_shape_t *sh = apr_hash_get(ss->shapes, mask, APR_HASH_KEY_STRING);
    apr_pool_t *p = s->pool;
    const char *cols = NULL, *sets = NULL, *tuple = NULL, *mark;
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
        mark = ss->types[i] == XP_TYPE_BYTES
                   ? xp_bytes_write_sql(s->db->dialect)
                   : "%s";
        tuple = apr_pstrcat(p, tuple ? tuple : "", tuple ? ", " : "", mark,
                            NULL);
        /* the key and the tenant say which row: never changed */
        if (i == ss->keyidx || i == ss->tenantidx)
            continue;
        sh->ucols[sh->nucols++] = i;
        sets = apr_pstrcat(p, sets ? sets : "", sets ? ", " : "", ss->qcols[i],
                           " = ", mark, NULL);
    }
    chunk_sizes(sh->ncols, sh->chunks);
    if (cols) {
        sh->head = apr_psprintf(p, "INSERT INTO %s (%s) VALUES ", ss->table,
                                cols);
        sh->tuple = apr_pstrcat(p, "(", tuple, ")", NULL);
        sh->copy_sql =
            apr_psprintf(p, "COPY %s (%s) FROM STDIN", ss->table, cols);
    } else {
        /* nothing but defaults: one row per statement */
        sh->chunks[0] = sh->chunks[1] = sh->chunks[2] = 1;
        for (i = 0; i < 4; i++)
            sh->insert_sql[i] = apr_psprintf(
                p, "INSERT INTO %s DEFAULT VALUES", ss->table);
    }
    if (sets)
        sh->update_sql =
            apr_psprintf(p, "UPDATE %s SET %s WHERE %s = %%s%s", ss->table,
                         sets,
                         ss->keyidx >= 0 ? ss->qcols[ss->keyidx]
                                         : xp_sql_ident(p, ss->sec->key),
                         ss->tenant_sql);
    apr_hash_set(ss->shapes, apr_pstrdup(p, mask), APR_HASH_KEY_STRING, sh);
    return sh;
}

/* A statement the database refused: make the transaction usable again
 * (back to the innermost savepoint) and keep only the driver's own
 * words. A lost connection is nobody's row: XP_EDB stops the import. */
static xp_errcode_e sink_refused(xp_sink_t *s, apr_pool_t *bp, xp_error_t *err)
{
    const char *msg = err && err->message ? err->message : "";
    const char *w = strstr(msg, "\" failed: ");
    int n = 0;

    if (xp_db_lost(XP_EDB, err))
        return XP_EDB;
    s->seen_indexed = 0;
    if (s->nsp > 0 && s->db->handle)
        apr_dbd_query(s->db->driver, s->db->handle, &n,
                      apr_pstrcat(bp, "ROLLBACK TO SAVEPOINT ",
                                  s->sp[s->nsp - 1], NULL));
    if (w)
        msg = w + strlen("\" failed: ");
    return xp_error_set(err, bp, XP_EINVAL, "the database rejected the row: %s",
                        msg);
}

/* A statement as an error names it: quoted, cut after 60 bytes. */
static const char *sql_what(apr_pool_t *p, const char *sql)
{
    return apr_psprintf(p, "\"%.60s%s\"", sql, strlen(sql) > 60 ? "..." : "");
}

/* PostgreSQL's words for a refused statement, as a person reads them:
 * its primary message and detail, without the "ERROR:" prefix and the
 * CONTEXT lines (so a trigger's RAISE EXCEPTION comes back as its own
 * message). A "Failing row contains (...)" detail is left out: it
 * repeats the whole row, a plain password before hash= made it a hash
 * among it, and the message already names line and key. Copied into bp
 * before res is cleared; NULL when res says nothing (the connection
 * broke). */
static const char *pg_words(apr_pool_t *bp, const PGresult *res)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                        : NULL;
    const char *d = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)
                        : NULL;

    if (!m || !*m)
        return NULL;
    if (d && !strncmp(d, "Failing row contains", 20))
        d = NULL;
    return d && *d ? apr_pstrcat(bp, m, " (", d, ")", NULL)
                   : apr_pstrdup(bp, m);
}

/* A statement PostgreSQL refused (words: pg_words, NULL if none): as
 * sink_refused words it; a connection that broke says so instead. */
static xp_errcode_e pg_refused(xp_sink_t *s, apr_pool_t *bp, PGconn *c,
                               const char *sql, const char *words,
                               xp_error_t *err)
{
    if (!words || PQstatus(c) != CONNECTION_OK)
        xp_db_fail(s->db, bp, err, 1, sql_what(bp, sql));
    else
        xp_error_set(err, bp, XP_EINVAL, "%s (pgsql): %s failed: %s",
                     s->db->what, sql_what(bp, sql), words);
    return sink_refused(s, bp, err);
}

/* PostgreSQL: the connection's own prepared statements. apr_dbd's pgsql
 * driver either sends the SQL text with every execution (parsed and
 * planned again each time: most of the server's work for a 1000-row
 * INSERT) or, given a name, types every "%s" as varchar, which an
 * integer column will not compare with. libpq's PQprepare lets the
 * server infer each parameter's type from where it is used. */
static const char *pg_stmt(xp_sink_t *s, apr_pool_t *bp, PGconn *c,
                           const char *sql, int nargs, xp_error_t *err)
{
    const char *name = apr_hash_get(s->pgstmts, sql, APR_HASH_KEY_STRING);
    char *pgsql, *w;
    const char *r;
    PGresult *res;
    int i = 0, ok;

    if (name)
        return name;
    /* "%s" placeholders as $1, $2, ...; "%%" as "%" */
    w = pgsql = apr_palloc(bp, strlen(sql) + 8 * (apr_size_t)nargs + 1);
    for (r = sql; *r; r++) {
        if (r[0] == '%' && r[1] == 's') {
            w += sprintf(w, "$%d", ++i);
            r++;
        } else if (r[0] == '%' && r[1] == '%') {
            *w++ = '%';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    name = apr_psprintf(s->pool, "xp_sink_%u", apr_hash_count(s->pgstmts));
    res = PQprepare(c, name, pgsql, nargs, NULL);
    ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        pg_refused(s, bp, c, sql, pg_words(bp, res), err);
        PQclear(res);
        return NULL;
    }
    PQclear(res);
    apr_hash_set(s->pgstmts, apr_pstrdup(s->pool, sql), APR_HASH_KEY_STRING,
                 name);
    return name;
}

/* A row of a result: its columns as text (NULL = SQL NULL). */
typedef void (*sink_row_fn)(void *baton, const char *const *vals, int ncols);

/* Run sql with args; each result row to fn (when not NULL). A refusal
 * goes through sink_refused. */
static xp_errcode_e sink_query(xp_sink_t *s, apr_pool_t *bp, const char *sql,
                               int nargs, const char **args, sink_row_fn fn,
                               void *baton, xp_error_t *err)
{
    const char **vals;
    int ncols, i;

    if (s->db->dialect == XP_DIALECT_PGSQL) {
        PGconn *c = apr_dbd_native_handle(s->db->driver, s->db->handle);
        const char *name = pg_stmt(s, bp, c, sql, nargs, err);
        PGresult *res;
        int st, r;

        if (!name)
            return err ? err->code : XP_EINVAL; /* refused by pg_stmt */
        res = PQexecPrepared(c, name, nargs, args, NULL, NULL, 0);
        st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            const char *words = pg_words(bp, res);
            PQclear(res);
            return pg_refused(s, bp, c, sql, words, err);
        }
        ncols = PQnfields(res);
        vals = apr_palloc(bp, sizeof(*vals) * (ncols + 1));
        for (r = 0; fn && r < PQntuples(res); r++) {
            for (i = 0; i < ncols; i++)
                vals[i] = PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
            fn(baton, vals, ncols);
        }
        PQclear(res);
        return XP_OK;
    }
    if (!fn) {
        if (xp_db_exec(s->db, bp, sql, nargs, args, NULL, err) != XP_OK)
            return sink_refused(s, bp, err);
        return XP_OK;
    }
    {
        apr_dbd_results_t *res;
        apr_dbd_row_t *row = NULL;

        if (xp_db_select(s->db, bp, sql, nargs, args, &res, err) != XP_OK)
            return sink_refused(s, bp, err);
        ncols = apr_dbd_num_cols(s->db->driver, res);
        vals = apr_palloc(bp, sizeof(*vals) * (ncols + 1));
        while (xp_db_next(s->db, bp, res, &row)) {
            for (i = 0; i < ncols; i++)
                vals[i] = xp_db_str(s->db, row, i);
            fn(baton, vals, ncols);
        }
    }
    return XP_OK;
}

static xp_errcode_e sink_exec(xp_sink_t *s, apr_pool_t *bp, const char *sql,
                              int nargs, const char **args, xp_error_t *err)
{
    return sink_query(s, bp, sql, nargs, args, NULL, NULL, err);
}

/* One field of COPY's text format: \N for NULL, backslash escapes for
 * the characters that separate fields and rows. */
static void copy_field(xp_buf_t *b, const char *v)
{
    const char *run = v;

    if (!v) {
        xp_buf_add(b, "\\N", 2);
        return;
    }
    for (; *v; v++) {
        char e;
        switch (*v) {
        case '\\': e = '\\'; break;
        case '\t': e = 't'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        default: continue;
        }
        xp_buf_add(b, run, v - run);
        xp_buf_addc(b, '\\');
        xp_buf_addc(b, e);
        run = v + 1;
    }
    xp_buf_add(b, run, v - run);
}

/* Where COPY finds its rows: field i of row r (NULL = SQL NULL). */
typedef const char *(*copy_cell_fn)(void *baton, int r, int i);

/* COPY data goes to the server in pieces of about this size, through
 * one buffer per import: a batch's rows are never all in text at once. */
#define XP_SINK_COPY_CHUNK (64 * 1024)

/*
 * PostgreSQL: nrows rows of ncols into a table with COPY ... FROM STDIN.
 * A multi-row INSERT makes the server build and run an expression per
 * value; COPY only converts the text. A refused row fails the whole
 * COPY, like the INSERT it replaces.
 */
static xp_errcode_e pg_copy(xp_sink_t *s, apr_pool_t *bp, const char *sql,
                            int ncols, int nrows, copy_cell_fn cell,
                            void *baton, xp_error_t *err)
{
    PGconn *c = apr_dbd_native_handle(s->db->driver, s->db->handle);
    xp_buf_t *b = &s->copybuf;
    const char *words = NULL;
    PGresult *res;
    int r, i, ok, started;

    if (!b->data)
        xp_buf_init(b, s->pool, XP_SINK_COPY_CHUNK + 1024);
    xp_buf_reset(b);
    res = PQexec(c, sql);
    started = ok = res && PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    for (r = 0; ok && r < nrows; r++) {
        for (i = 0; i < ncols; i++) {
            if (i)
                xp_buf_addc(b, '\t');
            copy_field(b, cell(baton, r, i));
        }
        xp_buf_addc(b, '\n');
        if (b->len >= XP_SINK_COPY_CHUNK || r == nrows - 1) {
            ok = PQputCopyData(c, b->data, (int)b->len) == 1;
            xp_buf_reset(b);
        }
    }
    if (started) {
        ok = PQputCopyEnd(c, ok ? NULL : "client failed to send") == 1 && ok;
        while ((res = PQgetResult(c)) != NULL) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                if (ok)
                    words = pg_words(bp, res);
                ok = 0;
            }
            PQclear(res);
        }
    }
    if (!ok)
        return pg_refused(s, bp, c, sql, words, err);
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

static int parse_num(const char *s, double *out);
static int parse_int(const char *s, apr_int64_t *out);

/* A key as the database spells it back: integers and reals in their
 * shortest form, anything else as it is. */
static const char *key_canon(apr_pool_t *p, xp_type_e t, const char *k)
{
    apr_int64_t i;
    double d;

    if (t == XP_TYPE_INT) {
        /* already as the database writes it (most keys): as it is */
        const char *dg = k + (*k == '-');
        if (*dg >= '1' && *dg <= '9' &&
            strspn(dg, "0123456789") == strlen(dg) && strlen(dg) <= 18)
            return k;
        if (parse_int(k, &i))
            return apr_psprintf(p, "%" APR_INT64_T_FMT, i);
        return k;
    }
    if (t == XP_TYPE_REAL && parse_num(k, &d))
        return apr_psprintf(p, "%.17g", d);
    return k;
}

/* args: first (unless NULL), XP_SINK_IN keys from keys[from..n), the
 * last one repeated, then last (unless NULL) */
static const char **in_args(apr_pool_t *bp, const char *first,
                            const char *const *keys, int from, int n,
                            const char *last)
{
    int extra = first ? 1 : 0, i;
    const char **a = apr_palloc(bp, sizeof(*a) * (XP_SINK_IN + extra + 1));

    if (first)
        a[0] = first;
    for (i = 0; i < XP_SINK_IN; i++)
        a[extra + i] = keys[from + i < n ? from + i : n - 1];
    a[extra + XP_SINK_IN] = last;
    return a;
}

/* Rows of a lookup, by their canonical key. */
typedef struct {
    apr_pool_t *p;
    apr_hash_t *found;
    xp_type_e type; /* of the column looked up */
    int keycol;     /* where its value is in a row */
    int copy;       /* keep the row (lookup) or only the key (exists) */
} found_t;

static void found_row(void *baton, const char *const *vals, int ncols)
{
    found_t *f = baton;
    const char **row = NULL;
    int i;

    if (f->keycol >= ncols || !vals[f->keycol])
        return;
    if (f->copy) {
        row = apr_palloc(f->p, sizeof(*row) * (ncols + 1));
        for (i = 0; i < ncols; i++)
            row[i] = vals[i] ? apr_pstrdup(f->p, vals[i]) : NULL;
    }
    apr_hash_set(f->found,
                 key_canon(f->p, f->type, apr_pstrdup(f->p, vals[f->keycol])),
                 APR_HASH_KEY_STRING, row ? (void *)row : (void *)"");
}

/* The exists statement of column (NULL: the key) of ss. */
static const char *exists_sql(xp_sink_t *s, sink_sec_t *ss, const char *column)
{
    const char *sql, *q;

    if (!column || !strcmp(column, ss->sec->key))
        return ss->exists_sql;
    if ((sql = apr_hash_get(ss->exists_by, column, APR_HASH_KEY_STRING)))
        return sql;
    q = xp_sql_ident(s->pool, column);
    sql = apr_psprintf(s->pool, "SELECT %s FROM %s WHERE %s IN (%s)%s", q,
                       ss->table, q, marks(s->pool, XP_SINK_IN, "%s"),
                       ss->tenant_sql);
    apr_hash_set(ss->exists_by, apr_pstrdup(s->pool, column),
                 APR_HASH_KEY_STRING, sql);
    return sql;
}

/* Look keys[0..n) up in sec's table: stored[i] = the row (when stored
 * is given), else exists[i] = whether one has that value in column
 * (NULL: the key). */
static xp_errcode_e sink_find(xp_sink_t *s, apr_pool_t *bp,
                              const xp_section_t *sec, const char *column,
                              int n, const char *const *keys,
                              const char ***stored, unsigned char *exists,
                              xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    const char *sql = stored ? ss->lookup_sql : exists_sql(s, ss, column);
    found_t f;
    void *row;
    xp_errcode_e rc;
    int from, i;

    f.p = bp;
    f.found = apr_hash_make(bp);
    f.type = column ? xp_section_type(sec, column) : ss->keytype;
    f.copy = stored != NULL;
    f.keycol = f.copy ? ss->ncols : 0;
    for (from = 0; from < n; from += XP_SINK_IN)
        if ((rc = sink_query(s, bp, sql, XP_SINK_IN + (ss->tenant != NULL),
                             in_args(bp, NULL, keys, from, n, ss->tenant),
                             found_row, &f, err)) != XP_OK)
            return rc;
    for (i = 0; i < n; i++) {
        row = apr_hash_get(f.found, key_canon(bp, f.type, keys[i]),
                           APR_HASH_KEY_STRING);
        if (stored)
            stored[i] = row;
        else
            exists[i] = row != NULL;
    }
    return XP_OK;
}

xp_errcode_e xp_sink_lookup(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, int n,
                            const char *const *keys, const char ***stored,
                            xp_error_t *err)
{
    return sink_find(s, bp, sec, NULL, n, keys, stored, NULL, err);
}

xp_errcode_e xp_sink_exist(xp_sink_t *s, apr_pool_t *bp,
                           const xp_section_t *sec, const char *column, int n,
                           const char *const *keys, unsigned char *exists,
                           xp_error_t *err)
{
    return sink_find(s, bp, sec, column, n, keys, NULL, exists, err);
}

/* The rows of a seen-keys COPY: section, key, line. */
typedef struct {
    const char *section;
    const char *const *keys;
    const long *lines;
    char num[24];
} seen_rows_t;

static const char *seen_cell(void *baton, int r, int i)
{
    seen_rows_t *sr = baton;

    if (i == 0)
        return sr->section;
    if (i == 1)
        return sr->keys[r];
    apr_snprintf(sr->num, sizeof(sr->num), "%ld", sr->lines[r]);
    return sr->num;
}

/* Rows into xp_import_seen: section with keys[i] and lines[i]. */
static xp_errcode_e seen_insert(xp_sink_t *s, apr_pool_t *bp,
                                const char *section, int n,
                                const char *const *keys, const long *lines,
                                xp_error_t *err)
{
    int at = 0, i, c, rows;

    if (s->db->dialect == XP_DIALECT_PGSQL) {
        seen_rows_t sr;
        sr.section = section;
        sr.keys = keys;
        sr.lines = lines;
        return pg_copy(s, bp, "COPY " XP_SINK_SEEN " (s, k, line) FROM STDIN",
                       3, n, seen_cell, &sr, err);
    }
    while (at < n) {
        c = chunk_pick(s->seen_chunks, n - at);
        rows = s->seen_chunks[c];
        {
            const char **a = apr_palloc(bp, sizeof(*a) * rows * 3);
            for (i = 0; i < rows; i++) {
                a[3 * i] = section;
                a[3 * i + 1] = keys[at + i];
                a[3 * i + 2] = apr_ltoa(bp, lines[at + i]);
            }
            if (sink_exec(s, bp, s->seen_add_sql[c], rows * 3, a, err) != XP_OK)
                return err->code;
        }
        at += rows;
    }
    return XP_OK;
}

/* The keys added so far into xp_import_seen, ten thousand at a time. */
static xp_errcode_e seen_flush(xp_sink_t *s, apr_pool_t *bp, xp_error_t *err)
{
    apr_pool_t *cp;
    const char *name, **keys;
    long *lines;
    xp_errcode_e rc = XP_OK;
    int n = 1;

    if (!xp_spill_pending(s->seen))
        return XP_OK;
    apr_pool_create(&cp, bp);
    while (rc == XP_OK && n > 0) {
        apr_pool_clear(cp);
        rc = xp_spill_take(s->seen, cp, 10000, &name, &n, &keys, &lines, err);
        if (rc == XP_OK && n > 0)
            rc = seen_insert(s, cp, name, n, keys, lines, err);
    }
    if (rc != XP_OK)
        rc = xp_error_set(err, bp, rc, "%s", err->message);
    apr_pool_destroy(cp);
    return rc;
}

xp_errcode_e xp_sink_seen_add(xp_sink_t *s, apr_pool_t *bp, const char *section,
                              int n, const char *const *keys, const long *lines,
                              xp_error_t *err)
{
    (void)bp;
    return xp_spill_add(s->seen, section, n, keys, lines, err);
}

typedef struct {
    apr_pool_t *p;
    apr_hash_t *found;
} seen_t;

static void seen_row(void *baton, const char *const *vals, int ncols)
{
    seen_t *f = baton;
    long *line;

    if (ncols < 2 || !vals[0] || !vals[1])
        return;
    line = apr_palloc(f->p, sizeof(*line));
    *line = atol(vals[1]);
    apr_hash_set(f->found, apr_pstrdup(f->p, vals[0]), APR_HASH_KEY_STRING,
                 line);
}

xp_errcode_e xp_sink_seen_find(xp_sink_t *s, apr_pool_t *bp,
                               const char *section, int n,
                               const char *const *keys, long *first,
                               xp_error_t *err)
{
    seen_t f;
    long *line;
    xp_errcode_e rc;
    int from, i;

    /* The keys seen are only asked about once a key turns up that the
     * table already has (or after a rejection); a fresh import never
     * does. They are written into the table then (seen_flush), and its
     * index built, not kept up to date all along.
     * It is keyed (k, s): with (s, k) PostgreSQL reads the section's
     * whole range from it and filters the IN list. A rollback to a
     * savepoint may take it away again: IF NOT EXISTS. */
    if ((rc = seen_flush(s, bp, err)) != XP_OK)
        return rc;
    if (!s->seen_indexed) {
        if ((rc = sink_exec(s, bp,
                            "CREATE INDEX IF NOT EXISTS " XP_SINK_SEEN
                            "_k ON " XP_SINK_SEEN " (k, s)",
                            0, NULL, err)) != XP_OK)
            return rc;
        s->seen_indexed = 1;
    }
    f.p = bp;
    f.found = apr_hash_make(bp);
    for (from = 0; from < n; from += XP_SINK_IN)
        if ((rc = sink_query(s, bp, s->seen_find_sql, XP_SINK_IN + 1,
                             in_args(bp, section, keys, from, n, NULL),
                             seen_row, &f, err)) != XP_OK)
            return rc;
    for (i = 0; i < n; i++) {
        line = apr_hash_get(f.found, keys[i], APR_HASH_KEY_STRING);
        first[i] = line ? *line : 0;
    }
    return XP_OK;
}

static void fresh_row(void *baton, const char *const *vals, int ncols)
{
    int *fresh = baton;

    *fresh = ncols >= 2 && vals[0] && vals[1] && !strcmp(vals[0], "0") &&
             strcmp(vals[1], "0") != 0;
}

/* The statement that says whether sec's table is empty (0) and how many
 * unique single-column indexes its key has; its arguments into args. */
static const char *fresh_sql(xp_sink_t *s, apr_pool_t *bp,
                             const xp_section_t *sec, const char **args,
                             int *nargs)
{
    sink_sec_t *ss = sink_sec(s, sec);
    const char *name = sec->table ? sec->table : sec->name;

    if (s->db->dialect == XP_DIALECT_PGSQL) {
        args[0] = ss->table;
        args[1] = sec->key;
        *nargs = 2;
        return apr_psprintf(
            bp,
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) "
            "e), (SELECT count(*) FROM pg_index i JOIN pg_attribute "
            "a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = %%s::regclass AND i.indisunique AND "
            "i.indimmediate AND i.indisvalid AND i.indnkeyatts = 1 "
            "AND i.indpred IS NULL AND i.indexprs IS NULL AND "
            "a.attname = %%s)",
            ss->table);
    }
    /* SQLite: the key is the rowid (the one INTEGER PRIMARY KEY column) or
     * has a unique index of its own, not partial */
    args[0] = args[2] = args[3] = name;
    args[1] = args[4] = sec->key;
    *nargs = 5;
    return apr_psprintf(
        bp,
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1)), "
        "(SELECT count(*) FROM pragma_table_info(%%s) WHERE pk = 1 AND "
        "name = %%s AND upper(type) = 'INTEGER') * (SELECT count(*) = 1 "
        "FROM pragma_table_info(%%s) WHERE pk > 0) + (SELECT count(*) FROM "
        "pragma_index_list(%%s) l WHERE l.\"unique\" AND NOT l.partial AND "
        "(SELECT count(*) FROM pragma_index_info(l.name)) = 1 AND "
        "(SELECT name FROM pragma_index_info(l.name)) = %%s)",
        ss->table);
}

xp_errcode_e xp_sink_fresh(xp_sink_t *s, apr_pool_t *bp,
                           const xp_section_t *sec, int *fresh,
                           xp_error_t *err)
{
    const char *args[5], *sql;
    xp_error_t e = {0};
    xp_errcode_e rc;
    int f = 0, nargs;

    *fresh = 0;
    if (sec->mode == XP_MODE_APPEND)
        return XP_OK;
    sql = fresh_sql(s, bp, sec, args, &nargs);
    /* its own savepoint: a refusal here must not undo what went before */
    if ((rc = xp_sink_savepoint(s, bp, "xp_fresh", err)) != XP_OK)
        return rc;
    rc = sink_query(s, bp, sql, nargs, args, fresh_row, &f, &e);
    if (rc == XP_EDB)
        return xp_error_set(err, bp, rc, "%s", e.message);
    if ((rc = xp_sink_release(s, bp, rc != XP_OK, err)) != XP_OK)
        return rc;
    *fresh = f;
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

/* Two base64 texts of the same bytes (padding bits may differ). */
static int bytes_same(apr_pool_t *p, const char *a, const char *b)
{
    apr_size_t na, nb;
    const unsigned char *da, *db;

    if (!xp_base64_valid(a) || !xp_base64_valid(b))
        return 0;
    da = xp_base64_decode(p, a, &na);
    db = xp_base64_decode(p, b, &nb);
    return na == nb && !memcmp(da, db, na);
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
    case XP_TYPE_BYTES:
        return bytes_same(p, a, b);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

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

/* The shape of a row (append sections never write the key). */
static sink_shape_t *row_shape(xp_sink_t *s, apr_pool_t *bp, sink_sec_t *ss,
                               const unsigned char *present, xp_error_t *err)
{
    char *mask;
    int append = ss->sec->mode == XP_MODE_APPEND, i;
    sink_shape_t *sh;

    /* nearly every row has the shape of the row before: no mask, no hash */
    if (ss->last && !memcmp(ss->last_present, present, ss->ncols))
        return ss->last;
    mask = apr_palloc(bp, ss->ncols + 1);
    for (i = 0; i < ss->ncols; i++)
        mask[i] = present[i] && !(append && i == ss->keyidx) ? '1' : '0';
    mask[ss->ncols] = '\0';
    if ((sh = sink_shape(s, ss, mask)) != NULL) {
        memcpy(ss->last_present, present, ss->ncols);
        ss->last = sh;
    }
    if (!sh)
        xp_error_set(err, bp, XP_EINVAL,
                     "the rows of this section come with more than %d "
                     "different sets of columns; give every row the same "
                     "columns",
                     XP_SINK_MAX_SHAPES);
    return sh;
}

xp_errcode_e xp_sink_classify(xp_sink_t *s, apr_pool_t *bp,
                              const xp_section_t *sec,
                              xp_conflict_e on_conflict,
                              const char *const *values,
                              const unsigned char *present,
                              const char *const *stored, xp_sink_op_e *op,
                              xp_change_e *change, xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    sink_shape_t *sh = row_shape(s, bp, ss, present, err);

    *op = XP_SINK_NONE;
    *change = XP_CHANGE_CREATED;
    if (!sh)
        return XP_EINVAL;
    if (sec->mode == XP_MODE_APPEND || !stored) {
        *op = XP_SINK_INSERT;
        return XP_OK;
    }
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
    *op = XP_SINK_UPDATE;
    return XP_OK;
}

/* The rows of an insert COPY: the shape's columns of each row. */
typedef struct {
    apr_pool_t *bp;
    const sink_sec_t *ss;
    const sink_shape_t *sh;
    const xp_sink_wrow_t *const *rows;
} insert_rows_t;

static const char *insert_cell(void *baton, int r, int i)
{
    const insert_rows_t *ir = baton;
    int c = ir->sh->cols[i];
    const char *v = ir->rows[r]->values[c];

    /* COPY takes no decode(): bytea's own text input */
    if (v && ir->ss->types[c] == XP_TYPE_BYTES)
        return xp_bytes_pg_text(ir->bp, v);
    return v;
}

/* SQLite: rows[0..m) by statement c of shape sh (m rows), on the native
 * handle under one hold of its mutex. A refusal goes through
 * sink_refused, worded as xp_db_exec's. */
static xp_errcode_e sq_insert(xp_sink_t *s, apr_pool_t *bp, sink_shape_t *sh,
                              int c, const xp_sink_wrow_t *const *rows, int m,
                              xp_error_t *err)
{
    sqlite3 *h = apr_dbd_native_handle(s->db->driver, s->db->handle);
    sqlite3_mutex *mx = sqlite3_db_mutex(h);
    int r = SQLITE_OK, k, i, j = 1;
    xp_errcode_e rc = XP_OK;

    sqlite3_mutex_enter(mx);
    if (!sh->sq[c])
        r = sqlite3_prepare_v3(h, xp_db_sqlite_sql(bp, sh->insert_sql[c]), -1,
                               SQLITE_PREPARE_PERSISTENT, &sh->sq[c], NULL);
    for (k = 0; r == SQLITE_OK && k < m; k++)
        for (i = 0; r == SQLITE_OK && i < sh->ncols; i++, j++)
            r = xp_db_sqlite_bind(sh->sq[c], j, rows[k]->values[sh->cols[i]]);
    if (r == SQLITE_OK && (r = sqlite3_step(sh->sq[c])) == SQLITE_DONE)
        r = SQLITE_OK;
    if (r != SQLITE_OK)
        rc = xp_db_fail(s->db, bp, err, r, sql_what(bp, sh->insert_sql[c]));
    sqlite3_reset(sh->sq[c]);
    sqlite3_mutex_leave(mx);
    return rc == XP_OK ? XP_OK : sink_refused(s, bp, err);
}

/* Insert rows[from..to), all of shape sh, in as few statements as the
 * chunk sizes allow. */
static xp_errcode_e insert_shape(xp_sink_t *s, apr_pool_t *bp,
                                 const sink_sec_t *ss, sink_shape_t *sh,
                                 const xp_sink_wrow_t *const *rows, int n,
                                 xp_error_t *err)
{
    int at = 0, c, k, i, m;
    xp_errcode_e rc;

    /* one row (a batch gone row by row) as an INSERT: the database's
     * message then speaks of the row, not of "COPY ..., line 1" */
    if (s->db->dialect == XP_DIALECT_PGSQL && sh->copy_sql && n > 1) {
        insert_rows_t ir;
        ir.bp = bp;
        ir.ss = ss;
        ir.sh = sh;
        ir.rows = rows;
        return pg_copy(s, bp, sh->copy_sql, sh->ncols, n, insert_cell, &ir,
                       err);
    }
    while (at < n) {
        c = chunk_pick(sh->chunks, n - at);
        m = sh->chunks[c];
        if (!sh->insert_sql[c])
            sh->insert_sql[c] = multi_sql(s->pool, sh->head, sh->tuple, m);
        if (s->db->dialect == XP_DIALECT_SQLITE) {
            if ((rc = sq_insert(s, bp, sh, c, rows + at, m, err)) != XP_OK)
                return rc;
        } else {
            const char **a = apr_palloc(bp, sizeof(*a) * (m * sh->ncols + 1));
            for (k = 0; k < m; k++)
                for (i = 0; i < sh->ncols; i++)
                    a[k * sh->ncols + i] = rows[at + k]->values[sh->cols[i]];
            if ((rc = sink_exec(s, bp, sh->insert_sql[c], m * sh->ncols, a,
                                err)) != XP_OK)
                return rc;
        }
        at += m;
    }
    return XP_OK;
}

xp_errcode_e xp_sink_insert(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, int n,
                            const xp_sink_wrow_t *rows, xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    const xp_sink_wrow_t **group = apr_palloc(bp, sizeof(*group) * (n + 1));
    sink_shape_t **shapes = apr_palloc(bp, sizeof(*shapes) * (n + 1));
    unsigned char *done = apr_pcalloc(bp, n + 1);
    xp_errcode_e rc;
    int i, j, g;

    for (i = 0; i < n; i++)
        if (!(shapes[i] = row_shape(s, bp, ss, rows[i].present, err)))
            return XP_EINVAL;
    /* rows of one shape together, in their order (almost always all) */
    for (i = 0; i < n; i++) {
        if (done[i])
            continue;
        for (j = i, g = 0; j < n; j++)
            if (!done[j] && shapes[j] == shapes[i]) {
                group[g++] = &rows[j];
                done[j] = 1;
            }
        if ((rc = insert_shape(s, bp, ss, shapes[i], group, g, err)) != XP_OK)
            return rc;
    }
    return XP_OK;
}

xp_errcode_e xp_sink_update(xp_sink_t *s, apr_pool_t *bp,
                            const xp_section_t *sec, const char *const *values,
                            const unsigned char *present, xp_error_t *err)
{
    sink_sec_t *ss = sink_sec(s, sec);
    sink_shape_t *sh = row_shape(s, bp, ss, present, err);
    const char **a;
    int i;

    if (!sh)
        return XP_EINVAL;
    if (!sh->update_sql || ss->keyidx < 0)
        return XP_OK;
    a = apr_palloc(bp, sizeof(*a) * (sh->nucols + 2));
    for (i = 0; i < sh->nucols; i++)
        a[i] = values[sh->ucols[i]];
    a[sh->nucols] = values[ss->keyidx];
    a[sh->nucols + 1] = ss->tenant;
    return sink_exec(s, bp, sh->update_sql, sh->nucols + 1 + (ss->tenant != NULL),
                     a, err);
}
