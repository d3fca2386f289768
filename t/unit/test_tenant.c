/*
 * test_tenant.c -- the section options tenant= and types=col:bytes, end
 * to end on SQLite in a temp dir (and on PostgreSQL too when
 * XPORT_TEST_PG holds a conninfo): a table whose key is unique per
 * tenant holds the same key for two tenants; rows read (xp_rows_select,
 * exports with and without closure) for one tenant are that tenant's
 * only; an import for a tenant writes its rows whatever the file says,
 * finds keys and references within the tenant and leaves the other
 * tenant's rows alone; binary values travel as base64 and come back
 * byte for byte (NUL and 0xFF included), and a value that is not base64
 * rejects the import.
 */
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>

#include "tap.h"
#include "tdb.h"
#include "xp_rows.h"
#include "xp_export.h"
#include "xp_import.h"
#include "xp_filter.h"
#include "xp_source.h"
#include "xp_bytes.h"
#include "xp_json.h"

static apr_pool_t *pool;
static char storage[] = "/tmp/xp-tenant-XXXXXX";
static const char *drv, *params;
static xp_sections_t *secs;
static xp_job_t *job; /* the last import */

static int pg(void)
{
    return !strcmp(drv, "pgsql");
}

/* data: 00 FF 41 ("AP9B") for tenant a's d1, NULL for b's */
static const char *const schema[] = {
    "DROP TABLE IF EXISTS docs",
    "CREATE TABLE docs (tenant TEXT NOT NULL, id TEXT NOT NULL, title TEXT, "
    "parent TEXT, data %s, PRIMARY KEY (tenant, id))",
    "INSERT INTO docs VALUES ('a', 'd1', 'A1', NULL, %s), "
    "('a', 'd2', 'A2', 'd1', NULL), ('b', 'd1', 'B1', NULL, NULL), "
    "('b', 'd3', 'B3', NULL, NULL)",
    NULL};

static const char *const docs_opts[] = {"key=id", "tenant=tenant",
                                        "ref=parent:docs", "types=data:bytes"};

static int db_run(const char *const *sql)
{
    return tdb_run(pool, drv, params, sql, 99);
}

/* The first column of the first row of sql, "(null)" for NULL. */
static const char *db_str(const char *sql)
{
    const char *v = tdb_str(pool, drv, params, sql);

    return v ? v : "(null)";
}

/* "hex/length" of docs.data of tenant t, key id: the bytes stored. */
static const char *stored_bytes(const char *t, const char *id)
{
    return db_str(apr_psprintf(
        pool,
        pg() ? "SELECT upper(encode(data, 'hex')) || '/' || octet_length(data) "
               "FROM docs WHERE tenant = '%s' AND id = '%s'"
             : "SELECT hex(data) || '/' || length(data) || '/' || typeof(data) "
               "FROM docs WHERE tenant = '%s' AND id = '%s'",
        t, id));
}

static const char *title(const char *t, const char *id)
{
    return db_str(apr_psprintf(
        pool, "SELECT title FROM docs WHERE tenant = '%s' AND id = '%s'", t,
        id));
}

