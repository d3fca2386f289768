/*
 * test_manifest.c -- manifest.json as SPEC 5 shows it: keys in order,
 * values typed, null where a bound or window is absent; and parsed back
 * on import, each bad field refused with a message naming it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_manifest.h"

static apr_pool_t *pool;

static apr_array_header_t *cols(int n, ...)
{
    apr_array_header_t *a = apr_array_make(pool, n, sizeof(const char *));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++)
        APR_ARRAY_PUSH(a, const char *) = va_arg(ap, const char *);
    va_end(ap);
    return a;
}

static xp_manifest_t *sample(void)
{
    xp_manifest_t *m = apr_pcalloc(pool, sizeof(*m));
    xp_mf_section_t *s;

    m->created_at = "2026-11-22T10:00:03.417Z";
    m->instance = "myinstance";
    m->filter = "users\nbots/has:coordinates";
    m->sections = apr_array_make(pool, 2, sizeof(xp_mf_section_t));
    s = apr_array_push(m->sections);
    memset(s, 0, sizeof(*s));
    s->name = "users";
    s->file = "data/users.ndjson";
    s->key = "id";
    s->columns = cols(4, "id", "name", "email", "updated_at");
    s->count = 1200;
    s->bytes = 183402;
    s->sha256 =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    s = apr_array_push(m->sections);
    memset(s, 0, sizeof(*s));
    s->name = "bots";
    s->file = "data/bots.ndjson";
    s->key = "id";
    s->columns = cols(1, "id");
    s->count = 0;
    s->bytes = 0;
    s->sha256 =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    s->windowed = 1;
    s->since = "2026-01-01T00:00:00.000Z";
    return m;
}

static void test_exact(void)
{
    const char *want = "{\n"
                       "  \"format\": \"xport-archive\",\n"
                       "  \"version\": 1,\n"
                       "  \"generator\": \"mod_xport/0.1.0\",\n"
                       "  \"created_at\": \"2026-11-22T10:00:03.417Z\",\n"
                       "  \"instance\": \"myinstance\",\n"
                       "  \"filter\": \"users\\nbots/has:coordinates\",\n"
                       "  \"since\": null,\n"
                       "  \"until\": null,\n"
                       "  \"closure\": false,\n"
                       "  \"sections\": [\n"
                       "    {\n"
                       "      \"name\": \"users\",\n"
                       "      \"file\": \"data/users.ndjson\",\n"
                       "      \"key\": \"id\",\n"
                       "      \"columns\": [\n"
                       "        \"id\",\n"
                       "        \"name\",\n"
                       "        \"email\",\n"
                       "        \"updated_at\"\n"
                       "      ],\n"
                       "      \"count\": 1200,\n"
                       "      \"bytes\": 183402,\n"
                       "      \"sha256\": "
                       "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410f"
                       "f61f20015ad\",\n"
                       "      \"window\": null\n"
                       "    },\n"
                       "    {\n"
                       "      \"name\": \"bots\",\n"
                       "      \"file\": \"data/bots.ndjson\",\n"
                       "      \"key\": \"id\",\n"
                       "      \"columns\": [\n"
                       "        \"id\"\n"
                       "      ],\n"
                       "      \"count\": 0,\n"
                       "      \"bytes\": 0,\n"
                       "      \"sha256\": "
                       "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4959"
                       "91b7852b855\",\n"
                       "      \"window\": {\n"
                       "        \"since\": \"2026-01-01T00:00:00.000Z\",\n"
                       "        \"until\": null\n"
                       "      }\n"
                       "    }\n"
                       "  ]\n"
                       "}\n";

    is_str(xp_manifest_render(pool, sample()), want,
           "manifest text: SPEC 5 key order, typed values, nulls");
}

static void test_parsed(void)
{
    xp_manifest_t *m = sample();
    xp_json_t *j, *secs, *win;
    xp_error_t err = {0};
    const char *text;

    m->since = "2026-01-01T00:00:00.000Z";
    m->until = "2026-02-01T00:00:00.000Z";
    m->closure = 1;
    m->instance = "caf\xc3\xa9 \"quoted\"";
    text = xp_manifest_render(pool, m);
    j = xp_json_parse(pool, text, strlen(text), &err);
    ok(xp_json_is_object(j), "rendered manifest parses back");
    is_str(xp_json_get_str(j, "format"), "xport-archive", "format");
    is_int(xp_json_get_int(j, "version", 0), 1, "version is a number");
    is_str(xp_json_get_str(j, "generator"), XPORT_GENERATOR, "generator");
    is_str(xp_json_get_str(j, "instance"), "caf\xc3\xa9 \"quoted\"",
           "instance with UTF-8 and quotes survives");
    is_str(xp_json_get_str(j, "since"), "2026-01-01T00:00:00.000Z",
           "since given");
    is_str(xp_json_get_str(j, "until"), "2026-02-01T00:00:00.000Z",
           "until given");
    is_int(xp_json_get_bool(j, "closure", 0), 1, "closure true");
    secs = xp_json_get(pool, j, "sections");
    is_int(xp_json_size(secs), 2, "two sections, in the given order");
    is_str(xp_json_get_str(xp_json_at(pool, secs, 1), "name"), "bots",
           "second section is bots");
    win = xp_json_get(pool, xp_json_at(pool, secs, 1), "window");
    ok(xp_json_is_object(win) && xp_json_has(win, "until") &&
           !xp_json_get_str(win, "until"),
       "window object keeps an absent bound as null");

    m->sections = NULL;
    text = xp_manifest_render(pool, m);
    ok(text && strstr(text, "\"sections\": []"),
       "no sections renders an empty array");
}

/* ------------------------------------------------------------------ */
/* Parsing (imports)                                                    */
/* ------------------------------------------------------------------ */

