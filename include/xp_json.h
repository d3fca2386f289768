/*
 * xp_json.h -- the one wrapper around jansson. The rest of the code speaks
 * xp_json_t; a value made with a pool is released (json_decref) when the
 * pool is cleared, so callers never pair incref/decref by hand.
 */
#ifndef XP_JSON_H
#define XP_JSON_H

#include <string.h>

#include <apr_pools.h>
#include <apr_tables.h>
#include "xport.h"

typedef struct xp_json_t xp_json_t; /* opaque: wraps json_t* */

xp_json_t *xp_json_object(apr_pool_t *p);
xp_json_t *xp_json_array(apr_pool_t *p);
xp_json_t *xp_json_string(apr_pool_t *p, const char *s); /* UTF-8 */
/* Parse text (len bytes). Rejects duplicate keys, NUL in strings, depth > 64.
 * On failure returns NULL and fills err with line/column. */
xp_json_t *xp_json_parse(apr_pool_t *p, const char *text, apr_size_t len,
                         xp_error_t *err);

/* Setters on objects (take copies). s may be NULL -> JSON null. */
void xp_json_set_str(xp_json_t *o, const char *key, const char *s);
void xp_json_set_int(xp_json_t *o, const char *key, apr_int64_t v);
void xp_json_set_real(xp_json_t *o, const char *key, double v);
void xp_json_set_bool(xp_json_t *o, const char *key, int v);
void xp_json_set_null(xp_json_t *o, const char *key);
void xp_json_set(xp_json_t *o, const char *key,
                 xp_json_t *v); /* v stays valid */
/* Appenders on arrays. */
void xp_json_append_str(xp_json_t *a, const char *s);
void xp_json_append(xp_json_t *a, xp_json_t *v);

/* Getters (NULL / default when missing or of another type). The returned
 * xp_json_t of xp_json_get is owned by p. */
xp_json_t *xp_json_get(apr_pool_t *p, const xp_json_t *o, const char *key);
const char *xp_json_get_str(const xp_json_t *o, const char *key);
apr_int64_t xp_json_get_int(const xp_json_t *o, const char *key,
                            apr_int64_t dflt);
int xp_json_get_bool(const xp_json_t *o, const char *key, int dflt);
int xp_json_has(const xp_json_t *o, const char *key);
int xp_json_is_object(const xp_json_t *j);
int xp_json_is_array(const xp_json_t *j);
int xp_json_is_string(const xp_json_t *j);
apr_size_t xp_json_size(const xp_json_t *a); /* array length / object size */
xp_json_t *xp_json_at(apr_pool_t *p, const xp_json_t *a, apr_size_t i);
const char *xp_json_str_value(const xp_json_t *j); /* string value or NULL */

/* Serialise compactly (no spaces, keys in insertion order), allocated from p.
 */
const char *xp_json_dump(apr_pool_t *p, const xp_json_t *j);
/* Serialise with 2-space indentation, keys in insertion order. */
const char *xp_json_dump_pretty(apr_pool_t *p, const xp_json_t *j);

/* Append s as a JSON string literal (with quotes, escaped) to buf.
 * Fast path used by the row writer: no jansson objects per value. */
typedef struct xp_buf_t {
    char *data;
    apr_size_t len, cap;
    apr_pool_t *pool;
} xp_buf_t;
void xp_buf_init(xp_buf_t *b, apr_pool_t *p, apr_size_t cap);
void xp_buf_reset(xp_buf_t *b);
/* Room for n more bytes and the terminator, however much is there. */
void xp_buf_grow(xp_buf_t *b, apr_size_t n);
/* Inline: the row writer appends several pieces per value. */
static inline void xp_buf_add(xp_buf_t *b, const char *s, apr_size_t n)
{
    if (b->len + n >= b->cap)
        xp_buf_grow(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}
static inline void xp_buf_addc(xp_buf_t *b, char c)
{
    if (b->len + 1 >= b->cap)
        xp_buf_grow(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}
void xp_buf_adds(xp_buf_t *b, const char *s);
/* JSON string literal of s (n bytes). Invalid UTF-8 is replaced by U+FFFD. */
void xp_buf_add_json_str(xp_buf_t *b, const char *s, apr_size_t n);

/* Walking a parsed document without wrapping every value (the row
 * parser looks at each member of millions of objects). */
typedef enum {
    XP_JSON_NULL = 0,
    XP_JSON_BOOL,
    XP_JSON_INT,
    XP_JSON_REAL,
    XP_JSON_STRING,
    XP_JSON_ARRAY,
    XP_JSON_OBJECT
} xp_json_kind_e;
xp_json_kind_e xp_json_kind(const xp_json_t *j);
/* Calls fn for each member of object o in document order; v is only valid
 * during the call. Stops at and returns the first non-zero result of fn. */
typedef int (*xp_json_member_fn)(void *baton, const char *key,
                                 const xp_json_t *v);
int xp_json_members(const xp_json_t *o, xp_json_member_fn fn, void *baton);
/* A value as column text: a string's text, a number's JSON text (reals
 * in their shortest round-trip form), "1"/"0" for true/false, compact
 * JSON for arrays/objects, NULL for null. */
const char *xp_json_text(apr_pool_t *p, const xp_json_t *j);
/* A real as xp_json_text renders it: the shortest %.15g-%.17g that reads
 * back the same, with ".0" when it would look integral. */
const char *xp_json_real_text(apr_pool_t *p, double d);
/* 1 when the JSON number s[0..n) with a fraction is already what
 * xp_json_real_text makes of it: a plain decimal ("-12.5", "0.037") of at
 * most 15 significant digits, the last of its fraction not 0, that %g
 * does not write with an exponent. Such a literal is its own text. */
int xp_json_real_canonical(const char *s, apr_size_t n);
/* 1 when xp_json_dump of the value parsed from s[0..n) would be those
 * bytes again (compact JSON written as jansson writes it), so s can be
 * copied as it is; 0 means parse and dump to know. */
int xp_json_dump_same(const char *s, apr_size_t n);

/* The data an API keeps with a job (xp_export_params_t.api_data): set
 * into the options object opt as "api_data" (text must be JSON: else
 * XP_EINVAL naming api_data), and read back from a job (NULL when
 * none). */
xp_errcode_e xp_json_set_api_data(apr_pool_t *p, xp_json_t *opt,
                                  const char *text, xp_error_t *err);
xp_json_t *xp_job_api_data(apr_pool_t *p, const xp_job_t *job);

#endif