static int setup(void)
{
    const char *ddl[5];
    xp_source_t *src;
    xp_error_t err = {0};
    const char *m;

    ddl[0] = schema[0];
    ddl[1] = apr_psprintf(pool, schema[1], pg() ? "BYTEA" : "BLOB");
    ddl[2] = apr_psprintf(pool, schema[2],
                          pg() ? "'\\x00ff41'::bytea" : "X'00FF41'");
    ddl[3] = NULL;
    if (db_run(ddl) != 0)
        return -1;
    secs = xp_sections_make(pool);
    if ((m = xp_sections_add(secs, pool, "docs", 4, docs_opts))) {
        printf("# sections: %s\n", m);
        return -1;
    }
    if (xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        printf("# discover: %s\n", err.message);
        return -1;
    }
    xp_source_close(src);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration (no database)                                          */
/* ------------------------------------------------------------------ */

static const char *config(const char *opts, const char *columns)
{
    xp_sections_t *s = xp_sections_make(pool);
    const char *argv[8], *m;
    char *copy = apr_pstrdup(pool, opts), *last, *w;
    int argc = 0;

    for (w = apr_strtok(copy, " ", &last); w && argc < 7;
         w = apr_strtok(NULL, " ", &last))
        argv[argc++] = w;
    if (columns)
        argv[argc++] = columns;
    if ((m = xp_sections_add(s, pool, "docs", argc, argv)))
        return m;
    return xp_sections_check(s, pool);
}

static void test_config(void)
{
    ok(config("key=id tenant=tenant types=data:bytes", NULL) == NULL,
       "tenant= and types=col:bytes are section options");
    ok(strstr(config("key=id tenant=te-nant", NULL), "not a valid name") != NULL,
       "tenant= names a column: %s", config("key=id tenant=te-nant", NULL));
    ok(strstr(config("key=id tenant=id", NULL), "names the key") != NULL,
       "the tenant is not the key: %s", config("key=id tenant=id", NULL));
    ok(strstr(config("key=id tenant=t", "columns=id,title"), "tenant=") != NULL,
       "the tenant is one of the columns: %s",
       config("key=id tenant=t", "columns=id,title"));
    ok(strstr(config("key=id types=id:bytes", NULL), "it is the key") != NULL,
       "the key is no bytes column: %s", config("key=id types=id:bytes", NULL));
    ok(strstr(config("key=id ref=p:docs types=p:bytes", NULL), "reference"),
       "nor is a reference: %s", config("key=id ref=p:docs types=p:bytes", NULL));
    ok(strstr(config("key=id tenant=t hash=t:bcrypt", NULL), "tenant") != NULL,
       "the tenant is not hashed: %s",
       config("key=id tenant=t hash=t:bcrypt", NULL));
    ok(strstr(config("key=id types=x:blob", NULL), "bytes") != NULL,
       "an unknown type names bytes among the types: %s",
       config("key=id types=x:blob", NULL));
    ok(xp_tenant_valid("acme-1.eu_x~") && !xp_tenant_valid("") &&
           !xp_tenant_valid("a b") && !xp_tenant_valid("a'b"),
       "tenant names: letters, digits, . _ ~ -");
}

static void test_base64(void)
{
    static const unsigned char raw[] = {0, 0xff, 'A', 0, 0x80};
    const char *b = xp_base64_encode(pool, raw, sizeof(raw));
    apr_size_t n = 0;
    const unsigned char *back;

    is_str(b, "AP9BAIA=", "bytes as standard base64 with padding");
    back = xp_base64_decode(pool, b, &n);
    ok(n == sizeof(raw) && !memcmp(back, raw, n), "... and back, NUL and all");
    ok(xp_base64_valid("") && xp_base64_valid("AP9B") &&
           xp_base64_valid("AA==") && xp_base64_valid("+/+/"),
       "valid base64");
    ok(!xp_base64_valid("AP9") && !xp_base64_valid("AP9B=") &&
           !xp_base64_valid("A===") && !xp_base64_valid("AP-_") &&
           !xp_base64_valid("A=AA") && !xp_base64_valid("AP9B\n"),
       "not base64: short, url-safe, padding inside, a newline");
    is_str(xp_bytes_pg_text(pool, "AP9BAIA="), "\\x00ff410080",
           "PostgreSQL's bytea text of it");
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    const xp_section_t *sec;
    const char *out; /* rows as JSON, " | " between */
} rows_t;

static xp_errcode_e add_row(void *baton, const char *const *values, int ncols,
                            xp_error_t *err)
{
    rows_t *r = baton;
    xp_buf_t b;

    (void)ncols;
    (void)err;
    xp_buf_init(&b, pool, 256);
    xp_row_json(&b, r->sec, values);
    r->out = apr_pstrcat(pool, r->out ? r->out : "", r->out ? " | " : "",
                         apr_pstrmemdup(pool, b.data, b.len), NULL);
    return XP_OK;
}

static const char *rows(const char *filter, const char *tenant)
{
    rows_t r = {xp_sections_find(secs, "docs"), NULL};
    xp_error_t err = {0};

    if (xp_rows_select(pool, drv, params, secs, "docs", filter, tenant, 0,
                       add_row, &r, &err) != XP_OK)
        return apr_pstrcat(pool, "error: ", err.message, NULL);
    return r.out ? r.out : "";
}

#define A1 "{\"tenant\":\"a\",\"id\":\"d1\",\"title\":\"A1\",\"parent\":null,"  \
           "\"data\":\"AP9B\"}"
#define A2 "{\"tenant\":\"a\",\"id\":\"d2\",\"title\":\"A2\",\"parent\":\"d1\"," \
           "\"data\":null}"
#define B1 "{\"tenant\":\"b\",\"id\":\"d1\",\"title\":\"B1\",\"parent\":null,"  \
           "\"data\":null}"
#define B3 "{\"tenant\":\"b\",\"id\":\"d3\",\"title\":\"B3\",\"parent\":null,"  \
           "\"data\":null}"

static void test_rows(const char *tag)
{
    is_str(rows(NULL, "a"), A1 " | " A2,
           "%s: tenant a reads its own rows, bytes as base64", tag);
    is_str(rows(NULL, "b"), B1 " | " B3, "%s: tenant b its own", tag);
    is_str(rows("docs/id=d1", "b"), B1,
           "%s: a key is looked for within the tenant", tag);
    is_str(rows(NULL, "nobody"), "", "%s: a tenant without rows reads none",
           tag);
    ok(strstr(rows(NULL, NULL), A1) && strstr(rows(NULL, NULL), B3),
       "%s: no tenant reads every row", tag);
}

/* Export filter for tenant as ndjson; the file's text or "error: ...". */
static const char *export_text(const char *filter, const char *closure,
                               const char *tenant, int drop_job_tenant)
{
    xp_export_env_t env = {secs, drv, params, storage, "test", 0, 1};
    xp_export_params_t in = {0};
    xp_error_t err = {0};
    xp_job_t *j;
    apr_file_t *f;
    char buf[4096];
    apr_size_t n = sizeof(buf) - 1;

    in.filter = filter;
    in.format = "ndjson";
    in.closure = closure;
    in.tenant = tenant;
    if (xp_export_prepare(pool, secs, "test", &in, &j, &err) != XP_OK)
        return apr_pstrcat(pool, "error: ", err.message, NULL);
    if (drop_job_tenant) /* a job store that does not keep the column */
        j->tenant = NULL;
    if (xp_export_run(pool, &env, j, NULL, &err) != XP_OK)
        return apr_pstrcat(pool, "error: ", err.message, NULL);
    if (apr_file_open(&f, apr_pstrcat(pool, storage, "/", j->file, NULL),
                      APR_FOPEN_READ, 0, pool) != APR_SUCCESS)
        return "error: no file";
    apr_file_read(f, buf, &n);
    apr_file_close(f);
    buf[n] = '\0';
    return apr_pstrcat(pool, j->counts, " ", buf, NULL);
}

static void test_export(const char *tag)
{
    xp_export_params_t in = {0};
    xp_error_t err = {0};
    xp_job_t *j = NULL;

    in.filter = "docs";
    in.tenant = "a";
    ok(xp_export_prepare(pool, secs, "test", &in, &j, &err) == XP_OK && j &&
           !strcmp(j->tenant, "a") && strstr(j->options, "\"tenant\":\"a\""),
       "%s: an export job keeps its tenant, in its options too", tag);
    in.tenant = "a b";
    ok(xp_export_prepare(pool, secs, "test", &in, &j, &err) == XP_EINVAL &&
           !strcmp(err.field, "tenant"),
       "%s: a tenant that is no name is refused: %s", tag, err.message);
    is_str(export_text("docs", NULL, "b", 0), "{\"docs\":2} " B1 "\n" B3 "\n",
           "%s: an export for tenant b: its rows, counted", tag);
    is_str(export_text("docs", NULL, "a", 1), "{\"docs\":2} " A1 "\n" A2 "\n",
           "%s: the tenant is read back from the job's options", tag);
    is_str(export_text("docs/id=d2", "true", "a", 0),
           "{\"docs\":2} " A1 "\n" A2 "\n",
           "%s: closure follows a reference within the tenant (a's d1, not "
           "b's)",
           tag);
    is_str(export_text("docs/id=d3", "true", "a", 0), "{\"docs\":0} ",
           "%s: another tenant's row is not selected by its key", tag);
}

/* ------------------------------------------------------------------ */
/* Importing                                                            */
/* ------------------------------------------------------------------ */

/* Import ndjson lines into docs for tenant. */
static xp_errcode_e import(const char *lines, const char *tenant)
{
    const char *name = apr_psprintf(pool, "up-%d.ndjson", tap_n);
    xp_import_env_t env = {secs, drv, params, storage, 0, 0};
    xp_import_params_t in = {0};
    xp_error_t err = {0};
    apr_file_t *f;
    apr_size_t n = strlen(lines);

    apr_file_open(&f, apr_pstrcat(pool, storage, "/", name, NULL),
                  APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                  APR_FPROT_OS_DEFAULT, pool);
    apr_file_write_full(f, lines, n, NULL);
    apr_file_close(f);
    in.raw_format = "ndjson";
    in.sections = "docs";
    in.tenant = tenant;
    if (xp_import_prepare(pool, secs, &in, &job, &err) != XP_OK)
        return err.code;
    job->file = name;
    return xp_import_run(pool, &env, job, NULL, &err);
}

static void test_import(const char *tag)
{
    is_int(import("{\"tenant\":\"a\",\"id\":\"d1\",\"title\":\"B1 new\","
                  "\"data\":\"AAEC/w==\"}\n"
                  "{\"id\":\"d2\",\"title\":\"B2\",\"parent\":\"d1\"}\n",
                  "b"),
           XP_OK, "%s: an import for tenant b", tag);
    is_str(job->changes,
           "{\"docs\":{\"created\":1,\"updated\":1,\"unchanged\":0,"
           "\"skipped\":0}}",
           "%s: ... updates b's d1 and creates b's d2 (a has a d2)", tag);
    is_str(title("b", "d1"), "B1 new",
           "%s: b's row got the values, though the line said tenant a", tag);
    is_str(stored_bytes("b", "d1"), pg() ? "000102FF/4" : "000102FF/4/blob",
           "%s: ... and the raw bytes of its base64", tag);
    is_str(title("a", "d1"), "A1", "%s: a's row with that key is untouched",
           tag);
    is_str(stored_bytes("a", "d1"), pg() ? "00FF41/3" : "00FF41/3/blob",
           "%s: ... bytes and all", tag);
    is_str(db_str("SELECT tenant FROM docs WHERE id = 'd2' AND title = 'B2'"),
           "b", "%s: the new row is b's", tag);
    is_str(db_str("SELECT count(*) FROM docs"), "5",
           "%s: one row more in the table", tag);
    is_int(import("{\"id\":\"x1\",\"title\":\"X\",\"parent\":\"d1\"}\n", "c"),
           XP_EINVAL, "%s: a reference is looked for within the tenant", tag);
    ok(job->error_messages && strstr(job->error_messages, "no such row"),
       "%s: ... c has no d1: %s", tag, job->error_messages);
    is_str(db_str("SELECT count(*) FROM docs WHERE tenant = 'c'"), "0",
           "%s: ... and nothing was written", tag);
}

static void test_bytes(const char *tag)
{
    unsigned char all[256];
    const char *b64, *line;
    int i;

    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    b64 = xp_base64_encode(pool, all, sizeof(all));
    line = apr_psprintf(pool, "{\"id\":\"bin\",\"title\":\"all\",\"data\":\"%s\"}\n",
                        b64);
    is_int(import(line, "z"), XP_OK, "%s: every byte value imports", tag);
    ok(strstr(stored_bytes("z", "bin"), pg() ? "/256" : "/256/blob") &&
           !strncmp(stored_bytes("z", "bin"), "FFFEFD", 6),
       "%s: ... stored as 256 raw bytes: %.12s...", tag,
       stored_bytes("z", "bin"));
    ok(strstr(rows(NULL, "z"), b64) != NULL,
       "%s: ... read back as the same base64", tag);
    is_int(import(line, "z"), XP_OK, "%s: the same line again", tag);
    ok(strstr(job->changes, "\"unchanged\":1") != NULL,
       "%s: ... is unchanged: %s", tag, job->changes);
    is_int(import("{\"id\":\"ok\",\"data\":\"AAAA\"}\n"
                  "{\"id\":\"bad\",\"data\":\"not base64!\"}\n",
                  "z"),
           XP_EINVAL, "%s: a value that is not base64 fails the import", tag);
    ok(job->error_messages &&
           strstr(job->error_messages, "column \\\"data\\\": not base64"),
       "%s: ... naming its column: %s", tag, job->error_messages);
    is_str(db_str("SELECT count(*) FROM docs WHERE tenant = 'z'"), "1",
           "%s: ... all or nothing: the good line is not written either", tag);
    is_int(import("{\"id\":\"n\",\"data\":12}\n", "z"), XP_EINVAL,
           "%s: a number is no base64 either", tag);
}

static void run_suite(const char *d, const char *p)
{
    drv = d;
    params = p;
    if (setup() != 0) {
        ok(0, "%s: set up the database", d);
        return;
    }
    test_rows(d);
    test_export(d);
    test_import(d);
    test_bytes(d);
}

int main(void)
{
    const char *pgc = getenv("XPORT_TEST_PG");

    if (tdb_start(&pool, storage) != 0)
        return 1;
    test_config();
    test_base64();
    run_suite("sqlite3", apr_pstrcat(pool, storage, "/app.db", NULL));
    if (pgc && *pgc)
        run_suite("pgsql", pgc);
    else
        printf("# XPORT_TEST_PG not set: PostgreSQL not tested\n");
    tdb_rm_tree(pool, storage);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
