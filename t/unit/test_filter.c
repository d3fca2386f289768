/*
 * test_filter.c -- the export filter language (SPEC section 4): every
 * form parsed into the expected structure and rendered to SQL with bound
 * values, windows and closure, malformed filters reported at the right
 * line and column, and values quoted for filters read back exactly.
 */
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_filter.h"

static apr_pool_t *pool;
static xp_sections_t *secs;

static void add(const char *name, const char *opts)
{
    char *copy = apr_pstrdup(pool, opts), *last, *w;
    const char *argv[32], *m;
    int argc = 0;

    for (w = apr_strtok(copy, " ", &last); w; w = apr_strtok(NULL, " ", &last))
        argv[argc++] = w;
    if ((m = xp_sections_add(secs, pool, name, argc, argv)))
        printf("# fixture: %s\n", m);
}

/* The demo's sections (conf/ and the Apache::Test suite use the same). */
static void fixture(void)
{
    secs = xp_sections_make(pool);
    add("users",
        "key=id search=name,notes types=selected:bool "
        "updated=updated_at "
        "columns=id,name,email,favorite_color,selected,notes,updated_at");
    add("bots", "key=id search=name ref=owner_id:users "
                "columns=id,name,owner_id,coordinates,location,created_at");
    add("messages", "key=id involves=bot_id,user_id "
                    "ref=bot_id:bots,user_id:users updated=created_at "
                    "columns=id,bot_id,user_id,body,created_at");
    add("jobs", "key=id types=attempts:int,progress:real,payload:json "
                "columns=id,name,status,attempts,progress,payload");
    add("scripts", "key=id search=name columns=id,name,body");
    add("global_properties", "key=name");
    if (xp_sections_check(secs, pool))
        printf("# fixture: %s\n", xp_sections_check(secs, pool));
}

/* text with CR, LF and tab made visible, for one-line TAP descriptions */
static const char *visible(const char *text)
{
    const char *c;
    char *out = apr_palloc(pool, 2 * strlen(text) + 1), *o = out;

    for (c = text; *c; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t') {
            *o++ = '\\';
            *o++ = *c == '\n' ? 'n' : *c == '\r' ? 'r' : 't';
        } else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

static xp_filter_t *parse(const char *text)
{
    xp_filter_t *f = NULL;
    xp_error_t err;

    memset(&err, 0, sizeof(err));
    if (xp_filter_parse(pool, text, secs, &f, &err) != XP_OK) {
        printf("# parse of \"%s\" failed: %s\n", visible(text), err.message);
        return NULL;
    }
    return f;
}

/* "SQL | arg | arg ..." or "(null)"; also checks that the SQL holds no
 * '%' but placeholders and that there is one value per placeholder. */
static const char *where(const xp_filter_t *f, const char *section,
                         const xp_window_t *win, int closure,
                         xp_dialect_e dialect)
{
    apr_array_header_t *args = apr_array_make(pool, 4, sizeof(const char *));
    const char *sql, *c, *out;
    int i, marks = 0, stray = 0;

    if (!f)
        return "(no filter)";
    sql = xp_filter_where(pool, f, secs, xp_sections_find(secs, section), win,
                          closure, NULL, dialect, args);
    if (!sql)
        return args->nelts ? "(null with args)" : "(null)";
    for (c = sql; (c = strchr(c, '%')); c++) {
        if (c[1] == 's')
            marks++;
        else
            stray++;
    }
    ok(!stray && marks == args->nelts, "%s: placeholders match the %d values",
       section, args->nelts);
    out = sql;
    for (i = 0; i < args->nelts; i++)
        out = apr_pstrcat(pool, out, " | ",
                          APR_ARRAY_IDX(args, i, const char *), NULL);
    return out;
}

static const char *sql_of(const char *text, const char *section)
{
    return where(parse(text), section, NULL, 0, XP_DIALECT_SQLITE);
}

static const char *names(apr_array_header_t *a, int fsel)
{
    const char *s = "";
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const xp_section_t *sec =
            fsel ? APR_ARRAY_IDX(a, i, xp_fsel_t *)->section
                 : APR_ARRAY_IDX(a, i, xp_section_t *);
        s = apr_pstrcat(pool, s, i ? " " : "", sec->name, NULL);
    }
    return s;
}

