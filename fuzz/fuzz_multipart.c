/*
 * fuzz_multipart.c -- the streaming multipart/form-data parser
 * (xp_multipart.h) fed a body in chunks of input-chosen sizes, each in
 * its own exact-size block. Checked: callbacks come in order (begin,
 * data..., end per part), data pieces are never empty and lie in memory
 * the parser may read, limits hold (parts, field sizes, one file part),
 * and every fault carries a message.
 *
 * Input: 4 chunk-size bytes, a Content-Type value up to the first LF
 * (its boundary is taken with xp_mp_boundary), then the body.
 */
#include "fuzz_chunks.h"
#include "xp_multipart.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

typedef struct seen_t {
    int begins, ends, files;
    int in_part;
    apr_size_t field_bytes;
    unsigned long digest; /* FNV-1a over everything the callbacks saw */
} seen_t;

static void mix(seen_t *s, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    size_t i;

    for (i = 0; i < len; i++)
        s->digest = (s->digest ^ b[i]) * 1099511628211UL;
}

static void mix_str(seen_t *s, const char *str)
{
    mix(s, str ? str : "(none)", str ? strlen(str) + 1 : 6);
}

static xp_errcode_e on_begin(void *b, const xp_mp_part_t *part,
                             xp_error_t *err)
{
    seen_t *s = b;

    (void)err;
    FUZZ_CHECK(!s->in_part, "begin after the previous end");
    FUZZ_CHECK(part->index == s->begins, "parts numbered in order");
    FUZZ_CHECK(part->index < XP_MP_MAX_PARTS, "at most XP_MP_MAX_PARTS");
    FUZZ_CHECK(part->name != NULL, "a part has a name");
    mix(s, "B", 1);
    mix_str(s, part->name);
    mix_str(s, part->filename);
    mix_str(s, part->content_type);
    s->files += part->is_file;
    FUZZ_CHECK(s->files <= 1, "at most one file part");
    s->in_part = 1;
    s->field_bytes = 0;
    s->begins++;
    return XP_OK;
}

static xp_errcode_e on_data(void *b, const xp_mp_part_t *part, const char *buf,
                            apr_size_t len, xp_error_t *err)
{
    seen_t *s = b;

    (void)err;
    FUZZ_CHECK(s->in_part && part->index == s->begins - 1,
               "data inside the current part");
    FUZZ_CHECK(len > 0, "no empty data pieces");
    mix(s, buf, len); /* reads every byte: ASan checks the range */
    if (!part->is_file) {
        s->field_bytes += len;
        FUZZ_CHECK(s->field_bytes <= XP_MP_MAX_FIELD,
                   "a field within XP_MP_MAX_FIELD");
    }
    return XP_OK;
}

static xp_errcode_e on_end(void *b, const xp_mp_part_t *part, xp_error_t *err)
{
    seen_t *s = b;

    (void)err;
    FUZZ_CHECK(s->in_part && part->index == s->ends, "end of the open part");
    mix(s, "E", 1);
    s->in_part = 0;
    s->ends++;
    return XP_OK;
}

/* One parse of the body; ch NULL: all in one feed. */
static xp_errcode_e parse_body(apr_pool_t *p, const char *boundary,
                               fuzz_chunks_t *ch, const uint8_t *data,
                               size_t size, seen_t *seen)
{
    seen_t s;
    xp_mp_callbacks_t cb = {&s, on_begin, on_data, on_end};
    xp_mp_t *m;
    xp_error_t err;
    xp_errcode_e rc = XP_OK;

    memset(&s, 0, sizeof(s));
    s.digest = 14695981039346656037UL;
    memset(&err, 0, sizeof(err));
    m = xp_mp_make(p, boundary, "import", &cb);
    while (rc == XP_OK) {
        size_t n = ch ? fuzz_chunks_next(ch, size) : size;
        char *chunk = fuzz_chunk_copy(data, n);

        rc = xp_mp_feed(m, chunk, n, &err);
        free(chunk);
        data += n, size -= n;
        if (size == 0)
            break;
    }
    if (rc == XP_OK) {
        rc = xp_mp_finish(m, &err);
        if (rc == XP_OK)
            FUZZ_CHECK(!s.in_part && s.files == 1, "a finished body is whole");
    } else {
        /* once failed, always failed */
        FUZZ_CHECK(xp_mp_feed(m, "x", 1, &err) == rc, "the error sticks");
    }
    if (rc != XP_OK)
        FUZZ_CHECK(err.message && *err.message, "a fault has a message");
    FUZZ_CHECK(xp_mp_parts(m) >= s.begins, "parts counted");
    *seen = s;
    return rc;
}

/* However the body is cut into chunks, the parts come out the same. */
static void parse_both(apr_pool_t *p, const char *boundary, fuzz_chunks_t *ch,
                       const uint8_t *data, size_t size)
{
    seen_t whole, cut;
    xp_errcode_e rc_whole = parse_body(p, boundary, NULL, data, size, &whole);
    xp_errcode_e rc_cut = parse_body(p, boundary, ch, data, size, &cut);

    FUZZ_CHECK(rc_whole == rc_cut, "same outcome whole and in chunks");
    if (rc_whole == XP_OK)
        FUZZ_CHECK(whole.digest == cut.digest,
                   "same parts whole and in chunks");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_chunks_t ch;
    apr_pool_t *p;
    const uint8_t *lf;
    char *ctype;
    const char *boundary;
    xp_error_t err;

    if (!fuzz_chunks_init(&ch, &data, &size))
        return 0;
    if (!(lf = memchr(data, '\n', size)) || lf - data > 1024)
        return 0;
    ctype = fuzz_cstring(data, (size_t)(lf - data));
    size -= (size_t)(lf - data) + 1;
    data = lf + 1;
    p = fuzz_pool();
    memset(&err, 0, sizeof(err));
    boundary = xp_mp_boundary(p, ctype, &err);
    if (boundary) {
        FUZZ_CHECK(*boundary && strlen(boundary) <= XP_MP_MAX_BOUNDARY,
                   "a boundary of 1..70 characters");
        parse_both(p, boundary, &ch, data, size);
    } else {
        FUZZ_CHECK(err.code == XP_EINVAL && err.message && *err.message,
                   "a bad Content-Type has a message");
    }
    apr_pool_destroy(p);
    free(ctype);
    return 0;
}
