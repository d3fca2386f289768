/*
 * test_manifest.c -- manifest.json as SPEC 5 shows it: keys in order,
 * values typed, null where a bound or window is absent.
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
    s->sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    s = apr_array_push(m->sections);
    memset(s, 0, sizeof(*s));
    s->name = "bots";
    s->file = "data/bots.ndjson";
    s->key = "id";
    s->columns = cols(1, "id");
    s->count = 0;
    s->bytes = 0;
    s->sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    s->windowed = 1;
    s->since = "2026-01-01T00:00:00.000Z";
    return m;
}

static void test_exact(void)
{
    const char *want =
        "{\n"
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
        "      \"sha256\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\n"
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
        "      \"sha256\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\n"
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
    ok(xp_json_is_object(win) && xp_json_has(win, "until")
       && !xp_json_get_str(win, "until"),
       "window object keeps an absent bound as null");

    m->sections = NULL;
    text = xp_manifest_render(pool, m);
    ok(text && strstr(text, "\"sections\": []"),
       "no sections renders an empty array");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_exact();
    test_parsed();
    apr_pool_destroy(pool);
    return done_testing();
}
