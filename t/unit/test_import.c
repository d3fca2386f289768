/*
 * test_import.c -- imports end to end: archives made by the real export
 * engine from a demo database (users, bots, messages with refs), or by
 * hand for the broken cases, imported into an empty copy of its schema
 * on SQLite in a temp dir, and on PostgreSQL too when XPORT_TEST_PG holds
 * a conninfo (two schemas of that database). Checks what a user would:
 * the data after a round trip, changes and error messages, that a
 * rejected, dry or cancelled import leaves the target as it was.
 */
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <archive.h>
#include <archive_entry.h>

#include <apr_md5.h>

#include "tap.h"
#include "tdb.h"
#include "xp_import.h"
#include "xp_export.h"
#include "xp_manifest.h"
#include "xp_source.h"
#include "xp_hash.h"
#include "xp_json.h"

static apr_pool_t *pool;
static char storage[] = "/tmp/xp-import-XXXXXX";
static const char *drv, *src_params, *tgt_params;
static xp_sections_t *demo, *demo_append, *demo_small;

static const char *const tables_sqlite[] = {
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "email TEXT, score REAL, selected INTEGER, prefs TEXT, updated_at TEXT)",
    "CREATE TABLE bots (id TEXT PRIMARY KEY, name TEXT, owner_id INTEGER, "
    "coordinates TEXT)",
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, bot_id TEXT, "
    "user_id INTEGER, body TEXT, created_at TEXT)",
    NULL};

static const char *const tables_pgsql[] = {
    "DROP TABLE IF EXISTS messages, bots, users CASCADE",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "email TEXT, score DOUBLE PRECISION, selected BOOLEAN, prefs TEXT, "
    "updated_at TEXT)",
    "CREATE TABLE bots (id TEXT PRIMARY KEY, name TEXT, owner_id INTEGER, "
    "coordinates TEXT)",
    "CREATE TABLE messages (id SERIAL PRIMARY KEY, bot_id TEXT, "
    "user_id INTEGER, body TEXT, created_at TEXT)",
    NULL};

static const char *const demo_rows[] = {
    "INSERT INTO users VALUES (3, 'Carol', NULL, 2.5, %s, 'not json', "
    "'2026-03-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (1, 'Alice \"A\"', 'a@x', 10, %s, "
    "'{\"theme\":\n \"dark\"}', '2026-01-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (2, 'Bob', 'b@x', -1.25e3, %s, '[1,2]', "
    "'2026-02-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (5, 'Eve', 'e@x', NULL, NULL, NULL, "
    "'2026-05-01T00:00:00.000Z')",
    "INSERT INTO users VALUES (4, 'Dan', 'd@x', 0, %s, '{}', "
    "'2026-04-01T00:00:00.000Z')",
    "INSERT INTO bots VALUES ('b2', 'Beta', 2, NULL)",
    "INSERT INTO bots VALUES ('b1', 'Alpha', 1, '1,2')",
    "INSERT INTO bots VALUES ('b3', 'Gamma', NULL, NULL)",
    NULL};

static int pg(void)
{
    return !strcmp(drv, "pgsql");
}

/* Run statements on a database; 0 if all worked. */
static int db_do(const char *params, const char *const *sql, int n)
{
    return tdb_run(pool, drv, params, sql, n);
}

static int db_one(const char *params, const char *sql)
{
    return db_do(params, &sql, 1);
}

/* First column of the first row, "(none)" if no row, NULL for NULL. */
static const char *db_str1(const char *params, const char *sql)
{
    return tdb_str(pool, drv, params, sql);
}

static const char *users_count(void)
{
    return db_str1(tgt_params, "SELECT COUNT(*) FROM users");
}

static int make_source(void)
{
    const char *const *ddl = pg() ? tables_pgsql : tables_sqlite;
    const char *b[] = {"0", "1", "1", "0"},
               *bp[] = {"false", "true", "true", "false"};
    int i, k = 0, bad = 0;

    bad |= db_do(src_params, ddl, 10);
    for (i = 0; demo_rows[i]; i++) {
        const char *sql = demo_rows[i];
        if (strstr(sql, "%s"))
            sql = apr_psprintf(pool, sql, pg() ? bp[k] : b[k]), k++;
        bad |= db_one(src_params, sql);
    }
    for (i = 1; i <= 10; i++)
        bad |= db_one(src_params,
                      apr_psprintf(pool,
                                   "INSERT INTO messages VALUES (%d, 'b%d', "
                                   "%d, 'hi\\n #%d \xc3\xa9', "
                                   "'2026-0%d-15T00:00:00.000Z')",
                                   11 - i, i % 3 + 1, i % 2 ? 1 : 3, i,
                                   i % 9 + 1));
    return bad;
}

static void reset_target(void)
{
    static const char *const drop[] = {"DROP TABLE IF EXISTS messages",
                                       "DROP TABLE IF EXISTS bots",
                                       "DROP TABLE IF EXISTS users", NULL};
    if (!pg())
        db_do(tgt_params, drop, 10);
    db_do(tgt_params, pg() ? tables_pgsql : tables_sqlite, 10);
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

static xp_sections_t *sections(int append, int with_messages)
{
    xp_sections_t *secs = xp_sections_make(pool);
    xp_source_t *src;
    xp_error_t err = {0};

    add(secs, "users",
        "key=id search=name updated=updated_at "
        "types=id:int,score:real,selected:bool,prefs:json");
    add(secs, "bots", "key=id search=name ref=owner_id:users");
    if (with_messages)
        add(secs, "messages",
            append ? "key=id ref=bot_id:bots,user_id:users mode=append "
                     "types=id:int,user_id:int"
                   : "key=id ref=bot_id:bots,user_id:users "
                     "types=id:int,user_id:int");
    if (xp_source_open(pool, drv, src_params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK)
        printf("# discover: %s\n", err.message);
    else
        xp_source_close(src);
    return secs;
}

/* ------------------------------------------------------------------ */
/* Archives                                                             */
/* ------------------------------------------------------------------ */

/* Export filter of secs from params (fmt, closure: NULL for the
 * defaults) in batches of batch rows; the job, NULL on failure. */
static xp_job_t *export_secs(const xp_sections_t *secs, const char *params,
                             const char *filter, const char *fmt,
                             const char *closure, int batch)
{
    xp_export_env_t env = {0};
    xp_export_params_t in = {0};
    xp_job_t *j;
    xp_error_t err = {0};

    env.secs = secs;
    env.source_driver = drv;
    env.source_params = params;
    env.storage = storage;
    env.instance = "test";
    env.batch_rows = batch;
    in.filter = filter;
    in.format = fmt;
    in.closure = closure;
    if (xp_export_prepare(pool, secs, "test", &in, &j, &err) != XP_OK ||
        xp_export_run(pool, &env, j, NULL, &err) != XP_OK) {
        printf("# export: %s\n", err.message);
        return NULL;
    }
    return j;
}

/* Export filter from params into an archive; its path under storage. */
static const char *export_from(const char *params, const char *filter)
{
    xp_job_t *j = export_secs(demo, params, filter, NULL, NULL, 3);

    return j ? j->file : "none";
}

/* The data entries of an archive, concatenated with their names. */
static const char *archive_data(const char *rel)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char buf[8192];
    la_ssize_t n;
    const char *out = "";

    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    if (archive_read_open_filename(
            a, apr_pstrcat(pool, storage, "/", rel, NULL), 65536) == 0)
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
            const char *name = archive_entry_pathname(e);
            int data = strncmp(name, "data/", 5) == 0;
            if (data)
                out = apr_pstrcat(pool, out, "== ", name, "\n", NULL);
            while ((n = archive_read_data(a, buf, sizeof(buf) - 1)) > 0)
                if (data)
                    out = apr_pstrcat(pool, out, apr_pstrndup(pool, buf, n),
                                      NULL);
        }
    archive_read_free(a);
    return out;
}

/* One entry of an archive as text, NULL if it has none of that name. */
static const char *archive_entry_text(const char *rel, const char *name)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    char buf[8192];
    la_ssize_t n;
    const char *out = NULL;

    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    if (archive_read_open_filename(
            a, apr_pstrcat(pool, storage, "/", rel, NULL), 65536) == 0)
        while (!out && archive_read_next_header(a, &e) == ARCHIVE_OK) {
            if (strcmp(archive_entry_pathname(e), name))
                continue;
            out = "";
            while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
                out = apr_pstrcat(pool, out, apr_pstrndup(pool, buf, n), NULL);
        }
    archive_read_free(a);
    return out;
}

typedef struct {
    const char *name, *key, *columns; /* columns: comma list */
    const char *data;                 /* NDJSON text */
    int count_delta, bad_sha, unlisted, absent;
} tsec_t;

static void tar_add(struct archive *a, const char *name, const char *data)
{
    struct archive_entry *e = archive_entry_new();

    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, strlen(data));
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, data, strlen(data));
    archive_entry_free(e);
}

/* A tar.gz with manifest.json (first unless manifest_last) and ns data
 * entries, broken as each tsec_t says; its path under storage. */
