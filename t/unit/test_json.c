/*
 * test_json.c -- the jansson wrapper (parse limits and errors, ordered
 * dumps), the byte buffer, the JSON string escaper and SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_hash.h"
#include "xp_json.h"

static apr_pool_t *pool;

/* Escape n bytes of s and return the literal. */
static const char *esc(const char *s, apr_size_t n)
{
    xp_buf_t b;
    xp_buf_init(&b, pool, 4);
    xp_buf_add_json_str(&b, s, n);
    return b.data;
}

static void test_escape(void)
{
    xp_json_t *j;
    xp_error_t err = {0};
    const char *lit;

    is_str(esc("plain", 5), "\"plain\"", "plain ASCII is quoted as is");
    is_str(esc("", 0), "\"\"", "empty string");
    is_str(esc("a\"b\\c", 5), "\"a\\\"b\\\\c\"", "quote and backslash");
    is_str(esc("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"", "short escapes");
    is_str(esc("\x01\x1f\x7f", 3), "\"\\u0001\\u001f\x7f\"",
           "other controls as \\u00XX, DEL passes");
    is_str(esc("a\0b", 3), "\"a\\u0000b\"", "NUL byte escaped, not cut");
    is_str(esc("/", 1), "\"/\"", "slash not escaped");
    is_str(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14),
           "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
           "valid 2/3/4-byte UTF-8 passes through unescaped");
    is_str(esc("a\xff"
               "b",
               3),
           "\"a\xef\xbf\xbd"
           "b\"",
           "invalid byte 0xFF replaced by U+FFFD");
    is_str(esc("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"",
           "overlong encoding replaced");
    is_str(esc("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
           "UTF-16 surrogate replaced");
    is_str(esc("x\xe2\x82", 3), "\"x\xef\xbf\xbd\"",
           "truncated sequence at end replaced by one U+FFFD");
    is_str(esc("\xe2\x82z", 3), "\"\xef\xbf\xbdz\"",
           "broken sequence replaced, following byte kept");
    is_str(esc("\xf4\x90\x80\x80", 4),
           "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"",
           "above U+10FFFF replaced");

    {
        char *ctl = apr_palloc(pool, 10000);
        const char *lit2;
        memset(ctl, 1, 10000);
        ctl[9999] = '\xff';
        lit2 = esc(ctl, 10000);
        ok(strlen(lit2) == 2 + 9999 * 6 + 3 &&
               strcmp(lit2 + strlen(lit2) - 10, "\\u0001\xef\xbf\xbd\"") == 0,
           "10000 bytes that all need escaping grow the buffer correctly");
    }

    /* Whatever goes in, what comes out must be JSON jansson accepts and
     * decodes back to the (valid) input. */
    lit = apr_pstrcat(pool, "{\"k\":", esc("q\"\\\n\x01\xc3\xa9\xff", 8), "}",
                      NULL);
    j = xp_json_parse(pool, lit, strlen(lit), &err);
    ok(j != NULL, "escaped literal parses back (%s)", j ? "ok" : err.message);
    is_str(xp_json_get_str(j, "k"), "q\"\\\n\x01\xc3\xa9\xef\xbf\xbd",
           "and decodes to the input with U+FFFD");
}

static void test_buf(void)
{
    xp_buf_t b;
    int i;

    xp_buf_init(&b, pool, 1);
    for (i = 0; i < 1000; i++)
        xp_buf_adds(&b, "0123456789");
    xp_buf_addc(&b, '!');
    is_int(b.len, 10001, "buffer grows past its initial capacity");
    ok(b.data[10000] == '!' && b.data[10001] == '\0' &&
           memcmp(b.data + 9990, "0123456789", 10) == 0,
       "buffer content intact and terminated after growth");
    xp_buf_reset(&b);
    xp_buf_add(&b, "ab", 2);
    is_str(b.data, "ab", "reset empties the buffer");
}

static const char *nested(int depth)
{
    char *s = apr_palloc(pool, 2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

static void test_parse(void)
{
    xp_error_t err;
    xp_json_t *j;
    const char *s;

    s = "{\"a\": 1, \"b\": [true, \"x\"], \"c\": null}";
    j = xp_json_parse(pool, s, strlen(s), NULL);
    ok(xp_json_is_object(j), "object parses");
    is_int(xp_json_get_int(j, "a", -1), 1, "integer member");
    is_int(xp_json_size(xp_json_get(pool, j, "b")), 2, "array member size");
    is_int(xp_json_get_bool(xp_json_get(pool, j, "b"), "x", 7), 7,
           "getter on an array gives the default");
    ok(xp_json_is_string(xp_json_at(pool, xp_json_get(pool, j, "b"), 1)),
       "array element by index");
    ok(xp_json_has(j, "c") && xp_json_get_str(j, "c") == NULL,
       "null member present, not a string");

    memset(&err, 0, sizeof(err));
    s = "{\n  \"a\": 1,\n  \"b\": }";
    j = xp_json_parse(pool, s, strlen(s), &err);
    ok(j == NULL, "syntax error rejected");
    is_int(err.code, XP_EINVAL, "as XP_EINVAL");
    is_int(err.line, 3, "error line");
    is_int(err.column, 8, "error column");
    ok(err.message && strstr(err.message, "line 3"),
       "message names the line: %s", err.message);

    memset(&err, 0, sizeof(err));
    s = "{\"a\": 1,\n \"a\": 2}";
    ok(xp_json_parse(pool, s, strlen(s), &err) == NULL,
       "duplicate key rejected");
    ok(err.message && strstr(err.message, "duplicate"),
       "message says duplicate: %s", err.message);
    is_int(err.line, 2, "duplicate key line");

    memset(&err, 0, sizeof(err));
    s = "{\"a\": \"x\\u0000y\"}";
    ok(xp_json_parse(pool, s, strlen(s), &err) == NULL,
       "\\u0000 in a string rejected");
    ok(err.message && strstr(err.message, "NUL") &&
           !strstr(err.message, "JSON_ALLOW_NUL"),
       "message names NUL in a user's words: %s", err.message);
    ok(xp_json_parse(pool, "{\"a\":\"x\0\"}", 10, &err) == NULL,
       "raw NUL byte rejected");

    s = nested(64);
    ok(xp_json_parse(pool, s, strlen(s), NULL) != NULL, "depth 64 accepted");
    memset(&err, 0, sizeof(err));
    s = nested(65);
    ok(xp_json_parse(pool, s, strlen(s), &err) == NULL, "depth 65 rejected");
    is_int(err.column, 65, "depth error points at the 65th bracket");
    s = apr_pstrcat(pool, "[\"[[[[\",", nested(63), "]", NULL);
    ok(xp_json_parse(pool, s, strlen(s), NULL) != NULL,
       "brackets inside strings do not count as nesting");
}

static void test_build_dump(void)
{
    xp_json_t *o = xp_json_object(pool), *a = xp_json_array(pool);
    xp_json_t *inner = xp_json_object(pool), *bad = xp_json_object(pool);

    xp_json_set_str(o, "z", "last-alphabetically");
    xp_json_set_int(o, "a", 9007199254740993LL);
    xp_json_set_bool(o, "m", 1);
    xp_json_set_str(o, "n", NULL);
    xp_json_set_real(o, "r", 24.3);
    xp_json_set_str(bad, "s", "a\xff\xc3\xa9");
    is_str(xp_json_dump(pool, bad), "{\"s\":\"a\xef\xbf\xbd\xc3\xa9\"}",
           "setter repairs invalid UTF-8 with U+FFFD");
    xp_json_append_str(a, "x");
    xp_json_append_str(a, NULL);
    xp_json_set(o, "arr", a);
    xp_json_set_str(inner, "k", "v");
    xp_json_append(a, inner);
    is_str(xp_json_dump(pool, o),
           "{\"z\":\"last-alphabetically\",\"a\":9007199254740993,\"m\":true,"
           "\"n\":null,\"r\":24.3,\"arr\":[\"x\",null,{\"k\":\"v\"}]}",
           "compact dump: insertion order, 64-bit integers, short reals");
    is_str(xp_json_dump_pretty(pool, inner), "{\n  \"k\": \"v\"\n}",
           "pretty dump indents by 2");
    is_str(xp_json_dump(pool, a), "[\"x\",null,{\"k\":\"v\"}]",
           "array still usable after being set into an object");
}

static void test_sha256(void)
{
    xp_sha256_t *h = xp_sha256_make(pool);
    unsigned char raw[32];
    const char *hex;

    xp_sha256_update(h, "abc", 3);
    hex = xp_sha256_final(h, pool, raw);
    is_str(hex,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256(abc)");
    ok(raw[0] == 0xba && raw[31] == 0xad, "raw digest bytes");
    xp_sha256_reset(h);
    is_str(xp_sha256_final(h, pool, NULL),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "sha256 of nothing after reset");
    xp_sha256_update(
        h, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56);
    is_str(xp_sha256_final(h, pool, NULL),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha256 of the 448-bit NIST vector");
    is_str(
        xp_sha256_hex_to_b64(
            pool,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        "hex to base64 for Repr-Digest");
    ok(xp_sha256_hex_to_b64(pool, "zz") == NULL, "bad hex refused");
}

static void test_sha256_file(void)
{
    char path[] = "/tmp/xp_test_json_XXXXXX";
    apr_status_t rv = APR_SUCCESS;
    int fd = mkstemp(path);
    char *big = apr_palloc(pool, 200000);
    FILE *f;

    /* 200000 bytes: several 64 KiB blocks and a partial one. */
    memset(big, 'a', 200000);
    f = fdopen(fd, "w");
    fwrite(big, 1, 200000, f);
    fclose(f);
    {
        xp_sha256_t *h = xp_sha256_make(pool);
        xp_sha256_update(h, big, 200000);
        is_str(xp_sha256_file(pool, path, &rv), xp_sha256_final(h, pool, NULL),
               "file hash equals in-memory hash across blocks");
    }
    unlink(path);
    ok(xp_sha256_file(pool, path, &rv) == NULL && APR_STATUS_IS_ENOENT(rv),
       "missing file gives NULL and ENOENT");
}

/* A real's literal taken as its own text only where the long way
 * (strtod, then xp_json_real_text) gives the same; and that long way for
 * a million literals of two and three decimals, as exports write them. */
static void test_real_canonical(void)
{
    static const struct {
        const char *lit;
        int yes;
    } cases[] = {
        {"0.37", 1},           {"-12.5", 1},        {"0.0001", 1},
        {"99999999999999.9", 1}, {"123456789.012345", 1},
        {"0.00001", 0},        {"1.50", 0},         {"1.0", 0},
        {"00.5", 0},           {"1e5", 0},          {"1.5e3", 0},
        {"1234567890.1234567", 0}, {"0.1000000000000000055", 0},
        {"-0.0", 0},           {"5", 0},            {".5", 0},
        {"5.", 0},             {"-", 0},
    };
    char lit[32];
    int i, bad = 0, fast = 0;

    is_str(xp_json_real_text(pool, 0.37), "0.37", "0.37 with its 0");
    is_str(xp_json_real_text(pool, -0.5), "-0.5", "-0.5 with its 0");
    is_str(xp_json_real_text(pool, 24.3), "24.3", "24.3 short");
    is_str(xp_json_real_text(pool, 3.0), "3.0", "3.0 stays a real");
    ok(strtod(xp_json_real_text(pool, 1e-5), NULL) == 1e-5,
       "1e-05 in a form that reads back the same");

    for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
        const char *l = cases[i].lit;
        int yes = xp_json_real_canonical(l, strlen(l));
        is_int(yes, cases[i].yes, "%s is %sits own text", l,
               cases[i].yes ? "" : "not ");
        if (yes)
            is_str(xp_json_real_text(pool, strtod(l, NULL)), l,
                   "... as the long way says");
    }
    for (i = 0; i < 1000000; i++) {
        int n = snprintf(lit, sizeof(lit), i % 2 ? "%d.%02d" : "-%d.%03d",
                         i / 1000, i % 1000);
        if (!xp_json_real_canonical(lit, (apr_size_t)n))
            continue;
        fast++;
        bad += strcmp(xp_json_real_text(pool, strtod(lit, NULL)), lit) != 0;
        if (i % 10000 == 0)
            apr_pool_clear(pool);
    }
    ok(fast > 500000, "%d of a million decimals are their own text", fast);
    is_int(bad, 0, "... each as the long way gives it");
}

/* Random JSON-ish text for test_dump_same: compact or spaced, with the
 * escapes, numbers and keys jansson writes otherwise or refuses. */
static void gen_value(xp_buf_t *b, unsigned *seed, int depth)
{
    static const char *const strs[] = {
        "\"a\"",
        "\"\"",
        "\"caf\xc3\xa9\"",
        "\"x\\ny\"",
        "\"q\\\"t\"",
        "\"b\\\\s\"",
        "\"\\u00e9\"",
        "\"\\/\"",
        "\"\\u0001\"",
        "\"c\x01\"",
        "\"\xff\"",
        "\"\\b\\f\\r\\t\"",
        "\"long string with spaces and / slashes\"",
        "\"\xed\xa0\x80\"",
        "\"\\u0000\"",
        "\"tab\there\""};
    static const char *const nums[] = {"0",
                                       "-0",
                                       "12",
                                       "-7",
                                       "1.5",
                                       "1.50",
                                       "1e5",
                                       "0.0001",
                                       "0.00001",
                                       "123456789012345678",
                                       "1234567890123456789",
                                       "-0.5",
                                       "3.14159265358979",
                                       "3.141592653589793",
                                       "01",
                                       "1.0",
                                       "100.25",
                                       "-0.0",
                                       "2E3",
                                       "9223372036854775807"};
    static const char *const words[] = {"true", "false", "null", "nul", "tru"};
    static const char *const keys[] = {"\"a\"", "\"b\"", "\"c\\nd\"",
                                       "\"\\u0061\""};
    int kind = (int)(rand_r(seed) % (depth > 3 ? 3 : 5)), i, n;
    const char *sep = rand_r(seed) % 8 == 0 ? ", " : ",";

    if (rand_r(seed) % 16 == 0)
        xp_buf_add(b, " ", 1);
    switch (kind) {
    case 0:
        xp_buf_adds(b, strs[rand_r(seed) % (sizeof(strs) / sizeof(*strs))]);
        break;
    case 1:
        xp_buf_adds(b, nums[rand_r(seed) % (sizeof(nums) / sizeof(*nums))]);
        break;
    case 2:
        xp_buf_adds(b, words[rand_r(seed) % (sizeof(words) / sizeof(*words))]);
        break;
    case 3:
        xp_buf_add(b, "[", 1);
        for (i = 0, n = (int)(rand_r(seed) % 4); i < n; i++) {
            if (i)
                xp_buf_adds(b, sep);
            gen_value(b, seed, depth + 1);
        }
        xp_buf_add(b, "]", 1);
        break;
    default:
        xp_buf_add(b, "{", 1);
        for (i = 0, n = (int)(rand_r(seed) % 4); i < n; i++) {
            if (i)
                xp_buf_adds(b, sep);
            xp_buf_adds(b, keys[rand_r(seed) % (sizeof(keys) / sizeof(*keys))]);
            xp_buf_adds(b, rand_r(seed) % 10 ? ":" : ": ");
            gen_value(b, seed, depth + 1);
        }
        xp_buf_add(b, "}", 1);
    }
}

static void test_dump_same(void)
{
    static const struct {
        const char *text;
        int yes;
    } cases[] = {
        {"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", 1},
        {"[]", 1},
        {"{}", 1},
        {"\"caf\xc3\xa9 \\\"quoted\\\" \\\\ \\n\"", 1},
        {"-12.5", 1},
        {"42", 1},
        {"{\"a\": 1}", 0}, /* whitespace */
        {" 1", 0},
        {"{\"a\":1,\"a\":2}", 0}, /* a key twice: jansson refuses it */
        {"\"\\u00e9\"", 0},       /* jansson writes the character */
        {"\"\\/\"", 0},
        {"1.50", 0},
        {"1e5", 0},
        {"-0", 0},
        {"12345678901234567890", 0}, /* too big for jansson */
        {"[1,]", 0},
        {"", 0},
        {"\"\xff\"", 0},  /* not UTF-8 */
        {"\"a\x01\"", 0}, /* a raw control character */
        {"[1] x", 0},
        {"{\"k\":", 0},
    };
    xp_buf_t b;
    unsigned seed = 20261205;
    int i, same = 0, bad = 0, missed = 0, both = 0;

    for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
        const char *t = cases[i].text;
        int yes = xp_json_dump_same(t, strlen(t));
        xp_json_t *j;

        is_int(yes, cases[i].yes, "dump_same: case %d (%.30s)", i, t);
        if (yes && (j = xp_json_parse(pool, t, strlen(t), NULL)) != NULL)
            is_str(xp_json_dump(pool, j), t, "... and so jansson writes it");
    }
    /* the one promise: a yes is never wrong (the fast path copies) */
    xp_buf_init(&b, pool, 256);
    for (i = 0; i < 200000; i++) {
        xp_json_t *j;
        const char *d;
        int yes;

        xp_buf_reset(&b);
        gen_value(&b, &seed, 0);
        yes = xp_json_dump_same(b.data, b.len);
        j = xp_json_parse(pool, b.data, b.len, NULL);
        d = j ? xp_json_dump(pool, j) : NULL;
        same += yes;
        if (yes && (!d || strlen(d) != b.len || memcmp(d, b.data, b.len))) {
            if (bad++ < 5)
                printf("# dump_same said yes to %s\n", b.data);
        }
        if (d && strlen(d) == b.len && memcmp(d, b.data, b.len) == 0) {
            both++;
            missed += !yes;
        }
        if (i % 1000 == 999) {
            apr_pool_clear(pool);
            xp_buf_init(&b, pool, 256);
        }
    }
    is_int(bad, 0,
           "dump_same: no yes among 200000 random texts that "
           "jansson writes otherwise");
    ok(same > 20000, "dump_same: %d of them copied as they are", same);
    /* the long way for the rest: 1.0 and -0.0 (written back as they are,
     * but xp_json_real_canonical says no to a last 0) and 19 digits */
    ok(missed * 5 < both,
       "dump_same: only %d of the %d that are their own dump taken the long "
       "way",
       missed, both);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_escape();
    test_buf();
    test_parse();
    test_build_dump();
    test_sha256();
    test_sha256_file();
    test_real_canonical();
    test_dump_same();
    apr_pool_destroy(pool);
    return done_testing();
}
