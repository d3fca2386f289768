/*
 * json.c -- the one wrapper around jansson, plus the byte buffer and the
 * fast JSON string escaper used by the row writer.
 *
 * Why a wrapper: the rest of the engine must not care about jansson's
 * reference counting. Every xp_json_t is tied to a pool; a pool cleanup
 * drops its reference, so a value lives exactly as long as the pool that
 * handed it out (mod_md does the same with md_json_t).
 *
 * Why a separate escaper: an export writes millions of values; building a
 * json_t per value and dumping it would dominate the run time. The escaper
 * copies runs of plain bytes with memcpy and only looks closer at the few
 * bytes a lookup table marks (controls, quote, backslash, non-ASCII).
 */
#include <string.h>
#include <stdlib.h>

#include <apr_strings.h>
#include <jansson.h>

#include "xp_json.h"

/* Deepest nesting of arrays/objects a parsed document may have (SPEC 6). */
#define XP_JSON_MAX_DEPTH 64

struct xp_json_t {
    json_t *j;
    apr_pool_t *pool;
};

/* ------------------------------------------------------------------ */
/* Lifetime                                                             */
/* ------------------------------------------------------------------ */

static apr_status_t json_pool_cleanup(void *data)
{
    xp_json_t *w = data;
    if (w->j) {
        json_decref(w->j);
        w->j = NULL;
    }
    return APR_SUCCESS;
}

/* Wrap j, taking over one reference that the caller owns. */
static xp_json_t *json_wrap(apr_pool_t *p, json_t *j)
{
    xp_json_t *w;

    if (!j)
        return NULL;
    w = apr_pcalloc(p, sizeof(*w));
    w->j = j;
    w->pool = p;
    apr_pool_cleanup_register(p, w, json_pool_cleanup, apr_pool_cleanup_null);
    return w;
}

xp_json_t *xp_json_object(apr_pool_t *p)
{
    return json_wrap(p, json_object());
}

xp_json_t *xp_json_array(apr_pool_t *p)
{
    return json_wrap(p, json_array());
}

xp_json_t *xp_json_string(apr_pool_t *p, const char *s)
{
    return json_wrap(p, json_string(s ? s : ""));
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

/*
 * jansson has no depth option (only a compile-time limit of 2048), so the
 * text is scanned once more after a successful parse. The text is known to
 * be valid JSON then, which keeps the scanner trivial; scanning the text
 * rather than the tree lets the error name the exact line and column.
 * Columns count characters (UTF-8 code points), as jansson's do.
 */
static int json_depth_exceeded(const char *s, apr_size_t len, int *line,
                               int *col)
{
    apr_size_t i;
    int depth = 0, in_str = 0, esc = 0;

    *line = 1;
    *col = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80)
            (*col)++;
        if (c == '\n') {
            (*line)++;
            *col = 0;
        }
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > XP_JSON_MAX_DEPTH)
                return 1;
        } else if (c == ']' || c == '}')
            depth--;
    }
    return 0;
}

/* jansson names its own flag in one message; say it in a user's words. */
static const char *json_error_text(const char *text)
{
    if (strstr(text, "JSON_ALLOW_NUL"))
        return "NUL characters (\\u0000) are not allowed in strings";
    return text;
}

xp_json_t *xp_json_parse(apr_pool_t *p, const char *text, apr_size_t len,
                         xp_error_t *err)
{
    json_error_t jerr;
    json_t *j;
    int line, col;

    /* JSON_ALLOW_NUL is deliberately absent: \u0000 is refused. */
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        xp_error_set(
            err, p, XP_EINVAL, "invalid JSON at line %d, column %d: %s",
            jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1,
            json_error_text(jerr.text));
        if (err) {
            err->line = jerr.line > 0 ? jerr.line : 0;
            err->column = jerr.column > 0 ? jerr.column : 0;
        }
        return NULL;
    }
    if (json_depth_exceeded(text, len, &line, &col)) {
        json_decref(j);
        xp_error_set(err, p, XP_EINVAL,
                     "invalid JSON at line %d, column %d: nesting deeper "
                     "than %d levels",
                     line, col, XP_JSON_MAX_DEPTH);
        if (err) {
            err->line = line;
            err->column = col;
        }
        return NULL;
    }
    return json_wrap(p, j);
}

/* ------------------------------------------------------------------ */
/* Setters                                                              */
/* ------------------------------------------------------------------ */

