/*
 * test_multipart.c -- the streaming multipart/form-data parser: the parts
 * a client sent come out whole however the body is cut into chunks, and
 * each malformed body is refused with a message naming what is wrong.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_multipart.h"

/* What the callbacks saw, one string per part: "name|filename|type|data" */
typedef struct seen_t {
    apr_pool_t *p;
    char out[16][4096];
    int begins, ends, data_calls;
    int bad_order;
    const char *fail_on; /* part name whose data callback fails */
} seen_t;

static xp_errcode_e on_begin(void *b, const xp_mp_part_t *part, xp_error_t *err)
{
    seen_t *s = b;

    (void)err;
    if (part->index != s->begins || s->ends != s->begins) {
        s->bad_order = 1;
    }
    snprintf(s->out[part->index], sizeof(s->out[0]), "%s|%s|%s|%s|", part->name,
             part->filename ? part->filename : "-",
             part->content_type ? part->content_type : "-",
             part->is_file ? "file" : "field");
    s->begins++;
    return XP_OK;
}

static xp_errcode_e on_data(void *b, const xp_mp_part_t *part, const char *buf,
                            apr_size_t len, xp_error_t *err)
{
    seen_t *s = b;
    char *o = s->out[part->index];
    size_t have = strlen(o);

    if (s->fail_on && !strcmp(part->name, s->fail_on)) {
        return xp_error_set(err, s->p, XP_EIO, "disk full writing %s",
                            part->name);
    }
    if (len == 0) {
        s->bad_order = 1;
    }
    s->data_calls++;
    if (have + len < sizeof(s->out[0])) {
        memcpy(o + have, buf, len);
        o[have + len] = '\0';
    }
    return XP_OK;
}

static xp_errcode_e on_end(void *b, const xp_mp_part_t *part, xp_error_t *err)
{
    seen_t *s = b;

    (void)err;
    if (part->index != s->ends) {
        s->bad_order = 1;
    }
    s->ends++;
    return XP_OK;
}

/* Parse body in chunks of `chunk` bytes (0: whole); returns the code
 * and fills s and err. */
static xp_errcode_e parse(apr_pool_t *p, const char *boundary, const char *body,
                          size_t len, size_t chunk, seen_t *s, xp_error_t *err)
{
    xp_mp_callbacks_t cb = {s, on_begin, on_data, on_end};
    xp_mp_t *m;
    size_t i;
    xp_errcode_e rc = XP_OK;
    const char *fail_on = s->fail_on;

    memset(s, 0, sizeof(*s));
    s->p = p;
    s->fail_on = fail_on;
    memset(err, 0, sizeof(*err));
    m = xp_mp_make(p, boundary, "import", &cb);
    if (chunk == 0) {
        chunk = len ? len : 1;
    }
    for (i = 0; i < len && rc == XP_OK; i += chunk) {
        rc = xp_mp_feed(m, body + i, len - i < chunk ? len - i : chunk, err);
    }
    if (rc == XP_OK) {
        rc = xp_mp_finish(m, err);
    }
    return rc;
}

static int contains(const char *s, const char *want)
{
    return s && strstr(s, want) != NULL;
}

#define B "----xpBoundary7MA4YWxkTrZu0gW"
#define BX "----xpBoundary7MA4YWxkTrZu0gX" /* B with another last byte */

/* A body the way curl -F sends it, with a preamble and an epilogue, and
 * data that looks like a delimiter but is not one. */
static const char sample[] =
    "This is the preamble; ignore it.\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"dry_run\"\r\n"
    "\r\n"
    "true\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"import\"; "
    "filename=\"export-demo.tar.gz\"\r\n"
    "Content-Type: application/gzip\r\n"
    "\r\n"
    "\x1f\x8b\r\n--" BX " is not it\r\n-- nor this\r\r\n\n--" B "\r\n"
    "--" B "  \r\n"
    "Content-Disposition: form-data; name=\"on_conflict\"\r\n"
    "\r\n"
    "skip\r\n"
    "--" B "--\r\n"
    "epilogue, also ignored\r\n";

static const char *const sample_parts[] = {
    "dry_run|-|-|field|true",
    "import|export-demo.tar.gz|application/gzip|file|"
    "\x1f\x8b\r\n--" BX " is not it\r\n-- nor this\r\r\n\n--" B,
    "on_conflict|-|-|field|skip",
};

