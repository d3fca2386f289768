/*
 * test_ndjson.c -- cutting rows out of a stream and parsing them: lines
 * cut by block boundaries, CRLF, a last line without LF, over-long lines;
 * JSON array files fed in small pieces; the row parser's typing, unknown
 * keys, and what it refuses (duplicate keys, NUL, deep nesting, invalid
 * UTF-8, non-objects).
 */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_ndjson.h"

static apr_pool_t *pool;

/* Collects what the splitters deliver as "lineno:text|". */
typedef struct {
    char *got;
    int calls;
    int fail_at; /* return XP_EINVAL on this call, 0 = never */
} sink_t;

static xp_errcode_e collect(void *baton, const char *line, apr_size_t len,
                            long lineno, xp_error_t *err)
{
    sink_t *s = baton;

    s->calls++;
    s->got = apr_psprintf(pool, "%s%ld:%.*s|", s->got, lineno, (int)len, line);
    if (s->fail_at == s->calls)
        return xp_error_set(err, pool, XP_EINVAL, "stop at %ld", lineno);
    return XP_OK;
}

/* Feed text in pieces of `step` bytes (0 = all at once). */
static xp_errcode_e feed_lines(xp_lines_t *l, const char *text, apr_size_t step,
                               sink_t *s, xp_error_t *err)
{
    apr_size_t n = strlen(text), i, k;
    xp_errcode_e rc;

    if (!step)
        step = n ? n : 1;
    for (i = 0; i < n; i += k) {
        k = n - i < step ? n - i : step;
        if ((rc = xp_lines_feed(l, text + i, k, 0, collect, s, err)) != XP_OK)
            return rc;
    }
    return xp_lines_feed(l, "", 0, 1, collect, s, err);
}

static xp_errcode_e feed_array(xp_jarray_t *j, const char *text,
                               apr_size_t step, sink_t *s, xp_error_t *err)
{
    apr_size_t n = strlen(text), i, k;
    xp_errcode_e rc;

    if (!step)
        step = n ? n : 1;
    for (i = 0; i < n; i += k) {
        k = n - i < step ? n - i : step;
        if ((rc = xp_jarray_feed(j, text + i, k, 0, collect, s, err)) != XP_OK)
            return rc;
    }
    return xp_jarray_feed(j, "", 0, 1, collect, s, err);
}

static void test_lines(void)
{
    const char *text =
        "\xEF\xBB\xBF{\"a\":1}\r\n\n{\"b\":\"x y\"}\n\r\n{\"c\":3}";
    const char *want = "1:{\"a\":1}|3:{\"b\":\"x y\"}|5:{\"c\":3}|";
    apr_size_t steps[] = {0, 1, 2, 3, 7};
    sink_t s;
    xp_error_t err = {0};
    xp_lines_t *l;
    unsigned i;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        memset(&s, 0, sizeof(s));
        s.got = "";
        l = xp_lines_make(pool, 1024);
        is_int(feed_lines(l, text, steps[i], &s, &err), XP_OK,
               "lines in blocks of %d bytes", (int)steps[i]);
        is_str(s.got, want,
               "BOM, CRLF, empty lines counted not delivered, "
               "last line without LF (blocks of %d)",
               (int)steps[i]);
        is_int(xp_lines_count(l), 5, "five lines counted");
    }

    /* the buffer is reused: a second file through a fresh splitter, many
     * lines cut at every position */
    memset(&s, 0, sizeof(s));
    s.got = "";
    l = xp_lines_make(pool, 1024);
    feed_lines(l, "aaaa\nbbbbbbbb\ncc\n", 5, &s, &err);
    is_str(s.got, "1:aaaa|2:bbbbbbbb|3:cc|", "lines longer than the block");

    /* a failing callback stops the feed with its error */
    memset(&s, 0, sizeof(s));
    s.got = "";
    s.fail_at = 2;
    l = xp_lines_make(pool, 1024);
    is_int(feed_lines(l, "a\nb\nc\n", 0, &s, &err), XP_EINVAL,
           "callback error returned");
    is_str(err.message, "stop at 2", "callback's message kept");
    is_int(s.calls, 2, "no line after the failing one");
}