static const char *make_archive(const char *fname, tsec_t *ts, int ns,
                                int manifest_last)
{
    xp_manifest_t m = {0};
    struct archive *a = archive_write_new();
    const char *rel = apr_pstrcat(pool, "uploads/", fname, NULL), *mf;
    int i;

    apr_dir_make_recursive(apr_pstrcat(pool, storage, "/uploads", NULL),
                           APR_FPROT_OS_DEFAULT, pool);
    m.created_at = "2026-11-22T00:00:00.000Z";
    m.instance = "test";
    m.filter = "all";
    m.sections = apr_array_make(pool, ns, sizeof(xp_mf_section_t));
    for (i = 0; i < ns; i++) {
        xp_mf_section_t *s;
        const char *c;
        char *cols, *last, *w;
        xp_sha256_t *h = xp_sha256_make(pool);
        if (ts[i].unlisted)
            continue;
        s = apr_array_push(m.sections);
        memset(s, 0, sizeof(*s));
        s->name = ts[i].name;
        s->file = apr_pstrcat(pool, "data/", ts[i].name, ".ndjson", NULL);
        s->key = ts[i].key;
        s->columns = apr_array_make(pool, 8, sizeof(const char *));
        cols = apr_pstrdup(pool, ts[i].columns);
        for (w = apr_strtok(cols, ",", &last); w;
             w = apr_strtok(NULL, ",", &last))
            APR_ARRAY_PUSH(s->columns, const char *) = w;
        for (c = ts[i].data; *c; c++) /* rows: lines with text */
            s->count += *c != '\n' && (c[1] == '\n' || !c[1]);
        s->count += ts[i].count_delta;
        s->bytes = strlen(ts[i].data);
        xp_sha256_update(h, ts[i].bad_sha ? "x" : ts[i].data,
                         ts[i].bad_sha ? 1 : strlen(ts[i].data));
        s->sha256 = xp_sha256_final(h, pool, NULL);
    }
    mf = xp_manifest_render(pool, &m);
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, apr_pstrcat(pool, storage, "/", rel, NULL));
    if (!manifest_last)
        tar_add(a, "manifest.json", mf);
    for (i = 0; i < ns; i++)
        if (!ts[i].absent)
            tar_add(a, apr_pstrcat(pool, "data/", ts[i].name, ".ndjson", NULL),
                    ts[i].data);
    if (manifest_last)
        tar_add(a, "manifest.json", mf);
    archive_write_close(a);
    archive_write_free(a);
    return rel;
}

/* ------------------------------------------------------------------ */
/* Running imports                                                      */
/* ------------------------------------------------------------------ */

static xp_job_t *job;
static xp_error_t ierr;
static int batch_rows = 1000;
static const char *write_upload(const char *name, const char *d);
static apr_off_t max_unc;

static xp_errcode_e import_ex(const xp_sections_t *secs, const char *file,
                              const char *raw, const char *dry,
                              const char *conflict, const char *only,
                              const char *unknown, const xp_job_ctl_t *ctl)
{
    xp_import_params_t in = {0};
    xp_import_env_t env = {0};
    xp_errcode_e rc;

    in.dry_run = dry;
    in.on_conflict = conflict;
    in.sections = only;
    in.unknown_columns = unknown;
    in.raw_format = raw;
    memset(&ierr, 0, sizeof(ierr));
    if ((rc = xp_import_prepare(pool, secs, &in, &job, &ierr)) != XP_OK) {
        printf("# prepare: %s\n", ierr.message);
        return rc;
    }
    job->file = file;
    env.secs = secs;
    env.source_driver = drv;
    env.source_params = tgt_params;
    env.storage = storage;
    env.batch_rows = batch_rows;
    env.max_uncompressed = max_unc;
    rc = xp_import_run(pool, &env, job, ctl, &ierr);
    if (rc != XP_OK)
        printf("# import: %s\n", ierr.message);
    return rc;
}

static xp_errcode_e import_opts(const char *file, const char *dry,
                                const char *conflict, const char *only,
                                const char *unknown)
{
    return import_ex(demo, file, NULL, dry, conflict, only, unknown, NULL);
}

static xp_errcode_e import_file(const char *file)
{
    return import_opts(file, NULL, NULL, NULL, NULL);
}

/* Error message i of the last import, as one sentence: a rejected line
 * is stored as {"section","line","column","key","message"}. */
static const char *nth_msg(int i)
{
    xp_json_t *a = job && job->error_messages
                       ? xp_json_parse(pool, job->error_messages,
                                       strlen(job->error_messages), NULL)
                       : NULL;
    xp_json_t *m = a && (int)xp_json_size(a) > i ? xp_json_at(pool, a, i)
                                                  : NULL;

    if (!m || xp_json_is_string(m))
        return m ? xp_json_str_value(m) : NULL;
    if (xp_json_get_str(m, "key"))
        return apr_psprintf(pool, "%s line %ld (%s=%s): %s",
                            xp_json_get_str(m, "section"),
                            (long)xp_json_get_int(m, "line", 0),
                            xp_json_get_str(m, "column"),
                            xp_json_get_str(m, "key"),
                            xp_json_get_str(m, "message"));
    return apr_psprintf(pool, "%s line %ld: %s", xp_json_get_str(m, "section"),
                        (long)xp_json_get_int(m, "line", 0),
                        xp_json_get_str(m, "message"));
}

static const char *first_msg(void)
{
    return nth_msg(0);
}

static const char *changes3(int u[4], int b[4], int m[4])
{
    const char *f = "{\"created\":%d,\"updated\":%d,\"unchanged\":%d,"
                    "\"skipped\":%d}";
    return apr_psprintf(pool, "{\"users\":%s,\"bots\":%s,\"messages\":%s}",
                        apr_psprintf(pool, f, u[0], u[1], u[2], u[3]),
                        apr_psprintf(pool, f, b[0], b[1], b[2], b[3]),
                        apr_psprintf(pool, f, m[0], m[1], m[2], m[3]));
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_prepare(void)
{
    xp_import_params_t in = {0};
    xp_job_t *j = NULL;
    xp_error_t err = {0};

    drv = "sqlite3";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_OK,
           "prepare: defaults accepted");
    is_str(j ? j->options : NULL,
           "{\"dry_run\":false,\"on_conflict\":\"update\",\"sections\":null,"
           "\"unknown_columns\":\"reject\"}",
           "prepare: default options stored");
    ok(j && j->kind == XP_KIND_IMPORT && j->status == XP_ST_QUEUED &&
           xp_id_valid(j->id) && j->file_size == -1 && !j->format,
       "prepare: a queued import job");
    in.dry_run = "true";
    in.on_conflict = "skip";
    in.sections = "users,bots";
    in.unknown_columns = "ignore";
    xp_import_prepare(pool, demo, &in, &j, &err);
    is_str(j ? j->options : NULL,
           "{\"dry_run\":true,\"on_conflict\":\"skip\",\"sections\":"
           "[\"users\",\"bots\"],\"unknown_columns\":\"ignore\"}",
           "prepare: options stored as given");
    in.on_conflict = "merge";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_EINVAL,
           "prepare: on_conflict=merge refused");
    is_str(err.field, "on_conflict", "prepare: ... naming the field");
    in.on_conflict = NULL;
    in.sections = "users,ghosts";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_EINVAL,
           "prepare: unknown section refused");
    ok(err.message && strstr(err.message, "\"ghosts\""),
       "prepare: ... naming it: %s", err.message);
    in.sections = "users,bots";
    in.raw_format = "ndjson";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_EINVAL,
           "prepare: a bare file with two sections refused");
    in.sections = "users";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_OK,
           "prepare: a bare file with one section accepted");
    is_str(j ? j->format : NULL, "ndjson", "prepare: its format is kept");
    in.dry_run = "maybe";
    is_int(xp_import_prepare(pool, demo, &in, &j, &err), XP_EINVAL,
           "prepare: dry_run=maybe refused");
}

static void test_roundtrip(const char *all)
{
    int u[4] = {5, 0, 0, 0}, b[4] = {3, 0, 0, 0}, m[4] = {10, 0, 0, 0};
    int u2[4] = {0, 0, 5, 0}, b2[4] = {0, 0, 3, 0}, m2[4] = {0, 0, 10, 0};
    const char *back;

    reset_target();
    is_int(import_file(all), XP_OK, "round trip: import into an empty target");
    is_str(job->changes, changes3(u, b, m), "round trip: every row created");
    is_str(job->counts, "{\"users\":5,\"bots\":3,\"messages\":10}",
           "round trip: rows read per section");
    is_int(job->errors_total, 0, "round trip: no errors");
    is_str(job->error_messages, "[]", "round trip: no messages");
    back = export_from(tgt_params, "all");
    is_str(archive_data(back), archive_data(all),
           "round trip: the target exports the same data as the source");
    is_str(db_str1(tgt_params, "SELECT prefs FROM users WHERE id = 1"),
           "{\"theme\":\"dark\"}", "round trip: a json column stored compact");

    is_int(import_file(all), XP_OK, "re-import: accepted");
    is_str(job->changes, changes3(u2, b2, m2),
           "re-import: every row unchanged");
    is_str(archive_data(export_from(tgt_params, "all")), archive_data(all),
           "re-import: the data is as the first import left it");
}

