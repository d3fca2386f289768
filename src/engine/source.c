/*
 * source.c -- apr-util DBD access: a small connection helper (xp_db_t)
 * shared with the job store, and the application database
 * (XportDataSource): column discovery and consistent, streamed reads.
 *
 * What the DBD drivers do that shapes this file (apr-util 1.6):
 * - apr_dbd_prepare turns every "%<letter>" into the driver's placeholder
 *   and "%%" into "%". All our values are bound as strings ("%s").
 * - We prepare with a NULL label: pgsql then sends the statement with
 *   PQexecParams and lets the server infer parameter types (a label makes
 *   it PREPARE every parameter as varchar, which breaks "bigint < $1").
 *   sqlite3 keeps the compiled statement until the connection closes, so
 *   statements are cached per connection by their SQL text.
 * - Selects are run "random access": sqlite3 reads every row of a select
 *   into the pool anyway, pgsql keeps one PGresult freed with the pool.
 *   So a section's rows are not read through apr_dbd at all: both read on
 *   the connection's native handle (xp_source_scan, at the end), where
 *   one statement streams in constant memory.
 * - A NULL argument binds SQL NULL (both drivers); apr_dbd_datum_get with
 *   APR_DBD_TYPE_STRING answers APR_ENOENT for a NULL value (pgsql's
 *   apr_dbd_get_entry would answer "").
 * - sqlite3 serialises every call of every connection of the process on
 *   one global mutex and holds it while sqlite3_step waits for a lock.
 *   A long busy_timeout would therefore stall every other thread of the
 *   process; we keep SQLite's own wait short and retry "database is
 *   locked" here, outside that mutex, for up to XP_DB_BUSY_WAIT.
 */
#include <string.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <apr_file_info.h>
#include <sqlite3.h>
#include <libpq-fe.h>

#include "xp_source.h"
#include "xp_json.h"
#include "xp_bytes.h"

/* Total time a statement keeps retrying while SQLite reports a lock. */
#define XP_DB_BUSY_WAIT apr_time_from_sec(10)
/* SQLite's own wait (ms) inside one step: short, see the top comment. */
#define XP_DB_SQLITE_BUSY_MS "50"

/* ------------------------------------------------------------------ */
/* xp_db_t: one DBD connection                                          */
/* ------------------------------------------------------------------ */

static apr_status_t db_cleanup(void *data)
{
    xp_db_t *db = data;

    if (db->handle) {
        apr_dbd_close(db->driver, db->handle);
        db->handle = NULL;
    }
    return APR_SUCCESS;
}

/* A statement as an error names it: quoted, long ones cut short. */
static const char *sql_brief(apr_pool_t *p, const char *sql)
{
    if (strlen(sql) <= 72)
        return apr_psprintf(p, "\"%s\"", sql);
    return apr_psprintf(p, "\"%.60s...\"", sql);
}

/* libpq's messages span lines (ERROR/CONTEXT/HINT): one line for logs. */
static const char *one_line(apr_pool_t *p, const char *msg)
{
    char *s = apr_pstrdup(p, msg), *r, *w;
    int space = 0;

    for (r = w = s; *r; r++) {
        if (*r == '\n' || *r == '\r' || *r == '\t' || *r == ' ') {
            space = w > s;
            continue;
        }
        if (space)
            *w++ = ' ';
        space = 0;
        *w++ = *r;
    }
    *w = '\0';
    return s;
}

/* Connection parameters as an error may show them: no password. */
static const char *redact(apr_pool_t *p, const char *params)
{
    char *s = apr_pstrdup(p, params), *pw = strstr(s, "password"), *end;

    if (!pw)
        return s;
    if ((pw = strchr(pw, '=')) == NULL)
        return s;
    end = pw + 1 + strcspn(pw + 1, " \t");
    return apr_pstrcat(p, apr_pstrndup(p, s, pw + 1 - s), "***", end, NULL);
}

/* libpq's words for a connection that broke or cannot be made. */
static int db_conn_lost(const xp_db_t *db, const char *msg)
{
    static const char *const lost[] = {"server closed the connection",
                                       "terminating connection",
                                       "no connection to the server",
                                       "could not connect",
                                       "Connection refused",
                                       "connection to server",
                                       NULL};
    int i;

    if (db->dialect != XP_DIALECT_PGSQL)
        return 0;
    for (i = 0; lost[i]; i++) {
        if (strstr(msg, lost[i]))
            return 1;
    }
    return 0;
}

xp_errcode_e xp_db_fail(xp_db_t *db, apr_pool_t *p, xp_error_t *err, int rv,
                        const char *what)
{
    const char *msg = NULL;

    if (db->handle && rv != 0)
        msg = apr_dbd_error(db->driver, db->handle, rv);
    if (!msg || !*msg)
        msg = apr_psprintf(p, "driver status %d", rv);
    else
        msg = one_line(p, msg);
    /* A lost PostgreSQL connection stays lost: have the driver reconnect
     * (PQreset) now so that the next statement works. This one is not
     * retried, since it may have run before the connection broke. */
    if (db->handle && db->dialect == XP_DIALECT_PGSQL && !db->in_tx)
        apr_dbd_check_conn(db->driver, db->pool, db->handle);
    /* say so plainly: the administrator looks at the server, not the SQL */
    if (db_conn_lost(db, msg))
        return xp_error_set(err, p, XP_EDB,
                            XP_DB_LOST "%s (%s): %s failed: %s (is the "
                                       "database server running?)",
                            db->what, apr_dbd_name(db->driver), what, msg);
    return xp_error_set(err, p, XP_EDB, "%s (%s): %s failed: %s", db->what,
                        apr_dbd_name(db->driver), what, msg);
}

int xp_db_lost(xp_errcode_e rc, const xp_error_t *err)
{
    return rc == XP_EDB && err && err->message &&
           !strncmp(err->message, XP_DB_LOST, strlen(XP_DB_LOST));
}

/* PRAGMAs answer with a row, which apr_dbd_query counts as a failure:
 * run them as selects and drain the result. */
static xp_errcode_e db_pragma(xp_db_t *db, apr_pool_t *p, const char *sql,
                              xp_error_t *err)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int rv;

    rv = apr_dbd_select(db->driver, p, db->handle, &res, sql, 1);
    if (rv != 0)
        return xp_db_fail(db, p, err, rv, sql);
    while (apr_dbd_get_row(db->driver, p, res, &row, -1) == 0)
        ;
    return XP_OK;
}

/* Length and at most 64 bytes from each end: a multi-row INSERT is tens
 * of kilobytes, looked up once per batch, and apr_hash's own function
 * reads every byte of it (a tenth of an import's writing). Statements
 * that share ends and length are told apart by their whole text, as
 * always. */
