/*
 * test_rows.c -- a few rows of a section read in a request
 * (xp_rows_select) and a row as JSON (xp_row_json), on SQLite in a temp
 * dir and on PostgreSQL too when XPORT_TEST_PG holds a conninfo: a row
 * by a key that needs quoting, the rows of one repository, limits,
 * filters that name other sections or are malformed, errors of the
 * callback, no connection left open; and every row rendered by
 * xp_row_json equal to its line of a JSON-array export.
 */
#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "tap.h"
#include "xp_rows.h"
#include "xp_export.h"
#include "xp_filter.h"
#include "xp_source.h"

static apr_pool_t *pool;
static char storage[] = "/tmp/xp-rows-XXXXXX";

#define V1 "/orgs/CIEL/sources/CIEL/v2016-08-22/"
#define V2 "/orgs/CIEL/sources/CIEL/v2017-01-01/"
#define HEAD "/orgs/CIEL/sources/CIEL/HEAD/"
#define ODD_REPO "caf\xc3\xa9 \\ 'x' \"y\""
#define ODD "/users/o'brien/sources/" ODD_REPO "/v1/"

/* id, repo, name, released, score, seq, extras, updated_at */
static const char *const version_rows[][8] = {
    {V2, "CIEL", "Second", "1", "2.5", "2", "{\"a\":\n [1, 2]}",
     "2017-01-01T00:00:00Z"},
    {V1, "CIEL", "First \"one\"", "0", "-1.25e3", "1", "not json",
     "2016-08-22T00:00:00Z"},
    {HEAD, "CIEL", "Head\nline\ttab", "1", "0", "12abc", "null",
     "2018-01-01T00:00:00Z"},
    {ODD, ODD_REPO, "caf\xc3\xa9 \xf0\x9f\x98\x80", NULL, NULL, NULL, NULL,
     NULL},
    {"/orgs/WHO/sources/ICD/v1/", "ICD", "", "0", "3", "-7", "[]",
     "2019-01-01T00:00:00Z"},
};
#define N_VERSIONS (int)(sizeof(version_rows) / sizeof(version_rows[0]))

static const char *const schema_sqlite[] = {
    "DROP TABLE IF EXISTS concepts", "DROP TABLE IF EXISTS versions",
    "CREATE TABLE versions (id TEXT PRIMARY KEY, repo TEXT, name TEXT, "
    "released INTEGER, score REAL, seq TEXT, extras TEXT, updated_at TEXT)",
    "CREATE TABLE concepts (id INTEGER PRIMARY KEY, version TEXT, code TEXT)",
    NULL};

static const char *const schema_pgsql[] = {
    "DROP TABLE IF EXISTS concepts, versions CASCADE",
    "CREATE TABLE versions (id TEXT PRIMARY KEY, repo TEXT, name TEXT, "
    "released BOOLEAN, score DOUBLE PRECISION, seq TEXT, extras TEXT, "
    "updated_at TEXT)",
    "CREATE TABLE concepts (id INTEGER PRIMARY KEY, version TEXT, code TEXT)",
    NULL};