static void test_dry_run(const char *all)
{
    int u[4] = {5, 0, 0, 0}, b[4] = {3, 0, 0, 0}, m[4] = {10, 0, 0, 0};

    reset_target();
    is_int(import_opts(all, "true", NULL, NULL, NULL), XP_OK,
           "dry run: completes");
    is_str(job->changes, changes3(u, b, m),
           "dry run: changes say what would "
           "happen");
    is_str(users_count(), "0", "dry run: the target is left empty");
    is_str(db_str1(tgt_params, "SELECT COUNT(*) FROM messages"), "0",
           "dry run: ... every table of it");
}

static void test_conflicts(const char *all)
{
    int u[4] = {0, 1, 4, 0}, b[4] = {0, 0, 3, 0}, m[4] = {0, 0, 10, 0};
    int su[4] = {0, 0, 0, 5}, sb[4] = {0, 0, 0, 3}, sm[4] = {0, 0, 0, 10};

    reset_target();
    import_file(all);
    db_one(tgt_params, "UPDATE users SET name = 'X', score = 10.0 "
                       "WHERE id = 1");
    is_int(import_file(all), XP_OK, "on_conflict=update: accepted");
    is_str(job->changes, changes3(u, b, m),
           "on_conflict=update: the changed row updated, 10 = 10.0");
    is_str(db_str1(tgt_params, "SELECT name FROM users WHERE id = 1"),
           "Alice \"A\"", "on_conflict=update: the value is restored");

    db_one(tgt_params, "UPDATE users SET name = 'X' WHERE id = 1");
    is_int(import_opts(all, NULL, "skip", NULL, NULL), XP_OK,
           "on_conflict=skip: accepted");
    is_str(job->changes, changes3(su, sb, sm),
           "on_conflict=skip: every existing row skipped");
    is_str(db_str1(tgt_params, "SELECT name FROM users WHERE id = 1"), "X",
           "on_conflict=skip: the existing row is kept");

    is_int(import_opts(all, NULL, "fail", NULL, NULL), XP_EINVAL,
           "on_conflict=fail: rejected");
    is_int(job->errors_total, 18,
           "on_conflict=fail: every existing key "
           "counted");
    is_str(first_msg(),
           "users line 1 (id=1): a row with this key already exists and "
           "on_conflict is fail",
           "on_conflict=fail: the message names section, line and key");
    db_one(tgt_params, "DELETE FROM messages WHERE id = 10");
    import_opts(all, NULL, "fail", NULL, NULL);
    is_str(db_str1(tgt_params, "SELECT COUNT(*) FROM messages"), "9",
           "on_conflict=fail: the missing row was not created");
}

static void test_sections(const char *all)
{
    const char *bots;

    reset_target();
    is_int(import_opts(all, NULL, NULL, "users", NULL), XP_OK,
           "sections=users: accepted");
    is_str(job->changes,
           "{\"users\":{\"created\":5,\"updated\":0,\"unchanged\":0,"
           "\"skipped\":0}}",
           "sections=users: only users imported");
    is_str(db_str1(tgt_params, "SELECT COUNT(*) FROM bots"), "0",
           "sections=users: other sections untouched");
    bots = export_from(src_params, "bots");
    is_int(import_opts(bots, NULL, NULL, "users", NULL), XP_EINVAL,
           "sections: a section not in the archive is an error");
    is_str(first_msg(),
           "sections names \"users\", which this archive does "
           "not contain",
           "sections: ... saying so");
    is_int(import_ex(demo_small, all, NULL, NULL, NULL, NULL, NULL, NULL),
           XP_EINVAL, "a section not configured here: rejected");
    ok(first_msg() && strstr(first_msg(), "section \"messages\" is not "
                                          "configured on this server"),
       "... naming it: %s", first_msg());
}

static void test_append(const char *all)
{
    reset_target();
    is_int(import_ex(demo_append, all, NULL, NULL, NULL, NULL, NULL, NULL),
           XP_OK, "mode=append: accepted");
    ok(job->changes &&
           strstr(job->changes, "\"messages\":{\"created\":10,\"updated\":0,"
                                "\"unchanged\":0,\"skipped\":0}"),
       "mode=append: rows created: %s", job->changes);
    import_ex(demo_append, all, NULL, NULL, NULL, NULL, NULL, NULL);
    ok(job->changes && strstr(job->changes, "\"messages\":{\"created\":10,") &&
           strstr(job->changes, "\"users\":{\"created\":0,\"updated\":0,"
                                "\"unchanged\":5"),
       "mode=append: a second import appends again, upserts unchanged");
    is_str(db_str1(tgt_params, "SELECT COUNT(*) FROM messages"), "20",
           "mode=append: 20 rows, keys generated by the database");
}

#define USERS_COLS "id,name,email,score,selected,prefs,updated_at"

/* Import one hand-made users section; the target starts empty. */
static xp_errcode_e import_users(const char *data, const char *cols,
                                 const char *unknown)
{
    tsec_t t = {"users", "id", cols ? cols : USERS_COLS, data, 0, 0, 0, 0};

    reset_target();
    return import_opts(make_archive("u.tar.gz", &t, 1, 0), NULL, NULL, NULL,
                       unknown);
}

static void test_rows(void)
{
    const char *two = "{\"id\":7,\"name\":\"G\"}\n"
                      "{\"id\":8,\"name\":\"H\",\"colour\":\"red\"}\n";

    is_int(import_users(two, NULL, NULL), XP_EINVAL,
           "unknown column: rejected");
    is_str(first_msg(),
           "users line 2 (id=8): unknown column \"colour\" (leave it out, or "
           "import with unknown_columns=ignore)",
           "unknown column: named with section, line and key");
    is_str(users_count(), "0", "unknown column: nothing imported");
    is_int(import_users(two, NULL, "ignore"), XP_OK,
           "unknown_columns=ignore: accepted");
    is_str(users_count(), "2", "unknown_columns=ignore: both rows imported");

    is_int(import_users(two, USERS_COLS ",colour", NULL), XP_EINVAL,
           "a manifest column this server lacks: rejected");
    ok(first_msg() && strstr(first_msg(), "column \"colour\""),
       "... naming it: %s", first_msg());
    is_int(import_users(two, USERS_COLS ",colour", "ignore"), XP_OK,
           "... accepted with unknown_columns=ignore");

    import_users("{\"name\":\"NoKey\"}\n", NULL, NULL);
    is_str(first_msg(),
           "users line 1: the key column \"id\" is missing or "
           "null",
           "missing key");
    import_users("\n{\"id\":\"abc\",\"name\":\"x\"}\n", NULL, NULL);
    is_str(first_msg(),
           "users line 2 (id=abc): column \"id\": \"abc\" is "
           "not an int",
           "a value not fitting types= (empty line counted)");
    import_users("{\"id\":7,\"name\":\"a\"}\n{\"id\":9,\"name\":\"b\"}\n"
                 "{\"id\":7,\"name\":\"c\"}\n",
                 NULL, NULL);
    is_str(first_msg(),
           "users line 3 (id=7): the same key appears again "
           "(first on line 1); keys must be unique in a section",
           "the same key twice");
    /* in another batch, after the first was written: the key is in the
     * table by then, and still known as this archive's */
    batch_rows = 2;
    import_users("{\"id\":7,\"name\":\"a\"}\n{\"id\":9,\"name\":\"b\"}\n"
                 "{\"id\":7,\"name\":\"c\"}\n",
                 NULL, NULL);
    batch_rows = 1000;
    is_str(first_msg(),
           "users line 3 (id=7): the same key appears again "
           "(first on line 1); keys must be unique in a section",
           "the same key twice, a batch apart");
    is_str(users_count(), "0", "... and nothing imported");
    /* a rejected row, then a key an earlier batch wrote, in one batch
     * (on a fresh PostgreSQL table that batch's keys were not looked up
     * before the rejection) */
    batch_rows = 2;
    import_users("{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n"
                 "{\"id\":3,\"name\":\"c\",\"colour\":\"red\"}\n"
                 "{\"id\":1,\"name\":\"d\"}\n",
                 NULL, NULL);
    batch_rows = 1000;
    is_int(job ? (int)job->errors_total : -1, 2,
           "a rejected row, then a key of an earlier batch: both counted");
    is_str(nth_msg(1),
           "users line 4 (id=1): the same key appears again "
           "(first on line 1); keys must be unique in a section",
           "... the second one named");
    is_int(import_users("{\"id\":7,\"name\":null}\n{\"id\":8,\"name\":\"ok\"}"
                        "\n{\"id\":9}\n",
                        NULL, NULL),
           XP_EINVAL, "a row the database rejects: rejected");
    ok(first_msg() &&
           !strncmp(first_msg(),
                    "users line 1 (id=7): the database rejected "
                    "the row: ",
                    51) &&
           strstr(first_msg(), "name"),
       "... with the driver's reason: %s", first_msg());
    is_str(users_count(), "0", "... and nothing imported");
}