static unsigned int sql_hash(const char *key, apr_ssize_t *klen)
{
    const unsigned char *k = (const unsigned char *)key;
    apr_size_t n, i, len;
    unsigned int h;

    if (*klen == APR_HASH_KEY_STRING)
        *klen = (apr_ssize_t)strlen(key);
    len = (apr_size_t)*klen;
    h = (unsigned int)len;
    n = len < 128 ? len : 64;
    for (i = 0; i < n; i++)
        h = h * 33 + k[i];
    if (len >= 128)
        for (i = len - 64; i < len; i++)
            h = h * 33 + k[i];
    return h;
}

apr_hash_t *xp_sql_hash_make(apr_pool_t *p)
{
    return apr_hash_make_custom(p, sql_hash);
}

xp_errcode_e xp_db_open(apr_pool_t *p, const char *driver, const char *params,
                        const char *what, xp_db_t **out, xp_error_t *err)
{
    xp_db_t *db;
    const char *dberr = NULL;
    apr_status_t rv;

    *out = NULL;
    db = apr_pcalloc(p, sizeof(*db));
    db->pool = p;
    db->what = what;
    db->stmts = xp_sql_hash_make(p);
    if (!driver || (strcmp(driver, "sqlite3") && strcmp(driver, "pgsql")))
        return xp_error_set(err, p, XP_EINVAL,
                            "%s: driver \"%s\" is not supported (use sqlite3 "
                            "or pgsql)",
                            what, driver ? driver : "");
    db->dialect =
        strcmp(driver, "pgsql") ? XP_DIALECT_SQLITE : XP_DIALECT_PGSQL;
    apr_dbd_init(p);
    rv = apr_dbd_get_driver(p, driver, &db->driver);
    if (rv != APR_SUCCESS)
        return xp_error_set(err, p, XP_EDB,
                            "%s: cannot load the apr-util DBD driver \"%s\" "
                            "(is libaprutil1-dbd-%s installed?)",
                            what, driver, driver);
    rv = apr_dbd_open_ex(db->driver, p, params ? params : "", &db->handle,
                         &dberr);
    if (rv != APR_SUCCESS || !db->handle) {
        db->handle = NULL;
        return xp_error_set(err, p, XP_EDB, "%s: cannot open %s \"%s\": %s",
                            what, driver, redact(p, params ? params : ""),
                            dberr ? one_line(p, dberr) : "unknown error");
    }
    apr_pool_cleanup_register(p, db, db_cleanup, apr_pool_cleanup_null);
    if (db->dialect == XP_DIALECT_SQLITE) {
        xp_errcode_e rc =
            db_pragma(db, p, "PRAGMA busy_timeout=" XP_DB_SQLITE_BUSY_MS, err);
        if (rc != XP_OK) {
            xp_db_close(db);
            return rc;
        }
    }
    *out = db;
    return XP_OK;
}

void xp_db_close(xp_db_t *db)
{
    if (db)
        apr_pool_cleanup_run(db->pool, db, db_cleanup);
}

static int db_busy(xp_db_t *db, int rv)
{
    const char *msg;

    if (db->dialect != XP_DIALECT_SQLITE || rv == 0)
        return 0;
    if (rv == 5 || rv == 6) /* SQLITE_BUSY, SQLITE_LOCKED */
        return 1;
    msg = apr_dbd_error(db->driver, db->handle, rv);
    return msg && strstr(msg, "database is locked") != NULL;
}

/* Wait a little before the next try; 0 once XP_DB_BUSY_WAIT is over. */
static int db_retry(apr_time_t start)
{
    if (apr_time_now() - start > XP_DB_BUSY_WAIT)
        return 0;
    apr_sleep(apr_time_from_msec(20));
    return 1;
}

static xp_errcode_e db_prepare(xp_db_t *db, apr_pool_t *p, const char *sql,
                               apr_dbd_prepared_t **stmt, xp_error_t *err)
{
    apr_time_t start = apr_time_now();
    int rv;

    *stmt = apr_hash_get(db->stmts, sql, APR_HASH_KEY_STRING);
    if (*stmt)
        return XP_OK;
    if (!db->handle)
        return xp_error_set(err, p, XP_EDB, "%s: connection is closed",
                            db->what);
    do {
        *stmt = NULL;
        rv = apr_dbd_prepare(db->driver, db->pool, db->handle, sql, NULL, stmt);
    } while (rv != 0 && db_busy(db, rv) && db_retry(start));
    if (rv != 0)
        return xp_db_fail(
            db, p, err, rv,
            apr_pstrcat(p, "preparing ", sql_brief(p, sql), NULL));
    apr_hash_set(db->stmts, apr_pstrdup(db->pool, sql), APR_HASH_KEY_STRING,
                 *stmt);
    return XP_OK;
}

/* The sqlite3 driver compiles with the legacy sqlite3_prepare(): once the
 * schema changes (a migration, the application's own DDL, VACUUM) a
 * compiled statement only fails. A cached statement that fails is
 * therefore compiled afresh and run once more; the stale one stays with
 * the driver until the connection closes. */
static int db_stale(xp_db_t *db, apr_dbd_prepared_t **stmt, const char *sql,
                    int rv, int *retried)
{
    if (rv == 0 || *retried || db->dialect != XP_DIALECT_SQLITE)
        return 0;
    *retried = 1;
    apr_hash_set(db->stmts, sql, APR_HASH_KEY_STRING, NULL);
    *stmt = NULL;
    return 1;
}

/* Prepare (cached) and run sql: a select when res is not NULL, else a
 * statement whose affected rows go to *n. A busy SQLite is retried for a
 * while outside transactions; a statement gone stale is prepared again. */
static xp_errcode_e db_run(xp_db_t *db, apr_pool_t *p, const char *sql,
                           int nargs, const char **args,
                           apr_dbd_results_t **res, int *n, xp_error_t *err)
{
    apr_dbd_prepared_t *stmt;
    apr_time_t start = apr_time_now();
    xp_errcode_e rc;
    int rv, retried = 0;

    do {
        if ((rc = db_prepare(db, p, sql, &stmt, err)) != XP_OK)
            return rc;
        do {
            if (res) {
                *res = NULL;
                rv = apr_dbd_pselect(db->driver, p, db->handle, res, stmt, 1,
                                     nargs, args);
            } else
                rv = apr_dbd_pquery(db->driver, p, db->handle, n, stmt, nargs,
                                    args);
        } while (rv != 0 && !db->in_tx && db_busy(db, rv) && db_retry(start));
    } while (rv != 0 && !db_busy(db, rv) &&
             db_stale(db, &stmt, sql, rv, &retried));
    if (rv != 0)
        return xp_db_fail(db, p, err, rv, sql_brief(p, sql));
    return XP_OK;
}

xp_errcode_e xp_db_exec(xp_db_t *db, apr_pool_t *p, const char *sql, int nargs,
                        const char **args, int *nrows, xp_error_t *err)
{
    int n = 0;
    xp_errcode_e rc = db_run(db, p, sql, nargs, args, NULL, &n, err);

    if (rc == XP_OK && nrows)
        *nrows = n;
    return rc;
}

