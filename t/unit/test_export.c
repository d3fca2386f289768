/*
 * test_export.c -- exports end to end against a small demo database
 * (users, bots, messages with refs) on SQLite in a temp dir, and on
 * PostgreSQL too when XPORT_TEST_PG holds a conninfo: request validation,
 * column discovery, every output format read back (entries, order,
 * counts, SHA-256s, typed values, rows ordered by key), closure, a time
 * window, checks every 2 rows, values that need escaping on the way out
 * and filter values that need quoting on the way in, that a cancel or
 * the size limit leaves no file behind, and that a statement that does
 * not return can be interrupted from another thread. format=document on
 * a version / concepts / mappings schema: the object byte for byte, the
 * root's rules (exactly one row, never windowed), and 50,000 rows
 * streamed into the zip in flat memory.
 */
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <archive.h>
#include <archive_entry.h>

#include "tap.h"
#include "xp_export.h"
#include "xp_source.h"
#include "xp_filter.h"
#include "xp_hash.h"
#include "xp_json.h"
#include "xp_count.h"

static apr_pool_t *pool;
static char storage[] = "/tmp/xp-export-XXXXXX";

static const char *const demo_sqlite[] = {
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
    "score REAL, selected INTEGER, prefs TEXT, updated_at TEXT)",
    "CREATE TABLE bots (id TEXT PRIMARY KEY, name TEXT, owner_id INTEGER, "
    "coordinates TEXT)",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, bot_id TEXT, "
    "user_id INTEGER, body TEXT, created_at TEXT)",
    NULL};

static const char *const demo_pgsql[] = {
    "DROP TABLE IF EXISTS messages, bots, users CASCADE",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
    "score DOUBLE PRECISION, selected BOOLEAN, prefs TEXT, updated_at TEXT)",
    "CREATE TABLE bots (id TEXT PRIMARY KEY, name TEXT, owner_id INTEGER, "
    "coordinates TEXT)",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, bot_id TEXT, "
    "user_id INTEGER, body TEXT, created_at TEXT)",
    NULL};

/* Inserted out of key order on purpose. */
static const char *const demo_rows[] = {
    "INSERT INTO users VALUES (3, 'Carol', NULL, 2.5, %s, 'not json', "
    "'2026-03-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (1, 'Alice \"A\"', 'a@x', 10, %s, "
    "'{\"theme\":\n \"dark\"}', '2026-01-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (2, 'Bob', 'b@x', -1.25e3, %s, '[1,2]', "
    "'2026-02-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (5, 'Eve', 'e@x', NULL, NULL, NULL, "
    "'2026-05-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (4, 'Dan', 'd@x', 0, %s, 'null', "
    "'2026-04-01T00:00:00.000Z')",
    "INSERT INTO bots VALUES ('b2', 'Beta', 2, NULL)",
    "INSERT INTO bots VALUES ('b1', 'Alpha', 1, '1,2')",
    "INSERT INTO bots VALUES ('b3', 'Gamma', NULL, NULL)",
    NULL};

static const char *bools_sqlite[] = {"0", "1", "1", "0"};
static const char *bools_pgsql[] = {"false", "true", "true", "false"};

static int make_demo(const char *drv, const char *params)
{
    xp_db_t *db;
    xp_error_t err = {0};
    const char *const *ddl = strcmp(drv, "pgsql") ? demo_sqlite : demo_pgsql;
    const char **bools = strcmp(drv, "pgsql") ? bools_sqlite : bools_pgsql;
    int i, b = 0, bad = 0;

    if (xp_db_open(pool, drv, params, "demo", &db, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return -1;
    }
    for (i = 0; ddl[i]; i++)
        bad |= xp_db_run(db, pool, ddl[i], &err) != XP_OK;
    for (i = 0; demo_rows[i]; i++) {
        const char *sql = demo_rows[i];
        if (strstr(sql, "%s"))
            sql = apr_psprintf(pool, sql, bools[b++]);
        bad |= xp_db_run(db, pool, sql, &err) != XP_OK;
    }
    /* 10 messages: m1..m10, bots b1,b2,b1,b3,... users 1..3 */
    for (i = 1; i <= 10; i++)
        bad |= xp_db_run(db, pool,
                         apr_psprintf(pool,
                                      "INSERT INTO messages VALUES (%d, "
                                      "'b%d', %d, 'hi\\n #%d \xc3\xa9', "
                                      "'2026-0%d-15T00:00:00.000Z')",
                                      11 - i, i % 3 + 1, i % 2 ? 1 : 3, i,
                                      i % 9 + 1),
                         &err) != XP_OK;
    if (bad)
        printf("# demo: %s\n", err.message);
    xp_db_close(db);
    return bad ? -1 : 0;
}

static void add(xp_sections_t *secs, const char *name, const char *opts)
{
    char *copy = apr_pstrdup(pool, opts), *last, *w;
    const char *argv[16], *m;
    int argc = 0;

    for (w = apr_strtok(copy, " ", &last); w; w = apr_strtok(NULL, " ", &last))
        argv[argc++] = w;
    if ((m = xp_sections_add(secs, pool, name, argc, argv)))
        printf("# fixture: %s\n", m);
}

static xp_sections_t *demo_sections(void)
{
    xp_sections_t *secs = xp_sections_make(pool);

    add(secs, "users",
        "key=id search=name updated=updated_at "
        "types=id:int,score:real,selected:bool,prefs:json");
    add(secs, "bots", "key=id search=name ref=owner_id:users");
    add(secs, "messages",
        "key=id involves=bot_id "
        "ref=bot_id:bots,user_id:users updated=created_at "
        "types=id:int,user_id:int");
    return secs;
}

/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    char *data;
    apr_size_t len;
} entry_t;

/* Every entry of an archive file, in order. */
static apr_array_header_t *read_archive(const char *path)
{
    apr_array_header_t *out = apr_array_make(pool, 4, sizeof(entry_t));
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char buf[8192];
    la_ssize_t n;

    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
        printf("# %s: %s\n", path, archive_error_string(a));
        archive_read_free(a);
        return out;
    }
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        entry_t *en = apr_array_push(out);
        char *d = NULL;
        apr_size_t len = 0;
        en->name = apr_pstrdup(pool, archive_entry_pathname(e));
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
            char *nd = apr_palloc(pool, len + n + 1);
            if (len)
                memcpy(nd, d, len);
            memcpy(nd + len, buf, n);
            d = nd;
            len += n;
        }
        en->data = d ? d : apr_pstrdup(pool, "");
        en->data[len] = '\0';
        en->len = len;
    }
    archive_read_free(a);
    return out;
}

static const char *sha_of(const char *d, apr_size_t n)
{
    xp_sha256_t *h = xp_sha256_make(pool);

    xp_sha256_update(h, d, n);
    return xp_sha256_final(h, pool, NULL);
}

static int dir_entries(const char *sub)
{
    DIR *d = opendir(apr_pstrcat(pool, storage, "/", sub, NULL));
    struct dirent *de;
    int n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void empty_dir(const char *sub)
{
    const char *dir = apr_pstrcat(pool, storage, "/", sub, NULL);
    DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            unlink(apr_pstrcat(pool, dir, "/", de->d_name, NULL));
    if (d)
        closedir(d);
}

static xp_export_env_t env;
static xp_sections_t *demo; /* env.secs, writable for discovery */

static xp_job_t *run_export(const char *filter, const char *format,
                            const char *closure, const char *since,
                            const xp_job_ctl_t *ctl, xp_errcode_e *rc,
                            xp_error_t *err)
{
    xp_export_params_t in = {0};
    xp_job_t *job = NULL;

    in.filter = filter;
    in.format = format;
    in.closure = closure;
    in.since = since;
    memset(err, 0, sizeof(*err));
    *rc = xp_export_prepare(pool, env.secs, env.instance, &in, &job, err);
    if (*rc != XP_OK) {
        printf("# prepare: %s\n", err->message);
        return NULL;
    }
    *rc = xp_export_run(pool, &env, job, ctl, err);
    if (*rc != XP_OK)
        printf("# run: %s\n", err->message);
    return job;
}

static const char *entry_data(apr_array_header_t *es, const char *name)
{
    int i;

    for (i = 0; i < es->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(es, i, entry_t).name, name))
            return APR_ARRAY_IDX(es, i, entry_t).data;
    return NULL;
}