static xp_fsel_t *sel_of(const xp_filter_t *f, const char *name)
{
    return f ? apr_hash_get(f->by_section, name, APR_HASH_KEY_STRING) : NULL;
}

static xp_term_t *term_of(const xp_filter_t *f, const char *name, int line,
                          int term)
{
    xp_fsel_t *sel = sel_of(f, name);
    xp_fline_t *fl;

    if (!sel || line >= sel->lines->nelts)
        return NULL;
    fl = &APR_ARRAY_IDX(sel->lines, line, xp_fline_t);
    return term < fl->terms->nelts ? &APR_ARRAY_IDX(fl->terms, term, xp_term_t)
                                   : NULL;
}

static void test_whole(void)
{
    xp_filter_t *f = parse("users");
    xp_fsel_t *sel = sel_of(f, "users");

    ok(sel && sel->whole && sel->lines->nelts == 1, "users: whole section");
    is_str(names(f ? f->order : NULL, 1), "users", "users: order");
    is_str(sql_of("users", "users"), "1=1", "whole section is 1=1");
    is_str(sql_of("users", "bots"), "(null)", "unselected section: NULL");

    f = parse("jobs scripts");
    ok(sel_of(f, "jobs") && sel_of(f, "jobs")->whole && sel_of(f, "scripts") &&
           sel_of(f, "scripts")->whole && !sel_of(f, "users"),
       "jobs scripts: two whole sections");

    f = parse("all");
    is_str(names(f ? f->order : NULL, 1),
           "users bots messages jobs scripts global_properties",
           "all: every section, in reference order");
    is_str(names(xp_filter_sections(pool, f, secs, 0), 0),
           "users bots messages jobs scripts global_properties",
           "all: filter_sections");

    f = parse("messages\nusers");
    is_str(names(f ? f->order : NULL, 1), "users messages",
           "order is reference order, not filter order");

    f = parse("bots/has:location\nbots");
    ok(sel_of(f, "bots") && sel_of(f, "bots")->whole, "a whole line wins");
    is_str(where(f, "bots", NULL, 0, XP_DIALECT_SQLITE), "1=1",
           "whole beats terms on another line");
    f = parse("  users  \r\n\r\n\tbots\r\n");
    ok(sel_of(f, "users") && sel_of(f, "bots"), "CRLF, blank lines, blanks");
}

static void test_has_eq(void)
{
    xp_filter_t *f = parse("bots/has:coordinates");
    xp_term_t *t = term_of(f, "bots", 0, 0);
    xp_section_t *bots = xp_sections_find(secs, "bots");

    ok(t && t->kind == XP_TERM_HAS, "has: term");
    ok(t && t->column == APR_ARRAY_IDX(bots->columns, 3, const char *),
       "the term's column is the configuration's own string");
    is_str(sql_of("bots/has:coordinates", "bots"),
           "\"coordinates\" IS NOT NULL", "has: SQL");
    is_str(sql_of("bots/has:coordinates has:location", "bots"),
           "\"coordinates\" IS NOT NULL AND \"location\" IS NOT NULL",
           "terms on a line are ANDed");

    f = parse("users/has:favorite_color='red'");
    t = term_of(f, "users", 0, 0);
    ok(t && t->kind == XP_TERM_EQ && !strcmp(t->column, "favorite_color") &&
           !strcmp(t->value, "red"),
       "has:col='v' is equality");
    is_str(where(f, "users", NULL, 0, XP_DIALECT_SQLITE),
           "CAST(\"favorite_color\" AS TEXT) = %s | red", "equality SQL");
    is_str(sql_of("users/favorite_color=red", "users"),
           "CAST(\"favorite_color\" AS TEXT) = %s | red", "has: is optional");
    is_str(sql_of("users/favorite_color=\"dark red\" name='Ann'", "users"),
           "CAST(\"favorite_color\" AS TEXT) = %s AND CAST(\"name\" AS TEXT) "
           "= %s | dark red | Ann",
           "quoted values");
    is_str(sql_of("users/email=''", "users"), "CAST(\"email\" AS TEXT) = %s | ",
           "'' compares with empty");

    f = parse("users/selected=true");
    is_str(where(f, "users", NULL, 0, XP_DIALECT_SQLITE),
           "\"selected\" = %s | 1", "bool on SQLite is 1");
    is_str(where(f, "users", NULL, 0, XP_DIALECT_PGSQL),
           "\"selected\" = %s | 1",
           "bool on PostgreSQL is 1 (fits INTEGER and BOOLEAN columns)");
    f = parse("users/selected=0");
    is_str(where(f, "users", NULL, 0, XP_DIALECT_PGSQL),
           "\"selected\" = %s | 0", "0 is false");
    is_str(sql_of("jobs/attempts=3", "jobs"), "\"attempts\" = %s | 3",
           "int compares natively");
    is_str(sql_of("jobs/progress=-0.5e2", "jobs"), "\"progress\" = %s | -0.5e2",
           "real compares natively");
    is_str(sql_of("jobs/payload='{\"a\":1}'", "jobs"),
           "CAST(\"payload\" AS TEXT) = %s | {\"a\":1}",
           "json compares as text");
    is_str(sql_of("global_properties/name=motd", "global_properties"),
           "CAST(\"name\" AS TEXT) = %s | motd",
           "before discovery the key is a known column");
}