xp_errcode_e xp_db_select(xp_db_t *db, apr_pool_t *p, const char *sql,
                          int nargs, const char **args, apr_dbd_results_t **res,
                          xp_error_t *err)
{
    return db_run(db, p, sql, nargs, args, res, NULL, err);
}

int xp_db_next(xp_db_t *db, apr_pool_t *p, apr_dbd_results_t *res,
               apr_dbd_row_t **row)
{
    return apr_dbd_get_row(db->driver, p, res, row, -1) == 0;
}

const char *xp_db_str(xp_db_t *db, apr_dbd_row_t *row, int col)
{
    char *v = NULL;

    if (apr_dbd_datum_get(db->driver, row, col, APR_DBD_TYPE_STRING, &v) !=
        APR_SUCCESS)
        return NULL;
    return v;
}

/* Legacy sqlite3_prepare() also fails a statement compiled just before
 * another process changed the schema (two processes migrating at once):
 * compiling it again sees the new schema. */
static int db_schema_changed(xp_db_t *db, int rv, int *tries)
{
    const char *msg;

    if (rv == 0 || db->dialect != XP_DIALECT_SQLITE || ++*tries > 5)
        return 0;
    msg = apr_dbd_error(db->driver, db->handle, rv);
    return rv == 17 /* SQLITE_SCHEMA */ ||
           (msg && strstr(msg, "schema has changed") != NULL);
}

xp_errcode_e xp_db_run(xp_db_t *db, apr_pool_t *p, const char *sql,
                       xp_error_t *err)
{
    apr_time_t start = apr_time_now();
    int rv, n = 0, tries = 0;

    if (!db->handle)
        return xp_error_set(err, p, XP_EDB, "%s: connection is closed",
                            db->what);
    do {
        rv = apr_dbd_query(db->driver, db->handle, &n, sql);
    } while (rv != 0 && ((db_busy(db, rv) && db_retry(start)) ||
                         db_schema_changed(db, rv, &tries)));
    if (rv != 0)
        return xp_db_fail(db, p, err, rv, sql_brief(p, sql));
    return XP_OK;
}

xp_errcode_e xp_db_begin(xp_db_t *db, apr_pool_t *p, const char *sql,
                         xp_error_t *err)
{
    xp_errcode_e rc = xp_db_run(db, p, sql, err);

    if (rc == XP_OK)
        db->in_tx = 1;
    return rc;
}

xp_errcode_e xp_db_commit(xp_db_t *db, apr_pool_t *p, xp_error_t *err)
{
    xp_errcode_e rc = xp_db_run(db, p, "COMMIT", err);

    if (rc != XP_OK)
        xp_db_rollback(db, p);
    db->in_tx = 0;
    return rc;
}

void xp_db_rollback(xp_db_t *db, apr_pool_t *p)
{
    int n = 0;

    if (db->in_tx && db->handle)
        apr_dbd_query(db->driver, db->handle, &n, "ROLLBACK");
    (void)p;
    db->in_tx = 0;
}

xp_errcode_e xp_db_sqlite_pragmas(xp_db_t *db, apr_pool_t *p, xp_error_t *err)
{
    static const char *const pragmas[] = {
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
    };
    apr_time_t start = apr_time_now();
    xp_errcode_e rc = XP_OK;
    apr_size_t i;

    for (i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
        /* switching to WAL needs a moment without other writers */
        while ((rc = db_pragma(db, p, pragmas[i], err)) != XP_OK &&
               strstr(err ? err->message : "", "locked") && db_retry(start))
            ;
        if (rc != XP_OK)
            return rc;
    }
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* The data source                                                      */
/* ------------------------------------------------------------------ */

struct xp_source_t {
    xp_db_t *db;
    /* for xp_source_interrupt from another thread: libpq wants the
     * cancel object made by the connection's own thread */
    PGcancel *cancel;
    sqlite3 *sqlite;
};

static apr_status_t source_cancel_free(void *data)
{
    PQfreeCancel(data);
    return APR_SUCCESS;
}

xp_errcode_e xp_source_open(apr_pool_t *p, const char *driver,
                            const char *params, xp_source_t **out,
                            xp_error_t *err)
{
    xp_source_t *src;
    xp_errcode_e rc;

    *out = NULL;
    /* sqlite3_open would quietly create an empty database: say instead
     * that the configured file is not there. */
    if (driver && !strcmp(driver, "sqlite3") && params &&
        strcmp(params, ":memory:") && strncmp(params, "file:", 5)) {
        apr_finfo_t fi;
        if (apr_stat(&fi, params, APR_FINFO_TYPE, p) != APR_SUCCESS)
            return xp_error_set(err, p, XP_EDB,
                                "data source: SQLite database \"%s\" does "
                                "not exist or cannot be read",
                                params);
    }
    src = apr_pcalloc(p, sizeof(*src));
    rc = xp_db_open(p, driver, params, "data source", &src->db, err);
    if (rc != XP_OK)
        return rc;
    if (src->db->dialect == XP_DIALECT_PGSQL) {
        src->cancel = PQgetCancel(
            apr_dbd_native_handle(src->db->driver, src->db->handle));
        if (src->cancel)
            apr_pool_cleanup_register(p, src->cancel, source_cancel_free,
                                      apr_pool_cleanup_null);
    } else {
        src->sqlite = apr_dbd_native_handle(src->db->driver, src->db->handle);
        /* the base64 of types=col:bytes (bytes.c) */
        if (xp_bytes_sqlite_register(src->sqlite) != SQLITE_OK) {
            xp_db_close(src->db);
            return xp_error_set(err, p, XP_EDB,
                                "data source: cannot add the base64 "
                                "functions to SQLite: %s",
                                sqlite3_errmsg(src->sqlite));
        }
    }
    *out = src;
    return XP_OK;
}

void xp_source_interrupt(xp_source_t *src)
{
    char msg[256];

    if (src && src->cancel)
        PQcancel(src->cancel, msg, sizeof(msg));
    else if (src && src->sqlite)
        sqlite3_interrupt(src->sqlite);
}

xp_dialect_e xp_source_dialect(const xp_source_t *src)
{
    return src->db->dialect;
}

void xp_source_close(xp_source_t *src)
{
    if (src)
        xp_db_close(src->db);
}

xp_db_t *xp_source_db(xp_source_t *src)
{
    return src->db;
}

/* Columns of table, in table order; an empty array if there is no such
 * table. */
static xp_errcode_e source_table_columns(xp_source_t *src, apr_pool_t *p,
                                         const char *table,
                                         apr_array_header_t **out,
                                         xp_error_t *err)
{
    const char *sql =
        src->db->dialect == XP_DIALECT_PGSQL
            ? "SELECT column_name FROM information_schema.columns "
              "WHERE table_schema = current_schema() AND table_name = %s "
              "ORDER BY ordinal_position"
            : "SELECT name FROM pragma_table_info(%s) ORDER BY cid";
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *args[1];
    xp_errcode_e rc;

    args[0] = table;
    rc = xp_db_select(src->db, p, sql, 1, args, &res, err);
    if (rc != XP_OK)
        return rc;
    *out = apr_array_make(p, 16, sizeof(const char *));
    while (xp_db_next(src->db, p, res, &row)) {
        const char *name = xp_db_str(src->db, row, 0);
        if (name)
            APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, name);
    }
    return XP_OK;
}

