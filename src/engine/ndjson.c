/*
 * ndjson.c -- cutting an import's data into rows and parsing each row
 * (SPEC 6.5, 6.6).
 *
 * Rows arrive in 64 KiB blocks from the archive reader. The line splitter
 * hands a line that lies wholly inside a block straight to the caller
 * (no copy); only a line cut by a block boundary is assembled in one
 * reusable buffer, which grows to the longest line seen and never past
 * the limit, so memory stays flat however large the file is.
 *
 * A JSON array file is cut the same way by a small state machine that
 * follows strings, escapes and bracket nesting; each element becomes one
 * "line" of compact text. It does not validate JSON: the row parser
 * (jansson, through xp_json.h) does that for each element.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "xp_ndjson.h"
#include "xp_json.h"
#include "xp_bytes.h"

#define ND_MAX_DEPTH 64

/* ------------------------------------------------------------------ */
/* A growable buffer outside the pool                                   */
/* ------------------------------------------------------------------ */

/* malloc'd rather than pool memory: doubling inside a pool would keep
 * every outgrown copy until the pool dies (up to twice the limit). */
typedef struct nd_buf_t {
    char *data;
    apr_size_t len, cap;
} nd_buf_t;

static apr_status_t nd_buf_free(void *data)
{
    nd_buf_t *b = data;

    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    return APR_SUCCESS;
}

static void nd_buf_init(apr_pool_t *p, nd_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    apr_pool_cleanup_register(p, b, nd_buf_free, apr_pool_cleanup_null);
}