static void test_search_involves(void)
{
    xp_filter_t *f = parse("users/james");
    xp_term_t *t = term_of(f, "users", 0, 0);

    ok(t && t->kind == XP_TERM_SEARCH && !strcmp(t->value, "james"),
       "bare word is a search term");
    is_str(where(f, "users", NULL, 0, XP_DIALECT_SQLITE),
           "(LOWER(CAST(\"name\" AS TEXT)) LIKE %s ESCAPE '\\' OR "
           "LOWER(CAST(\"notes\" AS TEXT)) LIKE %s ESCAPE '\\') "
           "| %james% | %james%",
           "search SQL over both columns");
    f = parse("users/\"mary ann\"");
    t = term_of(f, "users", 0, 0);
    ok(t && t->kind == XP_TERM_SEARCH && !strcmp(t->value, "mary ann"),
       "quoted search term");
    is_str(sql_of("bots/\"Mr. 50%_off\\\\\"", "bots"),
           "(LOWER(CAST(\"name\" AS TEXT)) LIKE %s ESCAPE '\\') "
           "| %mr. 50\\%\\_off\\\\%",
           "lowercased, %% _ \\ escaped");
    f = parse("users/'O\\'Brien \\\"x\\\" a\\nb'");
    t = term_of(f, "users", 0, 0);
    is_str(t ? t->value : NULL, "O'Brien \"x\" a\\nb",
           "escapes: \\' and \\\" unescaped, \\n kept");
    f = parse("messages/b17");
    t = term_of(f, "messages", 0, 0);
    ok(t && t->kind == XP_TERM_INVOLVES && t->ids->nelts == 1,
       "bare word on an involves section is an id list");
    is_str(where(f, "messages", NULL, 0, XP_DIALECT_SQLITE),
           "(CAST(\"bot_id\" AS TEXT) IN (%s) OR CAST(\"user_id\" AS TEXT) "
           "IN (%s)) | b17 | b17",
           "involves SQL");
    f = parse("messages/b17,b42");
    t = term_of(f, "messages", 0, 0);
    ok(t && t->ids->nelts == 2 &&
           !strcmp(APR_ARRAY_IDX(t->ids, 1, const char *), "b42"),
       "two ids");
    is_str(where(f, "messages", NULL, 0, XP_DIALECT_SQLITE),
           "(CAST(\"bot_id\" AS TEXT) IN (%s,%s) OR CAST(\"user_id\" AS TEXT) "
           "IN (%s,%s)) | b17 | b42 | b17 | b42",
           "id list SQL");
    is_str(sql_of("bots/has:coordinates\nbots/james has:location", "bots"),
           "(\"coordinates\" IS NOT NULL) OR ((LOWER(CAST(\"name\" AS TEXT)) "
           "LIKE %s ESCAPE '\\') AND \"location\" IS NOT NULL) | %james%",
           "lines for one section are ORed");
}