static int str_in(const apr_array_header_t *a, const char *s)
{
    int i;

    for (i = 0; a && i < a->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), s))
            return 1;
    return 0;
}

static xp_errcode_e source_need(apr_pool_t *p, const xp_section_t *sec,
                                const apr_array_header_t *have, const char *opt,
                                const char *col, xp_error_t *err)
{
    if (!col || str_in(have, col))
        return XP_OK;
    return xp_error_set(err, p, XP_EINVAL,
                        "section \"%s\": option %s= names column \"%s\", "
                        "which table \"%s\" does not have",
                        sec->name, opt, col, sec->table);
}

static xp_errcode_e source_need_all(apr_pool_t *p, const xp_section_t *sec,
                                    const apr_array_header_t *have,
                                    const char *opt,
                                    const apr_array_header_t *cols,
                                    xp_error_t *err)
{
    int i;
    xp_errcode_e rc;

    for (i = 0; cols && i < cols->nelts; i++) {
        rc = source_need(p, sec, have, opt,
                         APR_ARRAY_IDX(cols, i, const char *), err);
        if (rc != XP_OK)
            return rc;
    }
    return XP_OK;
}

static xp_errcode_e source_check_section(apr_pool_t *p, const xp_section_t *sec,
                                         const apr_array_header_t *have,
                                         xp_error_t *err)
{
    apr_hash_index_t *hi;
    xp_errcode_e rc;
    int i;

    if ((rc = source_need(p, sec, have, "key", sec->key, err)) ||
        (rc = source_need_all(p, sec, have, "columns", sec->columns, err)) ||
        (rc = source_need_all(p, sec, have, "search", sec->search, err)) ||
        (rc = source_need_all(p, sec, have, "involves", sec->involves, err)) ||
        (rc = source_need(p, sec, have, "updated", sec->updated, err)) ||
        (rc = source_need(p, sec, have, "tenant", sec->tenant, err)))
        return rc;
    for (i = 0; sec->refs && i < sec->refs->nelts; i++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, i, xp_ref_t);
        if ((rc = source_need(p, sec, have, "ref", ref->column, err)))
            return rc;
    }
    for (hi = sec->types ? apr_hash_first(p, sec->types) : NULL; hi;
         hi = apr_hash_next(hi)) {
        const void *k;
        apr_hash_this(hi, &k, NULL, NULL);
        if ((rc = source_need(p, sec, have, "types", k, err)))
            return rc;
    }
    return XP_OK;
}

xp_errcode_e xp_source_discover(xp_source_t *src, apr_pool_t *p,
                                xp_sections_t *secs, xp_error_t *err)
{
    xp_errcode_e rc;
    const char *msg;
    int i;

    for (i = 0; i < secs->list->nelts; i++) {
        xp_section_t *sec = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
        const char *table = sec->table ? sec->table : sec->name;
        apr_array_header_t *have;

        rc = source_table_columns(src, p, table, &have, err);
        if (rc != XP_OK)
            return rc;
        if (have->nelts == 0)
            return xp_error_set(err, p, XP_EINVAL,
                                "section \"%s\": option table= names table "
                                "\"%s\", which the data source does not have",
                                sec->name, table);
        if (!sec->columns_declared || !sec->columns || sec->columns->nelts == 0)
            sec->columns = have;
        if ((rc = source_check_section(p, sec, have, err)) != XP_OK)
            return rc;
    }
    if ((msg = xp_sections_check(secs, p)) != NULL)
        return xp_error_set(err, p, XP_EINVAL, "%s", msg);
    return XP_OK;
}

xp_errcode_e xp_source_begin_read(xp_source_t *src, xp_error_t *err)
{
    xp_db_t *db = src->db;
    apr_pool_t *p = db->pool;
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    xp_errcode_e rc;

    if (db->dialect == XP_DIALECT_PGSQL) {
        rc = xp_db_begin(db, p, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                         err);
        /* Each section is one COPY (SELECT ... ORDER BY key): planned for
         * its total time, PostgreSQL may read and sort the whole table
         * before the first row leaves, so progress would sit at 0 until
         * the end and every row's cost (a view's computed column) is paid
         * up front. Walking the key's index streams rows as they are
         * read, as the rows of SQLite do. */
        if (rc == XP_OK &&
            (rc = xp_db_run(db, p, "SET LOCAL enable_sort = off", err)) != XP_OK)
            xp_db_rollback(db, p);
        return rc;
    }
    /* SQLite takes the snapshot at the first read of a deferred
     * transaction: read once now so every section sees the same data,
     * while WAL lets the application go on writing. */
    if ((rc = xp_db_begin(db, p, "BEGIN", err)) != XP_OK)
        return rc;
    rc = xp_db_select(db, p, "SELECT count(*) FROM sqlite_master", 0, NULL,
                      &res, err);
    if (rc != XP_OK) {
        xp_db_rollback(db, p);
        return rc;
    }
    while (xp_db_next(db, p, res, &row))
        ;
    return XP_OK;
}

/* SQLite counts in this process, on the reading thread: beside the read,
 * on a connection of its own, the count takes the core that compressing
 * leaves (0.1 s of a 1 s tar.zst export). PostgreSQL counts in the server,
 * with parallel workers on cores the export does not use yet; beside the
 * COPY it competed with it and with the compressing threads, and the
 * export took 0.3 s longer. */
int xp_source_count_beside(const xp_source_t *src)
{
    return src->db->dialect == XP_DIALECT_SQLITE;
}

void xp_source_scan_only(xp_source_t *src, apr_pool_t *p)
{
    xp_error_t err = {0};

    /* each page is read once: a cache of 2 MB would only hold memory */
    if (src->db->dialect == XP_DIALECT_SQLITE)
        db_pragma(src->db, p, "PRAGMA cache_size = -64", &err);
}

void xp_source_end_read(xp_source_t *src)
{
    /* Nothing was written: ending with ROLLBACK cannot fail a commit. */
    if (src && src->db)
        xp_db_rollback(src->db, src->db->pool);
}

/* Quoted, comma separated column list of sec (bytes columns read as
 * base64). */
static const char *source_cols_sql(apr_pool_t *p, const xp_section_t *sec,
                                   xp_dialect_e dialect)
{
    const char *s = NULL;
    int i;

    for (i = 0; i < sec->columns->nelts; i++) {
        const char *c = APR_ARRAY_IDX(sec->columns, i, const char *);
        const char *q = xp_sql_ident(p, c);
        if (xp_section_type(sec, c) == XP_TYPE_BYTES)
            q = xp_bytes_read_sql(p, dialect, q);
        s = s ? apr_pstrcat(p, s, ", ", q, NULL) : q;
    }
    return s;
}

