/*
 * rowjson.c -- one section's rows as JSON objects, the one encoder behind
 * every export format (an archive's NDJSON lines, the bare ndjson and
 * json files, the members of a document), so a row reads the same bytes
 * in each of them.
 *
 * Speed matters more than elegance here: an export writes millions of
 * rows. Each column's '{"name":' / ',"name":' prefix is rendered once;
 * numbers and booleans the database already prints as JSON are copied
 * as they are; only json= values go through jansson (they are
 * re-serialised compactly, since stored JSON may span lines).
 */
#include <string.h>
#include <strings.h>

#include "xp_rowjson.h"

struct xp_rowjson_t {
    const char **keys; /* '{"col":' or ',"col":' per column */
    apr_size_t *klens;
    xp_type_e *types;
    apr_pool_t *scratch; /* json values; cleared by xp_rowjson_clear */
};

xp_rowjson_t *xp_rowjson_make(apr_pool_t *p, const xp_section_t *sec)
{
    xp_rowjson_t *rj = apr_pcalloc(p, sizeof(*rj));
    int i, n = sec->columns->nelts;
    xp_buf_t k;

    rj->keys = apr_palloc(p, sizeof(*rj->keys) * (n ? n : 1));
    rj->types = apr_palloc(p, sizeof(*rj->types) * (n ? n : 1));
    rj->klens = apr_palloc(p, sizeof(*rj->klens) * (n ? n : 1));
    for (i = 0; i < n; i++) {
        const char *col = APR_ARRAY_IDX(sec->columns, i, const char *);
        const char *name = xp_section_name_at(sec, i); /* fields= */
        xp_buf_init(&k, p, 64);
        xp_buf_addc(&k, i ? ',' : '{');
        xp_buf_add_json_str(&k, name, strlen(name));
        xp_buf_addc(&k, ':');
        rj->keys[i] = k.data;
        rj->klens[i] = k.len;
        rj->types[i] = xp_section_type(sec, col);
    }
    apr_pool_create(&rj->scratch, p);
    return rj;
}

void xp_rowjson_clear(xp_rowjson_t *rj)
{
    apr_pool_clear(rj->scratch);
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * The length of s if it is one (saves the writer a strlen), else 0. */
static apr_size_t json_number_len(const char *s, int integer)
{
    const char *s0 = s;

    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (integer)
        return *s == '\0' ? (apr_size_t)(s - s0) : 0;
    if (*s == '.') {
        if (!(*++s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0' ? (apr_size_t)(s - s0) : 0;
}

/* A value that does not fit its type is written as a string. */
static void rj_value(xp_rowjson_t *rj, xp_buf_t *buf, xp_type_e type,
                     const char *v)
{
    xp_json_t *j;
    apr_size_t n;

    if (!v) {
        xp_buf_add(buf, "null", 4);
        return;
    }
    switch (type) {
    case XP_TYPE_INT:
    case XP_TYPE_REAL:
        if ((n = json_number_len(v, type == XP_TYPE_INT)) > 0) {
            xp_buf_add(buf, v, n);
            return;
        }
        break;
    case XP_TYPE_BOOL:
        if (!strcmp(v, "1") || !strcasecmp(v, "t") || !strcasecmp(v, "true")) {
            xp_buf_add(buf, "true", 4);
            return;
        }
        if (!strcmp(v, "0") || !strcasecmp(v, "f") || !strcasecmp(v, "false")) {
            xp_buf_add(buf, "false", 5);
            return;
        }
        break;
    case XP_TYPE_JSON:
        if (xp_json_dump_same(v, n = strlen(v))) {
            xp_buf_add(buf, v, n);
            return;
        }
        if ((j = xp_json_parse(rj->scratch, v, n, NULL)) != NULL) {
            xp_buf_adds(buf, xp_json_dump(rj->scratch, j));
            return;
        }
        break;
    default:
        break;
    }
    xp_buf_add_json_str(buf, v, strlen(v));
}

void xp_rowjson_write(xp_rowjson_t *rj, xp_buf_t *buf,
                      const char *const *values, int ncols)
{
    int i;

    for (i = 0; i < ncols; i++) {
        xp_buf_add(buf, rj->keys[i], rj->klens[i]);
        rj_value(rj, buf, rj->types[i], values[i]);
    }
    xp_buf_add(buf, ncols ? "}" : "{}", ncols ? 1 : 2);
}