static void test_long_lines(void)
{
    sink_t s = {"", 0, 0};
    xp_error_t err = {0};
    xp_lines_t *l;
    char *big;

    l = xp_lines_make(pool, 8);
    is_int(feed_lines(l, "12345678\n123456789\n", 0, &s, &err), XP_ELIMIT,
           "a 9-byte line over an 8-byte limit");
    is_str(err.message, "line 2 is longer than 8 bytes", "message names it");
    is_str(s.got, "1:12345678|", "the line at the limit passed");

    /* detected while still assembling, before any LF arrives */
    s.got = "";
    l = xp_lines_make(pool, 8);
    is_int(feed_lines(l, "ok\n1234567890123456789", 4, &s, &err), XP_ELIMIT,
           "over-long line cut across blocks without LF");
    is_str(err.message, "line 2 is longer than 8 bytes", "line number");

    s.got = "";
    l = xp_lines_make(pool, 8);
    is_int(feed_lines(l, "12345678\r\n", 3, &s, &err), XP_OK,
           "CRLF line of exactly the limit");

    /* the import limit spelled out */
    big = apr_palloc(pool, XP_NDJSON_MAX_LINE + 2);
    memset(big, 'x', XP_NDJSON_MAX_LINE + 1);
    big[XP_NDJSON_MAX_LINE + 1] = '\0';
    s.got = "";
    l = xp_lines_make(pool, XP_NDJSON_MAX_LINE);
    is_int(feed_lines(l, big, 65536, &s, &err), XP_ELIMIT,
           "16 MiB + 1 byte fed in 64 KiB blocks");
    is_str(err.message, "line 1 is longer than 16 MiB", "in MiB");
}

static void test_jarray(void)
{
    const char *text = " [ {\"a\": [1, 2, {\"b\": \"x]}\\\"y\"}]} ,\n"
                       "{ \"c\" : null }, \"s,]\", 12.5e3 , true,[ ] ]  \n";
    const char *want = "1:{\"a\":[1,2,{\"b\":\"x]}\\\"y\"}]}|2:{\"c\":null}|"
                       "3:\"s,]\"|4:12.5e3|5:true|6:[]|";
    apr_size_t steps[] = {0, 1, 2, 5};
    sink_t s;
    xp_error_t err = {0};
    xp_jarray_t *j;
    unsigned i;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        memset(&s, 0, sizeof(s));
        s.got = "";
        j = xp_jarray_make(pool, 1024);
        is_int(feed_array(j, text, steps[i], &s, &err), XP_OK,
               "array in blocks of %d bytes", (int)steps[i]);
        is_str(s.got, want,
               "elements cut, compacted, strings intact "
               "(blocks of %d)",
               (int)steps[i]);
    }
}

static void jarray_bad(const char *text, xp_errcode_e code, const char *msg,
                       const char *what)
{
    sink_t s = {"", 0, 0};
    xp_error_t err = {0};
    xp_jarray_t *j = xp_jarray_make(pool, 16);

    is_int(feed_array(j, text, 3, &s, &err), code, "%s: refused", what);
    is_str(err.message, msg, "%s: message", what);
}

static void test_jarray_bad(void)
{
    char deep[200];
    sink_t s = {"", 0, 0};
    xp_error_t err = {0};

    jarray_bad("{\"a\":1}", XP_EINVAL,
               "a JSON array file must start with '[' (found '{')",
               "top-level object");
    jarray_bad("", XP_EINVAL, "the file is empty (expected a JSON array)",
               "empty file");
    jarray_bad("[{\"a\":1}", XP_EINVAL,
               "the JSON array is not closed: the file ends after element 1 "
               "without ']'",
               "unclosed array");
    jarray_bad("[{\"a\":1", XP_EINVAL,
               "element 1: the file ends inside this element",
               "unclosed element");
    jarray_bad("[{},]", XP_EINVAL, "element 2: missing before ']'",
               "trailing comma");
    jarray_bad("[{}] []", XP_EINVAL,
               "text after the closing ']' of the JSON array (found '[')",
               "two arrays");
    jarray_bad("[{] }]", XP_EINVAL, "element 1: unexpected ']'",
               "mismatched brackets");
    jarray_bad("[{} {}]", XP_EINVAL,
               "element 1 is followed by '{' instead of ',' or ']'",
               "missing comma");
    jarray_bad("[{\"a\":\"0123456789abcdef\"}]", XP_ELIMIT,
               "element 1: longer than 16 bytes", "element over the limit");

    memset(deep, '[', 66); /* the array itself plus 65 levels */
    strcpy(deep + 66, "]");
    {
        xp_jarray_t *j = xp_jarray_make(pool, 1024);
        is_int(feed_array(j, deep, 0, &s, &err), XP_EINVAL,
               "65 levels inside the array refused");
        is_str(err.message, "element 1: nesting deeper than 64 levels",
               "depth message");
    }
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    s.got = "";
    {
        xp_jarray_t *j = xp_jarray_make(pool, 1024);
        is_int(feed_array(j, deep, 0, &s, &err), XP_OK,
               "64 levels inside the array pass the cutter");
    }
    /* "[1 2]" must not become "12" when whitespace is dropped */
    s.got = "";
    {
        xp_jarray_t *j = xp_jarray_make(pool, 1024);
        feed_array(j, "[[1 2], {\"a\" : \"b\"}]", 1, &s, &err);
        is_str(s.got, "1:[1 2]|2:{\"a\":\"b\"}|",
               "whitespace between tokens kept as one space");
    }
}