static const char **source_args(apr_pool_t *p, const apr_array_header_t *args,
                                const char *extra, int *n)
{
    int na = args ? args->nelts : 0, i;
    const char **v = apr_pcalloc(p, sizeof(*v) * (na + 1));

    for (i = 0; i < na; i++)
        v[i] = APR_ARRAY_IDX(args, i, const char *);
    if (extra)
        v[na++] = extra;
    *n = na;
    return v;
}

static xp_errcode_e sqlite_count(xp_source_t *src, apr_pool_t *p,
                                 const xp_section_t *sec, const char *sql,
                                 const apr_array_header_t *args,
                                 apr_int64_t *count, xp_error_t *err);

xp_errcode_e xp_source_count(xp_source_t *src, apr_pool_t *p,
                             const xp_section_t *sec, const char *where,
                             const apr_array_header_t *args, apr_int64_t *count,
                             xp_error_t *err)
{
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char **v, *sql, *s;
    xp_errcode_e rc;
    int n;

    *count = 0;
    if (!where)
        return XP_OK;
    sql = apr_psprintf(p, "SELECT COUNT(*) FROM %s WHERE (%s)",
                       xp_sql_ident(p, sec->table ? sec->table : sec->name),
                       where);
    if (src->db->dialect == XP_DIALECT_SQLITE)
        return sqlite_count(src, p, sec, sql, args, count, err);
    v = source_args(p, args, NULL, &n);
    if ((rc = xp_db_select(src->db, p, sql, n, v, &res, err)) != XP_OK)
        return rc;
    while (xp_db_next(src->db, p, res, &row)) {
        if ((s = xp_db_str(src->db, row, 0)) != NULL)
            *count = apr_atoi64(s);
    }
    return XP_OK;
}

static int source_key_index(const xp_section_t *sec)
{
    int i;

    for (i = 0; i < sec->columns->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(sec->columns, i, const char *), sec->key))
            return i;
    return -1;
}

/* Every batch_rows rows of a read: ctl->check (progress, cancel,
 * timeout, shutdown); an error naming the section when it says stop. */
static xp_errcode_e scan_check(apr_pool_t *p, const xp_section_t *sec,
                               const xp_job_ctl_t *ctl, xp_error_t *err)
{
    xp_errcode_e rc;

    if (!ctl || !ctl->check || (rc = ctl->check(ctl->baton)) == XP_OK)
        return XP_OK;
    return xp_error_set(err, p, rc, "section \"%s\": export stopped (%s)",
                        sec->name,
                        rc == XP_ECANCEL     ? "cancelled"
                        : rc == XP_ETIMEOUT  ? "timed out"
                        : rc == XP_ESHUTDOWN ? "server shutting down"
                                             : "stopped");
}

/* ------------------------------------------------------------------ */
/* SQLite: one streamed statement                                       */
/* ------------------------------------------------------------------ */

/* apr_dbd's sqlite3 select copies every row of a result into a pool
 * before the first is returned, which would need keyset batches to bound
 * memory; stepping the statement ourselves on the connection's native
 * handle streams the rows in constant memory with one statement per
 * section, no copies and no pagination. The read transaction
 * (xp_source_begin_read) holds the snapshot, so the statement sees the
 * same data batches would. */

/* Parameter i (from 1) of st: v as text, kept by the caller until the
 * statement is reset; NULL binds SQL NULL. */
int xp_db_sqlite_bind(struct sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}

/* apr_dbd placeholders ("%s") and escapes ("%%") in SQLite's spelling. */
const char *xp_db_sqlite_sql(apr_pool_t *p, const char *sql)
{
    char *out = apr_palloc(p, strlen(sql) + 1), *o = out;

    while (*sql) {
        if (sql[0] == '%' && sql[1] == '%') {
            *o++ = '%';
            sql += 2;
        } else if (sql[0] == '%' && sql[1] == 's') {
            *o++ = '?';
            sql += 2;
        } else
            *o++ = *sql++;
    }
    *o = '\0';
    return out;
}

static xp_errcode_e sqlite_fail(apr_pool_t *p, sqlite3 *h,
                                const xp_section_t *sec, const char *what,
                                xp_error_t *err)
{
    return xp_error_set(err, p, XP_EDB,
                        "data source: section \"%s\": %s "
                        "failed: %s",
                        sec->name, what, sqlite3_errmsg(h));
}

/* SQLite spells a REAL as printf "%!.15g" does (sqlite3_column_text):
 * fifteen significant digits, trailing zeros dropped but one kept after
 * the point ("13.0"), and that costs a sixth of the reading thread's
 * time. Most stored reals are short decimals (prices, scores); for those
 * the text is the decimal itself, which is found far faster here: the
 * smallest k for which m = a * 10^k is a whole number below 10^15 and
 * m / 10^k gives back a (both exact in doubles, the division correctly
 * rounded, so m / 10^k is the decimal's nearest double) is the one
 * decimal of at most 15 digits that reads back as a, and so what
 * rounding a to 15 digits gives. Other values (more digits, exponent
 * form, NaN) are left to SQLite. */
#define XP_REAL_TEXT 32

/* a >= 1e-3 needs at most 17 decimals for 15 digits */
static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                   1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17};
#define XP_REAL_DECIMALS 17

/* The digits of v (at least min of them, zero padded) before end. */
static char *put_digits(char *end, apr_uint64_t v, int min)
{
    for (; v || min > 0; v /= 10, min--)
        *--end = (char)('0' + v % 10);
    return end;
}

/* d as SQLite's text into out (XP_REAL_TEXT bytes); 0 when not a short
 * decimal between 1e-3 and 1e14, which SQLite then spells itself. */
static int real_text(double d, char *out)
{
    char tmp[XP_REAL_TEXT], *e = tmp + sizeof(tmp), *b;
    double a = d < 0 ? -d : d, m = 0;
    apr_uint64_t whole, frac, div;
    int k, n;

    if (a == 0) { /* -0.0 as well */
        memcpy(out, "0.0", 4);
        return 3;
    }
    if (!(a >= 1e-3 && a < 1e14))
        return 0;
    for (k = 0; k <= XP_REAL_DECIMALS; k++) {
        /* m < 1e15 the step before, so a * 10^k < 1e16 fits */
        m = (double)(apr_uint64_t)(a * pow10_tab[k] + 0.5);
        if (m >= 1e15)
            return 0;
        if (m / pow10_tab[k] == a)
            break;
    }
    if (k > XP_REAL_DECIMALS)
        return 0;
    div = (apr_uint64_t)pow10_tab[k];
    whole = (apr_uint64_t)m / div;
    frac = (apr_uint64_t)m % div;
    b = put_digits(e, k ? frac : 0, k ? k : 1);
    *--b = '.';
    b = put_digits(b, whole, 1);
    if (d < 0)
        *--b = '-';
    n = (int)(e - b);
    memcpy(out, b, (apr_size_t)n);
    out[n] = '\0';
    return n;
}