static void test_every_chunk_size(apr_pool_t *p)
{
    size_t len = sizeof(sample) - 1, chunk;
    int all_ok = 1, i;
    seen_t s = {0};
    xp_error_t err;

    /* the data part holds "\r\n\n--B" (LF only) and "\r\n--BX": not
     * delimiters in a CRLF body; the part must come out byte for byte */
    for (chunk = 1; chunk <= len; chunk++) {
        xp_errcode_e rc = parse(p, B, sample, len, chunk, &s, &err);
        int good = rc == XP_OK && s.begins == 3 && s.ends == 3 && !s.bad_order;
        for (i = 0; good && i < 3; i++) {
            good = !strcmp(s.out[i], sample_parts[i]);
        }
        if (!good) {
            all_ok = 0;
            printf("# chunk %lu: rc %d (%s)\n", (unsigned long)chunk, rc,
                   err.message ? err.message : "");
            break;
        }
    }
    ok(all_ok, "sample body parses the same with every chunk size 1..%lu",
       (unsigned long)len);
    parse(p, B, sample, len, 0, &s, &err);
    is_str(s.out[0], sample_parts[0], "text field: name and value");
    is_str(s.out[1], sample_parts[1],
           "file part: filename, type, data with near-delimiters intact");
    is_str(s.out[2], sample_parts[2], "padding after a boundary is allowed");
}

/* The delimiter split at every position between two chunks. */
static void test_split_boundary(apr_pool_t *p)
{
    const char *body = "--" B "\r\nContent-Disposition: form-data; "
                       "name=\"import\"\r\n\r\nABC\r\n--" B "--\r\n";
    size_t len = strlen(body), cut;
    int all_ok = 1;

    for (cut = 1; cut < len; cut++) {
        xp_mp_callbacks_t cb;
        seen_t s;
        xp_error_t err = {0};
        xp_mp_t *m;
        xp_errcode_e rc;

        memset(&s, 0, sizeof(s));
        cb.baton = &s;
        cb.begin = on_begin;
        cb.data = on_data;
        cb.end = on_end;
        m = xp_mp_make(p, B, "import", &cb);
        rc = xp_mp_feed(m, body, cut, &err);
        if (rc == XP_OK) {
            rc = xp_mp_feed(m, body + cut, len - cut, &err);
        }
        if (rc == XP_OK) {
            rc = xp_mp_finish(m, &err);
        }
        if (rc != XP_OK || strcmp(s.out[0], "import|-|-|file|ABC")) {
            all_ok = 0;
            printf("# cut at %lu: '%s'\n", (unsigned long)cut, s.out[0]);
            break;
        }
    }
    ok(all_ok, "body cut in two at every byte: the part is \"ABC\"");
}

static void test_boundary_param(apr_pool_t *p)
{
    xp_error_t err = {0};
    char long_b[80];

    is_str(xp_mp_boundary(p, "multipart/form-data; boundary=abc123", &err),
           "abc123", "bare boundary");
    is_str(xp_mp_boundary(p,
                          "multipart/form-data; charset=utf-8; "
                          "BOUNDARY=\"gc0p4Jq0M2Yt08j34c0p x=y\"",
                          &err),
           "gc0p4Jq0M2Yt08j34c0p x=y",
           "quoted boundary with a space, name case-insensitive");
    memset(&err, 0, sizeof(err));
    ok(!xp_mp_boundary(p, "multipart/form-data", &err) &&
           err.code == XP_EINVAL &&
           contains(err.message, "no boundary in Content-Type"),
       "no boundary: \"%s\"", err.message);
    memset(long_b, 'a', 71);
    long_b[71] = '\0';
    ok(!xp_mp_boundary(
           p, apr_pstrcat(p, "multipart/form-data; boundary=", long_b, NULL),
           &err) &&
           contains(err.message, "at most 70"),
       "71-character boundary refused: \"%s\"", err.message);
    long_b[70] = '\0';
    ok(xp_mp_boundary(
           p, apr_pstrcat(p, "multipart/form-data; boundary=", long_b, NULL),
           &err) != NULL,
       "70-character boundary accepted");
    ok(!xp_mp_boundary(p, "multipart/form-data; boundary=\"a\rb\"", &err) &&
           contains(err.message, "not allow"),
       "CR in the boundary refused");
    ok(!xp_mp_boundary(p, "multipart/form-data; boundary=\"abc", &err),
       "unterminated quoted boundary refused");
}