/* Batches of the data source's own size (ten thousand rows on
 * PostgreSQL, whose COPY data then goes out in many pieces), with values
 * COPY has to escape and rows longer than one piece. */
static void test_big_batches(void)
{
    char *big = apr_palloc(pool, 100001);
    xp_buf_t b;
    int n = 25000, i;

    memset(big, 'x', 100000);
    big[100000] = '\0';
    xp_buf_init(&b, pool, 4 << 20);
    for (i = 1; i <= n; i++)
        xp_buf_adds(&b, apr_psprintf(pool, "{\"id\":%d,\"name\":\"%s\"}\n", i,
                                     i % 5000 == 0 ? big
                                                   : "a\\tb\\nc\\\\d\\re"));
    batch_rows = 0;
    is_int(import_users(b.data, NULL, NULL), XP_OK,
           "25000 rows in the data source's batches: imported");
    is_str(users_count(), "25000", "... every row");
    is_str(db_str1(tgt_params, "SELECT name FROM users WHERE id = 12345"),
           "a\tb\nc\\d\re", "... tab, newline, backslash, CR intact");
    is_str(db_str1(tgt_params, "SELECT length(name) FROM users WHERE id = 20000"),
           "100000", "... a 100 kB value intact");
    xp_buf_adds(&b, "{\"id\":3,\"name\":\"again\"}\n");
    import_users(b.data, NULL, NULL);
    batch_rows = 1000;
    is_str(first_msg(),
           "users line 25001 (id=3): the same key appears again (first on "
           "line 3); keys must be unique in a section",
           "... the same key two batches apart");
    is_str(users_count(), "0", "... and nothing imported");
}

/* What xp_sink_fresh says of sec in a new import's transaction (-1: the
 * target could not be opened). */
static int fresh_of(const xp_section_t *sec)
{
    xp_sink_t *sink = NULL;
    xp_error_t err = {0};
    int fresh = -1;

    if (xp_sink_open(pool, drv, tgt_params, &sink, &err) != XP_OK) {
        printf("# fresh: %s\n", err.message);
        return -1;
    }
    xp_sink_fresh(sink, pool, sec, &fresh, &err);
    xp_sink_close(sink, 0, &err);
    return fresh;
}

/* xp_sink_fresh: an empty table whose key has a unique index lets
 * imports leave out the key lookups; nothing else does. */
static void test_fresh(void)
{
    static const char *const loose[] = {
        "DROP TABLE IF EXISTS loose",
        "DROP TABLE IF EXISTS uniq",
        "CREATE TABLE loose (id INTEGER, name TEXT)",
        "CREATE TABLE uniq (code TEXT, name TEXT)",
        "CREATE UNIQUE INDEX uniq_code ON uniq (code)",
        NULL};
    xp_sections_t *secs = xp_sections_make(pool);
    xp_source_t *src = NULL;
    xp_error_t err = {0};
    const xp_section_t *users, *lo;

    reset_target();
    db_do(tgt_params, loose, 5);
    add(secs, "users", "key=id");
    add(secs, "loose", "key=id");
    add(secs, "uniq", "key=code");
    if (xp_source_open(pool, drv, tgt_params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, secs, &err) != XP_OK) {
        ok(0, "fresh: the target's sections (%s)", err.message);
        return;
    }
    xp_source_close(src);
    users = xp_sections_find(secs, "users");
    lo = xp_sections_find(secs, "loose");
    is_int(fresh_of(users), 1,
           "fresh: an empty table keyed by its primary key");
    is_int(fresh_of(xp_sections_find(secs, "uniq")), 1,
           "fresh: ... or by a unique index of its own");
    is_int(fresh_of(lo), 0, "fresh: not when the key has no unique index");
    db_one(tgt_params, "INSERT INTO users (id, name) VALUES (1, 'a')");
    is_int(fresh_of(users), 0, "fresh: not once the table has a row");
    db_one(tgt_params, "DROP TABLE loose");
    db_one(tgt_params, "DROP TABLE uniq");
}

static void test_long_key(void)
{
    char *big = apr_palloc(pool, 300001);
    const char *m;

    memset(big, 'k', 300000);
    big[300000] = '\0';
    reset_target();
    import_ex(
        demo,
        write_upload("big.ndjson", apr_psprintf(pool,
                                                "{\"id\":1,\"name\":\"a\"}\n"
                                                "{\"id\":\"%s\",\"name\":1}\n",
                                                big)),
        "ndjson", NULL, NULL, "users", NULL, NULL);
    m = first_msg();
    ok(m && !strncmp(m, "users line 2 (id=kkk", 19) && strlen(m) <= 1003,
       "a 300 kB key: the message is cut (%d bytes)", m ? (int)strlen(m) : -1);
}

/* A ref to an integer key this import wrote in an earlier batch is
 * known without a lookup; one it did not write is still looked up (in
 * the database: fine; nowhere: refused). */
static void test_refs_written(void)
{
    tsec_t t[2] = {{"users", "id", "id,name",
                    "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n"
                    "{\"id\":3,\"name\":\"c\"}\n",
                    0, 0, 0, 0},
                   {"messages", "id", "id,user_id,body",
                    "{\"id\":1,\"user_id\":3}\n{\"id\":2,\"user_id\":40}\n"
                    "{\"id\":3,\"user_id\":99}\n{\"id\":4,\"user_id\":1}\n",
                    0, 0, 0, 0}};

    reset_target();
    db_one(tgt_params, "INSERT INTO users (id, name) VALUES (40, 'Dan')");
    batch_rows = 2;
    is_int(import_file(make_archive("w.tar.gz", t, 2, 0)), XP_EINVAL,
           "refs to keys written, stored and missing: rejected");
    is_int(job ? (int)job->errors_total : -1, 1,
           "... once: a key written batches before and a stored one are "
           "fine");
    is_str(first_msg(),
           "messages line 3 (id=3): user_id \"99\" references users, which "
           "has no such row",
           "... the missing one named");
    t[1].data = "{\"id\":1,\"user_id\":3}\n{\"id\":2,\"user_id\":40}\n"
                "{\"id\":4,\"user_id\":1}\n";
    is_int(import_file(make_archive("w2.tar.gz", t, 2, 0)), XP_OK,
           "without it: imported");
    batch_rows = 1000;
    is_str(db_str1(tgt_params,
                   pg() ? "SELECT string_agg(id || ':' || user_id, ',' "
                          "ORDER BY id) FROM messages"
                        : "SELECT group_concat(id || ':' || user_id) FROM "
                          "(SELECT * FROM messages ORDER BY id)"),
           "1:3,2:40,4:1", "... every message with its user");
}

static void test_refs(void)
{
    tsec_t t[2] = {
        {"bots", "id", "id,name,owner_id",
         "{\"id\":\"b7\",\"name\":\"x\",\"owner_id\":null}\n", 0, 0, 0, 0},
        {"messages", "id", "id,bot_id,user_id,body",
         "{\"id\":9,\"bot_id\":\"b999\"}\n{\"id\":10,\"bot_id\":\"b7\"}\n"
         "{\"id\":11,\"bot_id\":\"b7\",\"user_id\":4}\n",
         0, 0, 0, 0}};
    tsec_t t3[3] = {
        {"users", "id", "id,name", "{\"id\":7,\"name\":null}\n", 0, 0, 0, 0}};

    reset_target();
    db_one(tgt_params, "INSERT INTO users (id, name) VALUES (4, 'Dan')");
    is_int(import_file(make_archive("r.tar.gz", t, 2, 0)), XP_EINVAL,
           "dangling ref: rejected");
    is_int(job->errors_total, 1,
           "refs to a row earlier in the archive and one in the database are "
           "fine");
    is_str(first_msg(),
           "messages line 1 (id=9): bot_id \"b999\" references "
           "bots, which has no such row",
           "dangling ref: names both sides");
    is_str(db_str1(tgt_params, "SELECT COUNT(*) FROM bots"), "0",
           "dangling ref: nothing imported");

    /* after a statement the database refused, later rows are still
     * checked (PostgreSQL: the transaction stays usable) */
    reset_target();
    db_one(tgt_params, "INSERT INTO users (id, name) VALUES (4, 'Dan')");
    t3[1] = t[0];
    t3[2] = t[1];
    import_file(make_archive("r2.tar.gz", t3, 3, 0));
    is_int(job->errors_total, 2,
           "a refused row does not hide the dangling ref after it");
    ok(first_msg() && strstr(first_msg(), "users line 1 (id=7): the "
                                          "database rejected the row"),
       "... the refused row first: %s", first_msg());
}