/* 1 when real_text spells these reals as this SQLite does: a build that
 * printed them another way keeps SQLite's own text for every value. */
static int real_text_agrees(sqlite3 *h)
{
    static const char *const sql =
        "SELECT 0.37, 13.0, -2.5, 0.001, 0.3, 99999999999999.0, "
        "123456.789012345, 0.0, 0.00123456789012345";
    char mine[XP_REAL_TEXT];
    sqlite3_stmt *st = NULL;
    const char *t;
    int i, ok = sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW;

    for (i = 0; ok && i < sqlite3_column_count(st); i++) {
        ok = real_text(sqlite3_column_double(st, i), mine) &&
             (t = (const char *)sqlite3_column_text(st, i)) != NULL &&
             !strcmp(t, mine);
    }
    sqlite3_finalize(st);
    return ok;
}

/* One row of the statement as the callback sees it. */
typedef struct {
    int ncols;
    const char **vals;
    const unsigned char *real; /* per column: typed real, spelled here */
    char (*text)[XP_REAL_TEXT]; /* per column: a number spelled here */
} sqlite_row_t;

static void sqlite_row_init(sqlite3 *h, apr_pool_t *p, const xp_section_t *sec,
                            sqlite_row_t *row)
{
    int n = sec->columns->nelts, i, any = 0;
    unsigned char *real = apr_pcalloc(p, n ? n : 1);
    const char *col;

    for (i = 0; i < n; i++) {
        col = APR_ARRAY_IDX(sec->columns, i, const char *);
        real[i] = xp_section_type(sec, col) == XP_TYPE_REAL;
        any |= real[i];
    }
    if (any && !real_text_agrees(h))
        memset(real, 0, n ? n : 1);
    row->ncols = n;
    row->vals = apr_palloc(p, sizeof(*row->vals) * (n ? n : 1));
    row->real = real;
    row->text = apr_palloc(p, sizeof(*row->text) * (n ? n : 1));
}

/* v in decimal, as SQLite spells an integer, into out (XP_REAL_TEXT
 * bytes). */
static void int_text(sqlite3_int64 v, char *out)
{
    char tmp[XP_REAL_TEXT], *e = tmp + sizeof(tmp), *b;
    /* the magnitude, -2^63 included */
    apr_uint64_t m = v < 0 ? 0 - (apr_uint64_t)v : (apr_uint64_t)v;

    b = put_digits(e, m, 1);
    if (v < 0)
        *--b = '-';
    memcpy(out, b, (apr_size_t)(e - b));
    out[e - b] = '\0';
}

/* The current row's values; 0, or -1 when one could not be read. An
 * integer or a typed real is spelled here (SQLite would make its text
 * in a buffer of its own first); anything else is SQLite's text, NULL
 * only for SQL NULL (or out of memory). Each column is fetched once as
 * a value: every sqlite3_column_ call takes the connection's mutex
 * again, the sqlite3_value_ calls take none. The caller holds the
 * mutex throughout, so the values are as protected as a column call's
 * (sqlite3_column_text is sqlite3_value_text of the same value). */
static int sqlite_row_read(sqlite3_stmt *st, sqlite_row_t *row)
{
    sqlite3_value *v;
    int i, t;

    for (i = 0; i < row->ncols; i++) {
        v = sqlite3_column_value(st, i);
        t = sqlite3_value_type(v);
        if (t == SQLITE_NULL) {
            row->vals[i] = NULL;
            continue;
        }
        if (t == SQLITE_INTEGER) {
            int_text(sqlite3_value_int64(v), row->text[i]);
            row->vals[i] = row->text[i];
            continue;
        }
        if (t == SQLITE_FLOAT && row->real[i] &&
            real_text(sqlite3_value_double(v), row->text[i])) {
            row->vals[i] = row->text[i];
            continue;
        }
        if (!(row->vals[i] = (const char *)sqlite3_value_text(v)))
            return -1;
    }
    return 0;
}

/* Step to the next row and read its values under one hold of the
 * connection's mutex, which every sqlite3_ call takes (a recursive
 * mutex: taken again by its holder it costs no atomic operation). It is
 * let go before fn runs. step's code, or -1 when a value could not be
 * read. */
static int sqlite_next(sqlite3 *h, sqlite3_stmt *st, sqlite_row_t *row)
{
    sqlite3_mutex *mx = sqlite3_db_mutex(h); /* NULL: none, no-ops */
    int r;

    sqlite3_mutex_enter(mx);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW && sqlite_row_read(st, row) != 0)
        r = -1;
    sqlite3_mutex_leave(mx);
    return r;
}

/* Step through every row: fn per row, ctl->check every batch_rows. */
static xp_errcode_e sqlite_rows(sqlite3 *h, sqlite3_stmt *st, apr_pool_t *p,
                                const xp_section_t *sec, int batch_rows,
                                xp_row_fn fn, void *baton,
                                const xp_job_ctl_t *ctl, xp_error_t *err)
{
    apr_time_t start = apr_time_now();
    sqlite_row_t row;
    xp_errcode_e rc;
    int r, n = 0;

    sqlite_row_init(h, p, sec, &row);
    for (;;) {
        r = sqlite_next(h, st, &row);
        if ((r == SQLITE_BUSY || r == SQLITE_LOCKED) && db_retry(start))
            continue;
        if (r == SQLITE_DONE)
            return XP_OK;
        if (r != SQLITE_ROW)
            return sqlite_fail(p, h, sec, r < 0 ? "reading a value" : "reading",
                               err);
        if ((rc = fn(baton, row.vals, row.ncols, err)) != XP_OK)
            return rc;
        if (++n >= batch_rows) {
            n = 0;
            if ((rc = scan_check(p, sec, ctl, err)) != XP_OK)
                return rc;
        }
    }
}

/* sql prepared on the native handle, the filter's args bound (what: the
 * statement as an error names it); *st NULL on an error. */
static xp_errcode_e sqlite_prepare(xp_source_t *src, apr_pool_t *p,
                                   const xp_section_t *sec, const char *sql,
                                   const apr_array_header_t *args,
                                   const char *what, sqlite3 **h,
                                   sqlite3_stmt **st, xp_error_t *err)
{
    xp_errcode_e rc = XP_OK;
    int i, n = args ? args->nelts : 0;

    *st = NULL;
    if (!(*h = apr_dbd_native_handle(src->db->driver, src->db->handle)))
        return xp_error_set(err, p, XP_EDB,
                            "data source: connection is closed");
    if (sqlite3_prepare_v2(*h, xp_db_sqlite_sql(p, sql), -1, st, NULL) !=
        SQLITE_OK)
        rc = sqlite_fail(p, *h, sec, what, err);
    for (i = 0; rc == XP_OK && i < n; i++) {
        if (xp_db_sqlite_bind(
                *st, i + 1, APR_ARRAY_IDX(args, i, const char *)) != SQLITE_OK)
            rc = sqlite_fail(p, *h, sec, "binding the filter", err);
    }
    if (rc != XP_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
    }
    return rc;
}

