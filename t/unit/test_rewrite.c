/*
 * test_rewrite.c -- an import's rewrite rules end to end on SQLite: an
 * archive of the demo (users, rooms, comments) made by the exporter,
 * imported into an empty target with rules that change values, change
 * a key (and with it the refs of the rows after it), reject a row
 * (nothing written), on a dry run; and rules refused when the import is
 * asked for.
 */
#include "tap.h"
#include "demo.h"
#include "xp_import.h"
#include "xp_rewrite.h"
#include "xp_json.h"

static const char *archive;
static xp_job_t *job;
static xp_error_t ierr;

static void target_empty(void)
{
    static const char *const wipe[] = {
        "DELETE FROM comments", "DELETE FROM rooms", "DELETE FROM users", NULL};
    demo_sql(demo_tgt, wipe);
}

/* Import the demo archive into the emptied target with these rules. */
static xp_errcode_e import_rules(const char *rules, const char *dry)
{
    xp_import_params_t in = {0};
    xp_import_env_t env = {0};

    target_empty();
    in.rewrite = rules;
    in.dry_run = dry;
    memset(&ierr, 0, sizeof(ierr));
    job = NULL;
    if (xp_import_prepare(pool, demo_secs, &in, &job, &ierr) != XP_OK) {
        printf("# prepare: %s\n", ierr.message);
        return ierr.code;
    }
    job->file = archive + strlen(demo_dir) + 1;
    env.secs = demo_secs;
    env.source_driver = "sqlite3";
    env.source_params = demo_tgt;
    env.storage = demo_dir;
    env.batch_rows = 2;
    return xp_import_run(pool, &env, job, NULL, &ierr);
}

static const char *tgt(const char *sql, int ncols)
{
    return demo_rows(demo_tgt, sql, ncols);
}

/* The first message the job kept, as its JSON. */
static const char *first_message(void)
{
    xp_json_t *a = job && job->error_messages
                       ? xp_json_parse(pool, job->error_messages,
                                       strlen(job->error_messages), NULL)
                       : NULL;

    return a && xp_json_size(a) ? xp_json_dump(pool, xp_json_at(pool, a, 0))
                                : NULL;
}

static void test_values(void)
{
    is_int(import_rules("[{\"section\":\"users\",\"key\":\"u1\",\"set\":"
                        "{\"name\":\"Alicia\",\"Email\":\"new@x\","
                        "\"age\":31}},"
                        "{\"section\":\"users\",\"key\":\"u3\",\"set\":"
                        "{\"Email\":null,\"age\":7}},"
                        "{\"section\":\"comments\",\"key\":4,\"set\":"
                        "{\"body\":\"later\"}}]",
                        NULL),
           XP_OK, "values: import with set rules");
    is_str(tgt("SELECT id, email, name, age FROM users ORDER BY id", 4),
           "u1|new@x|Alicia|31;u2|b@x|Bob|40;u3|NULL|Carol|7;",
           "values: set by file names (fields=), null and typed values");
    is_str(tgt("SELECT body FROM comments WHERE id = 4", 1), "later;",
           "values: a number key matches an int key");
    is_str(job ? job->changes : NULL,
           "{\"users\":{\"created\":3,\"updated\":0,\"unchanged\":0,"
           "\"skipped\":0},\"rooms\":{\"created\":2,\"updated\":0,"
           "\"unchanged\":0,\"skipped\":0},\"comments\":{\"created\":4,"
           "\"updated\":0,\"unchanged\":0,\"skipped\":0}}",
           "values: counted as any row");
}

static void test_key_change(void)
{
    is_int(import_rules("[{\"section\":\"users\",\"key\":\"u2\",\"set\":"
                        "{\"id\":\"u20\"}},"
                        "{\"section\":\"rooms\",\"key\":\"r1\",\"set\":"
                        "{\"id\":\"r10\",\"title\":\"Main\"}},"
                        "{\"section\":\"comments\",\"key\":\"2\",\"set\":"
                        "{\"user_id\":\"u1\"}}]",
                        NULL),
           XP_OK, "key change: import");
    is_str(tgt("SELECT id FROM users ORDER BY id", 1), "u1;u20;u3;",
           "key change: the user has its new key");
    is_str(tgt("SELECT id, owner_id, title FROM rooms ORDER BY id", 3),
           "r10|u1|Main;r2|u20|Random;",
           "key change: a room's owner follows the renamed user; a rule "
           "matches the room's key as the file has it");
    is_str(tgt("SELECT id, room_id, user_id FROM comments ORDER BY id", 3),
           "1|r10|u1;2|r10|u1;3|r2|u20;4|r2|u3;",
           "key change: comments follow both renames; a rule's set is "
           "applied after them");
}

static void test_key_change_checked(void)
{
    /* comment 4's set names the old key of a renamed room: its ref
     * check fails like any other */
    is_int(import_rules("[{\"section\":\"rooms\",\"key\":\"r1\",\"set\":"
                        "{\"id\":\"r10\"}},"
                        "{\"section\":\"comments\",\"key\":\"4\",\"set\":"
                        "{\"room_id\":\"r1\"}}]",
                        NULL),
           XP_EINVAL, "key change: a set naming the old key is refused");
    is_str(first_message(),
           "{\"section\":\"comments\",\"line\":4,\"column\":\"id\","
           "\"key\":\"4\",\"message\":\"room_id \\\"r1\\\" references "
           "rooms, which has no such row\"}",
           "key change: ... by the ref check");
    is_str(tgt("SELECT COUNT(*) FROM users", 1), "0;",
           "key change: nothing written");
}

