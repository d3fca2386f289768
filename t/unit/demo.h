/*
 * demo.h -- a small SQLite demo for the engine's tests that import or
 * read archives: users, rooms (ref owner_id:users) and comments (refs to
 * both), a source database holding a few rows, an empty target with the
 * same schema, the sections discovered from it, and archives made by
 * the real exporter. Everything lives in one temp dir, removed at the
 * end (demo_done).
 */
#ifndef XP_TEST_DEMO_H
#define XP_TEST_DEMO_H

#include <stdlib.h>
#include <unistd.h>
#include <ftw.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "xp_export.h"
#include "xp_source.h"

/* not every test calls every helper */
#define DEMO_FN static __attribute__((unused))

static apr_pool_t *pool;
static char demo_dir[] = "/tmp/xp-demo-XXXXXX";
static const char *demo_src, *demo_tgt; /* SQLite files */
static xp_sections_t *demo_secs;

static const char *const demo_schema[] = {
    "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT, "
    "age INTEGER)",
    "CREATE TABLE rooms (id TEXT PRIMARY KEY, owner_id TEXT, title TEXT)",
    "CREATE TABLE comments (id INTEGER PRIMARY KEY, room_id TEXT, "
    "user_id TEXT, body TEXT)",
    NULL};

static const char *const demo_data[] = {
    "INSERT INTO users VALUES ('u1', 'a@x', 'Alice', 30), "
    "('u2', 'b@x', 'Bob', 40), ('u3', 'c@x', 'Carol', NULL)",
    "INSERT INTO rooms VALUES ('r1', 'u1', 'General'), "
    "('r2', 'u2', 'Random')",
    "INSERT INTO comments VALUES (1, 'r1', 'u1', 'hi'), "
    "(2, 'r1', 'u2', 'hello'), (3, 'r2', 'u2', 'buy now'), "
    "(4, 'r2', 'u3', 'bye')",
    NULL};

/* Run the statements (a NULL-ended list) on the SQLite file db. */
DEMO_FN int demo_sql(const char *db, const char *const *sql)
{
    xp_db_t *h;
    xp_error_t err = {0};
    int bad = 0;

    if (xp_db_open(pool, "sqlite3", db, "test", &h, &err) != XP_OK) {
        printf("# %s: %s\n", db, err.message);
        return -1;
    }
    for (; *sql; sql++)
        if (xp_db_run(h, pool, *sql, &err) != XP_OK) {
            printf("# %s\n", err.message);
            bad = -1;
        }
    xp_db_close(h);
    return bad;
}

/* The rows sql selects from db, "|"-separated columns, ";" after each
 * row ("NULL" for NULL). */
DEMO_FN const char *demo_rows(const char *db, const char *sql, int ncols)
{
    xp_db_t *h;
    xp_error_t err = {0};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *out = "", *v;
    int c;

    if (xp_db_open(pool, "sqlite3", db, "test", &h, &err) != XP_OK ||
        xp_db_select(h, pool, sql, 0, NULL, &res, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return "(error)";
    }
    while (xp_db_next(h, pool, res, &row))
        for (c = 0; c < ncols; c++) {
            v = xp_db_str(h, row, c);
            out = apr_pstrcat(pool, out, v ? v : "NULL",
                              c + 1 < ncols ? "|" : ";", NULL);
        }
    xp_db_close(h);
    return out;
}

/* Declare one section: opts are space-separated opt=value words. */
DEMO_FN void demo_section(xp_sections_t *secs, const char *name,
                          const char *opts)
{
    char *copy = apr_pstrdup(pool, opts), *last, *w;
    const char *argv[16], *m;
    int argc = 0;

    for (w = apr_strtok(copy, " ", &last); w && argc < 16;
         w = apr_strtok(NULL, " ", &last))
        argv[argc++] = w;
    if ((m = xp_sections_add(secs, pool, name, argc, argv)))
        printf("# section %s: %s\n", name, m);
}

/* The demo's source, target and sections. 0 when all is ready. */
DEMO_FN int demo_init(void)
{
    xp_source_t *src;
    xp_error_t err = {0};
    const char *m;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    if (!mkdtemp(demo_dir))
        return -1;
    demo_src = apr_pstrcat(pool, demo_dir, "/source.db", NULL);
    demo_tgt = apr_pstrcat(pool, demo_dir, "/target.db", NULL);
    if (demo_sql(demo_src, demo_schema) || demo_sql(demo_src, demo_data) ||
        demo_sql(demo_tgt, demo_schema))
        return -1;
    demo_secs = xp_sections_make(pool);
    demo_section(demo_secs, "users", "key=id fields=email:Email types=age:int");
    demo_section(demo_secs, "rooms", "key=id ref=owner_id:users");
    demo_section(demo_secs, "comments",
                 "key=id ref=room_id:rooms,user_id:users types=id:int");
    if ((m = xp_sections_check(demo_secs, pool))) {
        printf("# sections: %s\n", m);
        return -1;
    }
    if (xp_source_open(pool, "sqlite3", demo_src, &src, &err) != XP_OK ||
        xp_source_discover(src, pool, demo_secs, &err) != XP_OK) {
        printf("# discover: %s\n", err.message);
        return -1;
    }
    xp_source_close(src);
    return 0;
}

/* Export every section of the source as fmt (NULL: tar.gz); the
 * archive's path, or "(none)". */
DEMO_FN const char *demo_export(const char *fmt)
{
    xp_export_env_t env = {0};
    xp_export_params_t in = {0};
    xp_error_t err = {0};
    xp_job_t *j;

    env.secs = demo_secs;
    env.source_driver = "sqlite3";
    env.source_params = demo_src;
    env.storage = demo_dir;
    env.instance = "test";
    env.batch_rows = 2;
    in.filter = "users\nrooms\ncomments";
    in.format = fmt;
    if (xp_export_prepare(pool, demo_secs, "test", &in, &j, &err) != XP_OK ||
        xp_export_run(pool, &env, j, NULL, &err) != XP_OK) {
        printf("# export: %s\n", err.message);
        return "(none)";
    }
    return apr_pstrcat(pool, demo_dir, "/", j->file, NULL);
}

static int demo_unlink(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the temp dir; the TAP plan and exit status. */
DEMO_FN int demo_done(void)
{
    /* children first, links not followed */
    nftw(demo_dir, demo_unlink, 16, FTW_DEPTH | FTW_PHYS);
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}

#endif