static void test_archive_checks(void)
{
    const char *d = "{\"id\":7,\"name\":\"G\"}\n{\"id\":8,\"name\":\"H\"}\n";
    tsec_t t = {"users", "id", USERS_COLS, d, 0, 0, 0, 0};
    tsec_t t2[2] = {{"users", "id", USERS_COLS, d, 0, 0, 0, 0},
                    {"bots", "id", "id,name", "{\"id\":\"b\"}\n", 0, 0, 1, 0}};

    reset_target();
    t.bad_sha = 1;
    is_int(import_file(make_archive("s.tar.gz", &t, 1, 0)), XP_EINVAL,
           "SHA-256 mismatch: rejected");
    is_str(first_msg(),
           "data/users.ndjson does not match its SHA-256 in "
           "manifest.json (the archive was changed or damaged)",
           "SHA-256 mismatch: said so");
    is_str(users_count(), "0", "SHA-256 mismatch: rolled back");
    t.bad_sha = 0;
    t.count_delta = 1;
    import_file(make_archive("c.tar.gz", &t, 1, 0));
    is_str(first_msg(),
           "data/users.ndjson has 2 rows, but manifest.json says "
           "3",
           "count mismatch");
    is_str(users_count(), "0", "count mismatch: rolled back");
    t.count_delta = 0;
    import_file(make_archive("m.tar.gz", &t, 1, 1));
    ok(first_msg() && strstr(first_msg(), "manifest.json must be the "
                                          "archive's first entry"),
       "manifest not first: %s", first_msg());
    import_file(make_archive("x.tar.gz", t2, 2, 0));
    is_str(first_msg(),
           "the archive holds \"data/bots.ndjson\", which "
           "manifest.json does not list",
           "an entry not listed");
    t.absent = 1;
    import_file(make_archive("a.tar.gz", &t, 1, 0));
    is_str(first_msg(),
           "manifest.json lists \"data/users.ndjson\", which the "
           "archive does not hold",
           "a listed entry missing");
}

static void test_many_errors(void)
{
    const char *d = "";
    xp_json_t *a;
    int i;

    for (i = 1; i <= 150; i++)
        d = apr_psprintf(pool, "%s{\"id\":%d,\"name\":\"n\",\"x\":1}\n", d, i);
    import_users(d, NULL, NULL);
    is_int(job->errors_total, 150, "150 bad rows: errors_total 150");
    a = xp_json_parse(pool, job->error_messages, strlen(job->error_messages),
                      NULL);
    is_int(a ? (long)xp_json_size(a) : -1, 100, "... 100 messages kept");
    {
        /* damaged data: the archive's reason survives a full list */
        tsec_t t = {"users", "id", USERS_COLS, d, 0, 1, 0, 0};

        reset_target();
        import_file(make_archive("d.tar.gz", &t, 1, 0));
        a = job && job->error_messages
                ? xp_json_parse(pool, job->error_messages,
                                strlen(job->error_messages), NULL)
                : NULL;
        is_int(a ? (long)xp_json_size(a) : -1, 100,
               "150 bad rows and a bad SHA-256: 100 messages");
        is_str(a && xp_json_size(a) == 100
                   ? xp_json_str_value(xp_json_at(pool, a, 99))
                   : NULL,
               "data/users.ndjson does not match its SHA-256 in "
               "manifest.json (the archive was changed or damaged)",
               "... the last one says why");
        is_int(job->errors_total, 151, "... errors_total counts it");
    }
}

static const char *write_upload(const char *name, const char *d)
{
    const char *rel = apr_pstrcat(pool, "uploads/", name, NULL);
    apr_file_t *f;

    apr_file_open(&f, apr_pstrcat(pool, storage, "/", rel, NULL),
                  APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                  APR_FPROT_OS_DEFAULT, pool);
    apr_file_write_full(f, d, strlen(d), NULL);
    apr_file_close(f);
    return rel;
}

static void test_raw(void)
{
    const char *nd = write_upload(
        "u.ndjson", "{\"id\":7,\"name\":\"G\"}\n{\"id\":8,\"name\":\"H\"}");
    const char *js = write_upload(
        "u.json", "[{\"id\":7,\"name\":\"G\"},\n {\"id\":9,\"name\":\"I\"},"
                  "{\"id\":10,\"name\":\"J\",\"x\":1}]");

    reset_target();
    is_int(import_ex(demo, nd, "ndjson", NULL, NULL, "users", NULL, NULL),
           XP_OK, "bare ndjson into sections=users: accepted");
    is_str(users_count(), "2", "bare ndjson: rows imported");
    is_int(import_ex(demo, js, "json", NULL, NULL, "users", NULL, NULL),
           XP_EINVAL, "JSON array with an unknown column: rejected");
    is_str(first_msg(),
           "users line 3 (id=10): unknown column \"x\" (leave "
           "it out, or import with unknown_columns=ignore)",
           "JSON array: elements numbered like lines");
    is_int(import_ex(demo, js, "json", NULL, NULL, "users", "ignore", NULL),
           XP_OK, "JSON array: accepted with unknown_columns=ignore");
    is_str(job->changes,
           "{\"users\":{\"created\":2,\"updated\":0,"
           "\"unchanged\":1,\"skipped\":0}}",
           "JSON array: changes counted");
}

static void test_same(void)
{
    ok(xp_sink_same(pool, XP_TYPE_REAL, "10", "10.0"),
       "same: 10 = 10.0 (real)");
    ok(xp_sink_same(pool, XP_TYPE_INT, "-0", "0"), "same: -0 = 0 (int)");
    ok(!xp_sink_same(pool, XP_TYPE_INT, "7", "8"), "same: 7 != 8 (int)");
    ok(xp_sink_same(pool, XP_TYPE_BOOL, "t", "1") &&
           xp_sink_same(pool, XP_TYPE_BOOL, "false", "0"),
       "same: t = 1, false = 0 (bool)");
    ok(!xp_sink_same(pool, XP_TYPE_BOOL, "t", "0"), "same: t != 0 (bool)");
    ok(xp_sink_same(pool, XP_TYPE_JSON, "{\"a\": [1, 2]}", "{\"a\":[1,2]}"),
       "same: JSON compared without its spacing");
    ok(!xp_sink_same(pool, XP_TYPE_JSON, "{\"a\":1}", "{\"a\":2}"),
       "same: different JSON differs");
    ok(xp_sink_same(pool, XP_TYPE_JSON, NULL, "null"),
       "same: JSON null = SQL NULL");
    ok(!xp_sink_same(pool, XP_TYPE_STRING, "10", "10.0"),
       "same: text compared as text");
    ok(!xp_sink_same(pool, XP_TYPE_STRING, NULL, ""), "same: NULL != ''");
}

static void test_limits(const char *all)
{
    const char *junk = write_upload("junk.tar.gz", "hello, not an archive");

    reset_target();
    max_unc = 600;
    is_int(import_file(all), XP_ELIMIT, "XportMaxUncompressedSize: stops");
    max_unc = 0;
    ok(first_msg() && strstr(first_msg(), "XportMaxUncompressedSize"),
       "... listed naming the limit: %s", first_msg());
    is_int(job->errors_total, 1, "... counted");
    is_str(users_count(), "0", "... nothing imported");
    is_int(import_file(junk), XP_EINVAL, "not an archive: rejected");
    ok(first_msg() && strstr(first_msg(), "not a tar.gz, tar.zst, zip or tar"),
       "... saying so: %s", first_msg());
}

static int checks;
static apr_int64_t seen_done, seen_total;
static xp_errcode_e cancel_check(void *baton)
{
    (void)baton;
    return ++checks >= 3 ? XP_ECANCEL : XP_OK;
}

static void note_progress(void *baton, apr_int64_t done, apr_int64_t total)
{
    (void)baton;
    seen_done = done;
    seen_total = total;
}

static void test_cancel(const char *all)
{
    xp_job_ctl_t ctl = {NULL, note_progress, cancel_check, NULL};

    reset_target();
    batch_rows = 2;
    checks = 0;
    is_int(import_ex(demo, all, NULL, NULL, NULL, NULL, NULL, &ctl), XP_ECANCEL,
           "cancel: the import stops");
    batch_rows = 1000;
    ok(checks == 3, "cancel: asked between batches");
    /* batches of 2 and one at the end of users' 5 rows: stopped at the
     * third check, after 5 */
    ok(seen_done == 5 && seen_total == 18,
       "progress: rows done of the manifest's total (%d of %d)", (int)seen_done,
       (int)seen_total);
    is_str(users_count(), "0", "cancel: rolled back");
}

/* ------------------------------------------------------------------ */
/* Section options other APIs need: fields=, ref=col:S.col2 and self   */
/* references, views with INSTEAD OF triggers, hash=col:bcrypt         */
/* ------------------------------------------------------------------ */

/* accounts (a unique e-mail besides the key), posts (naming accounts by
 * e-mail and a parent post), rooms: a view over room_rows written
 * through INSTEAD OF triggers, the insert one refusing odd kinds. */