/* json_object_set_new takes over v's reference and ignores NULL values
 * (returns -1), so a failed allocation never leaks. */
static void json_set_new(xp_json_t *o, const char *key, json_t *v)
{
    if (o && json_is_object(o->j) && key)
        json_object_set_new(o->j, key, v);
    else
        json_decref(v);
}

static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n,
                           apr_size_t *skip);

/* A JSON string of s; NULL -> null. json_string refuses invalid UTF-8;
 * rather than dropping the value, broken sequences become U+FFFD, the
 * same rule the row writer applies. The repaired copy lives in p. */
static json_t *json_str_lossy(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t n, i = 0, len, skip;
    xp_buf_t b;
    json_t *v;

    if (!s)
        return json_null();
    if ((v = json_string(s)) != NULL)
        return v;
    n = strlen(s);
    xp_buf_init(&b, p, n + 16);
    while (i < n) {
        if (u[i] < 0x80) {
            xp_buf_addc(&b, (char)u[i++]);
            continue;
        }
        len = utf8_seq(u + i, n - i, &skip);
        if (len) {
            xp_buf_add(&b, s + i, len);
            i += len;
        } else {
            xp_buf_add(&b, "\xEF\xBF\xBD", 3);
            i += skip;
        }
    }
    v = json_string(b.data);
    return v ? v : json_null();
}

void xp_json_set_str(xp_json_t *o, const char *key, const char *s)
{
    if (o)
        json_set_new(o, key, json_str_lossy(o->pool, s));
}

void xp_json_set_int(xp_json_t *o, const char *key, apr_int64_t v)
{
    json_set_new(o, key, json_integer((json_int_t)v));
}

void xp_json_set_real(xp_json_t *o, const char *key, double v)
{
    json_set_new(o, key, json_real(v));
}

void xp_json_set_bool(xp_json_t *o, const char *key, int v)
{
    json_set_new(o, key, json_boolean(v));
}

void xp_json_set_null(xp_json_t *o, const char *key)
{
    json_set_new(o, key, json_null());
}

void xp_json_set(xp_json_t *o, const char *key, xp_json_t *v)
{
    /* json_object_set adds a reference: v stays owned by its pool. */
    if (o && json_is_object(o->j) && key)
        json_object_set(o->j, key, v && v->j ? v->j : json_null());
}

void xp_json_append_str(xp_json_t *a, const char *s)
{
    if (a && json_is_array(a->j))
        json_array_append_new(a->j, json_str_lossy(a->pool, s));
}

void xp_json_append(xp_json_t *a, xp_json_t *v)
{
    if (a && json_is_array(a->j))
        json_array_append(a->j, v && v->j ? v->j : json_null());
}

/* ------------------------------------------------------------------ */
/* Getters                                                              */
/* ------------------------------------------------------------------ */

static json_t *json_member(const xp_json_t *o, const char *key)
{
    if (!o || !json_is_object(o->j) || !key)
        return NULL;
    return json_object_get(o->j, key);
}

xp_json_t *xp_json_get(apr_pool_t *p, const xp_json_t *o, const char *key)
{
    json_t *v = json_member(o, key);
    return v ? json_wrap(p, json_incref(v)) : NULL;
}

