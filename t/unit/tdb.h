/*
 * tdb.h -- what the engine's database tests share: APR and a temp dir
 * for their files to start with, statements run on a database and one
 * value read from it through the engine's own connection helper
 * (xp_db_t), any failure shown as a TAP comment, and the temp dir
 * removed at the end.
 */
#ifndef XP_TDB_H
#define XP_TDB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "xp_source.h"

/* Run sql[0..n) (fewer if one is NULL) on driver/params; 0 if all
 * worked. */
static int tdb_run(apr_pool_t *p, const char *driver, const char *params,
                   const char *const *sql, int n)
{
    xp_db_t *db;
    xp_error_t err = {0};
    int i, bad = 0;

    if (xp_db_open(p, driver, params, "test", &db, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return -1;
    }
    for (i = 0; i < n && sql[i]; i++)
        if (xp_db_run(db, p, sql[i], &err) != XP_OK) {
            printf("# %s\n", err.message);
            bad = 1;
        }
    xp_db_close(db);
    return bad ? -1 : 0;
}

/* First column of the first row of sql, "(none)" if no row, NULL for
 * NULL, "(error)" when it failed. */
static const char *tdb_str(apr_pool_t *p, const char *driver,
                           const char *params, const char *sql)
{
    xp_db_t *db;
    xp_error_t err = {0};
    apr_dbd_results_t *res;
    apr_dbd_row_t *row = NULL;
    const char *v = "(none)", *s;
    int first = 1;

    if (xp_db_open(p, driver, params, "test", &db, &err) != XP_OK ||
        xp_db_select(db, p, sql, 0, NULL, &res, &err) != XP_OK) {
        printf("# %s\n", err.message);
        return "(error)";
    }
    while (xp_db_next(db, p, res, &row)) {
        s = xp_db_str(db, row, 0);
        if (first)
            v = s ? apr_pstrdup(p, s) : NULL;
        first = 0;
    }
    xp_db_close(db);
    return v;
}

/* APR, a pool and the temp dir dir (a mkdtemp template); 0, or -1 after
 * a "Bail out!". */
static int tdb_start(apr_pool_t **pool, char *dir)
{
    if (apr_initialize() != APR_SUCCESS ||
        apr_pool_create(pool, NULL) != APR_SUCCESS || !mkdtemp(dir)) {
        printf("Bail out! no APR or no temp dir\n");
        return -1;
    }
    return 0;
}

/* Remove dir and everything below it. */
static void tdb_rm_tree(apr_pool_t *p, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    const char *path;

    while (d && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        path = apr_pstrcat(p, dir, "/", de->d_name, NULL);
        if (unlink(path) != 0)
            tdb_rm_tree(p, path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#endif