/* users: id, name, age int, score real, active bool, meta json */
static xp_section_t *users(void)
{
    static const char *const args[] = {
        "key=id", "columns=id,name,age,score,active,meta",
        "types=age:int,score:real,active:bool,meta:json"};
    xp_sections_t *secs = xp_sections_make(pool);
    const char *msg = xp_sections_add(secs, pool, "users", 3, args);

    if (msg)
        printf("# %s\n", msg);
    return xp_sections_find(secs, "users");
}

static xp_errcode_e row(const char *line, xp_row_t *r, xp_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return xp_row_parse(pool, users(), line, strlen(line), r, err);
}

static void test_row_types(void)
{
    xp_row_t r;
    xp_error_t err;

    is_int(row("{\"id\":\"u1\",\"name\":\"Zo\xc3\xab\",\"age\":42,"
               "\"score\":24.3,\"active\":true,\"meta\":{\"k\": [1, \"a\"]}}",
               &r, &err),
           XP_OK, "a full row parses");
    is_str(r.values[0], "u1", "string as its text");
    is_str(r.values[1], "Zo\xc3\xab", "UTF-8 kept");
    is_str(r.values[2], "42", "int as its JSON text");
    is_str(r.values[3], "24.3", "real in its shortest form");
    is_str(r.values[4], "1", "true as 1");
    is_str(r.values[5], "{\"k\":[1,\"a\"]}", "json as compact text");
    ok(!r.unknown, "no unknown keys: no list");

    is_int(row("{\"id\":7,\"age\":-9223372036854775808,\"score\":3,"
               "\"active\":0,\"meta\":\"str\",\"name\":null}",
               &r, &err),
           XP_OK, "edge values parse");
    is_str(r.values[0], "7", "a number in a string column keeps its text");
    is_str(r.values[2], "-9223372036854775808", "int64 minimum");
    is_str(r.values[3], "3", "an integer is a real");
    is_str(r.values[4], "0", "0 is a bool");
    is_str(r.values[5], "str", "any value is json");
    ok(r.values[1] == NULL && r.present[1], "null: NULL value, present");

    is_int(row("{\"id\":\"u2\",\"colour\":\"red\",\"size\":1}", &r, &err),
           XP_OK, "unknown keys do not fail the parse");
    is_int(r.unknown->nelts, 2, "two unknown keys");
    is_str(APR_ARRAY_IDX(r.unknown, 0, const char *), "colour",
           "first unknown key, in document order");
    ok(!r.present[1] && !r.values[1], "absent column: not present, NULL");
    is_int(row("{\"id\":\"u3\",\"active\":false,\"score\":1e2}", &r, &err),
           XP_OK, "false and exponent");
    is_str(r.values[4], "0", "false as 0");
    is_str(r.values[3], "100.0", "1e2 as a real");
}

static void row_bad(const char *line, const char *msg, const char *what)
{
    xp_row_t r;
    xp_error_t err;

    is_int(row(line, &r, &err), XP_EINVAL, "%s: refused", what);
    is_str(err.message, msg, "%s: message", what);
}

