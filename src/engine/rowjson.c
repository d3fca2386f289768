/*
 * rowjson.c -- one row of a section as JSON, the way files carry it:
 * every column under its file name (fields=), values typed by types=.
 *
 * The export's row writer renders each value with xp_row_value_json
 * (its column names are prepared once per section, since it writes
 * millions of rows); xp_row_json writes a whole row for those that need
 * a few (an API answering with rows), so both write the same bytes for
 * the same row.
 */
#include <string.h>
#include <strings.h>

#include "xp_rows.h"

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

void xp_row_value_json(xp_buf_t *b, apr_pool_t *scratch, xp_type_e type,
                       const char *v)
{
    xp_json_t *j;
    apr_size_t n;

    if (!v) {
        xp_buf_add(b, "null", 4);
        return;
    }
    switch (type) {
    case XP_TYPE_INT:
    case XP_TYPE_REAL:
        if ((n = json_number_len(v, type == XP_TYPE_INT)) > 0) {
            xp_buf_add(b, v, n);
            return;
        }
        break;
    case XP_TYPE_BOOL:
        if (!strcmp(v, "1") || !strcasecmp(v, "t") || !strcasecmp(v, "true")) {
            xp_buf_add(b, "true", 4);
            return;
        }
        if (!strcmp(v, "0") || !strcasecmp(v, "f") || !strcasecmp(v, "false")) {
            xp_buf_add(b, "false", 5);
            return;
        }
        break;
    case XP_TYPE_JSON:
        /* re-serialised compactly: stored JSON may span lines */
        if ((j = xp_json_parse(scratch, v, strlen(v), NULL)) != NULL) {
            xp_buf_adds(b, xp_json_dump(scratch, j));
            return;
        }
        break;
    default:
        break;
    }
    xp_buf_add_json_str(b, v, strlen(v));
}

void xp_row_json(xp_buf_t *b, const xp_section_t *sec,
                 const char *const *values)
{
    int i, n = sec->columns ? sec->columns->nelts : 0;
    apr_pool_t *scratch = NULL; /* parsed json values, freed at the end */

    for (i = 0; i < n; i++) {
        const char *col = APR_ARRAY_IDX(sec->columns, i, const char *);
        const char *name = xp_section_name_at(sec, i);
        xp_type_e type = xp_section_type(sec, col);

        xp_buf_addc(b, i ? ',' : '{');
        xp_buf_add_json_str(b, name, strlen(name));
        xp_buf_addc(b, ':');
        if (type == XP_TYPE_JSON && values[i] && !scratch)
            apr_pool_create(&scratch, b->pool);
        xp_row_value_json(b, scratch, type, values[i]);
    }
    xp_buf_add(b, n ? "}" : "{}", n ? 1 : 2);
    if (scratch)
        apr_pool_destroy(scratch);
}