/* Returns 0 when out of memory. */
static int nd_buf_add(nd_buf_t *b, const char *s, apr_size_t n)
{
    apr_size_t cap;
    char *d;

    if (b->len + n > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        if (!(d = realloc(b->data, cap)))
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

/* "16 MiB" for messages */
static const char *nd_size_text(apr_pool_t *p, apr_size_t n)
{
    if (n >= 1024 * 1024 && n % (1024 * 1024) == 0)
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " MiB", n / (1024 * 1024));
    if (n >= 1024 && n % 1024 == 0)
        return apr_psprintf(p, "%" APR_SIZE_T_FMT " KiB", n / 1024);
    return apr_psprintf(p, "%" APR_SIZE_T_FMT " bytes", n);
}

static xp_errcode_e nd_nomem(apr_pool_t *p, xp_error_t *err)
{
    return xp_error_set(err, p, XP_EIO, "out of memory assembling a line");
}

/* ------------------------------------------------------------------ */
/* Lines                                                                */
/* ------------------------------------------------------------------ */

struct xp_lines_t {
    apr_pool_t *p;
    nd_buf_t part; /* a line cut by a block boundary */
    apr_size_t max;
    long lineno; /* lines delivered or skipped so far */
};

xp_lines_t *xp_lines_make(apr_pool_t *p, apr_size_t max_line)
{
    xp_lines_t *l = apr_pcalloc(p, sizeof(*l));

    l->p = p;
    l->max = max_line;
    nd_buf_init(p, &l->part);
    return l;
}

long xp_lines_count(const xp_lines_t *l)
{
    return l->lineno;
}

static xp_errcode_e lines_too_long(xp_lines_t *l, long lineno, xp_error_t *err)
{
    xp_error_set(err, l->p, XP_ELIMIT, "line %ld is longer than %s", lineno,
                 nd_size_text(l->p, l->max));
    if (err)
        err->line = (int)lineno;
    return XP_ELIMIT;
}

static xp_errcode_e lines_deliver(xp_lines_t *l, const char *s, apr_size_t n,
                                  xp_line_fn fn, void *baton, xp_error_t *err)
{
    l->lineno++;
    if (n && s[n - 1] == '\r')
        n--;
    /* Editors on Windows like to start files with a byte order mark. */
    if (l->lineno == 1 && n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
        s += 3;
        n -= 3;
    }
    if (n > l->max)
        return lines_too_long(l, l->lineno, err);
    if (n == 0)
        return XP_OK;
    return fn(baton, s, n, l->lineno, err);
}

xp_errcode_e xp_lines_feed(xp_lines_t *l, const char *buf, apr_size_t len,
                           int eof, xp_line_fn fn, void *baton, xp_error_t *err)
{
    const char *s = buf, *end = buf + len, *nl;
    xp_errcode_e rc;

    while (s < end) {
        nl = memchr(s, '\n', (apr_size_t)(end - s));
        /* +1 leaves room for the CR of a CRLF line exactly max long */
        if (l->part.len + (apr_size_t)((nl ? nl : end) - s) > l->max + 1)
            return lines_too_long(l, l->lineno + 1, err);
        if (!nl) {
            if (!nd_buf_add(&l->part, s, (apr_size_t)(end - s)))
                return nd_nomem(l->p, err);
            break;
        }
        if (l->part.len) {
            if (!nd_buf_add(&l->part, s, (apr_size_t)(nl - s)))
                return nd_nomem(l->p, err);
            rc = lines_deliver(l, l->part.data, l->part.len, fn, baton, err);
            l->part.len = 0;
        } else
            rc = lines_deliver(l, s, (apr_size_t)(nl - s), fn, baton, err);
        if (rc != XP_OK)
            return rc;
        s = nl + 1;
    }
    if (eof && l->part.len) {
        rc = lines_deliver(l, l->part.data, l->part.len, fn, baton, err);
        l->part.len = 0;
        return rc;
    }
    return XP_OK;
}

/* ------------------------------------------------------------------ */
/* JSON array elements                                                  */
/* ------------------------------------------------------------------ */

typedef enum {
    JA_START = 0, /* before '[' */
    JA_BEFORE,    /* after '[' or ',': an element or (first only) ']' */
    JA_IN,        /* inside an element */
    JA_AFTER,     /* after an element: ',' or ']' */
    JA_END        /* after ']': whitespace only */
} ja_state_e;

struct xp_jarray_t {
    apr_pool_t *p;
    nd_buf_t elem;
    apr_size_t max;
    ja_state_e state;
    int first; /* no element yet */
    int in_str, esc, scalar, str_scalar, pending_ws;
    int depth;
    char stack[ND_MAX_DEPTH + 1]; /* the closer each open bracket expects */
    long index;                   /* elements delivered */
    int bom;                      /* bytes of a leading BOM matched */
};

xp_jarray_t *xp_jarray_make(apr_pool_t *p, apr_size_t max_elem)
{
    xp_jarray_t *j = apr_pcalloc(p, sizeof(*j));

    j->p = p;
    j->max = max_elem;
    j->first = 1;
    nd_buf_init(p, &j->elem);
    return j;
}

static xp_errcode_e ja_fail(xp_jarray_t *j, xp_errcode_e code, xp_error_t *err,
                            const char *what)
{
    xp_error_set(err, j->p, code, "element %ld: %s", j->index + 1, what);
    if (err)
        err->line = (int)(j->index + 1);
    return code;
}

static int ja_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Bytes that can end or start a bare token (number, literal) or a
 * string: between two of them whitespace separates tokens and must be
 * kept (as one space) so that dropping it cannot turn "[1 2]" into 12. */
static int ja_tokenish(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '.' || c == '+' || c == '-' ||
           c == '"';
}

static xp_errcode_e ja_put(xp_jarray_t *j, char c, xp_error_t *err)
{
    if (j->pending_ws && j->elem.len &&
        ja_tokenish(j->elem.data[j->elem.len - 1]) && ja_tokenish(c)) {
        if (!nd_buf_add(&j->elem, " ", 1))
            return nd_nomem(j->p, err);
    }
    j->pending_ws = 0;
    if (j->elem.len >= j->max)
        return ja_fail(
            j, XP_ELIMIT, err,
            apr_psprintf(j->p, "longer than %s", nd_size_text(j->p, j->max)));
    if (!nd_buf_add(&j->elem, &c, 1))
        return nd_nomem(j->p, err);
    return XP_OK;
}

static xp_errcode_e ja_done(xp_jarray_t *j, xp_line_fn fn, void *baton,
                            xp_error_t *err)
{
    xp_errcode_e rc;

    j->state = JA_AFTER;
    j->index++;
    rc = fn(baton, j->elem.data, j->elem.len, j->index, err);
    j->elem.len = 0;
    return rc;
}

/* One byte inside an element. *again is set when the byte ended a bare
 * scalar and must be looked at once more in state JA_AFTER. */
static xp_errcode_e ja_in(xp_jarray_t *j, char c, int *again, xp_line_fn fn,
                          void *baton, xp_error_t *err)
{
    xp_errcode_e rc;

    if (j->in_str) {
        if ((rc = ja_put(j, c, err)) != XP_OK)
            return rc;
        if (j->esc)
            j->esc = 0;
        else if (c == '\\')
            j->esc = 1;
        else if (c == '"') {
            j->in_str = 0;
            if (j->str_scalar)
                return ja_done(j, fn, baton, err);
        }
        return XP_OK;
    }
    if (j->depth == 0 && j->scalar && (ja_ws(c) || c == ',' || c == ']')) {
        *again = !ja_ws(c);
        return ja_done(j, fn, baton, err);
    }
    if (ja_ws(c)) {
        j->pending_ws = 1;
        return XP_OK;
    }
    if (c == '{' || c == '[') {
        if (j->depth >= ND_MAX_DEPTH)
            return ja_fail(j, XP_EINVAL, err, "nesting deeper than 64 levels");
        j->stack[j->depth++] = c == '{' ? '}' : ']';
    } else if (c == '}' || c == ']') {
        if (j->depth == 0 || j->stack[j->depth - 1] != c)
            return ja_fail(j, XP_EINVAL, err,
                           apr_psprintf(j->p, "unexpected '%c'", c));
        j->depth--;
    } else if (c == '"')
        j->in_str = 1;
    if ((rc = ja_put(j, c, err)) != XP_OK)
        return rc;
    if (j->depth == 0 && !j->scalar)
        return ja_done(j, fn, baton, err);
    return XP_OK;
}

/* One byte outside any element. */
static xp_errcode_e ja_between(xp_jarray_t *j, char c, int *again,
                               xp_error_t *err)
{
    static const char bom[] = "\xEF\xBB\xBF";

    if (j->state == JA_START && j->bom < 3 && c == bom[j->bom]) {
        j->bom++;
        return XP_OK;
    }
    if (ja_ws(c))
        return XP_OK;
    switch (j->state) {
    case JA_START:
        if (c != '[')
            return xp_error_set(err, j->p, XP_EINVAL,
                                "a JSON array file must start with '[' "
                                "(found '%c')",
                                c);
        j->state = JA_BEFORE;
        return XP_OK;
    case JA_BEFORE:
        if (c == ']' && j->first) {
            j->state = JA_END;
            return XP_OK;
        }
        if (c == ']' || c == ',')
            return ja_fail(j, XP_EINVAL, err,
                           apr_psprintf(j->p, "missing before '%c'", c));
        j->state = JA_IN;
        j->first = 0;
        j->depth = j->in_str = j->esc = j->pending_ws = 0;
        j->scalar = c != '{' && c != '[';
        j->str_scalar = c == '"';
        *again = 1;
        return XP_OK;
    case JA_AFTER:
        if (c == ',')
            j->state = JA_BEFORE;
        else if (c == ']')
            j->state = JA_END;
        else
            return xp_error_set(err, j->p, XP_EINVAL,
                                "element %ld is followed by '%c' instead "
                                "of ',' or ']'",
                                j->index, c);
        return XP_OK;
    default:
        return xp_error_set(err, j->p, XP_EINVAL,
                            "text after the closing ']' of the JSON array "
                            "(found '%c')",
                            c);
    }
}

static xp_errcode_e ja_eof(xp_jarray_t *j, xp_line_fn fn, void *baton,
                           xp_error_t *err)
{
    xp_errcode_e rc;

    if (j->state == JA_IN && j->depth == 0 && j->scalar && !j->in_str) {
        if ((rc = ja_done(j, fn, baton, err)) != XP_OK)
            return rc;
    }
    if (j->state == JA_END)
        return XP_OK;
    if (j->state == JA_START)
        return xp_error_set(err, j->p, XP_EINVAL,
                            "the file is empty (expected a JSON array)");
    if (j->state == JA_IN)
        return ja_fail(j, XP_EINVAL, err, "the file ends inside this element");
    return xp_error_set(err, j->p, XP_EINVAL,
                        "the JSON array is not closed: the file ends "
                        "after element %ld without ']'",
                        j->index);
}

/* Inside a string, the bytes before the next quote or backslash need no
 * look each: they go into the element in one copy (most of an element is
 * string content). 0 when there are none, or when the run would pass the
 * limit (ja_put then fails at the exact byte). */
static apr_size_t ja_str_run(xp_jarray_t *j, const char *s, apr_size_t n)
{
    apr_size_t k = 0;

    while (k < n && s[k] != '"' && s[k] != '\\')
        k++;
    if (k == 0 || j->elem.len + k > j->max || !nd_buf_add(&j->elem, s, k))
        return 0;
    return k;
}

xp_errcode_e xp_jarray_feed(xp_jarray_t *j, const char *buf, apr_size_t len,
                            int eof, xp_line_fn fn, void *baton,
                            xp_error_t *err)
{
    apr_size_t i = 0, k;
    xp_errcode_e rc;
    int again;

    while (i < len) {
        if (j->state == JA_IN && j->in_str && !j->esc &&
            (k = ja_str_run(j, buf + i, len - i)) > 0) {
            i += k;
            continue;
        }
        again = 0;
        if (j->state == JA_IN)
            rc = ja_in(j, buf[i], &again, fn, baton, err);
        else
            rc = ja_between(j, buf[i], &again, err);
        if (rc != XP_OK)
            return rc;
        if (!again)
            i++;
    }
    return eof ? ja_eof(j, fn, baton, err) : XP_OK;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                 */
/* ------------------------------------------------------------------ */

/* Add key to the row's unknown keys; the list is made for the first
 * (most rows have none, and the writer need not touch one). */
static void row_unknown(apr_pool_t *p, xp_row_t *row, const char *key)
{
    if (!row->unknown)
        row->unknown = apr_array_make(p, 2, sizeof(const char *));
    APR_ARRAY_PUSH(row->unknown, const char *) = key;
}

typedef struct row_ctx_t {
    apr_pool_t *p, *tmp;
    const xp_section_t *sec;
    xp_row_t *row;
    xp_error_t *err;
    xp_errcode_e rc;
} row_ctx_t;

static const char *const type_names[] = {"string", "int",  "real",
                                         "bool",   "json", "bytes"};

static int row_fits(xp_type_e type, xp_json_kind_e kind, const char *text)
{
    switch (type) {
    case XP_TYPE_INT:
        return kind == XP_JSON_INT;
    case XP_TYPE_REAL:
        return kind == XP_JSON_INT || kind == XP_JSON_REAL;
    case XP_TYPE_BOOL:
        return kind == XP_JSON_BOOL ||
               (kind == XP_JSON_INT &&
                (!strcmp(text, "0") || !strcmp(text, "1")));
    case XP_TYPE_BYTES:
        return kind == XP_JSON_STRING && xp_base64_valid(text);
    default:
        return 1;
    }
}

static int row_member(void *baton, const char *key, const xp_json_t *v)
{
    row_ctx_t *c = baton;
    const apr_array_header_t *cols = c->sec->columns;
    xp_json_kind_e kind = xp_json_kind(v);
    const char *text, *shown;
    xp_type_e type;
    int i;

    /* keys are the columns' names in files (fields=) */
    for (i = 0; i < cols->nelts; i++)
        if (!strcmp(xp_section_name_at(c->sec, i), key))
            break;
    if (i == cols->nelts) {
        row_unknown(c->p, c->row, apr_pstrdup(c->p, key));
        return 0;
    }
    c->row->present[i] = 1;
    if (kind == XP_JSON_NULL)
        return 0;
    text = xp_json_text(c->p, v);
    type = xp_section_type(c->sec, APR_ARRAY_IDX(cols, i, const char *));
    if (type == XP_TYPE_BYTES && !row_fits(type, kind, text)) {
        c->rc = xp_error_set(c->err, c->p, XP_EINVAL,
                             "column \"%s\": not base64", key);
        return 1;
    }
    if (!row_fits(type, kind, text)) {
        shown = xp_json_dump(c->tmp, v);
        if (shown && strlen(shown) > 60)
            shown = apr_pstrcat(c->tmp, apr_pstrndup(c->tmp, shown, 57), "...",
                                NULL);
        c->rc = xp_error_set(
            c->err, c->p, XP_EINVAL, "column \"%s\": %s is not %s %s", key,
            shown, type == XP_TYPE_INT ? "an" : "a", type_names[type]);
        return 1;
    }
    c->row->values[i] = text;
    return 0;
}

/* xp_json_parse speaks of "line 1, column N" of its text; a row's line
 * number is the caller's, so only the column is kept. */
static xp_errcode_e row_bad_json(apr_pool_t *p, xp_error_t *err)
{
    const char *detail;

    if (!err || !err->message)
        return XP_EINVAL;
    detail = strstr(err->message, "column ");
    detail = detail ? strchr(detail, ':') : NULL;
    /* the message lives in the parse's pool, which is about to go */
    if (detail && err->line <= 1)
        err->message =
            apr_psprintf(p, "invalid JSON at column %d%s", err->column, detail);
    else
        err->message = apr_pstrdup(p, err->message);
    err->line = 0;
    return XP_EINVAL;
}

/* ------------------------------------------------------------------ */
/* The fast path: a flat object of strings, numbers, booleans and nulls */
/* ------------------------------------------------------------------ */

/*
 * Nearly every row of an import is a flat object of scalars, and building
 * a jansson tree for each (a malloc per member, then copying the texts
 * out) was most of an import's time. fast_row reads such a line in one
 * pass straight into the row. It only ever says yes to a line it fully
 * understands and that is valid; anything else (nesting, an error of any
 * kind, a rare form) returns 0 and the line goes to jansson, which
 * decides and words the error. So the two paths cannot disagree on what
 * is accepted, only on speed; fuzz/fuzz_ndjson.c checks that they
 * produce the same row.
 */

typedef struct {
    const unsigned char *s, *end;
    apr_pool_t *p;
} fast_t;

static void fast_ws(fast_t *f)
{
    while (f->s < f->end &&
           (*f->s == ' ' || *f->s == '\t' || *f->s == '\n' || *f->s == '\r'))
        f->s++;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return 0;
    }
    *out = v;
    return 1;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

/* A string at f->s (on its opening quote): its text, in p; NULL to fall
 * back (an invalid or unusual string, \u0000). */
static const char *fast_str(fast_t *f)
{
    const unsigned char *s = ++f->s, *q = s;
    char *out, *w;
    unsigned cp, lo;
    int n;

    /* plain ASCII/UTF-8 without escapes is the common case: copy once */
    while (q < f->end && *q != '"' && *q != '\\') {
        if (*q < 0x20)
            return NULL;
        if (*q < 0x80) {
            q++;
        } else if ((n = xp_utf8_len(q, f->end)) > 0) {
            q += n;
        } else {
            return NULL;
        }
    }
    if (q >= f->end)
        return NULL;
    if (*q == '"') {
        f->s = q + 1;
        return apr_pstrmemdup(f->p, (const char *)s, q - s);
    }
    /* escapes: the text only gets shorter (a \u escape is 6 bytes for at
     * most 3, a surrogate pair 12 for 4) */
    w = out = apr_palloc(f->p, f->end - s + 1);
    memcpy(w, s, q - s);
    w += q - s;
    while (q < f->end && *q != '"') {
        if (*q < 0x20)
            return NULL;
        if (*q >= 0x80) {
            if ((n = xp_utf8_len(q, f->end)) == 0)
                return NULL;
            memcpy(w, q, n);
            w += n;
            q += n;
            continue;
        }
        if (*q != '\\') {
            *w++ = (char)*q++;
            continue;
        }
        if (++q >= f->end)
            return NULL;
        switch (*q++) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (f->end - q < 4 || !hex4(q, &cp) || cp == 0)
                return NULL;
            q += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return NULL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (f->end - q < 6 || q[0] != '\\' || q[1] != 'u' ||
                    !hex4(q + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            w = put_utf8(w, cp);
            break;
        default:
            return NULL;
        }
    }
    if (q >= f->end)
        return NULL;
    f->s = q + 1;
    *w = '\0';
    return out;
}

/* A number at f->s: its text as xp_json_text renders it and whether it
 * is an integer; NULL to fall back (not JSON's number syntax, an integer
 * jansson might refuse as too big, a real out of range). */
static const char *fast_num(fast_t *f, int *is_int)
{
    const unsigned char *s = f->s, *q = s;
    char buf[64], *e;
    double d;
    int digits = 0;

    if (*q == '-')
        q++;
    if (q < f->end && *q == '0') {
        q++;
        digits = 1;
    } else {
        while (q < f->end && *q >= '0' && *q <= '9')
            q++, digits++;
    }
    if (digits == 0)
        return NULL;
    *is_int = 1;
    if (q < f->end && *q == '.') {
        *is_int = 0;
        if (++q >= f->end || *q < '0' || *q > '9')
            return NULL;
        while (q < f->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < f->end && (*q == 'e' || *q == 'E')) {
        *is_int = 0;
        if (++q < f->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= f->end || *q < '0' || *q > '9')
            return NULL;
        while (q < f->end && *q >= '0' && *q <= '9')
            q++;
    }
    if ((apr_size_t)(q - s) >= sizeof(buf))
        return NULL;
    f->s = q;
    if (*is_int) {
        /* 18 digits always fit in int64; "-0" is jansson's 0 */
        if (digits > 18 || (q - s == 2 && s[0] == '-' && s[1] == '0'))
            return NULL;
        return apr_pstrmemdup(f->p, (const char *)s, q - s);
    }
    if (xp_json_real_canonical((const char *)s, q - s))
        return apr_pstrmemdup(f->p, (const char *)s, q - s);
    memcpy(buf, s, q - s);
    buf[q - s] = '\0';
    d = strtod(buf, &e);
    if (*e || d > 1.7976931348623157e308 || d < -1.7976931348623157e308)
        return NULL;
    return xp_json_real_text(f->p, d);
}

/* The key at f->s (its opening quote) when it is spelled exactly as the
 * column *next expects (files keep the section's order, so nearly
 * always): printable ASCII without escapes, compared where it lies. The
 * column, with f->s past the closing quote and *next moved on; else -1
 * and f->s unmoved, for fast_str and fast_col to decide. Copying every
 * key out (fast_str) to compare it (fast_col) was a third of the reading
 * thread's time in an import of flat rows. */
static int fast_key(fast_t *f, const xp_section_t *sec, int *next,
                    const char **key)
{
    int n = sec->columns->nelts, c = n ? *next % n : 0;
    const unsigned char *q = f->s + 1;
    const char *name;
    apr_size_t i;

    if (n == 0)
        return -1;
    name = xp_section_name_at(sec, c);
    for (i = 0; name[i]; i++)
        if (q + i >= f->end || q[i] != (unsigned char)name[i] || q[i] < 0x20 ||
            q[i] > 0x7e || q[i] == '"' || q[i] == '\\')
            return -1;
    if (q + i >= f->end || q[i] != '"')
        return -1;
    f->s = q + i + 1;
    *next = c + 1;
    *key = name;
    return c;
}

/* Column index of key (a column's name in files), -1 if none. Rows
 * usually carry the columns in the section's order: the search starts at
 * *next, the column after the last one found, so a row costs one
 * comparison per key. */
static int fast_col(const xp_section_t *sec, const char *key, int *next)
{
    int n = sec->columns->nelts, i, c;

    for (i = 0; i < n; i++) {
        c = (*next + i) % n;
        if (!strcmp(xp_section_name_at(sec, c), key)) {
            *next = c + 1;
            return c;
        }
    }
    return -1;
}

/* A scalar value at f->s: its kind (0 null, 1 string, 2 number, 3
 * bool) with *text (NULL for null; numbers: *is_int), or -1 to fall
 * back. */
static int fast_value(fast_t *f, const char **text, int *is_int)
{
    *text = NULL;
    switch (*f->s) {
    case '"':
        return (*text = fast_str(f)) ? 1 : -1;
    case 't':
        if (f->end - f->s < 4 || memcmp(f->s, "true", 4))
            return -1;
        f->s += 4, *text = "1";
        return 3;
    case 'f':
        if (f->end - f->s < 5 || memcmp(f->s, "false", 5))
            return -1;
        f->s += 5, *text = "0";
        return 3;
    case 'n':
        if (f->end - f->s < 4 || memcmp(f->s, "null", 4))
            return -1;
        f->s += 4;
        return 0;
    default:
        return (*text = fast_num(f, is_int)) ? 2 : -1;
    }
}

static int fast_row(apr_pool_t *p, const xp_section_t *sec, const char *line,
                    apr_size_t len, xp_row_t *row)
{
    fast_t f;
    int first = 1, next = 0;

    f.s = (const unsigned char *)line;
    f.end = f.s + len;
    f.p = p;
    fast_ws(&f);
    if (f.s >= f.end || *f.s != '{')
        return 0;
    f.s++;
    for (;;) {
        const char *key, *text = NULL;
        xp_type_e type;
        int col, is_int = 0, kind; /* kind: as fast_value says */

        fast_ws(&f);
        if (f.s >= f.end)
            return 0;
        if (*f.s == '}' && first) {
            f.s++;
            break;
        }
        if (*f.s != '"')
            return 0;
        if ((col = fast_key(&f, sec, &next, &key)) < 0 && !(key = fast_str(&f)))
            return 0;
        fast_ws(&f);
        if (f.s >= f.end || *f.s != ':')
            return 0;
        f.s++;
        fast_ws(&f);
        if (f.s >= f.end)
            return 0;
        if ((kind = fast_value(&f, &text, &is_int)) < 0)
            return 0;
        if (col < 0 && (col = fast_col(sec, key, &next)) < 0) {
            int i;
            for (i = 0; row->unknown && i < row->unknown->nelts; i++)
                if (!strcmp(APR_ARRAY_IDX(row->unknown, i, const char *), key))
                    return 0; /* a duplicate key: jansson's error */
            row_unknown(p, row, key);
        } else {
            if (row->present[col])
                return 0;
            row->present[col] = 1;
            type = xp_section_type(
                sec, APR_ARRAY_IDX(sec->columns, col, const char *));
            /* a value not of the column's type: jansson's path words it */
            if (kind != 0 &&
                ((type == XP_TYPE_INT && !(kind == 2 && is_int)) ||
                 (type == XP_TYPE_REAL && kind != 2) ||
                 (type == XP_TYPE_BOOL && kind != 3 &&
                  !(kind == 2 && is_int && (!strcmp(text, "0") ||
                                            !strcmp(text, "1")))) ||
                 (type == XP_TYPE_BYTES &&
                  (kind != 1 || !xp_base64_valid(text)))))
                return 0;
            row->values[col] = text;
        }
        first = 0;
        fast_ws(&f);
        if (f.s >= f.end)
            return 0;
        if (*f.s == '}') {
            f.s++;
            break;
        }
        if (*f.s != ',')
            return 0;
        f.s++;
    }
    fast_ws(&f);
    return f.s == f.end;
}

/* The row as fresh: nothing present, no unknown keys. */
static void row_init(apr_pool_t *p, int ncols, xp_row_t *row)
{
    row->values = apr_pcalloc(p, sizeof(const char *) * (ncols + 1));
    row->present = apr_pcalloc(p, ncols + 1);
    row->unknown = NULL;
}

xp_errcode_e xp_row_parse(apr_pool_t *p, const xp_section_t *sec,
                          const char *line, apr_size_t len, xp_row_t *row,
                          xp_error_t *err)
{
    int ncols = sec->columns ? sec->columns->nelts : 0;

    if (sec->columns) {
        row_init(p, ncols, row);
        if (fast_row(p, sec, line, len, row))
            return XP_OK;
    }
    return xp_row_parse_slow(p, sec, line, len, row, err);
}

/* The reference: jansson's tree, walked member by member. */
xp_errcode_e xp_row_parse_slow(apr_pool_t *p, const xp_section_t *sec,
                               const char *line, apr_size_t len, xp_row_t *row,
                               xp_error_t *err)
{
    int ncols = sec->columns ? sec->columns->nelts : 0;
    static const apr_array_header_t no_cols;
    row_ctx_t c;
    xp_json_t *o;
    xp_section_t tmp_sec;

    row_init(p, ncols, row);
    /* The parsed tree is scaffolding: it dies with tmp, only the texts
     * copied into p stay. */
    memset(&c, 0, sizeof(c));
    c.p = p;
    c.row = row;
    c.err = err;
    c.sec = sec;
    if (!sec->columns) {
        tmp_sec = *sec;
        tmp_sec.columns = (apr_array_header_t *)&no_cols;
        c.sec = &tmp_sec;
    }
    apr_pool_create(&c.tmp, p);
    o = xp_json_parse(c.tmp, line, len, err);
    if (!o)
        c.rc = row_bad_json(p, err);
    else if (!xp_json_is_object(o))
        c.rc = xp_error_set(err, p, XP_EINVAL,
                            "not a JSON object (each row must be one "
                            "object of column: value)");
    else
        xp_json_members(o, row_member, &c);
    apr_pool_destroy(c.tmp);
    return c.rc;
}