static void test_window_closure(void)
{
    xp_window_t both = {"2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"};
    xp_window_t since = {"2026-01-01T00:00:00.000Z", NULL};
    xp_filter_t *f = parse("messages\nbots");
    const char *sub;

    is_str(where(f, "messages", &both, 0, XP_DIALECT_SQLITE),
           "\"created_at\" >= %s AND \"created_at\" < %s | "
           "2026-01-01T00:00:00.000Z | 2026-02-01T00:00:00.000Z",
           "window on a whole section: since inclusive, until exclusive");
    is_str(where(f, "bots", &both, 0, XP_DIALECT_SQLITE), "1=1",
           "no updated=: exported whole");
    f = parse("messages/b17");
    is_str(where(f, "messages", &since, 0, XP_DIALECT_SQLITE),
           "((CAST(\"bot_id\" AS TEXT) IN (%s) OR CAST(\"user_id\" AS TEXT) "
           "IN (%s))) AND \"created_at\" >= %s | b17 | b17 | "
           "2026-01-01T00:00:00.000Z",
           "window ANDed to the terms");

    is_str(names(xp_filter_sections(pool, f, secs, 0), 0), "messages",
           "without closure: the selected section only");
    is_str(names(xp_filter_sections(pool, f, secs, 1), 0),
           "users bots messages", "closure adds referenced sections");
    is_str(where(f, "bots", NULL, 0, XP_DIALECT_SQLITE), "(null)",
           "no closure: parents contribute nothing");
    sub = "(CAST(\"bot_id\" AS TEXT) IN (%s) OR CAST(\"user_id\" AS TEXT) IN "
          "(%s))";
    is_str(where(f, "bots", NULL, 1, XP_DIALECT_SQLITE),
           apr_pstrcat(pool,
                       "\"id\" IN (SELECT \"bot_id\" FROM \"messages\" "
                       "WHERE ",
                       sub, ") | b17 | b17", NULL),
           "closure: bots referenced by the messages");
    is_str(
        where(f, "users", &since, 1, XP_DIALECT_SQLITE),
        apr_pstrcat(pool,
                    "\"id\" IN (SELECT \"owner_id\" FROM \"bots\" "
                    "WHERE \"id\" IN (SELECT \"bot_id\" FROM \"messages\" "
                    "WHERE (",
                    sub,
                    ") AND \"created_at\" >= %s)) OR "
                    "\"id\" IN (SELECT \"user_id\" FROM \"messages\" WHERE (",
                    sub,
                    ") AND \"created_at\" >= %s) | b17 | b17 | "
                    "2026-01-01T00:00:00.000Z | b17 | b17 | "
                    "2026-01-01T00:00:00.000Z",
                    NULL),
        "closure is transitive, children keep their window, parents "
        "added by closure are not windowed");
    f = parse("users/selected=1\nbots/has:location");
    is_str(where(f, "users", NULL, 1, XP_DIALECT_PGSQL),
           "(\"selected\" = %s) OR \"id\" IN (SELECT \"owner_id\" FROM "
           "\"bots\" WHERE \"location\" IS NOT NULL) | 1",
           "own selection ORed with the closure");
    f = parse("users\nbots/has:location");
    is_str(where(f, "users", NULL, 1, XP_DIALECT_SQLITE), "1=1",
           "whole parent without window stays 1=1");
    is_str(
        where(f, "users", &since, 1, XP_DIALECT_SQLITE),
        "(\"updated_at\" >= %s) OR \"id\" IN (SELECT \"owner_id\" FROM "
        "\"bots\" WHERE \"location\" IS NOT NULL) | 2026-01-01T00:00:00.000Z",
        "whole parent with window plus closure");
}