static void test_prepare_fields(void);

static void test_prepare(void)
{
    xp_export_params_t in = {0};
    xp_job_t *job = NULL;
    xp_error_t err = {0};

    in.filter = "users";
    is_int(xp_export_prepare(pool, env.secs, "my demo", &in, &job, &err), XP_OK,
           "prepare a plain export");
    is_str(job->format, "tar.gz", "format defaults to tar.gz");
    is_int(job->status, XP_ST_QUEUED, "job is queued");
    ok(xp_id_valid(job->id), "job has an id");
    ok(!strncmp(job->path, "export-my-demo-", 15) &&
           strstr(job->path, ".tar.gz"),
       "download name from the instance: %s", job->path);
    is_str(job->options,
           "{\"since\":null,\"until\":null,\"closure\":false,"
           "\"file_name\":null}",
           "options as JSON");
    is_int(job->file_size, -1, "no file yet");

    in.filter = "users\nbogus";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "unknown section refused");
    is_str(err.field, "filter", "... field filter");
    is_int(err.line, 2, "... on line 2");
    in.filter = NULL;
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "missing filter refused");
    is_str(err.field, "filter", "... field filter");

    in.filter = "users";
    in.format = "rar";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "unknown format refused");
    is_str(err.field, "format", "... field format");
    in.filter = "users\nbots";
    in.format = "ndjson";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "ndjson with two sections refused");
    is_str(err.field, "format", "... field format");
    in.filter = "bots";
    in.closure = "true";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "ndjson of bots with closure (adds users) refused");
    in.closure = "maybe";
    in.format = NULL;
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "closure must be a bool");
    is_str(err.field, "closure", "... field closure");
    in.closure = "1";

    test_prepare_fields();
}

/* since/until, file_name, source_system, correlation_id */
static void test_prepare_fields(void)
{
    xp_export_params_t in = {0};
    xp_job_t *job = NULL;
    xp_error_t err = {0};

    in.filter = "users";
    in.closure = "1";
    in.since = "2026-02-01";
    in.until = "2026-01-01T00:00:00Z";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "since after until refused");
    is_str(err.field, "until", "... field until");
    in.until = "2026-13-01";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "bad date refused");
    is_str(err.field, "until", "... field until");
    in.until = "2026-03-01T10:00:00+02:00";
    in.file_name = "../etc/passwd";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "file_name with a slash refused");
    is_str(err.field, "file_name", "... field file_name");
    in.file_name = ".hidden";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "file_name with a leading dot refused");
    in.file_name = "backup_2026";
    in.source_system = apr_pcalloc(pool, 202);
    memset((char *)in.source_system, 'x', 201);
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "201-character source_system refused");
    is_str(err.field, "source_system", "... field source_system");
    in.source_system = "crm";
    in.correlation_id = "a\tb";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_EINVAL,
           "control character in correlation_id refused");
    in.correlation_id = "req-42";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_OK,
           "a full request is accepted");
    is_str(job->path, "backup_2026.tar.gz", "extension appended");
    is_str(job->options,
           "{\"since\":\"2026-02-01T00:00:00.000Z\","
           "\"until\":\"2026-03-01T08:00:00.000Z\",\"closure\":true,"
           "\"file_name\":\"backup_2026.tar.gz\"}",
           "times normalised to UTC in the options");
    is_str(job->correlation_id, "req-42", "correlation_id kept");
    in.file_name = "x.tar.gz";
    xp_export_prepare(pool, env.secs, "d", &in, &job, &err);
    is_str(job->path, "x.tar.gz", "extension not doubled");
}

static void test_discover(const char *drv, const char *params, const char *tag)
{
    xp_source_t *src;
    xp_error_t err = {0};
    xp_sections_t *bad;

    is_int(xp_source_open(pool, drv, params, &src, &err), XP_OK,
           "%s: data source opens", tag);
    is_int(xp_source_discover(src, pool, demo, &err), XP_OK,
           "%s: discover columns", tag);
    if (err.message && err.code)
        printf("# %s\n", err.message);
    is_int(
        ((xp_section_t *)xp_sections_find(env.secs, "users"))->columns->nelts,
        7, "%s: users has its 7 columns", tag);
    is_str(APR_ARRAY_IDX(xp_sections_find(env.secs, "users")->columns, 6,
                         const char *),
           "updated_at", "%s: ... in table order", tag);

    bad = xp_sections_make(pool);
    add(bad, "people", "key=id");
    is_int(xp_source_discover(src, pool, bad, &err), XP_EINVAL,
           "%s: unknown table refused", tag);
    ok(err.message && strstr(err.message, "\"people\"") &&
           strstr(err.message, "table="),
       "%s: ... naming section and option: %s", tag, err.message);
    bad = xp_sections_make(pool);
    add(bad, "users", "key=id search=nickname");
    is_int(xp_source_discover(src, pool, bad, &err), XP_EINVAL,
           "%s: unknown column refused", tag);
    ok(err.message && strstr(err.message, "search=") &&
           strstr(err.message, "\"nickname\""),
       "%s: ... naming option and column: %s", tag, err.message);
    xp_source_close(src);
    if (!strcmp(drv, "sqlite3")) {
        is_int(xp_source_open(pool, drv, "/nonexistent/app.db", &src, &err),
               XP_EDB, "%s: a missing database file is an error", tag);
    }
}

/* Checking (progress, cancel) every 2 rows gives the very same entries. */
static void test_batches(const char *tag, const xp_job_t *job,
                         apr_array_header_t *es)
{
    xp_error_t err;
    xp_errcode_e rc;
    xp_job_t *j2;
    apr_array_header_t *es2;

    env.batch_rows = 2;
    j2 = run_export("all", "tar.gz", NULL, NULL, NULL, &rc, &err);
    env.batch_rows = 0;
    if (rc != XP_OK) {
        ok(0, "%s: export in batches of 2", tag);
        return;
    }
    es2 = read_archive(apr_pstrcat(pool, storage, "/", j2->file, NULL));
    ok(es2->nelts == 4 &&
           !strcmp(APR_ARRAY_IDX(es2, 3, entry_t).data,
                   APR_ARRAY_IDX(es, 3, entry_t).data) &&
           !strcmp(APR_ARRAY_IDX(es2, 1, entry_t).data,
                   APR_ARRAY_IDX(es, 1, entry_t).data),
       "%s: checks every 2 rows give identical entries", tag);
    is_str(j2->counts, job->counts, "%s: ... and counts", tag);
}

/* A filter of many lines (an API may make one per service): SQLite
 * refuses an expression deeper than 1000, so they must not nest as deep
 * as they are many. */