static const char *const api_sqlite[] = {
    "DROP VIEW IF EXISTS rooms",
    "DROP TABLE IF EXISTS room_rows",
    "DROP TABLE IF EXISTS posts",
    "DROP TABLE IF EXISTS accounts",
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL "
    "UNIQUE, name TEXT, password TEXT)",
    "CREATE TABLE posts (uid TEXT PRIMARY KEY, author TEXT, parent TEXT, "
    "body TEXT)",
    "CREATE TABLE room_rows (id INTEGER PRIMARY KEY, unique_id TEXT NOT "
    "NULL UNIQUE, kind TEXT NOT NULL, name TEXT, creator TEXT)",
    "CREATE VIEW rooms AS SELECT unique_id, kind, name, creator FROM "
    "room_rows",
    "CREATE TRIGGER rooms_ins INSTEAD OF INSERT ON rooms BEGIN "
    "SELECT RAISE(ABORT, 'a room is single or group') WHERE NEW.kind NOT IN "
    "('single', 'group'); INSERT INTO room_rows (unique_id, kind, name, "
    "creator) VALUES (NEW.unique_id, NEW.kind, NEW.name, NEW.creator); END",
    "CREATE TRIGGER rooms_upd INSTEAD OF UPDATE ON rooms BEGIN "
    "SELECT RAISE(ABORT, 'a room is single or group') WHERE NEW.kind NOT IN "
    "('single', 'group'); UPDATE room_rows SET kind = NEW.kind, name = "
    "NEW.name, creator = NEW.creator WHERE unique_id = OLD.unique_id; END",
    NULL};

static const char *const api_pgsql[] = {
    "DROP VIEW IF EXISTS rooms",
    "DROP TABLE IF EXISTS room_rows, posts, accounts CASCADE",
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL "
    "UNIQUE, name TEXT, password TEXT)",
    "CREATE TABLE posts (uid TEXT PRIMARY KEY, author TEXT, parent TEXT, "
    "body TEXT)",
    "CREATE TABLE room_rows (id SERIAL PRIMARY KEY, unique_id TEXT NOT NULL "
    "UNIQUE, kind TEXT NOT NULL, name TEXT, creator TEXT)",
    "CREATE VIEW rooms AS SELECT unique_id, kind, name, creator FROM "
    "room_rows",
    "CREATE OR REPLACE FUNCTION rooms_ins() RETURNS trigger LANGUAGE plpgsql "
    "AS $$BEGIN IF NEW.kind NOT IN ('single', 'group') THEN RAISE EXCEPTION "
    "'a room is single or group'; END IF; INSERT INTO room_rows (unique_id, "
    "kind, name, creator) VALUES (NEW.unique_id, NEW.kind, NEW.name, "
    "NEW.creator); RETURN NEW; END$$",
    "CREATE OR REPLACE FUNCTION rooms_upd() RETURNS trigger LANGUAGE plpgsql "
    "AS $$BEGIN IF NEW.kind NOT IN ('single', 'group') THEN RAISE EXCEPTION "
    "'a room is single or group'; END IF; UPDATE room_rows SET kind = "
    "NEW.kind, name = NEW.name, creator = NEW.creator WHERE unique_id = "
    "OLD.unique_id; RETURN NEW; END$$",
    "CREATE TRIGGER rooms_ins INSTEAD OF INSERT ON rooms FOR EACH ROW "
    "EXECUTE FUNCTION rooms_ins()",
    "CREATE TRIGGER rooms_upd INSTEAD OF UPDATE ON rooms FOR EACH ROW "
    "EXECUTE FUNCTION rooms_upd()",
    NULL};

static xp_sections_t *api;

/* The api tables, empty, in the target; their sections discovered. */
static void api_reset(void)
{
    xp_source_t *src;
    xp_error_t err = {0};

    db_do(tgt_params, pg() ? api_pgsql : api_sqlite, 20);
    if (api)
        return;
    api = xp_sections_make(pool);
    add(api, "accounts",
        "key=id types=id:int fields=email:Email,name:Name,password:Password "
        "hash=password:bcrypt");
    add(api, "posts",
        "key=uid fields=uid:UniqueId,author:AuthorEmail,parent:ParentUniqueId "
        "ref=author:accounts.email,parent:posts");
    add(api, "rooms", "table=rooms key=unique_id ref=creator:accounts.email");
    if (xp_source_open(pool, drv, tgt_params, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, api, &err) != XP_OK)
        printf("# api sections: %s\n", err.message);
    else
        xp_source_close(src);
}

/* A bare file into one api section. */
static xp_errcode_e api_import(const char *section, const char *raw,
                               const char *data, const char *conflict)
{
    return import_ex(api, write_upload(apr_pstrcat(pool, "api.", raw, NULL),
                                       data),
                     raw, NULL, conflict, section, NULL, NULL);
}

/* Export filter from the target with the api sections in format fmt; the
 * job (its file under storage), NULL on failure. */
static xp_job_t *api_export(const char *filter, const char *fmt,
                            const char *closure)
{
    return export_secs(api, tgt_params, filter, fmt, closure, 0);
}

/* The text of a bare export. */
static const char *api_export_text(const char *filter, const char *fmt)
{
    xp_job_t *j = api_export(filter, fmt, NULL);
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t len;
    char *data;

    if (!j || apr_file_open(&f, apr_pstrcat(pool, storage, "/", j->file, NULL),
                            APR_FOPEN_READ, 0, pool) != APR_SUCCESS)
        return NULL;
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    len = (apr_size_t)fi.size;
    data = apr_pcalloc(pool, len + 1);
    apr_file_read(f, data, &len);
    apr_file_close(f);
    return data;
}

static const char *tgt(const char *sql)
{
    return db_str1(tgt_params, sql);
}

/* fields=: files call columns by their API names, both ways. */
static void test_fields(void)
{
    const char *text, *arc;

    api_reset();
    is_int(api_import("accounts", "ndjson",
                      "{\"id\":1,\"Email\":\"a@x\",\"Name\":\"Ann\"}\n"
                      "{\"id\":2,\"Email\":\"b@x\",\"Name\":null}\n",
                      NULL),
           XP_OK, "fields: rows under the file's names imported");
    is_str(tgt("SELECT name FROM accounts WHERE email = 'a@x'"), "Ann",
           "fields: Name went into name");
    is_int(api_import("accounts", "ndjson",
                      "{\"id\":3,\"email\":\"c@x\"}\n", NULL),
           XP_EINVAL, "fields: a column's own name is not a file's");
    is_str(first_msg(),
           "accounts line 1 (id=3): unknown column \"email\" (leave it out, "
           "or import with unknown_columns=ignore)",
           "... an unknown column");
    is_int(api_import("posts", "ndjson", "{\"AuthorEmail\":\"a@x\"}\n", NULL),
           XP_EINVAL, "fields: a renamed key missing");
    is_str(first_msg(),
           "posts line 1: the key column \"UniqueId\" is missing or null",
           "... named as the file names it");
    is_int(api_import("accounts", "json",
                      "[{\"id\":4,\"Email\":\"d@x\"}]", NULL),
           XP_OK, "fields: a JSON array file under the file's names");
    db_one(tgt_params, "DELETE FROM accounts WHERE id = 4");
    text = api_export_text("accounts", "ndjson");
    is_str(text,
           "{\"id\":1,\"Email\":\"a@x\",\"Name\":\"Ann\",\"Password\":null}\n"
           "{\"id\":2,\"Email\":\"b@x\",\"Name\":null,\"Password\":null}\n",
           "fields: an export writes the file's names");
    text = api_export_text("accounts", "json");
    ok(text && text[0] == '[' && strstr(text, "{\"id\":1,\"Email\":\"a@x\","),
       "fields: ... in a JSON array too");
    arc = api_export("accounts", "tar.gz", NULL)
              ? api_export("accounts", "tar.gz", NULL)->file
              : "none";
    text = archive_entry_text(arc, "manifest.json");
    ok(text && strstr(text, "\"key\": \"id\"") &&
           strstr(text, "\"columns\": [\n        \"id\",\n        \"Email\","),
       "fields: the manifest lists the file's names");
    is_int(import_ex(api, arc, NULL, NULL, NULL, NULL, NULL, NULL), XP_OK,
           "fields: the archive imports back");
    is_str(job->changes,
           "{\"accounts\":{\"created\":0,\"updated\":0,\"unchanged\":2,"
           "\"skipped\":0}}",
           "... unchanged");
}

/* A section on a view: read like a table, written through its INSTEAD
 * OF triggers, whose refusals are row errors like any other. */
