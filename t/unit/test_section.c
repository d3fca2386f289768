/*
 * test_section.c -- XportSection option parsing, cross-checks (refs,
 * cycles, columns) and reference order, as `apachectl configtest` would
 * meet them.
 */
#include <stdint.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xport.h"

static apr_pool_t *pool;

/* Declare NAME with the space-separated options of opts, as httpd's
 * ITERATE-style directive parsing would hand them over. */
static const char *add(xp_sections_t *secs, const char *name, const char *opts)
{
    char *copy = apr_pstrdup(pool, opts), *last, *w;
    const char *argv[32];
    int argc = 0;

    for (w = apr_strtok(copy, " ", &last); w && argc < 32;
         w = apr_strtok(NULL, " ", &last))
        argv[argc++] = w;
    return xp_sections_add(secs, pool, name, argc, argv);
}

static int contains(const char *s, const char *frag)
{
    return s && strstr(s, frag) != NULL;
}

/* The error of declaring one section with opts on a fresh set. */
static const char *add_err(const char *name, const char *opts)
{
    return add(xp_sections_make(pool), name, opts);
}

static xp_sections_t *demo(void)
{
    xp_sections_t *secs = xp_sections_make(pool);

    add(secs, "messages",
        "table=messages key=id involves=bot_id,user_id "
        "ref=bot_id:bots,user_id:users updated=created_at "
        "columns=id,bot_id,user_id,body,created_at");
    add(secs, "bots",
        "key=id search=name ref=owner_id:users "
        "columns=id,name,owner_id,coordinates,location,created_at");
    add(secs, "jobs", "key=id");
    add(secs, "users",
        "key=id search=name,notes types=selected:bool "
        "updated=updated_at columns=id,name,email,favorite_color,selected,"
        "notes,updated_at");
    return secs;
}

static void test_good(void)
{
    xp_sections_t *secs = xp_sections_make(pool);
    xp_section_t *s;

    is_str(add(secs, "users",
               "key=id search=name,notes types=selected:bool,"
               "age:int,score:real,meta:json mode=append updated=updated_at"),
           NULL, "users declared");
    s = xp_sections_find(secs, "users");
    ok(s != NULL, "users found");
    if (!s)
        return;
    is_str(s->table, "users", "table defaults to the name");
    is_str(s->key, "id", "key");
    is_int(s->search->nelts, 2, "two search columns");
    is_str(APR_ARRAY_IDX(s->search, 1, const char *), "notes",
           "second is notes");
    is_str(s->updated, "updated_at", "updated");
    is_int(s->mode, XP_MODE_APPEND, "mode=append");
    ok(s->columns == NULL && !s->columns_declared, "columns unknown until "
                                                   "discovered");
    is_int(xp_section_type(s, "selected"), XP_TYPE_BOOL, "selected is bool");
    is_int(xp_section_type(s, "age"), XP_TYPE_INT, "age is int");
    is_int(xp_section_type(s, "score"), XP_TYPE_REAL, "score is real");
    is_int(xp_section_type(s, "meta"), XP_TYPE_JSON, "meta is json");
    is_int(xp_section_type(s, "name"), XP_TYPE_STRING, "untyped is string");
    ok((intptr_t)apr_hash_get(s->types, "selected", APR_HASH_KEY_STRING) ==
           XP_TYPE_BOOL + 1,
       "types hash stores type+1");
    ok(xp_section_has_column(s, "notes"), "a search column exists before "
                                          "discovery");
    ok(!xp_section_has_column(s, "email"), "an unnamed column does not");

    is_str(add(secs, "bots",
               "table=robots key=bot_key columns=bot_key,name,"
               "owner_id ref=owner_id:users"),
           NULL, "bots declared");
    s = xp_sections_find(secs, "bots");
    is_str(s->table, "robots", "table= kept");
    ok(s->columns_declared && s->columns->nelts == 3, "columns= declared");
    ok(xp_section_has_column(s, "name") && !xp_section_has_column(s, "notes"),
       "has_column uses columns=");
    is_int(s->refs->nelts, 1, "one ref");
    is_str(APR_ARRAY_IDX(s->refs, 0, xp_ref_t).column, "owner_id",
           "ref column");
    is_str(APR_ARRAY_IDX(s->refs, 0, xp_ref_t).section, "users", "ref section");
    is_int(s->mode, XP_MODE_UPSERT, "mode defaults to upsert");
    is_str(xp_sections_check(secs, pool), NULL, "check passes");
    ok(xp_ident_valid("_a9") && !xp_ident_valid("9a") &&
           !xp_ident_valid("a-b") && !xp_ident_valid("") &&
           !xp_ident_valid("a\"b"),
       "ident rule");
    ok(!xp_ident_valid(
           "a234567890123456789012345678901234567890123456789012345678901234"),
       "64-byte identifier refused");
}