/* text must fail at line:col with a message containing frag. */
static void bad(const char *text, int line, int col, const char *frag)
{
    xp_filter_t *f = NULL;
    xp_error_t err;
    xp_errcode_e rv;
    const char *prefix = apr_psprintf(pool, "line %d, column %d: ", line, col);

    memset(&err, 0, sizeof(err));
    rv = xp_filter_parse(pool, text, secs, &f, &err);
    ok(rv == XP_EINVAL && err.code == XP_EINVAL && err.line == line &&
           err.column == col && err.message &&
           !strncmp(err.message, prefix, strlen(prefix)) &&
           strstr(err.message, frag) && err.field &&
           !strcmp(err.field, "filter"),
       "bad filter \"%s\" -> %s", visible(text),
       err.message ? err.message : "(none)");
    if (err.line != line || err.column != col)
        printf("#   got line %d column %d, expected %d %d\n", err.line,
               err.column, line, col);
}

static void test_errors(void)
{
    bad("", 1, 1, "filter is empty");
    bad(" \r\n\t\n", 1, 1, "filter is empty");
    bad("robots", 1, 1,
        "unknown section \"robots\" (known: users, bots, "
        "messages, jobs, scripts, global_properties)");
    bad("users\nbots/has:colour", 2, 10,
        "unknown column \"colour\" for "
        "section \"bots\" (declared: id, name, owner_id, coordinates, "
        "location, created_at)");
    bad("users/\"mary ann", 1, 7, "unterminated quote");
    bad("users/name='x\\'", 1, 12, "unterminated quote");
    bad("users/favorite_color=", 1, 22, "empty value after \"=\"");
    bad("users/favorite_color= x", 1, 22, "empty value");
    bad("users/", 1, 7, "empty term list after \"/\"");
    bad("users/  \r\n", 1, 7, "empty term list");
    bad("jobs/foo", 1, 6, "neither search= nor involves=");
    bad("jobs/'foo'", 1, 6, "no search= columns");
    bad("bots/has:", 1, 10, "\"has:\" needs a column name");
    bad("bots/has:=x", 1, 10, "needs a column name");
    bad("all users", 1, 5, "\"all\" cannot be combined");
    bad("users all", 1, 7, "\"all\" cannot be combined");
    bad("all/has:id", 1, 4, "\"all\" cannot be combined with terms");
    bad("users/selected=maybe", 1, 16, "expected true, false, 1 or 0");
    bad("jobs/attempts=3.5", 1, 15, "expected an integer");
    bad("jobs/progress=1e", 1, 15, "expected a number");
    bad("users/'red'x", 1, 12, "after the closing quote");
    bad("users/name='é'x", 1, 15, "after the closing quote");
    bad("jobs scripts/x", 1, 13,
        "\"/\" is only allowed after a single section");
    bad("users /james", 1, 7, "only allowed after a single section");
    bad("users/fav=1", 1, 7, "unknown column \"fav\"");
    bad("messages/b1,,b2", 1, 13, "empty id");
    bad("messages/b1,", 1, 13, "empty id");
    bad("users/ja\"mes", 1, 9, "unexpected quote");
    bad("/james", 1, 1, "missing section name");
    bad("users/=x", 1, 7, "missing column name");
    bad("\nusers\n\n  robots", 4, 3, "unknown section");
    bad("users\r\njobs\r\njobs/id='1' x", 3, 13, "neither search=");
    bad("global_properties/has:value", 1, 23,
        "unknown column \"value\" for section \"global_properties\" "
        "(declared: name)");
    bad("users/\"\"", 1, 7, "empty search term");
}

/* Closure along ref=col:SECTION.col2 and a section's references to
 * itself (its rows' parents, transitively: a recursive CTE). */
