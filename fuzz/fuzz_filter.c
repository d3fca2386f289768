/*
 * fuzz_filter.c -- the export filter language (SPEC 4): any text either
 * parses or fails XP_EINVAL with a message and a position inside the
 * text; a parsed filter renders every section's WHERE clause in both
 * dialects, with and without closure and a window, and every "%s" in
 * the SQL has exactly one bound value, and nothing from the filter text
 * reaches the SQL (quoted identifiers are declared names, no literals).
 */
#include "fuzz_common.h"
#include "xp_filter.h"

static apr_pool_t *fixture_pool;
static xp_sections_t *secs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    fixture_pool = fuzz_pool();
    secs = fuzz_sections(fixture_pool);
    return 0;
}

static int placeholders(const char *sql)
{
    int n = 0;

    for (; (sql = strstr(sql, "%s")) != NULL; sql += 2)
        n++;
    return n;
}

/* A name the configuration declares (section, table or column). */
static int declared(const char *name, size_t len)
{
    int i, j;

    for (i = 0; i < secs->list->nelts; i++) {
        const xp_section_t *sec = APR_ARRAY_IDX(secs->list, i, xp_section_t *);

        if (strlen(sec->table) == len && !memcmp(sec->table, name, len))
            return 1;
        for (j = 0; sec->columns && j < sec->columns->nelts; j++) {
            const char *c = APR_ARRAY_IDX(sec->columns, j, const char *);
            if (strlen(c) == len && !memcmp(c, name, len))
                return 1;
        }
    }
    return 0;
}

/* Nothing from the filter text reaches the SQL: quoted identifiers are
 * declared names, the only string literal is the LIKE escape, and the
 * rest is keywords, operators and placeholders. */
static void check_sql(const char *sql)
{
    static const char ok_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz"
                                   "0123456789_ ()=<>%,.:!";
    const char *c = sql, *end;

    while (*c) {
        if (*c == '"') {
            end = strchr(c + 1, '"');
            FUZZ_CHECK(end && declared(c + 1, (size_t)(end - c - 1)),
                       "a quoted identifier is a declared name");
            c = end + 1;
        } else if (*c == '\'') {
            FUZZ_CHECK(!strncmp(c, "'\\'", 3), "no literal but the escape");
            c += 3;
        } else {
            FUZZ_CHECK(strchr(ok_chars, *c) != NULL, "no stray characters");
            c++;
        }
    }
}

static void render_all(apr_pool_t *p, const xp_filter_t *f)
{
    static const xp_window_t win = {"2026-01-01T00:00:00.000Z",
                                    "2026-12-31T00:00:00.000Z"};
    int i, closure, dialect;

    for (closure = 0; closure <= 1; closure++) {
        FUZZ_CHECK(xp_filter_sections(p, f, secs, closure) != NULL,
                   "section list");
        for (dialect = 0; dialect <= 1; dialect++) {
            for (i = 0; i < secs->list->nelts; i++) {
                const xp_section_t *sec =
                    APR_ARRAY_IDX(secs->list, i, xp_section_t *);
                apr_array_header_t *args =
                    apr_array_make(p, 4, sizeof(const char *));
                const char *sql = xp_filter_where(
                    p, f, secs, sec, closure ? &win : NULL, closure, NULL,
                    dialect ? XP_DIALECT_PGSQL : XP_DIALECT_SQLITE, args);

                if (!sql)
                    continue;
                FUZZ_CHECK(placeholders(sql) == args->nelts,
                           "one bound value per placeholder");
                check_sql(sql);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text;
    xp_filter_t *f = NULL;
    xp_error_t err;
    xp_errcode_e rc;

    if (size > 64 * 1024 || !(text = fuzz_cstring(data, size)))
        return 0;
    p = fuzz_pool();
    memset(&err, 0, sizeof(err));
    rc = xp_filter_parse(p, text, secs, &f, &err);
    if (rc == XP_OK) {
        FUZZ_CHECK(f != NULL, "a parsed filter");
        render_all(p, f);
    } else {
        FUZZ_CHECK(rc == XP_EINVAL, "faults are XP_EINVAL");
        FUZZ_CHECK(err.message && *err.message, "a fault has a message");
        FUZZ_CHECK(err.line >= 1 && err.column >= 1, "a fault has a position");
    }
    apr_pool_destroy(p);
    free(text);
    return 0;
}