static void test_bad(void)
{
    const char *m;

    m = add_err("bots", "key=id ref=bot_id");
    is_str(
        m,
        "XportSection bots: bad option \"ref=bot_id\" (expected col:SECTION "
        "or col:SECTION.column)",
        "ref without section: exact message");
    m = add_err("bots", "search=name");
    ok(contains(m, "bots") && contains(m, "key="), "missing key: %s", m);
    m = add_err("bots", "key=id colour=red");
    ok(contains(m, "unknown option \"colour=red\"") && contains(m, "known:"),
       "unknown option named with the known ones: %s", m);
    m = add_err("bots", "key=id search=name,na-me");
    ok(contains(m, "search=name,na-me") && contains(m, "\"na-me\""),
       "bad identifier in list: %s", m);
    m = add_err("bots", "key=id search=name,,x");
    ok(contains(m, "empty name"), "empty list item: %s", m);
    m = add_err("bots", "key=id;drop");
    ok(contains(m, "key=id;drop"), "bad key named: %s", m);
    m = add_err("bots", "key=id types=x:float");
    ok(contains(m, "types=x:float") && contains(m, "\"float\""),
       "unknown type: %s", m);
    m = add_err("bots", "key=id types=x");
    ok(contains(m, "types=x"), "type without colon: %s", m);
    m = add_err("bots", "key=id mode=merge");
    ok(contains(m, "mode=merge") && contains(m, "upsert"), "bad mode: %s", m);
    m = add_err("bots", "key=id table=");
    ok(contains(m, "table=") && contains(m, "empty"), "empty value: %s", m);
    m = add_err("bots", "key=id nokey");
    ok(contains(m, "\"nokey\"") && contains(m, "option=value"),
       "word without =: %s", m);
    m = add_err("bots", "key=id key=other");
    ok(contains(m, "\"key\" given twice"), "repeated option: %s", m);
    m = add_err("bad-name", "key=id");
    ok(contains(m, "\"bad-name\""), "bad section name: %s", m);
    m = add_err("all", "key=id");
    ok(contains(m, "all"), "\"all\" is reserved: %s", m);
    m = add_err("bots", "key=id ref=a:users,a:jobs");
    ok(contains(m, "\"a\""), "a column with two refs: %s", m);
    {
        xp_sections_t *secs = xp_sections_make(pool);
        add(secs, "bots", "key=id");
        m = add(secs, "bots", "key=id");
        ok(contains(m, "bots") && contains(m, "twice"), "duplicate section: %s",
           m);
        is_int(secs->list->nelts, 1, "the duplicate was not added");
    }
}

static void test_check(void)
{
    xp_sections_t *secs;
    const char *m;

    secs = xp_sections_make(pool);
    add(secs, "bots", "key=id ref=owner_id:people");
    add(secs, "users", "key=id");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "bots") && contains(m, "\"people\"") &&
           contains(m, "declared: bots, users"),
       "undeclared ref target: %s", m);

    secs = xp_sections_make(pool);
    add(secs, "a", "key=id ref=b_id:b");
    add(secs, "b", "key=id ref=c_id:c");
    add(secs, "c", "key=id ref=a_id:a");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "cycle") && contains(m, "a -> b -> c -> a"),
       "three-section cycle named: %s", m);

    secs = xp_sections_make(pool);
    add(secs, "users", "key=id");
    add(secs, "tree", "key=id ref=parent_id:tree,user_id:users");
    is_str(xp_sections_check(secs, pool), NULL,
           "a section may reference itself (rows, not sections, form the "
           "chain)");
    secs = xp_sections_make(pool);
    add(secs, "a", "key=id ref=up:a,b_id:b");
    add(secs, "b", "key=id ref=a_id:a");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "a -> b -> a"),
       "a cycle through two sections is still one, self references aside: "
       "%s",
       m);

    secs = xp_sections_make(pool);
    add(secs, "users", "key=id columns=id,name search=name,email");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "users") && contains(m, "search") &&
           contains(m, "\"email\""),
       "search column not in columns: %s", m);

    secs = xp_sections_make(pool);
    add(secs, "users", "key=uid columns=id,name");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "key") && contains(m, "\"uid\""), "key not in columns: %s",
       m);

    secs = xp_sections_make(pool);
    add(secs, "users", "key=id columns=id types=flag:bool");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "types") && contains(m, "\"flag\""),
       "typed column not in columns: %s", m);

    secs = xp_sections_make(pool);
    add(secs, "users", "key=id");
    add(secs, "bots", "key=id columns=id ref=owner_id:users");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "ref") && contains(m, "\"owner_id\""),
       "ref column not in columns: %s", m);

    is_str(xp_sections_check(demo(), pool), NULL, "the demo checks out");
}