static void test_reject(void)
{
    is_int(import_rules("[{\"section\":\"comments\",\"key\":3,\"reject\":"
                        "\"spam is not imported\"},"
                        "{\"section\":\"users\",\"key\":\"u1\",\"set\":"
                        "{\"name\":\"A\"}}]",
                        NULL),
           XP_EINVAL, "reject: the import fails");
    is_str(first_message(),
           "{\"section\":\"comments\",\"line\":3,\"column\":\"id\","
           "\"key\":\"3\",\"message\":\"spam is not imported\"}",
           "reject: reported as the row's error (section, line, key)");
    is_int(job ? job->errors_total : -1, 1, "reject: one error");
    ok(ierr.message && strstr(ierr.message, "spam is not imported"),
       "reject: the job's error says it: %s", ierr.message);
    is_str(tgt("SELECT (SELECT COUNT(*) FROM users) + "
               "(SELECT COUNT(*) FROM rooms) + "
               "(SELECT COUNT(*) FROM comments)",
               1),
           "0;", "reject: nothing written");
}

static void test_dry_run(void)
{
    is_int(import_rules("[{\"section\":\"users\",\"key\":\"u2\",\"set\":"
                        "{\"id\":\"u20\"}}]",
                        "true"),
           XP_OK, "dry run: with rules");
    is_str(tgt("SELECT COUNT(*) FROM users", 1), "0;",
           "dry run: nothing written");
    ok(job && job->changes &&
           strstr(job->changes, "\"users\":{\"created\":3,") &&
           strstr(job->changes, "\"comments\":{\"created\":4,"),
       "dry run: changes as if done: %s", job ? job->changes : "(none)");
    is_int(import_rules("[{\"section\":\"rooms\",\"key\":\"r2\",\"reject\":"
                        "\"no\"}]",
                        "true"),
           XP_EINVAL, "dry run: a reject fails it too");
}

static void test_many_rules(void)
{
    const char *rules = "[";
    int i;

    for (i = 0; i < 5000; i++)
        rules = apr_psprintf(pool,
                             "%s{\"section\":\"users\",\"key\":\"x%d\","
                             "\"reject\":\"no\"},",
                             rules, i);
    rules = apr_pstrcat(pool, rules,
                        "{\"section\":\"users\",\"key\":\"u3\",\"set\":"
                        "{\"name\":\"C\"}}]",
                        NULL);
    is_int(import_rules(rules, NULL), XP_OK,
           "many rules: 5001 rules, one that matches");
    is_str(tgt("SELECT name FROM users WHERE id = 'u3'", 1), "C;",
           "many rules: ... applied");
}

/* Rules prepare must refuse: each XP_EINVAL naming rewrite and the
 * rule. */
static void test_refused(void)
{
    static const struct {
        const char *rules, *says;
    } bad[] = {
        {"[{\"section\":", "not JSON"},
        {"{\"section\":\"users\"}", "array"},
        {"[{\"section\":\"ghosts\",\"key\":\"a\",\"reject\":\"x\"}]",
         "rule 0: \"ghosts\""},
        {"[{\"section\":\"users\",\"key\":\"a\",\"reject\":\"x\"},"
         "{\"section\":\"users\",\"key\":\"b\",\"set\":{\"email\":\"e\"}}]",
         "rule 1: section \"users\" has no column \"email\""},
        {"[{\"section\":\"users\",\"key\":\"a\",\"reject\":\"x\","
         "\"set\":{}}]",
         "rule 0: give either set or reject"},
        {"[{\"section\":\"users\",\"key\":\"a\"}]",
         "rule 0: give either set or reject"},
        {"[{\"section\":\"users\",\"key\":\"a\",\"reject\":\"x\"},"
         "{\"section\":\"rooms\",\"key\":\"a\",\"reject\":\"x\"},"
         "{\"section\":\"users\",\"key\":\"a\",\"set\":{\"name\":\"n\"}}]",
         "rule 2: section \"users\" key \"a\" has a rule already"},
        {"[{\"section\":\"users\",\"key\":\"a\",\"set\":{\"age\":\"old\"}}]",
         "rule 0: column \"age\""},
        {"[{\"section\":\"users\",\"reject\":\"x\"}]", "rule 0: key"},
        {"[{\"section\":\"users\",\"key\":\"a\",\"reject\":3}]",
         "rule 0: reject must be a message"},
        {"[7]", "rule 0: not an object"},
    };
    xp_import_params_t in = {0};
    xp_error_t err;
    xp_job_t *j;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        in.rewrite = bad[i].rules;
        is_int(xp_import_prepare(pool, demo_secs, &in, &j, &err), XP_EINVAL,
               "refused: %s", bad[i].rules);
        ok(err.field && !strcmp(err.field, "rewrite") && err.message &&
               !strncmp(err.message, "rewrite", 7) &&
               strstr(err.message, bad[i].says),
           "refused: ... saying %s: %s", bad[i].says, err.message);
    }
    in.rewrite = "[{\"section\":\"users\",\"key\":\"a\",\"reject\":\"x\"}]";
    is_int(xp_import_prepare(pool, demo_secs, &in, &j, &err), XP_OK,
           "accepted: a good rule");
    ok(j && strstr(j->options, ",\"rewrite\":[{\"section\":\"users\","
                               "\"key\":\"a\",\"reject\":\"x\"}]}"),
       "accepted: the rules kept in the options: %s",
       j ? j->options : "(none)");
}

int main(void)
{
    if (demo_init() != 0) {
        printf("Bail out! the demo databases\n");
        return 1;
    }
    archive = demo_export(NULL);
    test_values();
    test_key_change();
    test_key_change_checked();
    test_reject();
    test_dry_run();
    test_many_rules();
    test_refused();
    return demo_done();
}
