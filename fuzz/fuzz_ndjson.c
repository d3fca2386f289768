/*
 * fuzz_ndjson.c -- the row side of an import (SPEC 6.5, 6.6): a stream
 * cut into lines (xp_lines_feed) or JSON array elements (xp_jarray_feed)
 * in chunks of input-chosen sizes, each line parsed as a row of a typed
 * section (xp_row_parse). Lines never exceed the limit or hold a LF;
 * a parsed row has a value slot per column; faults carry a message; the
 * stream fed in one piece gives the same outcome and the same lines; the
 * fast row parser and jansson's (xp_row_parse_slow) give the same row.
 *
 * Input: 1 flag byte (bit 0: JSON array instead of NDJSON; bit 1: rows of
 * "jobs" (int/real/json) instead of "users" (bool); bit 2: a 64-byte line
 * limit instead of 4 KiB; bit 3: rows of "people", whose columns have
 * fields= names in files, overriding bit 1), 4 chunk-size bytes, then the
 * stream.
 */
#include "fuzz_chunks.h"
#include "xp_ndjson.h"

/* how many unknown keys a parsed row has (its list is NULL when none) */
#define NUNKNOWN(row) ((row)->unknown ? (row)->unknown->nelts : 0)

static apr_pool_t *fixture_pool;
static xp_sections_t *secs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    fixture_pool = fuzz_pool();
    secs = fuzz_sections(fixture_pool);
    {
        /* columns called otherwise in files (fields=): the parsers must
         * match keys by those names, and agree */
        static const char *const people[] = {
            "key=id", "columns=id,email,age,meta",
            "fields=id:Id,email:E-mail,age:\xc3\x82ge,meta:Meta",
            "types=age:int,meta:json"};
        FUZZ_CHECK(!xp_sections_add(secs, fixture_pool, "people", 4, people),
                   "people declares");
        FUZZ_CHECK(!xp_sections_check(secs, fixture_pool), "people checks");
    }
    return 0;
}

typedef struct rows_t {
    apr_pool_t *p;
    const xp_section_t *sec;
    apr_size_t max;
    int jarray;
    int parse_rows; /* 0: only record what was cut */
    long last;
    unsigned long digest; /* FNV-1a over line numbers and lines */
} rows_t;

static void mix(rows_t *r, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    size_t i;

    for (i = 0; i < len; i++)
        r->digest = (r->digest ^ b[i]) * 1099511628211UL;
}

static xp_errcode_e on_line(void *baton, const char *line, apr_size_t len,
                            long lineno, xp_error_t *err)
{
    rows_t *r = baton;
    apr_pool_t *sub;
    xp_row_t row, slow;
    xp_error_t rerr, serr;
    xp_errcode_e rc;
    char *copy;
    int i;

    (void)err;
    FUZZ_CHECK(len <= r->max, "a line within the limit");
    FUZZ_CHECK(lineno > r->last, "line numbers increase");
    r->last = lineno;
    if (!r->jarray)
        FUZZ_CHECK(!memchr(line, '\n', len), "no LF inside a line");
    mix(r, &lineno, sizeof(lineno));
    mix(r, line, len);
    if (!r->parse_rows)
        return XP_OK;
    /* the line in an exact block: the row parser must not read past len */
    copy = fuzz_chunk_copy((const uint8_t *)line, len);
    apr_pool_create(&sub, r->p);
    memset(&rerr, 0, sizeof(rerr));
    memset(&row, 0, sizeof(row));
    rc = xp_row_parse(sub, r->sec, copy, len, &row, &rerr);
    if (rc == XP_OK) {
        FUZZ_CHECK(row.values && row.present, "a full row");
        FUZZ_CHECK(!row.unknown || row.unknown->nelts > 0,
                   "a list of unknown keys only when there is one");
    } else {
        FUZZ_CHECK(rerr.message && *rerr.message, "a bad row has a message");
    }
    /* the fast path and jansson's agree, value for value */
    memset(&serr, 0, sizeof(serr));
    memset(&slow, 0, sizeof(slow));
    FUZZ_CHECK(xp_row_parse_slow(sub, r->sec, copy, len, &slow, &serr) == rc,
               "fast and slow row parsers accept the same lines");
    if (rc == XP_OK) {
        for (i = 0; i < r->sec->columns->nelts; i++) {
            FUZZ_CHECK(row.present[i] == slow.present[i], "same columns present");
            FUZZ_CHECK((!row.values[i] && !slow.values[i]) ||
                           (row.values[i] && slow.values[i] &&
                            !strcmp(row.values[i], slow.values[i])),
                       "same value text");
        }
        FUZZ_CHECK(NUNKNOWN(&row) == NUNKNOWN(&slow), "same unknown keys");
        for (i = 0; i < NUNKNOWN(&row); i++)
            FUZZ_CHECK(!strcmp(APR_ARRAY_IDX(row.unknown, i, const char *),
                               APR_ARRAY_IDX(slow.unknown, i, const char *)),
                       "unknown keys in the same order");
    }
    apr_pool_destroy(sub);
    free(copy);
    return XP_OK;
}

static xp_errcode_e feed(rows_t *r, void *cut, const char *buf, apr_size_t len,
                         int eof, xp_error_t *err)
{
    if (r->jarray)
        return xp_jarray_feed(cut, buf, len, eof, on_line, r, err);
    return xp_lines_feed(cut, buf, len, eof, on_line, r, err);
}

/* One pass over the stream; ch NULL: all in one feed. */
static xp_errcode_e cut_stream(unsigned char flags, fuzz_chunks_t *ch,
                               const uint8_t *data, size_t size, rows_t *out)
{
    rows_t r;
    xp_error_t err;
    xp_errcode_e rc = XP_OK;
    void *cut;

    memset(&r, 0, sizeof(r));
    r.p = fuzz_pool();
    r.jarray = flags & 1;
    r.sec = xp_sections_find(secs, flags & 8   ? "people"
                                   : flags & 2 ? "jobs"
                                               : "users");
    r.max = flags & 4 ? 64 : 4096;
    r.parse_rows = ch != NULL;
    r.digest = 14695981039346656037UL;
    cut = r.jarray ? (void *)xp_jarray_make(r.p, r.max)
                   : (void *)xp_lines_make(r.p, r.max);
    memset(&err, 0, sizeof(err));
    while (size > 0 && rc == XP_OK) {
        size_t n = ch ? fuzz_chunks_next(ch, size) : size;
        char *chunk = fuzz_chunk_copy(data, n);

        rc = feed(&r, cut, chunk, n, 0, &err);
        free(chunk);
        data += n, size -= n;
    }
    if (rc == XP_OK)
        rc = feed(&r, cut, "", 0, 1, &err);
    if (rc != XP_OK)
        FUZZ_CHECK(err.message && *err.message, "a fault has a message");
    apr_pool_destroy(r.p);
    r.p = NULL;
    *out = r;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_chunks_t ch;
    rows_t whole, cut;
    xp_errcode_e rc_whole, rc_cut;
    unsigned char flags;

    if (size < 1)
        return 0;
    flags = data[0];
    data++, size--;
    if (!fuzz_chunks_init(&ch, &data, &size))
        return 0;
    rc_cut = cut_stream(flags, &ch, data, size, &cut);
    rc_whole = cut_stream(flags, NULL, data, size, &whole);
    /* however the stream is cut into blocks, the same lines come out */
    FUZZ_CHECK(rc_whole == rc_cut, "same outcome whole and in blocks");
    if (rc_whole == XP_OK)
        FUZZ_CHECK(whole.digest == cut.digest, "same lines whole and in blocks");
    return 0;
}