static void test_views(void)
{
    const char *rooms = "{\"unique_id\":\"r1\",\"kind\":\"group\",\"name\":"
                        "\"G\"}\n{\"unique_id\":\"r2\",\"kind\":\"single\"}\n";

    api_reset();
    is_int(fresh_of(xp_sections_find(api, "rooms")), 0,
           "view: never a fresh table (its key has no index)");
    is_int(api_import("rooms", "ndjson", rooms, NULL), XP_OK,
           "view: rows inserted through the INSTEAD OF INSERT trigger");
    is_str(tgt("SELECT count(*) FROM room_rows"), "2",
           "view: ... into the table behind it");
    is_str(api_export_text("rooms", "ndjson"),
           "{\"unique_id\":\"r1\",\"kind\":\"group\",\"name\":\"G\","
           "\"creator\":null}\n"
           "{\"unique_id\":\"r2\",\"kind\":\"single\",\"name\":null,"
           "\"creator\":null}\n",
           "view: exported like a table");
    is_int(api_import("rooms", "ndjson", rooms, NULL), XP_OK,
           "view: the same rows again");
    is_str(job->changes,
           "{\"rooms\":{\"created\":0,\"updated\":0,\"unchanged\":2,"
           "\"skipped\":0}}",
           "view: ... unchanged (keys looked up in the view)");
    is_int(api_import("rooms", "ndjson",
                      "{\"unique_id\":\"r1\",\"kind\":\"single\"}\n", NULL),
           XP_OK, "view: on_conflict=update");
    is_str(tgt("SELECT kind FROM room_rows WHERE unique_id = 'r1'"), "single",
           "view: ... through the INSTEAD OF UPDATE trigger");
    is_int(api_import("rooms", "ndjson",
                      "{\"unique_id\":\"r1\",\"kind\":\"group\"}\n"
                      "{\"unique_id\":\"r3\",\"kind\":\"group\"}\n",
                      "skip"),
           XP_OK, "view: on_conflict=skip");
    is_str(job->changes,
           "{\"rooms\":{\"created\":1,\"updated\":0,\"unchanged\":0,"
           "\"skipped\":1}}",
           "view: ... keeps the existing row, inserts the new one");
    is_int(api_import("rooms", "ndjson",
                      "{\"unique_id\":\"r4\",\"kind\":\"group\"}\n"
                      "{\"unique_id\":\"r2\",\"kind\":\"group\"}\n",
                      "fail"),
           XP_EINVAL, "view: on_conflict=fail");
    is_str(first_msg(),
           "rooms line 2 (unique_id=r2): a row with this key already exists "
           "and on_conflict is fail",
           "view: ... an existing key is that row's error");
    /* the batch is refused as a whole, then row by row: the row is named
     * (once a row is rejected nothing more is written, so later rows
     * meet no trigger) */
    is_int(api_import("rooms", "ndjson",
                      "{\"unique_id\":\"r5\",\"kind\":\"group\"}\n"
                      "{\"unique_id\":\"r6\",\"kind\":\"triple\"}\n"
                      "{\"unique_id\":\"r7\",\"kind\":\"group\"}\n",
                      "fail"),
           XP_EINVAL, "view: a row the trigger refuses");
    is_int(job->errors_total, 1, "view: ... one error");
    is_str(first_msg(),
           "rooms line 2 (unique_id=r6): the database rejected the row: a "
           "room is single or group",
           "view: ... the trigger's message is the row's error");
    is_str(tgt("SELECT count(*) FROM room_rows"), "3",
           "view: ... nothing written");
    is_int(api_import("rooms", "ndjson",
                      "{\"unique_id\":\"r1\",\"kind\":\"odd\"}\n", NULL),
           XP_EINVAL, "view: an update the trigger refuses");
    is_str(first_msg(),
           "rooms line 1 (unique_id=r1): the database rejected the row: a "
           "room is single or group",
           "view: ... is that row's error too");
}

/* ref=col:SECTION.col2 and a section referencing itself, on import. */
static void test_refs_api(void)
{
    tsec_t t[2] = {
        {"accounts", "id", "id,Email",
         "{\"id\":7,\"Email\":\"g@x\"}\n{\"id\":7,\"Email\":\"again@x\"}\n", 0, 0,
         0, 0},
        {"posts", "UniqueId", "UniqueId,AuthorEmail",
         "{\"UniqueId\":\"q1\",\"AuthorEmail\":\"g@x\"}\n", 0, 0, 0, 0}};

    api_reset();
    api_import("accounts", "ndjson",
               "{\"id\":1,\"Email\":\"a@x\"}\n{\"id\":2,\"Email\":\"b@x\"}\n",
               NULL);
    is_int(api_import("posts", "ndjson",
                      "{\"UniqueId\":\"p1\",\"AuthorEmail\":\"a@x\"}\n"
                      "{\"UniqueId\":\"p2\",\"AuthorEmail\":\"b@x\","
                      "\"ParentUniqueId\":\"p1\"}\n"
                      "{\"UniqueId\":\"p3\",\"AuthorEmail\":\"\","
                      "\"ParentUniqueId\":\"\"}\n"
                      "{\"UniqueId\":\"p4\",\"ParentUniqueId\":\"p4\"}\n",
                      NULL),
           XP_OK,
           "refs: by e-mail, to an earlier row of the same file, empty and "
           "to itself");
    is_int(api_import("posts", "ndjson",
                      "{\"UniqueId\":\"p5\",\"AuthorEmail\":\"z@x\"}\n", NULL),
           XP_EINVAL, "refs: an e-mail no account has");
    is_str(first_msg(),
           "posts line 1 (UniqueId=p5): AuthorEmail \"z@x\" references "
           "accounts, which has no such row",
           "... named with the file's names");
    is_int(api_import("posts", "ndjson",
                      "{\"UniqueId\":\"p6\",\"ParentUniqueId\":\"p7\"}\n"
                      "{\"UniqueId\":\"p7\"}\n",
                      NULL),
           XP_EINVAL, "refs: a parent later in the file");
    is_str(first_msg(),
           "posts line 1 (UniqueId=p6): ParentUniqueId \"p7\" references "
           "posts, which has no such row",
           "... must come earlier");
    is_int(api_import("posts", "ndjson",
                      "{\"UniqueId\":\"p8\",\"ParentUniqueId\":\"p2\"}\n", NULL),
           XP_OK, "refs: a parent already in the database");
    batch_rows = 2;
    is_int(api_import("posts", "ndjson",
                      "{\"UniqueId\":\"c1\"}\n"
                      "{\"UniqueId\":\"c2\",\"ParentUniqueId\":\"c1\"}\n"
                      "{\"UniqueId\":\"c3\",\"ParentUniqueId\":\"c2\"}\n"
                      "{\"UniqueId\":\"c4\",\"ParentUniqueId\":\"c3\"}\n"
                      "{\"UniqueId\":\"c5\",\"ParentUniqueId\":\"c1\"}\n",
                      NULL),
           XP_OK, "refs: a chain of parents across batches");
    /* once a row is rejected nothing is written: an e-mail shown earlier
     * in the archive is found among the values it showed */
    is_int(import_ex(api, make_archive("refs.tar.gz", t, 2, 0), NULL, NULL,
                     NULL, NULL, NULL, NULL),
           XP_EINVAL, "refs: after a rejection");
    batch_rows = 1000;
    is_int(job->errors_total, 1,
           "... a ref to an e-mail of an earlier section still holds");
    is_str(tgt("SELECT count(*) FROM posts"), "10", "refs: what was imported");
}

/* Exports of those refs: closure follows them (a .col2 one, and a
 * section's own parents transitively), and a section referencing itself
 * writes parents before children, so that the export imports back. */
static void test_refs_export(void)
{
    const char *posts = "{\"UniqueId\":\"z1\",\"AuthorEmail\":\"a@x\"}\n"
                        "{\"UniqueId\":\"a1\",\"ParentUniqueId\":\"z1\"}\n"
                        "{\"UniqueId\":\"m1\",\"AuthorEmail\":\"b@x\","
                        "\"ParentUniqueId\":\"a1\"}\n"
                        "{\"UniqueId\":\"b2\",\"ParentUniqueId\":\"\"}\n"
                        "{\"UniqueId\":\"c2\",\"ParentUniqueId\":\"b2\"}\n"
                        "{\"UniqueId\":\"d0\",\"ParentUniqueId\":\"d0\"}\n";
    const char *text, *arc;
    xp_job_t *j;

    api_reset();
    api_import("accounts", "ndjson",
               "{\"id\":1,\"Email\":\"a@x\"}\n{\"id\":2,\"Email\":\"b@x\"}\n"
               "{\"id\":3,\"Email\":\"c@x\"}\n",
               NULL);
    is_int(api_import("posts", "ndjson", posts, NULL), XP_OK,
           "self refs: parents first in the file");
    text = api_export_text("posts", "ndjson");
    ok(text && strstr(text, "\"z1\"") < strstr(text, "\"a1\"") &&
           strstr(text, "\"a1\"") < strstr(text, "\"m1\"") &&
           strstr(text, "\"b2\"") < strstr(text, "\"c2\"") &&
           strstr(text, "\"b2\"") < strstr(text, "\"a1\"") &&
           strstr(text, "\"d0\"") < strstr(text, "\"a1\""),
       "self refs: exported by depth, then key (b2 d0 z1, a1 c2, m1; a row "
       "naming itself has no parent)");
    j = api_export("posts/uid=m1", "tar.gz", "true");
    arc = j ? j->file : "none";
    text = archive_data(arc);
    ok(text && strstr(text, "== data/accounts.ndjson\n{\"id\":1,") &&
           strstr(text, "{\"id\":2,") && !strstr(text, "{\"id\":3,"),
       "closure: the accounts named by e-mail, and only those");
    ok(text && strstr(text, "\"z1\"") && strstr(text, "\"a1\"") &&
           strstr(text, "\"m1\"") && !strstr(text, "\"b2\""),
       "closure: m1 with its parent and grandparent");
    ok(text && strstr(text, "\"z1\"") < strstr(text, "\"a1\"") &&
           strstr(text, "\"a1\"") < strstr(text, "\"m1\""),
       "closure: ... parents first");
    api_reset();
    is_int(import_ex(api, arc, NULL, NULL, NULL, NULL, NULL, NULL), XP_OK,
           "closure: the archive imports into empty tables");
    is_str(job->changes,
           "{\"accounts\":{\"created\":2,\"updated\":0,\"unchanged\":0,"
           "\"skipped\":0},\"posts\":{\"created\":3,\"updated\":0,"
           "\"unchanged\":0,\"skipped\":0}}",
           "... every row created");
}