static void test_parse_roundtrip(void)
{
    xp_manifest_t *in = sample(), *m = NULL;
    const char *text;
    xp_mf_section_t *s;
    xp_error_t err = {0};

    in->since = "2026-01-01T00:00:00.000Z";
    in->closure = 1;
    text = xp_manifest_render(pool, in);
    is_int(xp_manifest_parse(pool, text, strlen(text), &m, &err), XP_OK,
           "a rendered manifest parses");
    if (!m)
        return;
    is_str(m->created_at, in->created_at, "created_at read");
    is_str(m->instance, "myinstance", "instance read");
    is_str(m->filter, in->filter, "filter read");
    is_str(m->since, in->since, "since read");
    ok(m->until == NULL, "until null");
    is_int(m->closure, 1, "closure read");
    is_int(m->sections->nelts, 2, "two sections");
    s = &APR_ARRAY_IDX(m->sections, 0, xp_mf_section_t);
    is_str(s->name, "users", "name");
    is_str(s->file, "data/users.ndjson", "file");
    is_str(s->key, "id", "key");
    is_int(s->columns->nelts, 4, "columns");
    is_str(APR_ARRAY_IDX(s->columns, 3, const char *), "updated_at",
           "columns in order");
    is_int(s->count, 1200, "count");
    is_int(s->bytes, 183402, "bytes");
    is_str(s->sha256,
           in->sections ? APR_ARRAY_IDX(in->sections, 0, xp_mf_section_t).sha256
                        : NULL,
           "sha256");
    is_int(s->windowed, 0, "window null");
    s = &APR_ARRAY_IDX(m->sections, 1, xp_mf_section_t);
    is_int(s->windowed, 1, "window object");
    is_str(s->since, "2026-01-01T00:00:00.000Z", "window since");
}

/* The manifest of the cases below; each case replaces one piece. */
static const char *BASE =
    "{\"format\":\"xport-archive\",\"version\":1,\"sections\":["
    "{\"name\":\"users\",\"file\":\"data/users.ndjson\",\"key\":\"id\","
    "\"columns\":[\"id\",\"name\"],\"count\":2,\"bytes\":40,"
    "\"sha256\":"
    "\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}]}";

static const char *subst(const char *from, const char *to)
{
    const char *at = strstr(BASE, from);

    if (!at)
        return "(case does not apply)";
    return apr_pstrcat(pool, apr_pstrndup(pool, BASE, at - BASE), to,
                       at + strlen(from), NULL);
}