static int make_db(const char *drv, const char *params)
{
    const char *const *ddl =
        strcmp(drv, "pgsql") ? schema_sqlite : schema_pgsql;
    int pg = !strcmp(drv, "pgsql"), i, bad = 0;
    xp_error_t err = {0};
    xp_db_t *db;

    if (xp_db_open(pool, drv, params, "rows", &db, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return -1;
    }
    for (i = 0; ddl[i]; i++)
        bad |= xp_db_run(db, pool, ddl[i], &err) != XP_OK;
    for (i = 0; i < N_VERSIONS; i++) {
        const char *a[8];
        memcpy(a, version_rows[i], sizeof(a));
        if (pg && a[3])
            a[3] = !strcmp(a[3], "1") ? "true" : "false";
        bad |= xp_db_exec(db, pool,
                          "INSERT INTO versions VALUES (%s, %s, %s, %s, %s, "
                          "%s, %s, %s)",
                          8, a, NULL, &err) != XP_OK;
    }
    bad |= xp_db_run(db, pool,
                     "INSERT INTO concepts VALUES (1, '" V1 "', 'c1'), "
                     "(2, '" V2 "', 'c2')",
                     &err) != XP_OK;
    if (bad)
        printf("# schema: %s\n", err.message);
    xp_db_close(db);
    return bad ? -1 : 0;
}

static const char *const versions_opts[] = {
    "key=id", "search=name", "updated=updated_at",
    "fields=id:url,repo:repository,name:Display_Name,seq:sequence",
    "types=released:bool,score:real,seq:int,extras:json"};
static const char *const concepts_opts[] = {"key=id", "ref=version:versions",
                                            "types=id:int", "fields=code:Code"};

static xp_sections_t *make_sections(const char *drv, const char *params)
{
    xp_sections_t *secs = xp_sections_make(pool);
    xp_source_t *src;
    xp_error_t err = {0};
    const char *m;

    if ((m = xp_sections_add(secs, pool, "versions", 5, versions_opts)) ||
        (m = xp_sections_add(secs, pool, "concepts", 4, concepts_opts))) {
        printf("# sections: %s\n", m);
        return NULL;
    }
    if (xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        printf("# discover: %s\n", err.message);
        return NULL;
    }
    xp_source_close(src);
    return secs;
}

/* ------------------------------------------------------------------ */

typedef struct {
    const xp_section_t *sec;
    apr_array_header_t *keys; /* const char *: each row's first value */
    apr_array_header_t *json; /* const char *: xp_row_json of each row */
    int fail_at;              /* > 0: return fail_rc at that row */
    xp_errcode_e fail_rc;
} collect_t;

static xp_errcode_e collect(void *baton, const char *const *values, int ncols,
                            xp_error_t *err)
{
    collect_t *c = baton;
    xp_buf_t b;

    if (ncols != c->sec->columns->nelts)
        return xp_error_set(err, pool, XP_EIO, "%d values for %d columns",
                            ncols, c->sec->columns->nelts);
    if (c->fail_at > 0 && c->keys->nelts + 1 == c->fail_at)
        return xp_error_set(err, pool, c->fail_rc, "the callback says no");
    xp_buf_init(&b, pool, 256);
    xp_row_json(&b, c->sec, values);
    APR_ARRAY_PUSH(c->keys, const char *) = apr_pstrdup(pool, values[0]);
    APR_ARRAY_PUSH(c->json, const char *) = apr_pstrmemdup(pool, b.data, b.len);
    return XP_OK;
}

typedef struct {
    const char *drv, *params, *tag;
    xp_sections_t *secs;
} ctx_t;

static xp_errcode_e sel(const ctx_t *x, const char *section, const char *filter,
                        int limit, collect_t *c, xp_error_t *err)
{
    memset(c, 0, sizeof(*c));
    c->sec = xp_sections_find(x->secs, section ? section : "versions");
    c->keys = apr_array_make(pool, 8, sizeof(const char *));
    c->json = apr_array_make(pool, 8, sizeof(const char *));
    memset(err, 0, sizeof(*err));
    return xp_rows_select(pool, x->drv, x->params, x->secs, section, filter,
                          NULL, limit, collect, c, err);
}

/* The keys collected, joined with " | ". */
static const char *keys_of(const collect_t *c)
{
    const char *s = "";
    int i;

    for (i = 0; i < c->keys->nelts; i++)
        s = apr_pstrcat(pool, s, i ? " | " : "",
                        APR_ARRAY_IDX(c->keys, i, const char *), NULL);
    return s;
}

static void test_select(const ctx_t *x)
{
    const char *tag = x->tag;
    xp_error_t err;
    collect_t c;

    is_int(
        sel(x, "versions",
            apr_pstrcat(pool, "versions/id=", xp_filter_quote(pool, ODD), NULL),
            1, &c, &err),
        XP_OK, "%s: a version by a key with quotes, backslash, UTF-8", tag);
    is_str(keys_of(&c), ODD, "%s: ... exactly that row", tag);
    is_int(sel(x, "versions",
               apr_pstrcat(pool, "versions/repository=",
                           xp_filter_quote(pool, "CIEL"), NULL),
               0, &c, &err),
           XP_EINVAL, "%s: a filter names columns, not fields= names", tag);
    is_int(sel(x, "versions",
               apr_pstrcat(
                   pool, "versions/repo=", xp_filter_quote(pool, "CIEL"), NULL),
               0, &c, &err),
           XP_OK, "%s: the versions of one repository", tag);
    is_str(keys_of(&c), HEAD " | " V1 " | " V2, "%s: ... all, in key order",
           tag);
    sel(x, "versions", "versions/repo=CIEL", 2, &c, &err);
    is_str(keys_of(&c), HEAD " | " V1, "%s: limit 2 of 3: the first two", tag);
    is_int(sel(x, "versions", "versions/repo=CIEL", 3, &c, &err), XP_OK,
           "%s: limit 3 of 3", tag);
    is_int(c.keys->nelts, 3, "%s: ... all three", tag);
    is_int(sel(x, "versions", "versions/repo=none", 1, &c, &err), XP_OK,
           "%s: no row matches", tag);
    is_int(c.keys->nelts, 0, "%s: ... none passed", tag);
    is_int(sel(x, "versions", NULL, 0, &c, &err), XP_OK,
           "%s: no filter: the whole section", tag);
    is_int(c.keys->nelts, N_VERSIONS, "%s: ... every row", tag);
    sel(x, "versions", "versions\nversions/repo=ICD", 0, &c, &err);
    is_int(c.keys->nelts, N_VERSIONS, "%s: lines of the section are ORed", tag);
    sel(x, "versions", "versions/\"second\"", 0, &c, &err);
    is_str(keys_of(&c), V2, "%s: a search term", tag);
}

static void test_refused(const ctx_t *x)
{
    const char *tag = x->tag;
    xp_error_t err;
    collect_t c;

    is_int(sel(x, "versions", "versions/repo=CIEL\nconcepts", 0, &c, &err),
           XP_EINVAL, "%s: a line of another section is refused", tag);
    ok(err.line == 2 && err.field && !strcmp(err.field, "filter") &&
           err.message && strstr(err.message, "\"concepts\""),
       "%s: ... at its line, naming it: %s", tag, err.message);
    is_int(c.keys->nelts, 0, "%s: ... and nothing is read", tag);
    is_int(sel(x, "versions", "all", 0, &c, &err), XP_EINVAL,
           "%s: all is refused", tag);
    is_int(sel(x, "versions", "versions/colour=red", 0, &c, &err), XP_EINVAL,
           "%s: a malformed filter is refused", tag);
    ok(err.line == 1 && err.column == 10, "%s: ... at its line and column: %s",
       tag, err.message);
    is_int(sel(x, "versions", "versions/repo='open", 0, &c, &err), XP_EINVAL,
           "%s: a bad quote is refused", tag);
    is_int(sel(x, "nosuch", NULL, 0, &c, &err), XP_EINVAL,
           "%s: an unknown section is refused", tag);
    is_int(sel(x, "concepts", "concepts/version=" V1, 0, &c, &err), XP_OK,
           "%s: another section reads its own rows", tag);
    is_str(keys_of(&c), "1", "%s: ... by a ref column", tag);
}

static void test_callback(const ctx_t *x)
{
    const char *tag = x->tag;
    xp_error_t err;
    collect_t c;

    memset(&c, 0, sizeof(c));
    c.sec = xp_sections_find(x->secs, "versions");
    c.keys = apr_array_make(pool, 8, sizeof(const char *));
    c.json = apr_array_make(pool, 8, sizeof(const char *));
    c.fail_at = 2;
    c.fail_rc = XP_EIO;
    memset(&err, 0, sizeof(err));
    is_int(xp_rows_select(pool, x->drv, x->params, x->secs, "versions", NULL, NULL,
                          0, collect, &c, &err),
           XP_EIO, "%s: the callback's error stops the read", tag);
    is_str(err.message, "the callback says no", "%s: ... with its message",
           tag);
    is_int(c.keys->nelts, 1, "%s: ... after the rows before it", tag);
    c.keys->nelts = c.json->nelts = 0;
    c.fail_rc = XP_ECANCEL;
    is_int(xp_rows_select(pool, x->drv, x->params, x->secs, "versions", NULL, NULL,
                          3, collect, &c, &err),
           XP_ECANCEL, "%s: a callback's stop is no limit reached", tag);
    memset(&err, 0, sizeof(err));
    is_int(xp_rows_select(pool, x->drv, "/nonexistent/dir/app.db", x->secs,
                          "versions", NULL, NULL, 0, collect, &c, &err),
           XP_EDB, "%s: a data source that does not open is an error", tag);
    ok(err.message != NULL, "%s: ... saying so: %s", tag, err.message);
}

/* ------------------------------------------------------------------ */
/* SQLite's reals as text                                               */
/* ------------------------------------------------------------------ */

/* The reader spells most REAL values itself (source.c): each must read
 * exactly as SQLite's own text of it. r is declared REAL (whole numbers
 * are stored as integers and read back as reals), v has no type. */
static const char *const reals_sql =
    "CREATE TABLE reals (id INTEGER PRIMARY KEY, r REAL, v);"
    "INSERT INTO reals (r, v) VALUES (0.37, 0.37), (13, 13), (13.0, 13.0),"
    "(-0.0, -0.0), (0.0, 'text'), (1e-3, 1e-3), (9.9e-4, 9.9e-4),"
    "(99999999999999.9, 1e14), (0.1 + 0.2, 1.0 / 3), (-2778.17, NULL),"
    "(123456.789012345, 0.00123456789012345), (0.999999999999999,"
    " 0.9999999999999999), (1e300, 5e-324), (-12345678901234.5, 2.5)";

static xp_errcode_e collect_reals(void *baton, const char *const *values,
                                  int ncols, xp_error_t *err)
{
    apr_array_header_t *a = baton;
    int i;

    (void)err;
    for (i = 1; i < ncols; i++)
        APR_ARRAY_PUSH(a, const char *) =
            values[i] ? apr_pstrdup(pool, values[i]) : "NULL";
    return XP_OK;
}

static void test_real_text(const ctx_t *x)
{
    static const char *const opts[] = {"key=id", "types=r:real,v:real"};
    apr_array_header_t *got = apr_array_make(pool, 32, sizeof(char *));
    const char *want = "", *have = "", *s;
    xp_sections_t *secs = xp_sections_make(pool);
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    xp_error_t err = {0};
    xp_source_t *src;
    xp_db_t *db;
    int i;

    if (xp_db_open(pool, x->drv, x->params, "rows", &db, &err) != XP_OK ||
        xp_db_run(db, pool, reals_sql, &err) != XP_OK ||
        xp_db_select(db, pool,
                     "SELECT CAST(r AS TEXT), CAST(v AS TEXT) FROM reals "
                     "ORDER BY id",
                     0, NULL, &res, &err) != XP_OK) {
        ok(0, "%s: the reals table: %s", x->tag, err.message);
        return;
    }
    while (xp_db_next(db, pool, res, &row))
        for (i = 0; i < 2; i++)
            want = apr_pstrcat(pool, want, " ",
                               (s = xp_db_str(db, row, i)) ? s : "NULL", NULL);
    xp_db_close(db);
    xp_sections_add(secs, pool, "reals", 2, opts);
    if (xp_source_open(pool, x->drv, x->params, &src, &err) == XP_OK) {
        xp_source_discover(src, pool, secs, &err);
        xp_source_close(src);
    }
    is_int(xp_rows_select(pool, x->drv, x->params, secs, "reals", NULL, NULL, 0,
                          collect_reals, got, &err),
           XP_OK, "%s: the reals read", x->tag);
    for (i = 0; i < got->nelts; i++)
        have = apr_pstrcat(pool, have, " ", APR_ARRAY_IDX(got, i, const char *),
                           NULL);
    is_int(got->nelts, 28, "%s: ... 14 rows of two reals", x->tag);
    is_str(have, want, "%s: ... each spelled as SQLite spells it", x->tag);
}

/* No connection outlives a read, also one stopped by the limit (a COPY
 * cancelled on PostgreSQL). */
static void test_pg_closed(const ctx_t *x)
{
    xp_error_t err;
    xp_db_t *db;
    collect_t c;
    apr_int64_t others = -1;
    int i, tries;

    for (i = 0; i < 10; i++)
        sel(x, "versions", NULL, i % 2 ? 1 : 0, &c, &err);
    is_int(c.keys->nelts, 1, "pgsql: the last of 10 reads kept its limit");
    if (xp_db_open(pool, "pgsql", x->params, "test", &db, &err) != XP_OK) {
        ok(0, "pgsql: connection to count connections: %s", err.message);
        return;
    }
    for (tries = 0; tries < 50 && others != 0; tries++) {
        apr_dbd_results_t *res;
        apr_dbd_row_t *row = NULL;
        if (tries)
            apr_sleep(apr_time_from_msec(100));
        if (xp_db_select(db, pool,
                         "SELECT COUNT(*) FROM pg_stat_activity WHERE "
                         "datname = current_database() AND "
                         "pid <> pg_backend_pid()",
                         0, NULL, &res, &err) != XP_OK)
            break;
        while (xp_db_next(db, pool, res, &row))
            others = apr_atoi64(xp_db_str(db, row, 0));
    }
    is_int(others, 0, "pgsql: no connection left open by the reads");
    xp_db_close(db);
}

/* ------------------------------------------------------------------ */
/* xp_row_json against the export                                       */
/* ------------------------------------------------------------------ */

/* The lines of a JSON-array export's file without their separators. */
static apr_array_header_t *json_export_lines(const ctx_t *x, const char *filter)
{
    apr_array_header_t *lines = apr_array_make(pool, 8, sizeof(const char *));
    xp_export_params_t in = {0};
    xp_export_env_t env = {0};
    xp_job_t *job = NULL;
    xp_error_t err = {0};
    char *data, *line, *last;
    const char *path;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t len;

    env.secs = x->secs;
    env.source_driver = x->drv;
    env.source_params = x->params;
    env.storage = storage;
    env.instance = "rows";
    in.filter = filter;
    in.format = "json";
    if (xp_export_prepare(pool, x->secs, "rows", &in, &job, &err) != XP_OK ||
        xp_export_run(pool, &env, job, NULL, &err) != XP_OK) {
        printf("# export: %s\n", err.message);
        return lines;
    }
    path = apr_pstrcat(pool, storage, "/", job->file, NULL);
    if (apr_stat(&fi, path, APR_FINFO_SIZE, pool) != APR_SUCCESS ||
        apr_file_open(&f, path, APR_FOPEN_READ, 0, pool) != APR_SUCCESS)
        return lines;
    len = (apr_size_t)fi.size;
    data = apr_palloc(pool, len + 1);
    apr_file_read_full(f, data, len, &len);
    apr_file_close(f);
    apr_file_remove(path, pool);
    data[len] = '\0';
    for (line = apr_strtok(data, "\n", &last); line;
         line = apr_strtok(NULL, "\n", &last)) {
        apr_size_t n = strlen(line);
        if (!strcmp(line, "[") || !strcmp(line, "]"))
            continue;
        if (n && line[n - 1] == ',')
            line[n - 1] = '\0';
        APR_ARRAY_PUSH(lines, const char *) = line;
    }
    return lines;
}

static void test_row_json(const ctx_t *x, const char *section)
{
    apr_array_header_t *want = json_export_lines(x, section);
    xp_error_t err;
    collect_t c;
    int i, same;

    sel(x, section, NULL, 0, &c, &err);
    is_int(c.json->nelts, want->nelts,
           "%s: %s: as many rows read as the export wrote (%d)", x->tag,
           section, want->nelts);
    same = c.json->nelts == want->nelts && want->nelts > 0;
    for (i = 0; same && i < want->nelts; i++) {
        const char *got = APR_ARRAY_IDX(c.json, i, const char *);
        const char *exp = APR_ARRAY_IDX(want, i, const char *);
        if (strcmp(got, exp)) {
            printf("#   got:      %s\n#   expected: %s\n", got, exp);
            same = 0;
        }
    }
    ok(same,
       "%s: %s: xp_row_json of each row is its line of the JSON "
       "array export",
       x->tag, section);
}

static void test_row_json_shape(const ctx_t *x)
{
    const xp_section_t *sec = xp_sections_find(x->secs, "versions");
    static const char *const vals[] = {
        "k", "r", "n\"", "t", "1e2", "x1", "{ \"a\" :\n1 }", NULL};
    xp_section_t empty;
    xp_buf_t b;

    xp_buf_init(&b, pool, 16);
    xp_buf_adds(&b, "[");
    xp_row_json(&b, sec, vals);
    xp_buf_adds(&b, "]");
    is_str(b.data,
           "[{\"url\":\"k\",\"repository\":\"r\",\"Display_Name\":\"n\\\"\","
           "\"released\":true,\"score\":1e2,\"sequence\":\"x1\","
           "\"extras\":{\"a\":1},\"updated_at\":null}]",
           "%s: a row under fields= names, typed, appended without a newline",
           x->tag);
    memset(&empty, 0, sizeof(empty));
    empty.name = "empty";
    empty.columns = apr_array_make(pool, 1, sizeof(const char *));
    xp_buf_reset(&b);
    xp_row_json(&b, &empty, vals);
    is_str(apr_pstrmemdup(pool, b.data, b.len), "{}",
           "%s: a section without columns: {}", x->tag);
}

static void run_suite(const char *drv, const char *params, const char *tag)
{
    ctx_t x;

    x.drv = drv;
    x.params = params;
    x.tag = tag;
    if (make_db(drv, params) != 0 || !(x.secs = make_sections(drv, params))) {
        ok(0, "%s: the test database", tag);
        return;
    }
    test_select(&x);
    test_refused(&x);
    test_callback(&x);
    test_row_json(&x, "versions");
    test_row_json(&x, "concepts");
    test_row_json_shape(&x);
    if (!strcmp(drv, "pgsql"))
        test_pg_closed(&x);
    else
        test_real_text(&x);
}

int main(void)
{
    const char *pg = getenv("XPORT_TEST_PG"), *db;
    static const char *const left[] = {
        "/app.db", "/app.db-wal", "/app.db-shm", "/tmp", "/exports", "", NULL};
    int i;

    if (apr_initialize() != APR_SUCCESS ||
        apr_pool_create(&pool, NULL) != APR_SUCCESS || !mkdtemp(storage)) {
        printf("Bail out! no APR or no temp dir\n");
        return 1;
    }
    db = apr_pstrcat(pool, storage, "/app.db", NULL);
    run_suite("sqlite3", db, "sqlite");
    if (pg && *pg)
        run_suite("pgsql", pg, "pgsql");
    else
        printf("# XPORT_TEST_PG not set: PostgreSQL not tested\n");
    /* the export files were removed as they were read */
    for (i = 0; left[i]; i++) {
        const char *path = apr_pstrcat(pool, storage, left[i], NULL);
        if (apr_file_remove(path, pool) != APR_SUCCESS)
            apr_dir_remove(path, pool);
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