static void test_closure_refs(void)
{
    xp_sections_t *demo = secs;
    xp_filter_t *f;
    const char *self;

    secs = xp_sections_make(pool);
    add("accounts", "key=id columns=id,email");
    add("posts", "key=uid ref=author:accounts.email,parent:posts,reply:posts "
                 "columns=uid,author,parent,reply");
    is_str(xp_sections_check(secs, pool), NULL, "closure refs: sections");
    f = parse("posts/uid=m1");
    self = "\"uid\" IN (WITH RECURSIVE xp_up%d(k) AS (SELECT \"uid\" FROM "
           "\"posts\" WHERE CAST(\"uid\" AS TEXT) = %%s UNION SELECT p.\"uid\" FROM "
           "\"posts\" p JOIN \"posts\" c ON (p.\"uid\" = c.\"parent\" OR "
           "p.\"uid\" = c.\"reply\") JOIN xp_up%d ON c.\"uid\" = xp_up%d.k) "
           "SELECT k FROM xp_up%d)";
    is_str(where(f, "posts", NULL, 1, XP_DIALECT_SQLITE),
           apr_pstrcat(pool, apr_psprintf(pool, self, 1, 1, 1, 1), " | m1",
                       NULL),
           "closure: a row with its parents, along each self reference");
    is_str(where(f, "posts", NULL, 0, XP_DIALECT_SQLITE),
           "CAST(\"uid\" AS TEXT) = %s | m1",
           "no closure: the row alone");
    is_str(where(f, "accounts", NULL, 1, XP_DIALECT_SQLITE),
           apr_pstrcat(pool,
                       "\"email\" IN (SELECT \"author\" FROM \"posts\" WHERE ",
                       apr_psprintf(pool, self, 1, 1, 1, 1), ") | m1", NULL),
           "closure: accounts by the e-mail the posts (and their parents) "
           "name");
    secs = demo;
}

/* Values quoted by xp_filter_quote read back as they were, as an
 * equality's value and as a search term, whatever they hold. */
static const char *const quote_values[] = {
    "plain",
    "O'Brien",
    "'",
    "\\",
    "ends with \\",
    "\\'",
    "a \"double\" 'single' and \\\" mixed",
    "/orgs/CIEL/sources/CIEL/v2016-08-22/",
    "  spaces  around  ",
    "tab\there",
    "cr\rinside",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
    "\\n is no newline, \\t no tab",
    "has:name=x users/y all",
    "",
    NULL};

static void test_quote(void)
{
    int i, eq_ok = 1, search_ok = 1;

    for (i = 0; quote_values[i]; i++) {
        const char *v = quote_values[i], *q = xp_filter_quote(pool, v);
        xp_filter_t *f = parse(apr_pstrcat(pool, "users/name=", q, NULL));
        xp_term_t *t = f ? term_of(f, "users", 0, 0) : NULL;

        if (!t || t->kind != XP_TERM_EQ || strcmp(t->value, v)) {
            eq_ok = 0;
            printf("# name=%s read back as \"%s\"\n", visible(q),
                   t ? visible(t->value) : "(nothing)");
        }
        if (!*v)
            continue; /* an empty search term is refused */
        f = parse(apr_pstrcat(pool, "users/ ", q, " \r\n", NULL));
        t = f ? term_of(f, "users", 0, 0) : NULL;
        if (!t || t->kind != XP_TERM_SEARCH || strcmp(t->value, v)) {
            search_ok = 0;
            printf("# search %s read back as \"%s\"\n", visible(q),
                   t ? visible(t->value) : "(nothing)");
        }
    }
    ok(eq_ok, "quote: %d values read back exactly as col=value", i);
    ok(search_ok, "quote: ... and as search terms (CRLF line end)");
    is_str(xp_filter_quote(pool, "it's a \\"), "'it\\'s a \\\\'",
           "quote: single quotes, backslash escapes");
    is_str(xp_filter_quote(pool, "say \"hi\""), "'say \"hi\"'",
           "quote: a double quote needs no escape");
    ok(xp_filter_quote(pool, "two\nlines") == NULL,
       "quote: a line feed cannot be quoted");
    ok(xp_filter_quote(pool, NULL) == NULL, "quote: NULL is no value");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    fixture();
    test_whole();
    test_has_eq();
    test_search_involves();
    test_window_closure();
    test_closure_refs();
    test_errors();
    test_quote();
    is_str(xp_sql_ident(pool, "users"), "\"users\"", "sql_ident quotes");
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