static void test_row_bad(void)
{
    char deep[300];
    int i;

    row_bad("{\"id\":\"u1\",\"age\":\"abc\"}",
            "column \"age\": \"abc\" is not an int", "string in an int");
    row_bad("{\"id\":\"u1\",\"age\":4.5}", "column \"age\": 4.5 is not an int",
            "fraction in an int");
    row_bad("{\"id\":\"u1\",\"score\":\"1.5\"}",
            "column \"score\": \"1.5\" is not a real", "string in a real");
    row_bad("{\"id\":\"u1\",\"active\":2}",
            "column \"active\": 2 is not a bool", "2 in a bool");
    row_bad("{\"id\":\"u1\",\"active\":\"yes\"}",
            "column \"active\": \"yes\" is not a bool", "string in a bool");
    row_bad("{\"id\":\"u1\",\"age\":[1]}", "column \"age\": [1] is not an int",
            "array in an int");
    row_bad("{\"id\":\"u1\",\"id\":\"u2\"}",
            "invalid JSON at column 15: duplicate object key near '\"id\"'",
            "duplicate key");
    row_bad("{\"id\":\"a\\u0000b\"}",
            "invalid JSON at column 16: NUL characters (\\u0000) are not "
            "allowed in strings",
            "NUL in a string");
    row_bad("{\"id\":\"\xff\"}",
            "invalid JSON at column 7: unable to decode byte 0xff near '\"'",
            "invalid UTF-8");
    row_bad("[1,2]",
            "not a JSON object (each row must be one object of "
            "column: value)",
            "an array line");
    row_bad("{\"id\":1} x",
            "invalid JSON at column 10: end of file "
            "expected near 'x'",
            "trailing garbage");
    row_bad("{\"id\":\"u1\",\"age\":99999999999999999999}",
            "invalid JSON at column 37: too big integer near "
            "'99999999999999999999'",
            "int beyond int64");

    strcpy(deep, "{\"id\":\"u1\",\"meta\":");
    for (i = 0; i < 64; i++)
        strcat(deep, "[");
    for (i = 0; i < 64; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    row_bad(deep, "invalid JSON at column 82: nesting deeper than 64 levels",
            "depth 65");
    {
        xp_row_t r;
        xp_error_t err;
        char fixed[300];
        strcpy(fixed, "{\"id\":\"u1\",\"meta\":");
        for (i = 0; i < 63; i++)
            strcat(fixed, "[");
        for (i = 0; i < 63; i++)
            strcat(fixed, "]");
        strcat(fixed, "}");
        is_int(row(fixed, &r, &err), XP_OK, "depth 64 accepted");
    }
}

/* fields=: keys are the columns' names in files, in both parsers; a
 * type check names the file's key. */
static void test_row_fields(void)
{
    static const char *const args[] = {
        "key=id", "columns=id,email,age",
        "fields=email:E-mail,age:Age\xc3\xa9", "types=age:int"};
    xp_sections_t *secs = xp_sections_make(pool);
    const char *msg = xp_sections_add(secs, pool, "people", 4, args);
    const char *line = "{\"id\":\"p1\",\"E-mail\":\"a@x\",\"Age\xc3\xa9\":7,"
                       "\"email\":\"b@x\"}";
    const xp_section_t *sec;
    xp_row_t r, slow;
    xp_error_t err = {0};

    is_str(msg ? msg : xp_sections_check(secs, pool), NULL,
           "fields: the section");
    sec = xp_sections_find(secs, "people");
    is_int(xp_row_parse(pool, sec, line, strlen(line), &r, &err), XP_OK,
           "fields: a row under the file's names");
    is_str(r.values[1], "a@x", "fields: E-mail is email");
    is_str(r.values[2], "7", "fields: Age\xc3\xa9 is age");
    ok(r.unknown->nelts == 1 &&
           !strcmp(APR_ARRAY_IDX(r.unknown, 0, const char *), "email"),
       "fields: the column's own name is unknown");
    is_int(xp_row_parse_slow(pool, sec, line, strlen(line), &slow, &err),
           XP_OK, "fields: jansson's path agrees");
    ok(slow.values[1] && !strcmp(slow.values[1], "a@x") && slow.values[2] &&
           !strcmp(slow.values[2], "7") && slow.unknown->nelts == 1,
       "fields: ... on every value");
    line = "{\"id\":\"p1\",\"Age\xc3\xa9\":\"x\"}";
    is_int(xp_row_parse(pool, sec, line, strlen(line), &r, &err), XP_EINVAL,
           "fields: a value not of the column's type");
    is_str(err.message, "column \"Age\xc3\xa9\": \"x\" is not an int",
           "fields: ... named as the file names it");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_lines();
    test_long_lines();
    test_jarray();
    test_jarray_bad();
    test_row_types();
    test_row_bad();
    test_row_fields();
    apr_pool_destroy(pool);
    return done_testing();
}