static void test_parse_bad(void)
{
    static const char *cases[][3] = {
        {"\"xport-archive\"", "\"zip\"",
         "manifest.json: \"format\" must be \"xport-archive\" (is this an "
         "archive made by mod_xport?)"},
        {"\"version\":1", "\"version\":2",
         "unsupported archive version 2 (this server reads 1)"},
        {"\"version\":1", "\"version\":\"1\"",
         "manifest.json: \"version\" must be a number"},
        {"\"sections\":[", "\"sections\":\"all\",\"more\":[",
         "manifest.json: \"sections\" must be an array"},
        {"\"name\":\"users\"", "\"name\":\"us-ers\"",
         "manifest.json: sections[0]: \"name\" must be a name of letters, "
         "digits and _"},
        {"\"file\":\"data/users.ndjson\"", "\"file\":\"../users.ndjson\"",
         "manifest.json: section \"users\": \"file\" must be "
         "\"data/users.ndjson\""},
        {"\"key\":\"id\"", "\"key\":7",
         "manifest.json: section \"users\": \"key\" must be a column name "
         "(1 to 255 bytes, no control characters)"},
        {"\"columns\":[\"id\",\"name\"]", "\"columns\":[\"id\",1]",
         "manifest.json: section \"users\": columns[1] must be a column "
         "name (1 to 255 bytes, no control characters)"},
        {"\"columns\":[\"id\",\"name\"]", "\"columns\":[\"id\",\"a\\nb\"]",
         "manifest.json: section \"users\": columns[1] must be a column "
         "name (1 to 255 bytes, no control characters)"},
        {"\"columns\":[\"id\",\"name\"]", "\"columns\":[\"name\"]",
         "manifest.json: section \"users\": the key \"id\" is not among its "
         "\"columns\""},
        {"\"columns\":[\"id\",\"name\"]", "\"columns\":[\"id\",\"id\"]",
         "manifest.json: section \"users\": column \"id\" is listed twice"},
        {"\"count\":2", "\"count\":-1",
         "manifest.json: section \"users\": \"count\" must be an integer "
         ">= 0"},
        {"\"count\":2", "\"count\":2.5",
         "manifest.json: section \"users\": \"count\" must be an integer "
         ">= 0"},
        {"\"bytes\":40", "\"bytes\":\"40\"",
         "manifest.json: section \"users\": \"bytes\" must be an integer "
         ">= 0"},
        {"\"sha256\":\"BA78", "\"sha256\":\"XA78",
         "manifest.json: section \"users\": \"sha256\" must be 64 "
         "hexadecimal digits"},
        {"15AD\"", "15AD0\"",
         "manifest.json: section \"users\": \"sha256\" must be 64 "
         "hexadecimal digits"},
        {"}]}",
         "},{\"name\":\"users\",\"file\":\"data/users.ndjson\","
         "\"key\":\"id\",\"columns\":[\"id\"],\"count\":0,"
         "\"bytes\":0,\"sha256\":\""
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
         "\"}]}",
         "manifest.json: section \"users\": is listed twice"},
        {"\"version\":1,", "\"version\":1,\"version\":1,",
         "manifest.json: invalid JSON at line 1, column 47: duplicate "
         "object key near '\"version\"'"},
    };
    xp_manifest_t *m;
    xp_error_t err;
    unsigned i;
    const char *text;

    memset(&err, 0, sizeof(err));
    is_int(xp_manifest_parse(pool, BASE, strlen(BASE), &m, &err), XP_OK,
           "the base case parses");
    is_str(m ? APR_ARRAY_IDX(m->sections, 0, xp_mf_section_t).sha256 : NULL,
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "sha256 kept lowercase");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&err, 0, sizeof(err));
        text = subst(cases[i][0], cases[i][1]);
        is_int(xp_manifest_parse(pool, text, strlen(text), &m, &err), XP_EINVAL,
               "refused: %s", cases[i][2]);
        is_str(err.message, cases[i][2], "message %u", i);
        ok(m == NULL, "no manifest handed out");
    }
    text = "[1]";
    is_int(xp_manifest_parse(pool, text, 3, &m, &err), XP_EINVAL,
           "an array is no manifest");
    is_str(err.message, "manifest.json: must be a JSON object",
           "message for a non-object");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_exact();
    test_parsed();
    test_parse_roundtrip();
    test_parse_bad();
    apr_pool_destroy(pool);
    return done_testing();
}