static void test_errors(apr_pool_t *p)
{
    seen_t s = {0};
    xp_error_t err;
    xp_errcode_e rc;
    const char *body, *hdr;
    char *big;
    int i;

    body = "--" B "\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nABC";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL &&
           contains(err.message, "body ends before the closing boundary"),
       "cut short: \"%s\"", err.message);
    body = "--" B "\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nABC\r\n--" B "\r\n";
    rc = parse(p, B, body, strlen(body), 3, &s, &err);
    ok(rc == XP_EINVAL &&
           contains(err.message, "body ends before the closing boundary"),
       "no closing \"--\": refused");

    body = "just some bytes, no boundary at all";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "never occurs"),
       "boundary never seen: \"%s\"", err.message);

    body = "--" B "\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n"
           "\r\ntrue\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "no part named \"import\""),
       "no import part: \"%s\"", err.message);

    body = "--" B "\r\nContent-Disposition: form-data; name=\"a\"; "
           "filename=\"a.tar\"\r\n\r\nA\r\n--" B
           "\r\nContent-Disposition: form-data; name=\"import\"; "
           "filename=\"b.tar\"\r\n\r\nB\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "two file parts"),
       "two file parts: \"%s\"", err.message);

    body = "--" B "\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nA\r\n--" B
           "\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nB\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "two parts named"),
       "the import field twice: \"%s\"", err.message);

    big = apr_palloc(p, XP_MP_MAX_FIELD + 2);
    memset(big, 'x', XP_MP_MAX_FIELD + 1);
    big[8999] = '\0';
    hdr = apr_pstrcat(p,
                      "--" B "\r\nContent-Disposition: form-data; "
                      "name=\"import\"\r\nX-Junk: ",
                      big, "\r\n\r\nA\r\n--" B "--\r\n", NULL);
    rc = parse(p, B, hdr, strlen(hdr), 100, &s, &err);
    ok(rc == XP_EINVAL &&
           contains(err.message, "part headers longer than 8 KiB"),
       "header block over 8 KiB: \"%s\"", err.message);
    ok(s.begins == 0, "... refused before any part began");

    body = "--" B "\r\n";
    for (i = 0; i < 17; i++) {
        body = apr_psprintf(p,
                            "%sContent-Disposition: form-data; "
                            "name=\"%s\"\r\n\r\nv\r\n--" B "%s",
                            body, i == 0 ? "import" : apr_itoa(p, i),
                            i == 16 ? "--\r\n" : "\r\n");
    }
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "more than 16 parts"),
       "17 parts: \"%s\"", err.message);
    is_int(s.begins, 16, "... the first 16 were parsed");

    memset(big, 'x', XP_MP_MAX_FIELD + 1);
    big[XP_MP_MAX_FIELD + 1] = '\0';
    body = apr_pstrcat(p,
                       "--" B "\r\nContent-Disposition: form-data; "
                       "name=\"sections\"\r\n\r\n",
                       big, "\r\n--" B "--\r\n", NULL);
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "\"sections\" is longer"),
       "text field over 64 KiB: \"%s\"", err.message);

    body = "--" B "\r\nContent-Type: text/plain\r\n\r\nA\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "no Content-Disposition"),
       "part without a name: \"%s\"", err.message);

    body = "--" B "\r\nContent-Disposition: attachment; name=\"import\"\r\n"
           "\r\nA\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "not form-data"),
       "disposition other than form-data: \"%s\"", err.message);

    body = "--" B "junk\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nA\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_EINVAL && contains(err.message, "boundary line"),
       "characters after a boundary: \"%s\"", err.message);

    s.fail_on = "import";
    body = "--" B "\r\nContent-Disposition: form-data; name=\"import\"\r\n"
           "\r\nABC\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 2, &s, &err);
    ok(rc == XP_EIO && contains(err.message, "disk full writing import"),
       "a failing data callback stops the parse with its error");
    s.fail_on = NULL;
}

/* Bare LF line ends, folded headers, an empty file, a quoted name with
 * an escaped quote. */
static void test_line_ends(apr_pool_t *p)
{
    seen_t s = {0};
    xp_error_t err;
    xp_errcode_e rc;
    const char *body;
    size_t chunk;
    int all_ok = 1;

    body = "--" B "\n"
           "Content-Disposition: form-data;\n"
           "\tname=\"import\"; filename=\"a\\\"b.ndjson\"\n"
           "content-type: application/x-ndjson\n"
           "\n"
           "{\"id\":1}\r\n{\"id\":2}\n"
           "--" B "--\n";
    for (chunk = 1; chunk <= strlen(body); chunk++) {
        rc = parse(p, B, body, strlen(body), chunk, &s, &err);
        if (rc != XP_OK || strcmp(s.out[0], "import|a\"b.ndjson|application/"
                                            "x-ndjson|file|{\"id\":1}\r\n"
                                            "{\"id\":2}")) {
            all_ok = 0;
            printf("# chunk %lu: %d %s '%s'\n", (unsigned long)chunk, rc,
                   err.message ? err.message : "", s.out[0]);
            break;
        }
    }
    ok(all_ok, "LF-only body, folded header: parsed with every chunk size");

    body = "--" B "\r\n"
           "Content-Disposition: form-data; name=\"import\"; "
           "filename=\"empty.tar\"\r\n\r\n"
           "\r\n--" B "--";
    rc = parse(p, B, body, strlen(body), 0, &s, &err);
    ok(rc == XP_OK && !strcmp(s.out[0], "import|empty.tar|-|file|") &&
           s.data_calls == 0,
       "empty file part, no CRLF after the closing boundary");

    body = "\r\n--" B "\r\n"
           "Content-Disposition: form-data; name=\"import\"\r\n\r\n"
           "a\nb\r\n\r\n--" B "--\r\n";
    rc = parse(p, B, body, strlen(body), 1, &s, &err);
    ok(rc == XP_OK && !strcmp(s.out[0], "import|-|-|file|a\nb\r\n"),
       "CRLF body: lone LF and a trailing CRLF inside the data are kept");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_every_chunk_size(p);
    test_split_boundary(p);
    test_boundary_param(p);
    test_errors(p);
    test_line_ends(p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