const char *xp_json_get_str(const xp_json_t *o, const char *key)
{
    json_t *v = json_member(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

apr_int64_t xp_json_get_int(const xp_json_t *o, const char *key,
                            apr_int64_t dflt)
{
    json_t *v = json_member(o, key);
    return json_is_integer(v) ? (apr_int64_t)json_integer_value(v) : dflt;
}

int xp_json_get_bool(const xp_json_t *o, const char *key, int dflt)
{
    json_t *v = json_member(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

int xp_json_has(const xp_json_t *o, const char *key)
{
    return json_member(o, key) != NULL;
}

int xp_json_is_object(const xp_json_t *j)
{
    return j && json_is_object(j->j);
}

int xp_json_is_array(const xp_json_t *j)
{
    return j && json_is_array(j->j);
}

int xp_json_is_string(const xp_json_t *j)
{
    return j && json_is_string(j->j);
}

apr_size_t xp_json_size(const xp_json_t *a)
{
    if (!a)
        return 0;
    if (json_is_array(a->j))
        return json_array_size(a->j);
    if (json_is_object(a->j))
        return json_object_size(a->j);
    return 0;
}

xp_json_t *xp_json_at(apr_pool_t *p, const xp_json_t *a, apr_size_t i)
{
    json_t *v;

    if (!a || !json_is_array(a->j))
        return NULL;
    v = json_array_get(a->j, i);
    return v ? json_wrap(p, json_incref(v)) : NULL;
}

const char *xp_json_str_value(const xp_json_t *j)
{
    return j && json_is_string(j->j) ? json_string_value(j->j) : NULL;
}

/* ------------------------------------------------------------------ */
/* Serialising                                                          */
/* ------------------------------------------------------------------ */

static const char *json_dump_flags(apr_pool_t *p, const xp_json_t *j,
                                   size_t flags)
{
    char *s, *copy;

    if (!j || !j->j)
        return NULL;
    /* 15 significant digits (DBL_DIG): jansson's default of 17 prints a
     * percentage of 24.3 as 24.300000000000001. */
    s = json_dumps(j->j, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                             JSON_REAL_PRECISION(15));
    if (!s)
        return NULL;
    copy = apr_pstrdup(p, s);
    free(s);
    return copy;
}

const char *xp_json_dump(apr_pool_t *p, const xp_json_t *j)
{
    return json_dump_flags(p, j, JSON_COMPACT);
}

const char *xp_json_dump_pretty(apr_pool_t *p, const xp_json_t *j)
{
    return json_dump_flags(p, j, JSON_INDENT(2));
}

/* ------------------------------------------------------------------ */
/* Byte buffer                                                          */
/* ------------------------------------------------------------------ */

/* data is kept NUL-terminated (cap > len) so it can be used as a string. */
void xp_buf_init(xp_buf_t *b, apr_pool_t *p, apr_size_t cap)
{
    b->pool = p;
    b->cap = cap < 64 ? 64 : cap;
    b->data = apr_palloc(p, b->cap);
    b->len = 0;
    b->data[0] = '\0';
}

void xp_buf_reset(xp_buf_t *b)
{
    b->len = 0;
    b->data[0] = '\0';
}

/* Make room for n more bytes plus the terminator (the inline
 * xp_buf_add and xp_buf_addc call this only when it is missing).
 * Doubling keeps the number of copies logarithmic; the old block stays
 * in the pool until it is cleared, which is why row writers use a
 * per-batch subpool. */
void xp_buf_grow(xp_buf_t *b, apr_size_t n)
{
    apr_size_t cap;
    char *d;

    if (b->len + n < b->cap)
        return;
    cap = b->cap;
    while (b->len + n >= cap)
        cap *= 2;
    d = apr_palloc(b->pool, cap);
    memcpy(d, b->data, b->len);
    b->data = d;
    b->cap = cap;
}

void xp_buf_adds(xp_buf_t *b, const char *s)
{
    xp_buf_add(b, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* JSON string escaper                                                  */
/* ------------------------------------------------------------------ */

/*
 * Byte classes: 0 = copy as is, 'u' = \u00XX, a letter = that short
 * escape (\n, \t ...), '"' / '\\' = escape with a backslash, 8 = start of
 * a non-ASCII sequence that must be validated as UTF-8.
 */
#define U_ 'u'
#define H_ 8
static const unsigned char esc_class[256] = {
    [0x00 ... 0x07] = U_, [0x08] = 'b',         [0x09] = 't',
    [0x0A] = 'n',         [0x0B] = U_,          [0x0C] = 'f',
    [0x0D] = 'r',         [0x0E ... 0x1F] = U_, ['"'] = '"',
    ['\\'] = '\\',        [0x80 ... 0xFF] = H_,
};

static const char hexdig[] = "0123456789abcdef";

/*
 * Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if invalid. *skip receives how
 * many bytes form the maximal invalid prefix, so one U+FFFD replaces each
 * broken sequence (Unicode's "maximal subpart" practice).
 */
static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n,
                           apr_size_t *skip)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    apr_size_t need, i;

    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        *skip = 1;
        return 0;
    }
    for (i = 1; i < need; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *skip = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

/* Eight bytes tested at once (SWAR): has_zero(w) is nonzero exactly
 * when a byte of w is zero. */
#define XP_ONES 0x0101010101010101ULL
#define XP_HIGH 0x8080808080808080ULL
static apr_uint64_t has_zero(apr_uint64_t w)
{
    return (w - XP_ONES) & ~w & XP_HIGH;
}

/* 1 when none of the eight bytes in w needs an escape: none below 0x20,
 * no '"', no '\\', none non-ASCII (which must be checked as UTF-8). */
static int word_plain(apr_uint64_t w)
{
    apr_uint64_t ctl = (w - 0x20 * XP_ONES) & ~w & XP_HIGH;

    return (ctl | has_zero(w ^ ('"' * XP_ONES)) |
            has_zero(w ^ ('\\' * XP_ONES)) | (w & XP_HIGH)) == 0;
}

/* Copy the bytes of s that need no escape, up to the first that does
 * (or n), to o; their count. Most values are short plain ASCII: copied
 * while scanned, a word at a time, without a memcpy call per run. */
static apr_size_t plain_run(const unsigned char *s, apr_size_t n,
                            unsigned char *o)
{
    apr_size_t i = 0;
    apr_uint64_t w;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (!word_plain(w))
            break;
        memcpy(o + i, &w, 8);
    }
    for (; i < n && esc_class[s[i]] == 0; i++)
        o[i] = s[i];
    return i;
}

void xp_buf_add_json_str(xp_buf_t *b, const char *str, apr_size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    apr_size_t i = 0, run, len, skip;
    char *o;

    /* Room for the plain case (input + quotes) is reserved up front, so
     * runs of plain bytes need no bounds check; only the rare escapes
     * check for their extra bytes (at most 6 per input byte). */
    xp_buf_grow(b, n + 2);
    o = b->data + b->len;
    *o++ = '"';
    while (i < n) {
        run = plain_run(s + i, n - i, (unsigned char *)o);
        i += run;
        o += run;
        if (i >= n)
            break;
        if ((apr_size_t)(b->data + b->cap - o) < (n - i) + 8) {
            b->len = (apr_size_t)(o - b->data);
            xp_buf_grow(b, (n - i) + 8 + (n - i) / 2);
            o = b->data + b->len;
        }
        switch (esc_class[s[i]]) {
        case H_:
            len = utf8_seq(s + i, n - i, &skip);
            if (len) {
                memcpy(o, s + i, len);
                o += len;
                i += len;
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
                o += 3;
                i += skip;
            }
            break;
        case U_:
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hexdig[s[i] >> 4];
            *o++ = hexdig[s[i] & 0xF];
            i++;
            break;
        default: /* short escapes and the two that escape themselves */
            *o++ = '\\';
            *o++ = (char)esc_class[s[i]];
            i++;
            break;
        }
    }
    *o++ = '"';
    b->len = (apr_size_t)(o - b->data);
    b->data[b->len] = '\0';
}

/* ------------------------------------------------------------------ */
/* Walking values                                                       */
/* ------------------------------------------------------------------ */

xp_json_kind_e xp_json_kind(const xp_json_t *j)
{
    if (!j || !j->j)
        return XP_JSON_NULL;
    switch (json_typeof(j->j)) {
    case JSON_OBJECT:
        return XP_JSON_OBJECT;
    case JSON_ARRAY:
        return XP_JSON_ARRAY;
    case JSON_STRING:
        return XP_JSON_STRING;
    case JSON_INTEGER:
        return XP_JSON_INT;
    case JSON_REAL:
        return XP_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return XP_JSON_BOOL;
    default:
        return XP_JSON_NULL;
    }
}

int xp_json_members(const xp_json_t *o, xp_json_member_fn fn, void *baton)
{
    const char *key;
    json_t *v;
    xp_json_t tmp;
    int rv;

    if (!o || !json_is_object(o->j))
        return 0;
    /* A stack wrapper: no pool cleanup per member, no reference taken,
     * which is why v must not outlive the call. */
    tmp.pool = o->pool;
    json_object_foreach(o->j, key, v)
    {
        tmp.j = v;
        if ((rv = fn(baton, key, &tmp)) != 0)
            return rv;
    }
    return 0;
}

/* The shortest of %.15g / %.16g / %.17g that reads back as the same
 * double: 24.3 stays "24.3" instead of "24.300000000000001". A ".0" keeps
 * an integral real recognisable as a real. apr_snprintf (which, unlike
 * the C library's, never writes a locale's decimal comma) leaves out the
 * 0 before the point: put back, as JSON, SQLite and PostgreSQL write it. */
const char *xp_json_real_text(apr_pool_t *p, double d)
{
    char buf[64];
    int prec;

    for (prec = 15; prec <= 17; prec++) {
        apr_snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (buf[0] == '.')
        return apr_pstrcat(p, "0", buf, NULL);
    if (buf[0] == '-' && buf[1] == '.')
        return apr_pstrcat(p, "-0", buf + 1, NULL);
    if (!strpbrk(buf, ".eEn")) /* n: inf/nan cannot come from JSON */
        return apr_pstrcat(p, buf, ".0", NULL);
    return apr_pstrdup(p, buf);
}

/* Fifteen significant digits make the same decimal again through a
 * double (DBL_DIG): %.15g gives back the literal, which reads back as the
 * same double. */
int xp_json_real_canonical(const char *s, apr_size_t n)
{
    const char *end = s + n, *dot;
    int sig = 0, lead = 0;

    if (s < end && *s == '-')
        s++;
    if (!(dot = memchr(s, '.', end - s)) || dot == s || dot + 1 == end ||
        end[-1] == '0' || (*s == '0' && dot != s + 1))
        return 0;
    if (*s == '0') /* 0.000123: the zeros after the point are no digits */
        for (; dot + 1 + lead < end && dot[1 + lead] == '0'; lead++)
            ;
    else
        sig = (int)(dot - s);
    sig += (int)(end - dot - 1) - lead;
    for (; s < end; s++)
        if ((*s < '0' || *s > '9') && s != dot)
            return 0;
    return sig <= 15 && lead <= 3; /* 0.0001 is written so, 0.00001 not */
}

/* ------------------------------------------------------------------ */
/* Text that is already its own compact dump                            */
/* ------------------------------------------------------------------ */
/*
 * xp_json_dump_same says in one pass, building nothing, whether parsing a
 * text and dumping it compact (xp_json_dump) gives the same bytes back;
 * a JSON column stored compact, as most are, is then copied instead. It
 * answers 0 whenever jansson could write anything else: whitespace,
 * \u and \/ escapes (jansson writes most characters as themselves), a
 * number written otherwise than %lld or %.15g would, a key twice in one
 * object (jansson refuses the text), more than JC_KEYS keys in one
 * object or JC_DEPTH levels (rather than keep more), a text jansson
 * refuses. The caller then takes the long way, which is always right.
 */
#define JC_DEPTH 32
#define JC_KEYS 32

typedef struct {
    const unsigned char *s, *end;
    int depth;
} jc_t;

static int jc_value(jc_t *c);

/* A string as jansson writes one: UTF-8, no control character, only "
 * and \ escaped, and control characters in their short forms. */
static int jc_string(jc_t *c)
{
    const unsigned char *s = c->s + 1;
    apr_size_t len, skip;
    apr_uint64_t w;

    while (s < c->end) {
        if (c->end - s >= 8 && (memcpy(&w, s, 8), word_plain(w))) {
            s += 8;
            continue;
        }
        if (*s == '"') {
            c->s = s + 1;
            return 1;
        }
        if (*s == '\\') {
            if (s + 1 == c->end || !memchr("\"\\bfnrt", s[1], 7))
                return 0;
            s += 2;
        } else if (*s < 0x20)
            return 0;
        else if (*s < 0x80)
            s++;
        else if ((len = utf8_seq(s, (apr_size_t)(c->end - s), &skip)) > 0)
            s += len;
        else
            return 0;
    }
    return 0;
}

/* A number as jansson writes it: an integer of at most 18 digits (not
 * -0), or a real that is its own %.15g (xp_json_real_canonical). */
static int jc_number(jc_t *c)
{
    const unsigned char *b = c->s, *s = b, *digits;
    int real = 0;

    if (s < c->end && *s == '-')
        s++;
    digits = s;
    if (s < c->end && *s == '0')
        s++;
    else
        while (s < c->end && *s >= '0' && *s <= '9')
            s++;
    if (s == digits)
        return 0;
    if (s < c->end && *s == '.') {
        real = 1;
        for (s++; s < c->end && *s >= '0' && *s <= '9'; s++)
            ;
    }
    if (s < c->end && (*s == 'e' || *s == 'E'))
        return 0;
    if (real ? !xp_json_real_canonical((const char *)b, (apr_size_t)(s - b))
             : s - digits > 18 || (b != digits && *digits == '0'))
        return 0;
    c->s = s;
    return 1;
}

/* 1, and past it, when the next byte is ch. */
static int jc_at(jc_t *c, char ch)
{
    if (c->s == c->end || *c->s != (unsigned char)ch)
        return 0;
    c->s++;
    return 1;
}

/* The rest of an object after its '{': keys told apart byte for byte,
 * which is exact for strings that pass jc_string (one way to write each
 * character). */
static int jc_object(jc_t *c)
{
    const unsigned char *keys[JC_KEYS], *k;
    apr_size_t lens[JC_KEYS];
    int n = 0, i;

    if (jc_at(c, '}'))
        return 1;
    for (;;) {
        k = c->s;
        if (n == JC_KEYS || k == c->end || *k != '"' || !jc_string(c))
            return 0;
        lens[n] = (apr_size_t)(c->s - k);
        for (i = 0; i < n; i++)
            if (lens[i] == lens[n] && memcmp(keys[i], k, lens[n]) == 0)
                return 0;
        keys[n++] = k;
        if (!jc_at(c, ':') || !jc_value(c))
            return 0;
        if (jc_at(c, '}'))
            return 1;
        if (!jc_at(c, ','))
            return 0;
    }
}

/* The rest of an array after its '['. */
static int jc_array(jc_t *c)
{
    if (jc_at(c, ']'))
        return 1;
    for (;;) {
        if (!jc_value(c))
            return 0;
        if (jc_at(c, ']'))
            return 1;
        if (!jc_at(c, ','))
            return 0;
    }
}

static int jc_word(jc_t *c, const char *w, apr_size_t n)
{
    if ((apr_size_t)(c->end - c->s) < n || memcmp(c->s, w, n) != 0)
        return 0;
    c->s += n;
    return 1;
}

static int jc_value(jc_t *c)
{
    int r;

    if (c->s == c->end || ++c->depth > JC_DEPTH)
        return 0;
    switch (*c->s) {
    case '{':
        c->s++;
        r = jc_object(c);
        break;
    case '[':
        c->s++;
        r = jc_array(c);
        break;
    case '"':
        r = jc_string(c);
        break;
    case 't':
        r = jc_word(c, "true", 4);
        break;
    case 'f':
        r = jc_word(c, "false", 5);
        break;
    case 'n':
        r = jc_word(c, "null", 4);
        break;
    default:
        r = jc_number(c);
        break;
    }
    c->depth--;
    return r;
}

int xp_json_dump_same(const char *s, apr_size_t n)
{
    jc_t c = {(const unsigned char *)s, (const unsigned char *)s + n, 0};

    return jc_value(&c) && c.s == c.end;
}

const char *xp_json_text(apr_pool_t *p, const xp_json_t *j)
{
    if (!j || !j->j)
        return NULL;
    switch (json_typeof(j->j)) {
    case JSON_STRING:
        return apr_pstrmemdup(p, json_string_value(j->j),
                              json_string_length(j->j));
    case JSON_INTEGER:
        return apr_psprintf(p, "%" APR_INT64_T_FMT,
                            (apr_int64_t)json_integer_value(j->j));
    case JSON_REAL:
        return xp_json_real_text(p, json_real_value(j->j));
    case JSON_TRUE:
        return "1";
    case JSON_FALSE:
        return "0";
    case JSON_NULL:
        return NULL;
    default:
        return json_dump_flags(p, j, JSON_COMPACT);
    }
}

/* ------------------------------------------------------------------ */
/* The API's data kept with a job                                      */
/* ------------------------------------------------------------------ */

xp_errcode_e xp_json_set_api_data(apr_pool_t *p, xp_json_t *opt,
                                  const char *text, xp_error_t *err)
{
    xp_json_t *v;

    if (!text)
        return XP_OK;
    if (!(v = xp_json_parse(p, text, strlen(text), err))) {
        if (err)
            err->field = "api_data";
        return XP_EINVAL;
    }
    xp_json_set(opt, "api_data", v);
    return XP_OK;
}

xp_json_t *xp_job_api_data(apr_pool_t *p, const xp_job_t *job)
{
    xp_json_t *o;

    if (!job->options || !*job->options ||
        !(o = xp_json_parse(p, job->options, strlen(job->options), NULL)))
        return NULL;
    return xp_json_get(p, o, "api_data");
}