/* A count is stepped on the native handle too: apr_dbd's sqlite3 driver
 * holds one mutex of the whole process for a statement's whole run, so
 * every other connection of the worker (the job store's among them)
 * waited for the count of a large section, and a statement it saw
 * interrupted was prepared and run again. */
static xp_errcode_e sqlite_count(xp_source_t *src, apr_pool_t *p,
                                 const xp_section_t *sec, const char *sql,
                                 const apr_array_header_t *args,
                                 apr_int64_t *count, xp_error_t *err)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    xp_errcode_e rc;

    rc = sqlite_prepare(src, p, sec, sql, args, "preparing the count", &h, &st,
                        err);
    if (rc == XP_OK && sqlite3_step(st) != SQLITE_ROW)
        rc = sqlite_fail(p, h, sec, "counting", err);
    if (rc == XP_OK)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

static xp_errcode_e sqlite_scan(xp_source_t *src, apr_pool_t *p,
                                const xp_section_t *sec, const char *sql,
                                const apr_array_header_t *args, int batch_rows,
                                xp_row_fn fn, void *baton,
                                const xp_job_ctl_t *ctl, xp_error_t *err)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    xp_errcode_e rc;

    rc = sqlite_prepare(src, p, sec, sql, args, "preparing the read", &h, &st,
                        err);
    if (rc == XP_OK)
        rc = sqlite_rows(h, st, p, sec, batch_rows, fn, baton, ctl, err);
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------------ */
/* PostgreSQL: one COPY per section                                     */
/* ------------------------------------------------------------------ */

/* Through apr_dbd every read is a PGresult that libpq fills (each value
 * copied and indexed) before the first row is seen, so reads went in
 * keyset batches, a round trip and a plan each. COPY (SELECT ...) TO
 * STDOUT on the connection's native PGconn streams the one ordered
 * select instead, a row per buffer, in constant memory: per million rows
 * here about 0.4 s less CPU in the reading thread (a quarter of it) and
 * 0.3 s less in the server, CPU the deflate thread, which sets an
 * export's pace, shares the cores with. The read transaction
 * (xp_source_begin_read) holds the snapshot, so the COPY sees what
 * batches would have seen.
 *
 * COPY takes no bound parameters, so the filter's values go into the
 * text as literals quoted by PQescapeLiteral (which follows the
 * connection's encoding and standard_conforming_strings). apr_dbd bound
 * them untyped, and the server resolves an untyped literal the same way,
 * so every comparison means what it meant. PQexecParams runs exactly one
 * statement, whatever the text holds.
 *
 * COPY's text format spells a value as the type's text output, the very
 * text a select returns (booleans t/f, numbers, timestamps alike), with
 * backslash, tab, newline, carriage return, backspace, form feed and
 * vertical tab escaped by a backslash, and SQL NULL as \N. */

/* sql with apr_dbd's "%s" replaced by the quoted values of args (NULL:
 * SQL NULL) and "%%" by "%". */
static xp_errcode_e pg_inline(xp_db_t *db, PGconn *conn, apr_pool_t *p,
                              const char *sql, const apr_array_header_t *args,
                              const char **out, xp_error_t *err)
{
    int n = args ? args->nelts : 0, i = 0;
    const char *v;
    char *lit;
    xp_buf_t b;

    xp_buf_init(&b, p, strlen(sql) + 64);
    while (*sql) {
        if (sql[0] == '%' && sql[1] == '%') {
            xp_buf_addc(&b, '%');
            sql += 2;
            continue;
        }
        if (sql[0] != '%' || sql[1] != 's') {
            xp_buf_addc(&b, *sql++);
            continue;
        }
        sql += 2;
        if (i >= n)
            return xp_error_set(err, p, XP_EINVAL,
                                "%s: the read has more placeholders than "
                                "values",
                                db->what);
        if ((v = APR_ARRAY_IDX(args, i++, const char *)) == NULL) {
            xp_buf_adds(&b, "NULL");
            continue;
        }
        if ((lit = PQescapeLiteral(conn, v, strlen(v))) == NULL)
            return xp_db_fail(db, p, err, 1, "quoting a filter value");
        xp_buf_adds(&b, lit);
        PQfreemem(lit);
    }
    *out = b.data;
    return XP_OK;
}

/* Undo COPY's escapes in the n bytes at s, in place; returns the end. */
static char *pg_unescape(char *s, apr_size_t n)
{
    char *r = s, *w = s, *end = s + n;

    while (r < end) {
        if (*r != '\\' || r + 1 == end) {
            *w++ = *r++;
            continue;
        }
        switch (r[1]) {
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'v':
            *w++ = '\v';
            break;
        default: /* the backslash itself */
            *w++ = r[1];
            break;
        }
        r += 2;
    }
    return w;
}

/* One COPY text row (len bytes, a newline last, a NUL after it, as
 * PQgetCopyData returns it) split into vals in place. A tab in a value
 * is sent escaped, so every tab ends a field; most fields hold no
 * backslash and are used where they lie. 0, or -1 when the row does not
 * hold ncols fields. */
static int pg_copy_fields(char *row, int len, const char **vals, int ncols)
{
    char *r = row, *end = row + len, *e = row;
    int i;

    if (len > 0 && end[-1] == '\n')
        end--;
    for (i = 0; i < ncols; i++) {
        if (i > 0 && e == end)
            return -1;
        if ((e = memchr(r, '\t', (apr_size_t)(end - r))) == NULL)
            e = end;
        if (!memchr(r, '\\', (apr_size_t)(e - r)))
            vals[i] = r;
        else if (e - r == 2 && r[1] == 'N')
            vals[i] = NULL;
        else {
            vals[i] = r;
            *pg_unescape(r, (apr_size_t)(e - r)) = '\0';
        }
        *e = '\0';
        r = e + 1;
    }
    return e == end ? 0 : -1;
}

/* Leave a COPY that is still sending: ask the server to cancel it, then
 * drop what is already on the way, so that the connection is idle again
 * (and the read transaction can roll back) without reading the rest. */
static void pg_copy_abandon(PGconn *conn)
{
    PGcancel *c = PQgetCancel(conn);
    PGresult *res;
    char *buf, msg[256];

    if (c) {
        PQcancel(c, msg, sizeof(msg));
        PQfreeCancel(c);
    }
    while (PQgetCopyData(conn, &buf, 0) > 0)
        PQfreemem(buf);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
}

/* Every row of the running COPY: fn per row, scan_check every batch_rows
 * rows; then the COPY's own result. */