/* hash=password:bcrypt: plain passwords are stored hashed, hashes as
 * they are, so an export imports back unchanged. */
static void test_bcrypt(void)
{
    const char *h1, *h2, *text;

    api_reset();
    is_int(api_import("accounts", "ndjson",
                      "{\"id\":1,\"Email\":\"a@x\",\"Password\":\"s3cret\"}\n"
                      "{\"id\":2,\"Email\":\"b@x\",\"Password\":\"\"}\n"
                      "{\"id\":3,\"Email\":\"c@x\",\"Password\":null}\n"
                      "{\"id\":4,\"Email\":\"d@x\",\"Password\":\"$2y$05$"
                      "abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4LJhCnBDa\"}\n",
                      NULL),
           XP_OK, "bcrypt: imported");
    h1 = tgt("SELECT password FROM accounts WHERE id = 1");
    ok(h1 && xp_bcrypt_is_hash(h1) && !strncmp(h1, "$2y$05$", 7),
       "bcrypt: a plain password is stored as a cost-5 bcrypt hash: %s", h1);
    ok(h1 && apr_password_validate("s3cret", h1) == APR_SUCCESS,
       "bcrypt: apr_password_validate accepts the password");
    ok(h1 && apr_password_validate("s3cre", h1) != APR_SUCCESS,
       "bcrypt: ... and only it");
    is_str(tgt("SELECT password FROM accounts WHERE id = 2"), "",
           "bcrypt: an empty password is stored as it is");
    is_str(tgt("SELECT password FROM accounts WHERE id = 3"), NULL,
           "bcrypt: NULL stays NULL");
    is_str(tgt("SELECT password FROM accounts WHERE id = 4"),
           "$2y$05$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4LJhCnBDa",
           "bcrypt: a hash is stored as it is");
    is_int(api_import("accounts", "ndjson",
                      "{\"id\":1,\"Email\":\"a@x\",\"Password\":\"s3cret\"}\n",
                      NULL),
           XP_OK, "bcrypt: the same plain password again");
    h2 = tgt("SELECT password FROM accounts WHERE id = 1");
    ok(job->changes && strstr(job->changes, "\"unchanged\":1") && h1 && h2 &&
           !strcmp(h1, h2),
       "bcrypt: ... is no change, the stored hash is kept");
    is_int(api_import("accounts", "ndjson",
                      "{\"id\":1,\"Email\":\"a@x\",\"Password\":\"n3w\"}\n",
                      NULL),
           XP_OK, "bcrypt: another plain password");
    h2 = tgt("SELECT password FROM accounts WHERE id = 1");
    ok(job->changes && strstr(job->changes, "\"updated\":1") && h2 &&
           apr_password_validate("n3w", h2) == APR_SUCCESS,
       "bcrypt: ... updates the hash");
    text = api_export_text("accounts", "ndjson");
    ok(text && h2 && strstr(text, h2), "bcrypt: an export writes the hash");
    is_int(api_import("accounts", "ndjson", text ? text : "", NULL), XP_OK,
           "bcrypt: the export imports back");
    is_str(job->changes,
           "{\"accounts\":{\"created\":0,\"updated\":0,\"unchanged\":4,"
           "\"skipped\":0}}",
           "bcrypt: ... unchanged");
    ok(xp_bcrypt_is_hash("$2a$10$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4"
                         "LJhCnBDa") &&
           xp_bcrypt_is_hash("$2b$12$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGf"
                             "PyM4LJhCnBDa"),
       "bcrypt: $2a$ and $2b$ are hashes too");
    ok(!xp_bcrypt_is_hash("$2x$10$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGfPyM4"
                          "LJhCnBDa") &&
           !xp_bcrypt_is_hash("$2y$05$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGf"
                              "PyM4LJhCnBD") &&
           !xp_bcrypt_is_hash("$2y$05$abcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGf"
                              "PyM4LJhCnB!a") &&
           !xp_bcrypt_is_hash("$2y$5$aabcdefghijklmnopqrstuuJ9eQnAmKdxH6Ouv5qGf"
                              "PyM4LJhCnBDa"),
       "bcrypt: other prefixes, lengths, characters and costs are not");
}

/* A JSON array file: read element by element; what is wrong with it is
 * named by element (its 1-based index is the "line"). */
static void test_json_array(void)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"{\"unique_id\":\"r1\"}",
         "the file: a JSON array file must start with '[' (found '{')"},
        {"[{\"unique_id\":\"r1\",\"kind\":\"group\"}] x",
         "the file: text after the closing ']' of the JSON array (found 'x')"},
        {"[{\"unique_id\":\"r1\",\"kind\":\"group\"},7]",
         "rooms line 2: not a JSON object (each row must be one object of "
         "column: value)"},
        {"[{\"unique_id\":\"r1\",\"unique_id\":\"r2\"}]",
         "rooms line 1: invalid JSON at column 29: duplicate object key near "
         "'\"unique_id\"'"},
        {"[{\"unique_id\":\"r1\"},{\"unique_id\":\"a\\u0000b\"}]",
         "rooms line 2: invalid JSON at column 23: NUL characters (\\u0000) "
         "are not allowed in strings"},
        {"[{\"unique_id\":\"r1\"}", "the file: the JSON array is not closed: "
                                  "the file ends after element 1 without ']'"},
        {"[{\"unique_id\":\"r1\"} {\"unique_id\":\"r2\"}]",
         "the file: element 1 is followed by '{' instead of ',' or ']'"},
    };
    char deep[300];
    apr_size_t i;

    api_reset();
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(api_import("rooms", "json", bad[i].text, NULL), XP_EINVAL,
               "json array: refused: %s", bad[i].text);
        is_str(first_msg(), bad[i].msg, "json array: ... saying so");
    }
    strcpy(deep, "[{\"unique_id\":\"r1\"},{\"unique_id\":\"r2\",\"name\":");
    for (i = 0; i < 64; i++)
        strcat(deep, "[");
    for (i = 0; i < 64; i++)
        strcat(deep, "]");
    strcat(deep, "}]");
    is_int(api_import("rooms", "json", deep, NULL), XP_EINVAL,
           "json array: nesting deeper than 64");
    is_str(first_msg(), "the file: element 2: nesting deeper than 64 levels",
           "json array: ... names the element");
    is_str(tgt("SELECT count(*) FROM room_rows"), "0",
           "json array: nothing imported");
    is_int(api_import("rooms", "json",
                      "\xef\xbb\xbf[\n  {\"unique_id\":\"r1\",\"kind\":\"group\"},\n"
                      "  {\"unique_id\":\"r2\",\"kind\":\"group\"}\n]\n",
                      NULL),
           XP_OK, "json array: pretty printed, with a byte order mark");
}

static void run_suite(const char *driver, const char *sp, const char *tp)
{
    const char *all;

    printf("# %s\n", driver);
    drv = driver;
    src_params = sp;
    tgt_params = tp;
    if (make_source() != 0) {
        ok(0, "%s: demo source database", driver);
        return;
    }
    demo = sections(0, 1);
    demo_append = sections(1, 1);
    demo_small = sections(0, 0);
    all = export_from(src_params, "all");
    test_roundtrip(all);
    test_dry_run(all);
    test_conflicts(all);
    test_sections(all);
    test_append(all);
    test_rows();
    test_big_batches();
    test_fresh();
    test_long_key();
    test_refs();
    test_refs_written();
    test_archive_checks();
    test_many_errors();
    test_raw();
    test_limits(all);
    test_cancel(all);
    api = NULL;
    test_fields();
    test_views();
    test_refs_api();
    test_refs_export();
    test_bcrypt();
    test_json_array();
}

int main(void)
{
    const char *pgc = getenv("XPORT_TEST_PG");

    if (tdb_start(&pool, storage) != 0)
        return 1;
    drv = "sqlite3";
    src_params = apr_pstrcat(pool, storage, "/app.db", NULL);
    make_source();
    demo = sections(0, 1);
    test_prepare();
    test_same();
    unlink(src_params);
    run_suite("sqlite3", apr_pstrcat(pool, storage, "/app.db", NULL),
              apr_pstrcat(pool, storage, "/target.db", NULL));
    if (pgc && *pgc) {
        static const char *const schemas[] = {
            "CREATE SCHEMA IF NOT EXISTS xp_import_src",
            "CREATE SCHEMA IF NOT EXISTS xp_import_tgt", NULL};
        drv = "pgsql";
        db_do(pgc, schemas, 2);
        run_suite("pgsql",
                  apr_pstrcat(pool, pgc,
                              " options='-c search_path=xp_import_src'", NULL),
                  apr_pstrcat(pool, pgc,
                              " options='-c search_path=xp_import_tgt'", NULL));
    } else {
        printf("# XPORT_TEST_PG not set: PostgreSQL not tested\n");
    }
    tdb_rm_tree(pool, storage);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