/* fields=, ref=col:SECTION.col2 and hash=, as declared and cross-checked */
static void test_options_api(void)
{
    xp_sections_t *secs = xp_sections_make(pool);
    const xp_section_t *u, *c;
    const xp_ref_t *r;
    const char *m;

    m = add(secs, "users",
            "key=id fields=email:Email,name:Full\xc3\xa9_Name,pw:Password "
            "hash=pw:bcrypt columns=id,email,name,pw");
    is_str(m, NULL, "fields= and hash= accepted");
    m = add(secs, "comments",
            "key=uid ref=author:users.email,parent:comments "
            "columns=uid,author,parent,body fields=parent:Parent");
    is_str(m, NULL, "ref=col:SECTION.col2 and a self reference accepted");
    is_str(xp_sections_check(secs, pool), NULL, "... and they check out");
    u = xp_sections_find(secs, "users");
    c = xp_sections_find(secs, "comments");
    is_str(xp_section_field(u, "email"), "Email", "field name of email");
    is_str(xp_section_field(u, "id"), "id", "a column without one: itself");
    is_str(xp_section_name_at(u, 2), "Full\xc3\xa9_Name",
           "names follow the columns");
    is_int(xp_section_field_index(u, "Password"), 3,
           "a file name finds its column");
    is_int(xp_section_field_index(u, "pw"), -1,
           "the column's own name is not a file name once renamed");
    ok(xp_section_hashed(u, "pw") && !xp_section_hashed(u, "email"),
       "hash=pw:bcrypt marks pw only");
    r = &APR_ARRAY_IDX(c->refs, 0, xp_ref_t);
    is_str(xp_ref_target(secs, r), "email", "a .col2 ref names col2");
    ok(!xp_ref_is_self(c, r), "... of another section");
    r = &APR_ARRAY_IDX(c->refs, 1, xp_ref_t);
    is_str(xp_ref_target(secs, r), "uid", "a plain ref names the key");
    ok(xp_ref_is_self(c, r), "... of its own section here");
}

/* The cross-check's error for one section declared with opts. */
static const char *check_err(const char *name, const char *opts)
{
    xp_sections_t *secs = xp_sections_make(pool);
    const char *m = add(secs, name, opts);

    return m ? m : xp_sections_check(secs, pool);
}

static void test_options_api_bad(void)
{
    xp_sections_t *secs;
    const char *m;

    m = add_err("u", "key=id fields=email");
    ok(contains(m, "fields=email") && contains(m, "col:Name"),
       "fields= without a name: %s", m);
    m = add_err("u", "key=id fields=email:A\x01");
    ok(contains(m, "control characters"), "a name with a control character: %s",
       m);
    m = add_err("u", "key=id fields=email:\xff");
    ok(contains(m, "UTF-8"), "a name that is not UTF-8: %s", m);
    m = add_err("u", "key=id fields=a:X,b:X");
    ok(contains(m, "two columns are called \"X\""), "a name used twice: %s", m);
    m = add_err("u", "key=id fields=a:X,a:Y");
    ok(contains(m, "\"a\" is named twice"), "a column named twice: %s", m);
    m = add_err("u", "key=id fields=a-b:X");
    ok(contains(m, "\"a-b\""), "a bad column: %s", m);
    m = check_err("u", "key=id columns=id,name,email fields=email:name");
    ok(contains(m, "fields=email:name") && contains(m, "another column"),
       "a name that is another column's: %s", m);
    m = check_err("u", "key=id columns=id,name fields=email:Email");
    ok(contains(m, "fields=") && contains(m, "\"email\""),
       "fields= of a column the section lacks: %s", m);

    m = add_err("u", "key=id hash=pw:md5");
    ok(contains(m, "unknown hash \"md5\""), "hash= other than bcrypt: %s", m);
    m = add_err("u", "key=id hash=pw");
    ok(contains(m, "col:bcrypt"), "hash= without algorithm: %s", m);
    m = check_err("u", "key=id hash=id:bcrypt");
    ok(contains(m, "it is the key"), "hash= on the key: %s", m);
    m = check_err("u", "key=id hash=pw:bcrypt types=pw:int");
    ok(contains(m, "typed"), "hash= on a typed column: %s", m);
    m = check_err("u", "key=id hash=pw:bcrypt columns=id,name");
    ok(contains(m, "hash=") && contains(m, "\"pw\""),
       "hash= of a column the section lacks: %s", m);

    m = add_err("c", "key=id ref=a:users.");
    ok(contains(m, "col:SECTION.column"), "ref= with an empty column: %s", m);
    m = add_err("c", "key=id ref=a:users.e-mail");
    ok(contains(m, "letters, digits"), "ref= with a bad column: %s", m);
    secs = xp_sections_make(pool);
    add(secs, "users", "key=id columns=id,email");
    add(secs, "c", "key=id ref=a:users.mail");
    m = xp_sections_check(secs, pool);
    ok(contains(m, "ref=a:users.mail") && contains(m, "\"mail\""),
       "ref= to a column the section lacks: %s", m);
}

static void test_order(void)
{
    xp_sections_t *secs = demo();
    apr_array_header_t *o = xp_sections_ordered(secs, pool);
    const char *s = "";
    int i;

    for (i = 0; i < o->nelts; i++)
        s = apr_pstrcat(pool, s, i ? " " : "",
                        APR_ARRAY_IDX(o, i, xp_section_t *)->name, NULL);
    is_str(s, "jobs users bots messages",
           "parents first, ties in declaration order");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_good();
    test_bad();
    test_check();
    test_options_api();
    test_options_api_bad();
    test_order();
    apr_pool_destroy(pool);
    apr_terminate();
    return done_testing();
}