static void test_many_lines(const char *tag)
{
    const char *many = "users/id=2";
    xp_errcode_e rc;
    xp_error_t err;
    xp_job_t *job;
    int n;

    for (n = 0; n < 1500; n++)
        many = apr_psprintf(pool, "%s\nusers/id=%d", many, 100000 + n);
    job = run_export(many, "ndjson", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s: a filter of 1,501 lines runs", tag);
    is_str(job ? job->counts : NULL, "{\"users\":1}",
           "%s: ... and selects the one row they name", tag);
}

static void test_tar(const char *tag)
{
    xp_error_t err;
    xp_errcode_e rc;
    xp_job_t *job = run_export("all", "tar.gz", NULL, NULL, NULL, &rc, &err);
    apr_array_header_t *es;
    const char *path, *users, *mf;
    xp_json_t *m;
    apr_status_t rv;

    is_int(rc, XP_OK, "%s: export all as tar.gz", tag);
    if (rc != XP_OK)
        return;
    is_str(job->counts, "{\"users\":5,\"bots\":3,\"messages\":10}",
           "%s: counts per section in ref order", tag);
    is_str(job->file, apr_psprintf(pool, "exports/%s.tar.gz", job->id),
           "%s: file relative to storage", tag);
    path = apr_pstrcat(pool, storage, "/", job->file, NULL);
    is_str(xp_sha256_file(pool, path, &rv), job->sha256,
           "%s: sha256 is the file's", tag);
    {
        apr_finfo_t fi;
        apr_stat(&fi, path, APR_FINFO_SIZE | APR_FINFO_PROT, pool);
        is_int(fi.size, job->file_size, "%s: file_size is the file's", tag);
        is_int(fi.protection, APR_FPROT_UREAD | APR_FPROT_UWRITE,
               "%s: archive is mode 0600", tag);
    }
    is_int(job->progress_done, 18, "%s: progress done", tag);
    is_int(dir_entries("tmp"), 0, "%s: tmp/ is empty afterwards", tag);

    es = read_archive(path);
    is_int(es->nelts, 4, "%s: 4 entries", tag);
    if (es->nelts != 4)
        return;
    is_str(APR_ARRAY_IDX(es, 0, entry_t).name, "manifest.json",
           "%s: manifest first", tag);
    is_str(APR_ARRAY_IDX(es, 1, entry_t).name, "data/users.ndjson",
           "%s: then users (parent)", tag);
    is_str(APR_ARRAY_IDX(es, 2, entry_t).name, "data/bots.ndjson",
           "%s: then bots", tag);
    is_str(APR_ARRAY_IDX(es, 3, entry_t).name, "data/messages.ndjson",
           "%s: then messages", tag);
    users = APR_ARRAY_IDX(es, 1, entry_t).data;
    is_str(
        apr_pstrndup(pool, users, strchr(users, '\n') - users + 1),
        /* SQLite prints a REAL 10 as 10.0, PostgreSQL as 10 */
        apr_pstrcat(pool,
                    "{\"id\":1,\"name\":\"Alice \\\"A\\\"\",\"email\":\"a@x\","
                    "\"score\":",
                    strcmp(tag, "pgsql") ? "10.0" : "10",
                    ",\"selected\":true,\"prefs\":{\"theme\":\"dark\"},"
                    "\"updated_at\":\"2026-01-01T00:00:00.000Z\"}\n",
                    NULL),
        "%s: first row: key order, typed values, json embedded", tag);
    ok(strstr(users, "{\"id\":3,\"name\":\"Carol\",\"email\":null,"
                     "\"score\":2.5,\"selected\":false,"
                     "\"prefs\":\"not json\","),
       "%s: NULL is null, bad json stays a string", tag);
    ok(strstr(users, "\"score\":-1250") || strstr(users, "\"score\":-1250.0"),
       "%s: real as a number", tag);
    ok(strstr(users, "{\"id\":5,\"name\":\"Eve\",\"email\":\"e@x\","
                     "\"score\":null,\"selected\":null,\"prefs\":null,"),
       "%s: NULLs of every type are null", tag);
    ok(strstr(users, "\"id\":1,") < strstr(users, "\"id\":2,") &&
           strstr(users, "\"id\":2,") < strstr(users, "\"id\":3,") &&
           strstr(users, "\"id\":4,") < strstr(users, "\"id\":5,"),
       "%s: rows ordered by key", tag);
    ok(strstr(APR_ARRAY_IDX(es, 3, entry_t).data,
              "{\"id\":1,\"bot_id\":\"b2\",\"user_id\":3,"
              "\"body\":\"hi\\\\n #10 \xc3\xa9\""),
       "%s: messages: escapes and UTF-8 kept", tag);

    mf = APR_ARRAY_IDX(es, 0, entry_t).data;
    m = xp_json_parse(pool, mf, strlen(mf), &err);
    ok(m != NULL, "%s: manifest is JSON", tag);
    ok(strstr(mf,
              apr_psprintf(pool, "\"sha256\": \"%s\"",
                           sha_of(users, APR_ARRAY_IDX(es, 1, entry_t).len))) !=
           NULL,
       "%s: manifest has the users entry's SHA-256", tag);
    ok(strstr(mf, apr_psprintf(pool, "\"bytes\": %d",
                               (int)APR_ARRAY_IDX(es, 3, entry_t).len)) != NULL,
       "%s: manifest has the messages entry's size", tag);
    ok(strstr(mf, "\"count\": 10") != NULL, "%s: manifest has counts", tag);
    ok(strstr(mf, "\"format\": \"xport-archive\"") != NULL,
       "%s: manifest format", tag);

    test_batches(tag, job, es);
}

static void test_formats(const char *tag)
{
    xp_error_t err;
    xp_errcode_e rc;
    xp_job_t *job;
    apr_array_header_t *es;
    const char *fmts[] = {"zip", "tar.zst"};
    char *data;
    apr_size_t len;
    apr_file_t *f;
    xp_json_t *arr;
    int i;

    for (i = 0; i < 2; i++) {
        job = run_export("users\nbots", fmts[i], NULL, NULL, NULL, &rc, &err);
        is_int(rc, XP_OK, "%s: export as %s", tag, fmts[i]);
        if (rc != XP_OK)
            continue;
        ok(strstr(job->file, fmts[i]) != NULL, "%s: file %s", tag, job->file);
        es = read_archive(apr_pstrcat(pool, storage, "/", job->file, NULL));
        is_int(es->nelts, 3, "%s: %s has manifest + 2 sections", tag, fmts[i]);
        ok(es->nelts == 3 &&
               !strncmp(entry_data(es, "data/bots.ndjson"),
                        "{\"id\":\"b1\",\"name\":\"Alpha\",\"owner_id\":\"1\"",
                        40),
           "%s: %s bots rows by key, untyped values as strings", tag, fmts[i]);
    }

    job = run_export("users", "ndjson", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s: export users as ndjson", tag);
    if (rc == XP_OK) {
        apr_file_open(&f, apr_pstrcat(pool, storage, "/", job->file, NULL),
                      APR_FOPEN_READ, 0, pool);
        data = apr_palloc(pool, 4096);
        len = 4095;
        apr_file_read(f, data, &len);
        apr_file_close(f);
        data[len] = '\0';
        ok(!strncmp(data, "{\"id\":1,", 8) && len == (apr_size_t)job->file_size,
           "%s: ndjson file is the bare rows", tag);
        is_str(job->sha256, sha_of(data, len), "%s: ... and its SHA-256", tag);
        is_str(job->counts, "{\"users\":5}", "%s: ... counts", tag);
    }

    job = run_export("bots", "json", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s: export bots as json", tag);
    if (rc == XP_OK) {
        apr_file_open(&f, apr_pstrcat(pool, storage, "/", job->file, NULL),
                      APR_FOPEN_READ, 0, pool);
        data = apr_palloc(pool, 4096);
        len = 4095;
        apr_file_read(f, data, &len);
        apr_file_close(f);
        arr = xp_json_parse(pool, data, len, &err);
        ok(arr && xp_json_is_array(arr) && xp_json_size(arr) == 3,
           "%s: json file is an array of 3 bots", tag);
        ok(strstr(job->file, ".json") != NULL, "%s: .json file", tag);
    }
}

static void test_closure_window(const char *tag)
{
    xp_error_t err;
    xp_errcode_e rc;
    xp_job_t *job;
    apr_array_header_t *es;
    const char *mf;

    /* messages of bot b1: m2 (i=9, user 1), m5 (i=6, user 3),
     * m8 (i=3, user 1); b1 is owned by user 1 */
    job = run_export("messages/b1", "tar.gz", "true", NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s: closure export", tag);
    if (rc == XP_OK) {
        is_str(job->counts, "{\"users\":2,\"bots\":1,\"messages\":3}",
               "%s: closure adds the referenced bot and users", tag);
        es = read_archive(apr_pstrcat(pool, storage, "/", job->file, NULL));
        ok(es->nelts == 4 &&
               strstr(entry_data(es, "data/users.ndjson"), "\"id\":3,") &&
               !strstr(entry_data(es, "data/users.ndjson"), "\"id\":2,"),
           "%s: users 1 and 3 only", tag);
    }
    job = run_export("messages/b1", "tar.gz", "false", NULL, NULL, &rc, &err);
    is_str(rc == XP_OK ? job->counts : NULL, "{\"messages\":3}",
           "%s: without closure only the messages", tag);

    /* messages created from 2026-06-01: i=5..8 (months 6..9) */
    job = run_export("users\nmessages", "tar.gz", NULL, "2026-06-01", NULL, &rc,
                     &err);
    is_int(rc, XP_OK, "%s: windowed export", tag);
    if (rc == XP_OK) {
        is_str(job->counts, "{\"users\":0,\"messages\":4}",
               "%s: window applied to updated= columns", tag);
        es = read_archive(apr_pstrcat(pool, storage, "/", job->file, NULL));
        mf = entry_data(es, "manifest.json");
        ok(mf && strstr(mf, "\"since\": \"2026-06-01T00:00:00.000Z\""),
           "%s: manifest names the window", tag);
    }
}

static int checks;
static xp_errcode_e cancel_after_first(void *baton)
{
    (void)baton;
    return ++checks > 1 ? XP_ECANCEL : XP_OK;
}

static void test_stops(const char *tag)
{
    xp_error_t err;
    xp_errcode_e rc;
    xp_job_ctl_t ctl = {0};
    int before = dir_entries("exports");

    ctl.check = cancel_after_first;
    env.batch_rows = 2;
    checks = 0;
    run_export("all", "tar.gz", NULL, NULL, &ctl, &rc, &err);
    env.batch_rows = 0;
    is_int(rc, XP_ECANCEL, "%s: cancel stops the export", tag);
    ok(err.message && strstr(err.message, "cancelled"), "%s: ... saying so: %s",
       tag, err.message);
    is_int(dir_entries("tmp"), 0, "%s: ... no temp file left", tag);
    is_int(dir_entries("exports"), before, "%s: ... no archive left", tag);

    env.max_archive_size = 300;
    run_export("all", "tar.gz", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_ELIMIT, "%s: XportMaxArchiveSize enforced", tag);
    ok(err.message && strstr(err.message, "XportMaxArchiveSize"),
       "%s: ... naming the directive: %s", tag, err.message);
    is_int(dir_entries("tmp"), 0, "%s: ... no temp file left", tag);
    is_int(dir_entries("exports"), before, "%s: ... no archive left", tag);
    run_export("users", "ndjson", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_ELIMIT, "%s: limit on a bare ndjson export", tag);
    is_int(dir_entries("tmp") + dir_entries("exports") - before, 0,
           "%s: ... nothing left", tag);
    env.max_archive_size = 0;
}

/* Values that need escaping on the way out of the database (COPY's text
 * format on PostgreSQL: tab, newline, backslash, a value that reads \N)
 * and filter values that need quoting on the way in. */
static const char *const odd_rows[][2] = {
    {"tab\there", "line1\nline2\r\n"},
    {"back\\slash \\N", "\\N"},
    {"", NULL},
    {"ctl \b\f\v\x01 O'Brien", "O'Brien \"q\" 100%_"},
    {"caf\xc3\xa9 \\\\ x", "\\t is no tab"},
    {"\\", "ends with \\"},
    {"ON \\ off", "\\Nope"},
};
#define N_ODD (int)(sizeof(odd_rows) / sizeof(odd_rows[0]))
/* and integers as the database spells them, the extremes of 64 bits too */
static const char *const odd_ints[N_ODD] = {"-9223372036854775808",
                                            "9223372036854775807",
                                            "0",
                                            "-1",
                                            NULL,
                                            "1234567890123",
                                            "-42"};

static void json_field(xp_buf_t *b, const char *key, const char *v)
{
    xp_buf_adds(b, key);
    if (v)
        xp_buf_add_json_str(b, v, strlen(v));
    else
        xp_buf_adds(b, "null");
}

static void test_odd_values(const char *drv, const char *params,
                            const char *tag)
{
    const xp_sections_t *saved = env.secs;
    xp_sections_t *secs = xp_sections_make(pool);
    xp_source_t *src = NULL;
    xp_db_t *db;
    xp_error_t err = {0};
    xp_errcode_e rc;
    xp_job_t *job;
    xp_buf_t want;
    apr_file_t *f;
    char *data;
    apr_size_t len;
    int i, bad = 0;

    if (xp_db_open(pool, drv, params, "odd", &db, &err) != XP_OK) {
        ok(0, "%s: odd values: open: %s", tag, err.message);
        return;
    }
    bad |= xp_db_run(db, pool, "DROP TABLE IF EXISTS odd", &err) != XP_OK;
    bad |= xp_db_run(db, pool,
                     "CREATE TABLE odd (id INTEGER PRIMARY KEY, name TEXT, "
                     "note TEXT, n BIGINT)",
                     &err) != XP_OK;
    xp_buf_init(&want, pool, 1024);
    for (i = 0; i < N_ODD; i++) {
        const char *args[4];
        args[0] = apr_itoa(pool, i + 1);
        args[1] = odd_rows[i][0];
        args[2] = odd_rows[i][1];
        args[3] = odd_ints[i];
        bad |= xp_db_exec(db, pool,
                          "INSERT INTO odd VALUES (%s, %s, %s, CAST(%s AS "
                          "BIGINT))",
                          4, args, NULL, &err) != XP_OK;
        xp_buf_adds(&want, apr_psprintf(pool, "{\"id\":%d", i + 1));
        json_field(&want, ",\"name\":", odd_rows[i][0]);
        json_field(&want, ",\"note\":", odd_rows[i][1]);
        xp_buf_adds(&want, apr_pstrcat(pool, ",\"n\":",
                                       odd_ints[i] ? odd_ints[i] : "null",
                                       "}\n", NULL));
    }
    xp_db_close(db);
    add(secs, "odd", "key=id search=name types=id:int,n:int");
    if (bad || xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        ok(0, "%s: odd values: set up: %s", tag, err.message);
        return;
    }
    xp_source_close(src);
    env.secs = secs;

    job = run_export("odd", "ndjson", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s: odd values exported", tag);
    if (rc == XP_OK &&
        apr_file_open(&f, apr_pstrcat(pool, storage, "/", job->file, NULL),
                      APR_FOPEN_READ, 0, pool) == APR_SUCCESS) {
        data = apr_palloc(pool, 4096);
        len = 4095;
        apr_file_read(f, data, &len);
        apr_file_close(f);
        data[len] = '\0';
        is_str(data, want.data,
               "%s: ... each value as stored: escapes undone, \\N text is "
               "no NULL, 64-bit integers to their extremes",
               tag);
    }
    /* quote, backslash, % and _ in filter values: bound on SQLite,
     * quoted into the COPY's text on PostgreSQL */
    job = run_export("odd/note='O\\'Brien \"q\" 100%_'", "ndjson", NULL, NULL,
                     NULL, &rc, &err);
    is_str(rc == XP_OK ? job->counts : NULL, "{\"odd\":1}",
           "%s: an equality with ' \" %% _ in its value", tag);
    job = run_export("odd/\"o'b\"", "ndjson", NULL, NULL, NULL, &rc, &err);
    is_str(rc == XP_OK ? job->counts : NULL, "{\"odd\":1}",
           "%s: a search with a quote", tag);
    job = run_export("odd/\"\\\\\"", "ndjson", NULL, NULL, NULL, &rc, &err);
    is_str(rc == XP_OK ? job->counts : NULL, "{\"odd\":4}",
           "%s: a search for a backslash", tag);
    env.secs = saved;
    empty_dir("exports");
}

/* A statement that does not return (a row that takes minutes) is cut
 * short from another thread through the connection the export reports
 * (xp_job_ctl_t.source, xp_source_interrupt): the export fails at once,
 * leaving nothing behind, and reports the connection closed after. */
static apr_thread_mutex_t *stuck_lock;
static xp_source_t *stuck_src;
static int stuck_opened, stuck_closed;

static void stuck_source(void *baton, xp_source_t *src)
{
    (void)baton;
    apr_thread_mutex_lock(stuck_lock);
    stuck_src = src;
    stuck_opened += src != NULL;
    stuck_closed += src == NULL;
    apr_thread_mutex_unlock(stuck_lock);
}

static void *APR_THREAD_FUNC stuck_interrupter(apr_thread_t *t, void *data)
{
    int i, sent = 0;

    (void)data;
    for (i = 0; i < 500 && !sent; i++) {
        apr_sleep(apr_time_from_msec(10));
        apr_thread_mutex_lock(stuck_lock);
        if (stuck_src && i >= 30) { /* well inside the long row */
            xp_source_interrupt(stuck_src);
            sent = 1;
        }
        apr_thread_mutex_unlock(stuck_lock);
    }
    (void)t;
    return NULL;
}

static int make_stuck(const char *drv, const char *params, xp_sections_t *secs)
{
    /* SQLite: a count to 10^9 per row; PostgreSQL: a minute's sleep */
    const char *view =
        strcmp(drv, "pgsql")
            ? "CREATE VIEW stuck_v AS SELECT id, (WITH RECURSIVE k(i) AS "
              "(SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1000000000) "
              "SELECT count(*) FROM k) AS v FROM stuck"
            : "CREATE VIEW stuck_v AS SELECT id, "
              "(SELECT 1 FROM pg_sleep(60)) AS v FROM stuck";
    xp_source_t *src = NULL;
    xp_error_t err = {0};
    xp_db_t *db;
    int bad = 0;

    if (xp_db_open(pool, drv, params, "stuck", &db, &err) != XP_OK)
        return -1;
    bad |= xp_db_run(db, pool, "DROP VIEW IF EXISTS stuck_v", &err) != XP_OK;
    bad |= xp_db_run(db, pool, "DROP TABLE IF EXISTS stuck", &err) != XP_OK;
    bad |= xp_db_run(db, pool, "CREATE TABLE stuck (id INTEGER PRIMARY KEY)",
                     &err) != XP_OK;
    bad |=
        xp_db_run(db, pool, "INSERT INTO stuck VALUES (1), (2)", &err) != XP_OK;
    bad |= xp_db_run(db, pool, view, &err) != XP_OK;
    xp_db_close(db);
    add(secs, "stuck", "table=stuck_v key=id types=id:int,v:int");
    if (bad || xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        printf("# stuck: %s\n", err.message ? err.message : "?");
        return -1;
    }
    xp_source_close(src);
    return 0;
}

static void test_interrupt(const char *drv, const char *params, const char *tag)
{
    const xp_sections_t *saved = env.secs;
    xp_sections_t *secs = xp_sections_make(pool);
    xp_job_ctl_t ctl = {0};
    apr_thread_t *t;
    apr_status_t trv;
    apr_time_t t0;
    xp_error_t err;
    xp_errcode_e rc;
    int before = dir_entries("exports");

    if (make_stuck(drv, params, secs) != 0) {
        ok(0, "%s: interrupt: set up", tag);
        return;
    }
    env.secs = secs;
    apr_thread_mutex_create(&stuck_lock, APR_THREAD_MUTEX_DEFAULT, pool);
    stuck_src = NULL;
    stuck_opened = stuck_closed = 0;
    ctl.source = stuck_source;
    apr_thread_create(&t, NULL, stuck_interrupter, NULL, pool);
    t0 = apr_time_now();
    run_export("stuck", "ndjson", NULL, NULL, &ctl, &rc, &err);
    apr_thread_join(&trv, t);
    is_int(rc, XP_EDB, "%s: an interrupted statement fails the export", tag);
    ok(apr_time_now() - t0 < apr_time_from_sec(10),
       "%s: ... at once (%.1f s), not when the row is done", tag,
       (double)(apr_time_now() - t0) / APR_USEC_PER_SEC);
    is_int(stuck_opened * 10 + stuck_closed, 11,
           "%s: ... the connection was reported open, then closed", tag);
    is_int(dir_entries("tmp"), 0, "%s: ... no temp file left", tag);
    is_int(dir_entries("exports"), before, "%s: ... no archive left", tag);
    env.secs = saved;
}

/* ------------------------------------------------------------------ */
/* format=document: a repository version with its concepts and mappings */
/* ------------------------------------------------------------------ */

#define V1 "/orgs/CIEL/sources/CIEL/v1/"
#define V2 "/orgs/CIEL/sources/CIEL/v2/"
#define DOC_ROWS 50000

static const char *const doc_ddl[][2] = {
    /* SQLite, PostgreSQL */
    {"DROP TABLE IF EXISTS mappings", "DROP TABLE IF EXISTS mappings"},
    {"DROP TABLE IF EXISTS concepts", "DROP TABLE IF EXISTS concepts"},
    {"DROP TABLE IF EXISTS versions", "DROP TABLE IF EXISTS versions"},
    {"CREATE TABLE versions (id TEXT PRIMARY KEY, repo TEXT, released "
     "INTEGER, concepts_n INTEGER, extras TEXT, updated_at TEXT)",
     "CREATE TABLE versions (id TEXT PRIMARY KEY, repo TEXT, released "
     "BOOLEAN, concepts_n INTEGER, extras TEXT, updated_at TEXT)"},
    {"CREATE TABLE concepts (id TEXT PRIMARY KEY, version_id TEXT, name "
     "TEXT, retired INTEGER, updated_at TEXT)",
     "CREATE TABLE concepts (id TEXT PRIMARY KEY, version_id TEXT, name "
     "TEXT, retired BOOLEAN, updated_at TEXT)"},
    {"CREATE TABLE mappings (id INTEGER PRIMARY KEY, version_id TEXT, "
     "from_id TEXT, to_id TEXT, updated_at TEXT)",
     "CREATE TABLE mappings (id INTEGER PRIMARY KEY, version_id TEXT, "
     "from_id TEXT, to_id TEXT, updated_at TEXT)"},
};

/* Out of key order on purpose; '1'/'0' read as booleans by both. */
static const char *const doc_rows[] = {
    "INSERT INTO versions VALUES ('" V2 "', 'CIEL', '0', 1, NULL, "
    "'2026-02-01T00:00:00.000Z')",
    "INSERT INTO versions VALUES ('" V1 "', 'CIEL', '1', 3, "
    "'{\"a\": [1, 2]}', '2026-01-01T00:00:00.000Z')",
    "INSERT INTO concepts VALUES ('c3', '" V1 "', 'Gamma \"g\"', '0', "
    "'2026-03-15T00:00:00.000Z')",
    "INSERT INTO concepts VALUES ('c1', '" V1 "', 'Alpha', '1', "
    "'2026-01-10T00:00:00.000Z')",
    "INSERT INTO concepts VALUES ('c2', '" V1 "', NULL, NULL, "
    "'2026-04-01T00:00:00.000Z')",
    "INSERT INTO concepts VALUES ('c4', '" V2 "', 'Delta', '0', "
    "'2026-02-10T00:00:00.000Z')",
    "INSERT INTO mappings VALUES (2, '" V1 "', 'c1', 'c2', "
    "'2026-01-20T00:00:00.000Z')",
    "INSERT INTO mappings VALUES (1, '" V1 "', 'c3', 'c1', "
    "'2026-05-01T00:00:00.000Z')",
    /* v3: DOC_ROWS concepts, ~300 bytes each, for the memory check */
    "INSERT INTO versions VALUES ('v3', 'big', '1', 50000, NULL, "
    "'2026-06-01T00:00:00.000Z')",
    "INSERT INTO concepts WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
    "SELECT n + 1 FROM c WHERE n < 50000) SELECT 'k' || n, 'v3', "
    "'concept ' || n || ' of a version large enough that holding its "
    "document in memory would show: ' || (n * 7919 % 100003) || ' ' || "
    "(n * 31337 % 99991) || ' lorem ipsum dolor sit amet, consectetur "
    "adipiscing elit, sed do eiusmod tempor incididunt ut labore', "
    "n % 2 = 0, '2026-06-01T00:00:00.000Z' FROM c",
};

static xp_sections_t *doc_sections(void)
{
    xp_sections_t *secs = xp_sections_make(pool);

    add(secs, "versions",
        "key=id updated=updated_at "
        "types=released:bool,concepts_n:int,extras:json "
        "fields=id:url,concepts_n:concept_count");
    add(secs, "concepts",
        "key=id updated=updated_at types=retired:bool "
        "fields=name:display_name");
    add(secs, "mappings",
        "key=id updated=updated_at types=id:int ref=from_id:concepts");
    return secs;
}

static int make_doc(const char *drv, const char *params)
{
    int pg = !strcmp(drv, "pgsql"), i, bad = 0;
    xp_source_t *src = NULL;
    xp_error_t err = {0};
    xp_db_t *db;

    if (xp_db_open(pool, drv, params, "doc", &db, &err) != XP_OK)
        return -1;
    for (i = 0; i < (int)(sizeof(doc_ddl) / sizeof(doc_ddl[0])); i++)
        bad |= xp_db_run(db, pool, doc_ddl[i][pg], &err) != XP_OK;
    for (i = 0; i < (int)(sizeof(doc_rows) / sizeof(doc_rows[0])); i++)
        bad |= xp_db_run(db, pool, doc_rows[i], &err) != XP_OK;
    xp_db_close(db);
    env.secs = doc_sections();
    if (bad || xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, (xp_sections_t *)env.secs, &err) !=
            XP_OK) {
        printf("# doc: %s\n", err.message ? err.message : "?");
        return -1;
    }
    xp_source_close(src);
    return 0;
}

/* The one entry of a document export, "" if it is not exactly that. */
static const char *doc_json(const xp_job_t *job)
{
    apr_array_header_t *es;

    if (!job || !job->file)
        return "";
    es = read_archive(apr_pstrcat(pool, storage, "/", job->file, NULL));
    if (es->nelts != 1 ||
        strcmp(APR_ARRAY_IDX(es, 0, entry_t).name, "export.json"))
        return "";
    return APR_ARRAY_IDX(es, 0, entry_t).data;
}

static const char *doc_filter(const char *v, const char *members)
{
    const char *f = apr_psprintf(pool, "versions/id='%s'", v);
    char *copy = apr_pstrdup(pool, members), *last, *m;

    for (m = apr_strtok(copy, " ", &last); m; m = apr_strtok(NULL, " ", &last))
        f = apr_psprintf(pool, "%s\n%s/version_id='%s'", f, m, v);
    return f;
}

#define C1 "{\"id\":\"c1\",\"version_id\":\"" V1 "\",\"display_name\":"
#define M1 "{\"id\":1,\"version_id\":\"" V1 "\",\"from_id\":\"c3\","

static void test_doc_shape(const char *tag)
{
    const char *want =
        "{\"url\":\"" V1 "\",\"repo\":\"CIEL\",\"released\":true,"
        "\"concept_count\":3,\"extras\":{\"a\":[1,2]},"
        "\"updated_at\":\"2026-01-01T00:00:00.000Z\",\n"
        "\"concepts\":[\n" C1 "\"Alpha\",\"retired\":true,"
        "\"updated_at\":\"2026-01-10T00:00:00.000Z\"},\n"
        "{\"id\":\"c2\",\"version_id\":\"" V1 "\",\"display_name\":null,"
        "\"retired\":null,\"updated_at\":\"2026-04-01T00:00:00.000Z\"},\n"
        "{\"id\":\"c3\",\"version_id\":\"" V1 "\",\"display_name\":"
        "\"Gamma \\\"g\\\"\",\"retired\":false,"
        "\"updated_at\":\"2026-03-15T00:00:00.000Z\"}\n],\n"
        "\"mappings\":[\n" M1 "\"to_id\":\"c1\","
        "\"updated_at\":\"2026-05-01T00:00:00.000Z\"},\n"
        "{\"id\":2,\"version_id\":\"" V1 "\",\"from_id\":\"c1\","
        "\"to_id\":\"c2\",\"updated_at\":\"2026-01-20T00:00:00.000Z\"}\n]\n}\n";
    const char *f = doc_filter(V1, "concepts mappings"), *doc;
    xp_errcode_e rc;
    xp_error_t err;
    xp_job_t *job, *again;
    apr_status_t rv;

    job = run_export(f, "document", NULL, NULL, NULL, &rc, &err);
    is_int(rc, XP_OK, "%s doc: a version with its concepts and mappings", tag);
    if (rc != XP_OK)
        return;
    is_str(job->format, "document", "%s doc: format document", tag);
    is_str(job->file, apr_psprintf(pool, "exports/%s.zip", job->id),
           "%s doc: stored as a .zip", tag);
    ok(strstr(job->path, ".zip") != NULL, "%s doc: download name %s", tag,
       job->path);
    is_str(xp_sha256_file(
               pool, apr_pstrcat(pool, storage, "/", job->file, NULL), &rv),
           job->sha256, "%s doc: sha256 is the zip's", tag);
    is_str(job->counts, "{\"versions\":1,\"concepts\":3,\"mappings\":2}",
           "%s doc: counts per section", tag);
    doc = doc_json(job);
    is_str(doc, want,
           "%s doc: export.json is the version's fields (fields= names, "
           "typed, column order), then a member per section, rows in key "
           "order as the json format writes them",
           tag);
    ok(xp_json_parse(pool, doc, strlen(doc), &err) != NULL,
       "%s doc: ... one JSON object", tag);
    again = run_export(f, "document", NULL, NULL, NULL, &rc, &err);
    is_str(rc == XP_OK ? again->sha256 : NULL, job->sha256,
           "%s doc: the same data gives the same zip, byte for byte", tag);
    is_int(dir_entries("tmp"), 0, "%s doc: nothing left in tmp/", tag);
}

/* export.json of a document export of version v with members (the
 * filter's order) since since; "" if it failed. */
static const char *doc_run(const char *v, const char *members,
                           const char *since, const char **counts)
{
    xp_errcode_e rc;
    xp_error_t err;
    xp_job_t *job = run_export(doc_filter(v, members), "document", NULL, since,
                               NULL, &rc, &err);

    if (counts)
        *counts = rc == XP_OK ? job->counts : NULL;
    return doc_json(rc == XP_OK ? job : NULL);
}

static void test_doc_members(const char *tag)
{
    const char *doc = doc_run(V1, "mappings concepts", NULL, NULL), *counts;

    ok(strstr(doc, "\"mappings\":[") && strstr(doc, "\"concepts\":[") &&
           strstr(doc, "\"mappings\":[") < strstr(doc, "\"concepts\":["),
       "%s doc: members in the order the filter names them, not ref order",
       tag);
    doc = doc_run(V2, "concepts mappings", NULL, NULL);
    ok(strstr(doc, "\"released\":false,\"concept_count\":1,\"extras\":null,"
                   "\"updated_at\":\"2026-02-01T00:00:00.000Z\",\n"
                   "\"concepts\":[\n{\"id\":\"c4\",") &&
           strstr(doc, "],\n\"mappings\":[]\n}\n"),
       "%s doc: a section without rows is an empty array", tag);
    is_str(doc_run(V2, "", NULL, NULL),
           "{\"url\":\"" V2 "\",\"repo\":\"CIEL\",\"released\":false,"
           "\"concept_count\":1,\"extras\":null,"
           "\"updated_at\":\"2026-02-01T00:00:00.000Z\"}\n",
           "%s doc: a root alone is its row", tag);

    /* The window narrows the content, never the root: "the version and
     * what changed in it since" (v1 was last updated before since). */
    doc = doc_run(V1, "concepts mappings", "2026-03-01", &counts);
    is_str(counts, "{\"versions\":1,\"concepts\":2,\"mappings\":1}",
           "%s doc: since: the root row, only content updated since", tag);
    ok(!strncmp(doc, "{\"url\":\"" V1 "\",", 9 + strlen(V1)) &&
           strstr(doc, "\"id\":\"c2\"") && strstr(doc, "\"id\":\"c3\"") &&
           !strstr(doc, "\"id\":\"c1\"") && strstr(doc, M1) &&
           !strstr(doc, "\"id\":2,"),
       "%s doc: ... in the document too", tag);
}

static void test_doc_errors(const char *tag)
{
    int before = dir_entries("exports");
    xp_errcode_e rc;
    xp_error_t err;

    run_export("versions/id='/nope/'\nconcepts", "document", NULL, NULL, NULL,
               &rc, &err);
    is_int(rc, XP_EINVAL, "%s doc: a root selecting no row fails", tag);
    ok(err.message && strstr(err.message, "\"versions\"") &&
           strstr(err.message, "selects 0 rows"),
       "%s doc: ... naming the section and the count: %s", tag, err.message);
    run_export("versions\nconcepts/version_id='" V1 "'", "document", NULL, NULL,
               NULL, &rc, &err);
    is_int(rc, XP_EINVAL, "%s doc: a root selecting 3 rows fails", tag);
    ok(err.message && strstr(err.message, "selects 3 rows"),
       "%s doc: ... saying so: %s", tag, err.message);
    env.max_archive_size = 200;
    run_export(doc_filter(V1, "concepts"), "document", NULL, NULL, NULL, &rc,
               &err);
    env.max_archive_size = 0;
    is_int(rc, XP_ELIMIT, "%s doc: XportMaxArchiveSize holds", tag);
    env.batch_rows = 2;
    checks = 0;
    {
        xp_job_ctl_t ctl = {0};
        ctl.check = cancel_after_first;
        run_export(doc_filter(V1, "concepts mappings"), "document", NULL, NULL,
                   &ctl, &rc, &err);
    }
    env.batch_rows = 0;
    is_int(rc, XP_ECANCEL, "%s doc: a cancel stops it", tag);
    is_int(dir_entries("tmp") + dir_entries("exports") - before, 0,
           "%s doc: failures leave no file", tag);
}

/* Prepared against the configuration: any filter, a .zip to download; a
 * member may not take the name of a root field. */
static void test_doc_prepare(const char *drv, const char *params,
                             const char *tag)
{
    xp_sections_t *secs = xp_sections_make(pool);
    xp_export_params_t in = {0};
    xp_source_t *src = NULL;
    xp_job_t *job = NULL;
    xp_error_t err = {0};

    in.filter = doc_filter(V1, "concepts mappings");
    in.format = "document";
    in.file_name = "CIEL_v1.20260101000000";
    is_int(xp_export_prepare(pool, env.secs, "d", &in, &job, &err), XP_OK,
           "%s doc: prepared with three sections", tag);
    is_str(job ? job->path : NULL, "CIEL_v1.20260101000000.zip",
           "%s doc: the file name ends .zip", tag);
    add(secs, "versions", "key=id fields=repo:concepts");
    add(secs, "concepts", "key=id");
    if (xp_source_open(pool, drv, params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        ok(0, "%s doc: clash: set up: %s", tag, err.message);
        return;
    }
    xp_source_close(src);
    in.filter = "versions/id=x\nconcepts";
    is_int(xp_export_prepare(pool, secs, "d", &in, &job, &err), XP_EINVAL,
           "%s doc: a member named like a root field is refused", tag);
    ok(err.field && !strcmp(err.field, "filter") && err.message &&
           strstr(err.message, "\"concepts\""),
       "%s doc: ... on the filter, naming it: %s", tag, err.message);
    in.filter = "concepts\nversions/id=x";
    is_int(xp_export_prepare(pool, secs, "d", &in, &job, &err), XP_OK,
           "%s doc: ... not when concepts is the root", tag);
}

static long vm_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    size_t n = strlen(field);
    char line[256];
    long v = -1;

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

/* Peak RSS (VmHWM) starts again from the current RSS. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int bad;

    if (!f)
        return -1;
    bad = fputs("5", f) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* The size of a document export's entry, read through without keeping
 * it (read_archive would hold every block it read); its last 7 bytes. */
static apr_size_t doc_size(const xp_job_t *job, char tail[8])
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char buf[65536];
    apr_size_t len = 0;
    la_ssize_t n;

    tail[0] = '\0';
    archive_read_support_format_zip(a);
    if (job &&
        archive_read_open_filename(
            a, apr_pstrcat(pool, storage, "/", job->file, NULL), 65536) ==
            ARCHIVE_OK &&
        archive_read_next_header(a, &e) == ARCHIVE_OK) {
        memset(tail, ' ', 7);
        while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
            apr_size_t k = n < 7 ? (apr_size_t)n : 7;
            len += (apr_size_t)n;
            memmove(tail, tail + k, 7 - k);
            memcpy(tail + 7 - k, buf + n - k, k);
        }
        tail[7] = '\0';
    }
    archive_read_free(a);
    return len;
}

/* A sanitizer's bookkeeping (ASan's quarantine, TSan's shadow of the
 * compressors' buffers) counts in the process's RSS. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* How the counter ended: its state once it left 0 (waiting for that
 * state, at most a minute), with its total. */
static int counter_wait(xp_counter_t *c, apr_int64_t *total)
{
    int i, st = 0;

    for (i = 0; i < 6000 && (st = xp_counter_total(c, total)) == 0; i++)
        apr_sleep(apr_time_from_msec(10));
    return st;
}

typedef struct {
    int reports, bad;
    apr_int64_t total, first_done;
} total_watch_t;

static void total_progress(void *baton, apr_int64_t done, apr_int64_t total)
{
    total_watch_t *w = baton;

    if (!w->reports++)
        w->first_done = done;
    /* the version and its concepts */
    w->bad += total != DOC_ROWS + 1 || done < 0 || done > total;
    w->total = total;
}

/* The counter of src/engine/count.c (an export's progress total, counted
 * while the rows are read, on SQLite), and what an export reports. */
static void test_count_beside(const char *drv, const char *params,
                              const char *tag)
{
    const xp_section_t *concepts =
        apr_hash_get(env.secs->by_name, "concepts", APR_HASH_KEY_STRING);
    xp_count_part_t part = {concepts, "version_id = 'v3'", NULL};
    xp_sections_t *secs = xp_sections_make(pool);
    total_watch_t w = {0};
    xp_job_ctl_t ctl = {0};
    xp_counter_t *c = NULL;
    apr_int64_t total = -1;
    xp_error_t err = {0};
    xp_errcode_e rc;
    apr_time_t t0;

    is_int(xp_counter_start(pool, drv, params, &part, 1, &c, &err), XP_OK,
           "%s count: a counter starts", tag);
    is_int(c ? counter_wait(c, &total) : 0, 1, "%s count: ... and ends", tag);
    is_int(total, DOC_ROWS, "%s count: ... with the rows the part selects",
           tag);
    xp_counter_stop(c);

    /* a count stuck in a long statement is interrupted when stopped */
    if (make_stuck(drv, params, secs) == 0) {
        xp_count_part_t stuck = {
            apr_hash_get(secs->by_name, "stuck", APR_HASH_KEY_STRING), "v > 0",
            NULL};
        c = NULL;
        xp_counter_start(pool, drv, params, &stuck, 1, &c, &err);
        apr_sleep(apr_time_from_msec(200)); /* into the statement, likely */
        t0 = apr_time_now();
        xp_counter_stop(c);
        ok(c && apr_time_now() - t0 < apr_time_from_sec(10),
           "%s count: a stuck count stops at once (%.1f s)", tag,
           (double)(apr_time_now() - t0) / APR_USEC_PER_SEC);
        is_int(c ? xp_counter_total(c, &total) : 0, -1,
               "%s count: ... and says it has no total", tag);
    } else
        ok(0, "%s count: stuck view set up", tag);

    /* an export reports progress with the whole total only */
    ctl.baton = &w;
    ctl.progress = total_progress;
    env.batch_rows = 100;
    run_export(doc_filter("v3", "concepts"), "tar.gz", NULL, NULL, &ctl, &rc,
               &err);
    env.batch_rows = 0;
    is_int(rc, XP_OK, "%s count: an export of the counted rows", tag);
    is_int(w.bad, 0,
           "%s count: ... every progress report has the total (%d reports, "
           "the first at %" APR_INT64_T_FMT
           " rows, the last of %" APR_INT64_T_FMT ")",
           tag, w.reports, w.first_done, w.total);
}

typedef struct {
    const char *part; /* export.json's data, compressed beside the zip */
    apr_off_t mid;    /* its size once half the rows were read */
} doc_watch_t;

static void doc_progress(void *baton, apr_int64_t done, apr_int64_t total)
{
    doc_watch_t *w = baton;
    apr_finfo_t fi;

    if (!w->mid && done * 2 >= total && done < total &&
        apr_stat(&fi, w->part, APR_FINFO_SIZE, pool) == APR_SUCCESS)
        w->mid = fi.size;
}

/* 50,000 rows (some 15 MB of JSON): their compressed data grows on disk
 * while they are read, and the process's peak memory hardly moves. */
static void test_doc_memory(const char *tag)
{
    xp_export_params_t in = {0};
    xp_job_ctl_t ctl = {0};
    doc_watch_t w = {0};
    xp_job_t *job = NULL;
    xp_error_t err = {0};
    xp_errcode_e rc;
    long rss0, grown;
    int peak_ok;
    apr_size_t len;
    char tail[8];

    in.filter = doc_filter("v3", "concepts");
    in.format = "document";
    if (xp_export_prepare(pool, env.secs, "d", &in, &job, &err) != XP_OK) {
        ok(0, "%s doc: big: prepare: %s", tag, err.message);
        return;
    }
    w.part = apr_psprintf(pool, "%s/tmp/%s.part.entry", storage, job->id);
    ctl.baton = &w;
    ctl.progress = doc_progress;
    rss0 = vm_kb("VmRSS");
    peak_ok = reset_peak() == 0;
    rc = xp_export_run(pool, &env, job, &ctl, &err);
    grown = vm_kb("VmHWM") - rss0;
    is_int(rc, XP_OK, "%s doc: %d rows exported", tag, DOC_ROWS);
    is_str(rc == XP_OK ? job->counts : NULL,
           "{\"versions\":1,\"concepts\":50000}", "%s doc: ... all of them",
           tag);
    ok(w.mid > 64 * 1024,
       "%s doc: rows reach the disk, compressed, as they are read "
       "(%" APR_OFF_T_FMT " bytes written with half of them read)",
       tag, w.mid);
    len = doc_size(rc == XP_OK ? job : NULL, tail);
    ok(len > 14 * 1024 * 1024 && !strcmp(tail, "\"}\n]\n}\n"),
       "%s doc: export.json has %lu bytes, and its end", tag,
       (unsigned long)len);
    if (UNDER_SANITIZER)
        ok(1, "# skip %s doc: peak RSS not measured under a sanitizer", tag);
    else
        /* a third of the document; the thread counting its members
         * beside the read (src/engine/count.c) costs about 1.1 MB of it
         * from its start, whatever it does */
        ok(peak_ok && grown >= 0 && grown < 5 * 1024,
           "%s doc: peak RSS grew by %ld KiB while writing it", tag, grown);
}

static void test_document(const char *drv, const char *params, const char *tag)
{
    const xp_sections_t *saved = env.secs;

    if (make_doc(drv, params) != 0) {
        ok(0, "%s doc: tables created", tag);
        env.secs = saved;
        return;
    }
    test_doc_memory(tag);
    test_count_beside(drv, params, tag);
    test_doc_shape(tag);
    test_doc_members(tag);
    test_doc_errors(tag);
    test_doc_prepare(drv, params, tag);
    env.secs = saved;
    empty_dir("exports");
}

static void run_suite(const char *drv, const char *params, const char *tag)
{
    if (make_demo(drv, params) != 0) {
        ok(0, "%s: demo database created", tag);
        return;
    }
    env.secs = demo = demo_sections();
    env.source_driver = drv;
    env.source_params = params;
    env.storage = storage;
    env.instance = "demo";
    test_discover(drv, params, tag);
    test_tar(tag);
    test_many_lines(tag);
    test_formats(tag);
    test_closure_window(tag);
    test_stops(tag);
    test_odd_values(drv, params, tag);
    test_interrupt(drv, params, tag);
    test_document(drv, params, tag);
    empty_dir("exports");
}

int main(void)
{
    const char *pg = getenv("XPORT_TEST_PG");

    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (!mkdtemp(storage)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    env.secs = demo_sections();
    test_prepare();
    run_suite("sqlite3", apr_pstrcat(pool, storage, "/app.db", NULL), "sqlite");
    if (pg && *pg)
        run_suite("pgsql", pg, "pgsql");
    else
        printf("# XPORT_TEST_PG not set: PostgreSQL not tested\n");
    empty_dir("tmp");
    empty_dir("exports");
    unlink(apr_pstrcat(pool, storage, "/app.db", NULL));
    rmdir(apr_pstrcat(pool, storage, "/tmp", NULL));
    rmdir(apr_pstrcat(pool, storage, "/exports", NULL));
    rmdir(storage);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
