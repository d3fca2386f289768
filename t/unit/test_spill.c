/*
 * test_spill.c -- the import's list of keys seen, in a temporary file:
 * rows come back in the order added, a run of one name at a time; a mark
 * undoes what was added and taken after it; its file has no name in the
 * temporary directory.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_spill.h"

/* Everything still to take, as "name:key@line," runs separated by "|". */
static const char *take_all(xp_spill_t *sp, apr_pool_t *p, int max)
{
    const char *name, **keys, *s = "";
    long *lines;
    xp_error_t err = {0};
    int n, i;

    while (xp_spill_take(sp, p, max, &name, &n, &keys, &lines, &err) == XP_OK &&
           n > 0) {
        for (i = 0; i < n; i++)
            s = apr_psprintf(p, "%s%s:%s@%ld,", s, name, keys[i], lines[i]);
        s = apr_pstrcat(p, s, "|", NULL);
    }
    return err.message ? err.message : s;
}

static void test_order(apr_pool_t *p)
{
    xp_spill_t *sp = xp_spill_make(p);
    const char *k1[] = {"1", "two", ""}, *k2[] = {"x\ty\n"};
    long l1[] = {1, 2, 3}, l2[] = {7};
    xp_error_t err = {0};

    ok(!xp_spill_pending(sp), "a new list has nothing to take");
    is_str(take_all(sp, p, 10), "", "... and takes nothing");
    is_int(xp_spill_add(sp, "users", 3, k1, l1, &err), XP_OK, "three added");
    is_int(xp_spill_add(sp, "users.email", 1, k2, l2, &err), XP_OK,
           "one of another name");
    is_int(xp_spill_add(sp, "users", 1, k1, l1, &err), XP_OK,
           "the first name again");
    ok(xp_spill_pending(sp), "rows to take");
    is_str(take_all(sp, p, 2),
           "users:1@1,users:two@2,|users:@3,|users.email:x\ty\n@7,|users:1@1,|",
           "taken in order, at most 2 at a time, one name per run, any bytes");
    ok(!xp_spill_pending(sp), "all taken");
    is_int(xp_spill_add(sp, "t", 1, k1, l1, &err), XP_OK, "added after");
    is_str(take_all(sp, p, 10), "t:1@1,|", "only the new row comes back");
    xp_spill_close(sp);
}

static void test_marks(apr_pool_t *p)
{
    xp_spill_t *sp = xp_spill_make(p);
    const char *k[] = {"a", "b", "c"};
    long l[] = {1, 2, 3};
    xp_spill_mark_t m0, m1;
    xp_error_t err = {0};

    xp_spill_mark(sp, &m0);
    xp_spill_add(sp, "s", 1, k, l, &err);
    xp_spill_mark(sp, &m1);
    xp_spill_add(sp, "s", 2, k + 1, l + 1, &err);
    is_str(take_all(sp, p, 10), "s:a@1,s:b@2,s:c@3,|", "three rows");
    xp_spill_restore(sp, &m1);
    ok(xp_spill_pending(sp), "back at the mark: a row to take again");
    is_str(take_all(sp, p, 10), "s:a@1,|",
           "the row added before the mark, taken again; those after gone");
    xp_spill_restore(sp, &m1);
    xp_spill_add(sp, "s", 1, k + 2, l + 2, &err);
    is_str(take_all(sp, p, 10), "s:a@1,s:c@3,|",
           "a row added after going back takes the place of the forgotten");
    xp_spill_restore(sp, &m0);
    ok(!xp_spill_pending(sp), "back at the start: nothing");
    xp_spill_close(sp);
    is_str(take_all(sp, p, 10), "", "closed: nothing");
}

/* How many files dir has. */
static int files_in(const char *dir)
{
    char cmd[300];
    FILE *f;
    int n = -1;

    snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
    if ((f = popen(cmd, "r")) != NULL) {
        if (fscanf(f, "%d", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

/* 200,000 rows (about 6 MB) come back whole: the file, not memory. */
static void test_many(apr_pool_t *p, const char *dir)
{
    xp_spill_t *sp = xp_spill_make(p);
    const char *keys[1000], *name, **got;
    long lines[1000], *gl, total = 0, bad = 0;
    xp_error_t err = {0};
    apr_pool_t *cp;
    int i, b, n;

    apr_pool_create(&cp, p);
    for (b = 0; b < 200; b++) {
        apr_pool_clear(cp);
        for (i = 0; i < 1000; i++) {
            keys[i] = apr_psprintf(cp, "key-%d", b * 1000 + i);
            lines[i] = b * 1000 + i + 1;
        }
        if (xp_spill_add(sp, "big", 1000, keys, lines, &err) != XP_OK)
            break;
    }
    is_int(b, 200, "200 batches added");
    is_int(files_in(dir), 0,
           "its file has no name: nothing to leave behind in the temporary "
           "directory");
    do {
        apr_pool_clear(cp);
        if (xp_spill_take(sp, cp, 10000, &name, &n, &got, &gl, &err) != XP_OK)
            break;
        for (i = 0; i < n; i++, total++)
            bad += gl[i] != total + 1 ||
                   strcmp(got[i], apr_psprintf(cp, "key-%ld", total));
    } while (n > 0);
    is_int(total, 200000, "200,000 rows taken");
    is_int(bad, 0, "each as added");
    xp_spill_close(sp);
    apr_pool_destroy(cp);
}

int main(void)
{
    char dir[] = "/tmp/xp_spill_XXXXXX";
    apr_pool_t *p;

    /* the system's temporary directory, as apr_temp_dir_get finds it */
    if (!mkdtemp(dir) || setenv("TMPDIR", dir, 1) != 0)
        return 1;
    apr_initialize();
    apr_pool_create(&p, NULL);
    test_order(p);
    test_marks(p);
    test_many(p, dir);
    apr_pool_destroy(p);
    rmdir(dir);
    apr_terminate();
    return done_testing();
}