static xp_errcode_e pg_rows(xp_db_t *db, PGconn *conn, apr_pool_t *p,
                            const xp_section_t *sec, int batch_rows,
                            xp_row_fn fn, void *baton, const xp_job_ctl_t *ctl,
                            xp_error_t *err)
{
    int ncols = sec->columns->nelts, n = 0, len;
    const char **vals = apr_palloc(p, sizeof(*vals) * (ncols ? ncols : 1));
    const char *what = apr_psprintf(p, "reading section \"%s\"", sec->name);
    xp_errcode_e rc = XP_OK;
    PGresult *res;
    char *buf;

    while ((len = PQgetCopyData(conn, &buf, 0)) > 0) {
        if (pg_copy_fields(buf, len, vals, ncols) != 0)
            rc = xp_error_set(err, p, XP_EDB,
                              "data source: section \"%s\": a row of the "
                              "read does not have the %d columns asked for",
                              sec->name, ncols);
        else
            rc = fn(baton, vals, ncols, err);
        PQfreemem(buf);
        if (rc == XP_OK && ++n >= batch_rows) {
            n = 0;
            rc = scan_check(p, sec, ctl, err);
        }
        if (rc != XP_OK) {
            pg_copy_abandon(conn);
            return rc;
        }
    }
    /* -1: the COPY is over and its result follows (an error if the
     * server failed it); -2: the connection failed */
    while ((res = PQgetResult(conn)) != NULL) {
        if (rc == XP_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = xp_db_fail(db, p, err, 1, what);
        PQclear(res);
    }
    if (rc == XP_OK && len == -2)
        rc = xp_db_fail(db, p, err, 1, what);
    return rc;
}

static xp_errcode_e pg_scan(xp_source_t *src, apr_pool_t *p,
                            const xp_section_t *sec, const char *sql,
                            const apr_array_header_t *args, int batch_rows,
                            xp_row_fn fn, void *baton, const xp_job_ctl_t *ctl,
                            xp_error_t *err)
{
    xp_db_t *db = src->db;
    PGconn *conn =
        db->handle ? apr_dbd_native_handle(db->driver, db->handle) : NULL;
    PGresult *res;
    const char *copy = NULL;
    xp_errcode_e rc;

    if (!conn)
        return xp_error_set(err, p, XP_EDB,
                            "data source: connection is "
                            "closed");
    if ((rc = pg_inline(db, conn, p, sql, args, &copy, err)) != XP_OK)
        return rc;
    copy = apr_pstrcat(p, "COPY (", copy, ") TO STDOUT", NULL);
    res = PQexecParams(conn, copy, 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = xp_db_fail(db, p, err, 1, sql_brief(p, sql));
        PQclear(res);
        return rc;
    }
    PQclear(res);
    return pg_rows(db, conn, p, sec, batch_rows, fn, baton, ctl, err);
}

/* ------------------------------------------------------------------ */

/* Rows deeper than this below their topmost ancestor (or in a cycle)
 * are all ordered as if this deep. */
#define XP_SOURCE_SELF_DEPTH 1000

/* Row pa is a parent of row ch along one of sec's self references. */
static const char *self_parent(apr_pool_t *p, const xp_section_t *sec,
                               const char *pa, const char *ch)
{
    const char *on = NULL;
    const char *k = xp_sql_ident(p, sec->key);
    int i;

    for (i = 0; i < sec->refs->nelts; i++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, i, xp_ref_t);
        if (!xp_ref_is_self(sec, ref))
            continue;
        on = apr_pstrcat(
            p, on ? on : "", on ? " OR " : "", pa, ".",
            xp_sql_ident(p, ref->target ? ref->target : sec->key), " = ", ch,
            ".", xp_sql_ident(p, ref->column), NULL);
    }
    return on ? apr_psprintf(p, "(%s) AND %s.%s <> %s.%s", on, pa, k, ch, k)
              : NULL;
}

/*
 * How a section that references itself (ref=parent:comments) orders its
 * rows so that an import meets every referenced row before the rows
 * naming it: by depth (how many ancestors a row has, counted by a
 * recursive CTE per row along every self reference: walks up the key's
 * and the target column's indexes; a row naming itself is its own
 * parent no more), then by key. A row without a parent is depth 0,
 * and one whose parent has none is depth 1, each found with index
 * look-ups: the CTE runs only for rows deeper than that (on the chat
 * demo's 300,000 comments, 54,000 of them replies, the read took 2.70 s
 * with a CTE for every row, 1.49 s so: sqlite3 shell, this select).
 * NULL for other sections, which are ordered by key alone. The table is
 * aliased xp_row.
 */
static const char *self_depth(apr_pool_t *p, const xp_section_t *sec)
{
    const char *t = xp_sql_ident(p, sec->table);
    const char *k = xp_sql_ident(p, sec->key);
    const char *up = self_parent(p, sec, "a", "xp_row");

    if (!up)
        return NULL;
    return apr_psprintf(
        p,
        "CASE WHEN NOT EXISTS (SELECT 1 FROM %s a WHERE %s) THEN 0 "
        "WHEN NOT EXISTS (SELECT 1 FROM %s a JOIN %s b ON %s WHERE %s) THEN 1 "
        "ELSE (WITH RECURSIVE xp_depth(k, n) AS (SELECT xp_row.%s, 0 UNION "
        "SELECT a.%s, xp_depth.n + 1 FROM xp_depth JOIN %s c ON c.%s = "
        "xp_depth.k JOIN %s a ON %s WHERE xp_depth.n < %d) SELECT max(n) "
        "FROM xp_depth) END",
        t, up, t, t, self_parent(p, sec, "b", "a"), up, k, k, t, k, t,
        self_parent(p, sec, "a", "c"), XP_SOURCE_SELF_DEPTH);
}

xp_errcode_e xp_source_scan(xp_source_t *src, apr_pool_t *p,
                            const xp_section_t *sec, const char *where,
                            const apr_array_header_t *args, int batch_rows,
                            xp_row_fn fn, void *baton, const xp_job_ctl_t *ctl,
                            xp_error_t *err)
{
    const char *sql, *depth;

    if (!where)
        return XP_OK;
    if (source_key_index(sec) < 0)
        return xp_error_set(err, p, XP_EINVAL,
                            "section \"%s\": key column \"%s\" is not among "
                            "its exported columns",
                            sec->name, sec->key);
    if (batch_rows <= 0)
        batch_rows = 1000;
    depth = self_depth(p, sec);
    sql = apr_psprintf(p, "SELECT %s FROM %s xp_row WHERE (%s) ORDER BY %s%s%s",
                       source_cols_sql(p, sec, src->db->dialect),
                       xp_sql_ident(p, sec->table ? sec->table : sec->name),
                       where, depth ? depth : "", depth ? ", " : "",
                       xp_sql_ident(p, sec->key));
    if (src->db->dialect == XP_DIALECT_SQLITE)
        return sqlite_scan(src, p, sec, sql, args, batch_rows, fn, baton, ctl,
                           err);
    return pg_scan(src, p, sec, sql, args, batch_rows, fn, baton, ctl, err);
}
