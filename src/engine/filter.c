/*
 * filter.c -- the export filter language (SPEC section 4): a parser that
 * turns the client's text into an xp_filter_t checked against the
 * configured sections, and a renderer that turns one section's selection
 * into an SQL boolean expression with bound values.
 *
 * Decisions where the spec is silent:
 *
 * - Lines are split on LF or CRLF; leading/trailing spaces and tabs are
 *   ignored and blank lines skipped. A filter without a non-blank line is
 *   XP_EINVAL "filter is empty" at line 1, column 1.
 * - A line is `SECTION`, several whole sections separated by spaces
 *   (`jobs scripts`), `all`, or `SECTION/term term ...`. Terms on a line
 *   are ANDed; lines for the same section are ORed; a line without terms
 *   makes the section whole (other lines for it then change nothing).
 * - Terms: `has:col` (IS NOT NULL); `has:col=value` and `col=value`
 *   (equality); a quoted string '..' or ".." is a search term; a bare
 *   word is an id list (`b17,b42`) on a section with involves=, else a
 *   search term. Quotes take backslash escapes for \\ \' \"; any other
 *   backslash pair stays as written. `col=''` compares with the empty
 *   string; an empty search term is refused.
 * - Errors are XP_EINVAL with err->field "filter", err->line and
 *   err->column (1-based; columns count characters, not bytes, of UTF-8
 *   text) and a message starting "line L, column C: ". A fault that is
 *   something missing (an empty value, no term after "/") points where
 *   it was expected; anything else points at its first character.
 * - Column names in the SQL are always the configuration's own strings
 *   (looked up, never copied from the filter). Before columns are known
 *   a section only has the columns its options name.
 * - SQL: "%s" placeholders (apr_dbd's portable format) and identifiers
 *   quoted with xp_sql_ident(). No literal '%' ever appears in the SQL
 *   text (apr_dbd_prepare would read it as a format): LIKE patterns are
 *   bound values. Strings and json compare as CAST(col AS TEXT) so that
 *   PostgreSQL accepts a text parameter whatever the column type; int,
 *   real and bool compare natively, bool bound as 1/0 on both databases
 *   (valid for an INTEGER column and for a PostgreSQL BOOLEAN).
 * - The since/until window covers since <= updated < until: since is
 *   inclusive, until exclusive, so consecutive windows never overlap.
 *   Rows added by closure (parents of selected rows) are not windowed:
 *   the archive must stay importable into an empty instance.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "xp_filter.h"

typedef struct {
    apr_pool_t *p;
    const xp_sections_t *secs;
    xp_filter_t *f;
    xp_error_t *err;
    const char *ls; /* start of the current line */
    const char *le; /* end of its content (CR and trailing blanks cut) */
    int line;
} fparse_t;

#define IS_WS(c) ((c) == ' ' || (c) == '\t')
#define IS_QUOTE(c) ((c) == '\'' || (c) == '"')

static int column_of(const fparse_t *fp, const char *at)
{
    const char *c;
    int col = 1;

    for (c = fp->ls; c < at; c++) {
        if (((unsigned char)*c & 0xC0) != 0x80)
            col++;
    }
    return col;
}

static xp_errcode_e perr(fparse_t *fp, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static xp_errcode_e perr(fparse_t *fp, const char *at, const char *fmt, ...)
{
    va_list ap;
    const char *msg;
    int col = at ? column_of(fp, at) : 1;

    va_start(ap, fmt);
    msg = apr_pvsprintf(fp->p, fmt, ap);
    va_end(ap);
    if (fp->err) {
        fp->err->line = fp->line;
        fp->err->column = col;
        fp->err->field = "filter";
    }
    return xp_error_set(fp->err, fp->p, XP_EINVAL, "line %d, column %d: %s",
                        fp->line, col, msg);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static void push_unique(apr_array_header_t *a, const char *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < a->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), s))
            return;
    }
    APR_ARRAY_PUSH(a, const char *) = s;
}

/* The columns a section offers to filters: its columns when known, else
 * the ones its options name (the configuration's own strings). */
static apr_array_header_t *section_columns(apr_pool_t *p,
                                           const xp_section_t *sec)
{
    apr_array_header_t *a;
    apr_hash_index_t *hi;
    int i;

    if (sec->columns)
        return sec->columns;
    a = apr_array_make(p, 8, sizeof(const char *));
    push_unique(a, sec->key);
    push_unique(a, sec->updated);
    for (i = 0; sec->search && i < sec->search->nelts; i++)
        push_unique(a, APR_ARRAY_IDX(sec->search, i, const char *));
    for (i = 0; sec->involves && i < sec->involves->nelts; i++)
        push_unique(a, APR_ARRAY_IDX(sec->involves, i, const char *));
    for (i = 0; sec->refs && i < sec->refs->nelts; i++)
        push_unique(a, APR_ARRAY_IDX(sec->refs, i, xp_ref_t).column);
    for (hi = sec->types ? apr_hash_first(p, sec->types) : NULL; hi;
         hi = apr_hash_next(hi))
        push_unique(a, apr_hash_this_key(hi));
    return a;
}

static const char *name_list(apr_pool_t *p, const apr_array_header_t *a)
{
    const char *s = "";
    int i;

    for (i = 0; i < a->nelts; i++)
        s = apr_pstrcat(p, s, i ? ", " : "", APR_ARRAY_IDX(a, i, const char *),
                        NULL);
    return *s ? s : "none";
}

static const char *section_names(apr_pool_t *p, const xp_sections_t *secs)
{
    apr_array_header_t *a = apr_array_make(p, 8, sizeof(const char *));
    int i;

    for (i = 0; i < secs->list->nelts; i++)
        APR_ARRAY_PUSH(a, const char *) =
            APR_ARRAY_IDX(secs->list, i, xp_section_t *)->name;
    return name_list(p, a);
}

/* The configuration's string for column [s, s+len) of sec, or NULL. */
static const char *find_column(apr_pool_t *p, const xp_section_t *sec,
                               const char *s, apr_size_t len)
{
    apr_array_header_t *cols = section_columns(p, sec);
    int i;

    for (i = 0; i < cols->nelts; i++) {
        const char *c = APR_ARRAY_IDX(cols, i, const char *);
        if (strlen(c) == len && !strncmp(c, s, len))
            return c;
    }
    return NULL;
}

static xp_errcode_e resolve_column(fparse_t *fp, const xp_section_t *sec,
                                   const char *s, apr_size_t len,
                                   const char **out)
{
    if ((*out = find_column(fp->p, sec, s, len)))
        return XP_OK;
    return perr(fp, s,
                "unknown column \"%.*s\" for section \"%s\" "
                "(declared: %s)",
                (int)len, s, sec->name,
                name_list(fp->p, section_columns(fp->p, sec)));
}

static xp_section_t *find_section(fparse_t *fp, const char *s, apr_size_t len)
{
    return xp_sections_find(fp->secs, apr_pstrmemdup(fp->p, s, len));
}

static xp_errcode_e unknown_section(fparse_t *fp, const char *s, apr_size_t len)
{
    return perr(fp, s, "unknown section \"%.*s\" (known: %s)", (int)len, s,
                section_names(fp->p, fp->secs));
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/* A quoted string at *c; on success *c is past the closing quote, which
 * must be followed by a blank or the end of the line. */
static xp_errcode_e parse_quoted(fparse_t *fp, const char **c, const char **out)
{
    const char *open = *c, *s = *c + 1;
    char q = *open, *buf = apr_palloc(fp->p, (apr_size_t)(fp->le - open) + 1);
    apr_size_t n = 0;

    while (s < fp->le && *s != q) {
        if (*s == '\\' && s + 1 < fp->le) {
            if (s[1] != '\\' && !IS_QUOTE(s[1]))
                buf[n++] = '\\';
            buf[n++] = s[1];
            s += 2;
        } else {
            buf[n++] = *s++;
        }
    }
    if (s >= fp->le)
        return perr(fp, open,
                    "unterminated quote: no closing %c before the "
                    "end of the line",
                    q);
    s++;
    if (s < fp->le && !IS_WS(*s))
        return perr(fp, s,
                    "unexpected \"%c\" after the closing quote; "
                    "separate terms with a space",
                    *s);
    buf[n] = '\0';
    *out = buf;
    *c = s;
    return XP_OK;
}

static int is_int_text(const char *s)
{
    char *end;

    if (*s == '+' || *s == '-')
        s++;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    (void)apr_strtoi64(s, &end, 10);
    return !*end && errno == 0;
}

/* [+-]digits[.digits][e[+-]digits] or [+-].digits[...]: what both SQLite
 * and PostgreSQL read as a number (no hex, inf or nan). */
static int is_real_text(const char *s)
{
    int digits = 0;

    if (*s == '+' || *s == '-')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

/* 1 true, 0 false, -1 not a boolean */
static int bool_value(const char *v)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1"))
        return 1;
    if (!strcasecmp(v, "false") || !strcmp(v, "0"))
        return 0;
    return -1;
}

static xp_errcode_e check_typed(fparse_t *fp, const xp_section_t *sec,
                                const char *col, const char *v, const char *at)
{
    switch (xp_section_type(sec, col)) {
    case XP_TYPE_INT:
        if (!is_int_text(v))
            return perr(fp, at,
                        "bad value \"%s\" for column \"%s\" of "
                        "section \"%s\": expected an integer",
                        v, col, sec->name);
        break;
    case XP_TYPE_REAL:
        if (!is_real_text(v))
            return perr(fp, at,
                        "bad value \"%s\" for column \"%s\" of "
                        "section \"%s\": expected a number",
                        v, col, sec->name);
        break;
    case XP_TYPE_BOOL:
        if (bool_value(v) < 0)
            return perr(fp, at,
                        "bad value \"%s\" for column \"%s\" of "
                        "section \"%s\": expected true, false, 1 or 0",
                        v, col, sec->name);
        break;
    default:
        break;
    }
    return XP_OK;
}

/* The value after "col=" at *c (bare, or quoted). */
static xp_errcode_e parse_value(fparse_t *fp, const xp_section_t *sec,
                                const char *col, const char **c,
                                const char **out)
{
    const char *start = *c, *s = *c;
    xp_errcode_e rv;

    if (s >= fp->le || IS_WS(*s))
        return perr(fp, s,
                    "empty value after \"=\" for column \"%s\" (write "
                    "'' to compare with an empty string)",
                    col);
    if (IS_QUOTE(*s)) {
        if ((rv = parse_quoted(fp, &s, out)) != XP_OK)
            return rv;
    } else {
        while (s < fp->le && !IS_WS(*s)) {
            if (IS_QUOTE(*s))
                return perr(fp, s,
                            "unexpected quote inside the value of "
                            "\"%s\"; quote the whole value",
                            col);
            s++;
        }
        *out = apr_pstrmemdup(fp->p, start, (apr_size_t)(s - start));
    }
    *c = s;
    return check_typed(fp, sec, col, *out, start);
}

/* ------------------------------------------------------------------ */
/* Terms and lines                                                     */
/* ------------------------------------------------------------------ */

static xp_errcode_e search_term(fparse_t *fp, const xp_section_t *sec,
                                const char *at, const char *text, xp_term_t *t)
{
    if (!sec->search || !sec->search->nelts)
        return perr(fp, at,
                    "section \"%s\" declares no search= columns, so "
                    "\"%s\" cannot be searched for; use col=value or has:col",
                    sec->name, text);
    if (!*text)
        return perr(fp, at, "empty search term");
    t->kind = XP_TERM_SEARCH;
    t->value = text;
    return XP_OK;
}

/* A bare word: an id list on a section with involves=, else a search. */
static xp_errcode_e bare_term(fparse_t *fp, const xp_section_t *sec,
                              const char *s, const char *e, xp_term_t *t)
{
    const char *item = s, *c;

    if (!sec->involves || !sec->involves->nelts) {
        if (!sec->search || !sec->search->nelts)
            return perr(fp, s,
                        "section \"%s\" declares neither search= nor "
                        "involves= columns, so \"%.*s\" is not a valid term; "
                        "use col=value or has:col",
                        sec->name, (int)(e - s), s);
        return search_term(fp, sec, s,
                           apr_pstrmemdup(fp->p, s, (apr_size_t)(e - s)), t);
    }
    t->kind = XP_TERM_INVOLVES;
    t->ids = apr_array_make(fp->p, 2, sizeof(const char *));
    for (c = s; c <= e; c++) {
        if (c == e || *c == ',') {
            if (c == item)
                return perr(fp, c, "empty id in the list \"%.*s\"",
                            (int)(e - s), s);
            APR_ARRAY_PUSH(t->ids, const char *) =
                apr_pstrmemdup(fp->p, item, (apr_size_t)(c - item));
            item = c + 1;
        }
    }
    return XP_OK;
}

/* has:col or has:col=value, *c just past "has:". */
static xp_errcode_e has_term(fparse_t *fp, const xp_section_t *sec,
                             const char **c, xp_term_t *t)
{
    const char *s = *c, *e = s;
    xp_errcode_e rv;

    while (e < fp->le && !IS_WS(*e) && *e != '=' && !IS_QUOTE(*e))
        e++;
    if (e == s)
        return perr(fp, s, "\"has:\" needs a column name, e.g. has:%s",
                    sec->key);
    if ((rv = resolve_column(fp, sec, s, (apr_size_t)(e - s), &t->column)))
        return rv;
    if (e < fp->le && IS_QUOTE(*e))
        return perr(fp, e, "unexpected quote after the column name \"%s\"",
                    t->column);
    if (e < fp->le && *e == '=') {
        e++;
        t->kind = XP_TERM_EQ;
        if ((rv = parse_value(fp, sec, t->column, &e, &t->value)))
            return rv;
    } else {
        t->kind = XP_TERM_HAS;
    }
    *c = e;
    return XP_OK;
}

static xp_errcode_e parse_term(fparse_t *fp, const xp_section_t *sec,
                               const char **c, xp_term_t *t)
{
    const char *s = *c, *e = s, *text;
    xp_errcode_e rv;

    memset(t, 0, sizeof(*t));
    if (IS_QUOTE(*s)) {
        if ((rv = parse_quoted(fp, &e, &text)))
            return rv;
        *c = e;
        return search_term(fp, sec, s, text, t);
    }
    if (fp->le - s >= 4 && !strncmp(s, "has:", 4)) {
        *c = s + 4;
        return has_term(fp, sec, c, t);
    }
    while (e < fp->le && !IS_WS(*e) && *e != '=' && !IS_QUOTE(*e))
        e++;
    if (e < fp->le && IS_QUOTE(*e))
        return perr(fp, e,
                    "unexpected quote after \"%.*s\"; quote the whole "
                    "term",
                    (int)(e - s), s);
    if (e < fp->le && *e == '=') {
        if (e == s)
            return perr(fp, s, "missing column name before \"=\"");
        if ((rv = resolve_column(fp, sec, s, (apr_size_t)(e - s), &t->column)))
            return rv;
        e++;
        t->kind = XP_TERM_EQ;
        if ((rv = parse_value(fp, sec, t->column, &e, &t->value)))
            return rv;
        *c = e;
        return XP_OK;
    }
    *c = e;
    return bare_term(fp, sec, s, e, t);
}

static xp_fsel_t *get_sel(fparse_t *fp, xp_section_t *sec)
{
    xp_fsel_t *sel =
        apr_hash_get(fp->f->by_section, sec->name, APR_HASH_KEY_STRING);
    if (!sel) {
        sel = apr_pcalloc(fp->p, sizeof(*sel));
        sel->section = sec;
        sel->lines = apr_array_make(fp->p, 2, sizeof(xp_fline_t));
        apr_hash_set(fp->f->by_section, sec->name, APR_HASH_KEY_STRING, sel);
        APR_ARRAY_PUSH(fp->f->named, xp_fsel_t *) = sel;
    }
    return sel;
}

static void add_whole(fparse_t *fp, xp_section_t *sec)
{
    xp_fsel_t *sel = get_sel(fp, sec);
    xp_fline_t *fl = &APR_ARRAY_PUSH(sel->lines, xp_fline_t);

    fl->line = fp->line;
    fl->terms = apr_array_make(fp->p, 1, sizeof(xp_term_t));
    sel->whole = 1;
}

/* SECTION/term term ..., c at the '/'. */
static xp_errcode_e parse_terms(fparse_t *fp, xp_section_t *sec, const char *c)
{
    apr_array_header_t *terms = apr_array_make(fp->p, 4, sizeof(xp_term_t));
    xp_fsel_t *sel;
    xp_fline_t *fl;
    xp_errcode_e rv;

    for (c++; c < fp->le && IS_WS(*c); c++)
        ;
    if (c >= fp->le)
        return perr(fp, c,
                    "empty term list after \"/\": give terms such as "
                    "has:col, col=value or a search text");
    while (c < fp->le) {
        xp_term_t *t = &APR_ARRAY_PUSH(terms, xp_term_t);
        if ((rv = parse_term(fp, sec, &c, t)))
            return rv;
        while (c < fp->le && IS_WS(*c))
            c++;
    }
    sel = get_sel(fp, sec);
    fl = &APR_ARRAY_PUSH(sel->lines, xp_fline_t);
    fl->line = fp->line;
    fl->terms = terms;
    return XP_OK;
}

/* One or more whole sections ("jobs scripts"), or "all". */
static xp_errcode_e parse_names(fparse_t *fp, const char *c)
{
    const char *starts[64];
    apr_size_t lens[64];
    xp_section_t *secs[64];
    int n = 0, i, all = -1;

    while (c < fp->le) {
        const char *s = c;
        while (c < fp->le && !IS_WS(*c) && *c != '/')
            c++;
        if (c < fp->le && *c == '/')
            return perr(fp, c,
                        "\"/\" is only allowed after a single section "
                        "name, e.g. bots/has:coordinates");
        if (n == 64)
            return perr(fp, s, "too many section names on one line");
        starts[n] = s;
        lens[n++] = (apr_size_t)(c - s);
        while (c < fp->le && IS_WS(*c))
            c++;
    }
    for (i = 0; i < n; i++) {
        if (lens[i] == 3 && !strncmp(starts[i], "all", 3)) {
            if (n > 1)
                return perr(fp, starts[i ? i : 1],
                            "\"all\" cannot be combined "
                            "with other section names");
            all = i;
        } else if (!(secs[i] = find_section(fp, starts[i], lens[i]))) {
            return unknown_section(fp, starts[i], lens[i]);
        }
    }
    if (all >= 0) {
        for (i = 0; i < fp->secs->list->nelts; i++)
            add_whole(fp, APR_ARRAY_IDX(fp->secs->list, i, xp_section_t *));
        return XP_OK;
    }
    for (i = 0; i < n; i++)
        add_whole(fp, secs[i]);
    return XP_OK;
}

static xp_errcode_e parse_line(fparse_t *fp)
{
    const char *s = fp->ls, *c;
    xp_section_t *sec;

    while (IS_WS(*s))
        s++;
    for (c = s; c < fp->le && !IS_WS(*c) && *c != '/'; c++)
        ;
    if (c >= fp->le || *c != '/')
        return parse_names(fp, s);
    if (c == s)
        return perr(fp, c, "missing section name before \"/\" (known: %s)",
                    section_names(fp->p, fp->secs));
    if (c - s == 3 && !strncmp(s, "all", 3))
        return perr(fp, c,
                    "\"all\" cannot be combined with terms; name one "
                    "section before \"/\"");
    if (!(sec = find_section(fp, s, (apr_size_t)(c - s))))
        return unknown_section(fp, s, (apr_size_t)(c - s));
    return parse_terms(fp, sec, c);
}

xp_errcode_e xp_filter_parse(apr_pool_t *p, const char *text,
                             const xp_sections_t *secs, xp_filter_t **out,
                             xp_error_t *err)
{
    fparse_t fp;
    const char *c = text ? text : "", *nl;
    apr_array_header_t *ordered;
    xp_errcode_e rv;
    int i, lines = 0;

    memset(&fp, 0, sizeof(fp));
    fp.p = p;
    fp.secs = secs;
    fp.err = err;
    fp.f = apr_pcalloc(p, sizeof(*fp.f));
    fp.f->text = apr_pstrdup(p, c);
    fp.f->by_section = apr_hash_make(p);
    fp.f->named = apr_array_make(p, 4, sizeof(xp_fsel_t *));
    for (fp.line = 1; *c; fp.line++, c = *nl ? nl + 1 : nl) {
        if (!(nl = strchr(c, '\n')))
            nl = c + strlen(c);
        fp.ls = c;
        fp.le = nl;
        if (fp.le > c && fp.le[-1] == '\r')
            fp.le--;
        while (fp.le > c && IS_WS(fp.le[-1]))
            fp.le--;
        while (c < fp.le && IS_WS(*c))
            c++;
        if (c == fp.le)
            continue; /* blank line */
        lines++;
        if ((rv = parse_line(&fp)) != XP_OK)
            return rv;
    }
    if (!lines) {
        fp.line = 1;
        fp.ls = text;
        return perr(&fp, NULL,
                    "filter is empty: give at least one section "
                    "name, e.g. users");
    }
    ordered = xp_sections_ordered(secs, p);
    fp.f->order = apr_array_make(p, ordered->nelts, sizeof(xp_fsel_t *));
    for (i = 0; i < ordered->nelts; i++) {
        xp_section_t *s = APR_ARRAY_IDX(ordered, i, xp_section_t *);
        xp_fsel_t *sel =
            apr_hash_get(fp.f->by_section, s->name, APR_HASH_KEY_STRING);
        if (sel)
            APR_ARRAY_PUSH(fp.f->order, xp_fsel_t *) = sel;
    }
    *out = fp.f;
    return XP_OK;
}

/* s between two quote characters, each character of special preceded
 * by esc. */
static const char *enclose(apr_pool_t *p, const char *s, char quote,
                           const char *special, char esc)
{
    char *out = apr_palloc(p, 2 * strlen(s) + 3), *o = out;
    const char *c;

    *o++ = quote;
    for (c = s; *c; c++) {
        if (strchr(special, *c))
            *o++ = esc;
        *o++ = *c;
    }
    *o++ = quote;
    *o = '\0';
    return out;
}

const char *xp_filter_quote(apr_pool_t *p, const char *value)
{
    /* a line feed ends the filter's line, inside quotes too */
    if (!value || strchr(value, '\n'))
        return NULL;
    /* parse_quoted reads \\ and \' as the character they escape and
     * every other character as itself */
    return enclose(p, value, '\'', "\\'", '\\');
}

/* ------------------------------------------------------------------ */
/* SQL                                                                 */
/* ------------------------------------------------------------------ */

const char *xp_sql_ident(apr_pool_t *p, const char *ident)
{
    /* Valid identifiers hold no quote; doubling one anyway keeps a
     * misuse from turning into an injection. */
    return enclose(p, ident, '"', "\"", '"');
}

typedef struct {
    apr_pool_t *p;
    const xp_filter_t *f;
    const xp_sections_t *secs;
    const xp_window_t *win;
    int closure;
    const char *tenant; /* NULL: every tenant's rows */
    xp_dialect_e dialect;
    apr_array_header_t *args;
    int depth;
    int ctes; /* recursive CTEs named so far (xp_up1, xp_up2, ...) */
} render_t;

/* Bind value and return its placeholder. Call it at most once per
 * apr_pstrcat(): the order C evaluates arguments in is unspecified, and
 * args must follow the placeholders' order in the text. */
static const char *ph(render_t *r, const char *value)
{
    APR_ARRAY_PUSH(r->args, const char *) = value;
    return "%s";
}

/* '%' + lowercased term with % _ \ escaped + '%', for LIKE ... ESCAPE '\'. */
static const char *like_pattern(apr_pool_t *p, const char *term)
{
    char *out = apr_palloc(p, 2 * strlen(term) + 3), *o = out;
    const char *c;

    *o++ = '%';
    for (c = term; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
    }
    *o++ = '%';
    *o = '\0';
    return out;
}

static const char *render_eq(render_t *r, const xp_section_t *sec,
                             const xp_term_t *t)
{
    const char *col = xp_sql_ident(r->p, t->column);

    switch (xp_section_type(sec, t->column)) {
    case XP_TYPE_INT:
    case XP_TYPE_REAL:
        return apr_pstrcat(r->p, col, " = ", ph(r, t->value), NULL);
    case XP_TYPE_BOOL:
        /* '1'/'0' is valid input for an INTEGER column on both databases
         * and for a PostgreSQL BOOLEAN, so one binding serves all. */
        return apr_pstrcat(r->p, col, " = ",
                           ph(r, bool_value(t->value) ? "1" : "0"), NULL);
    default:
        return apr_pstrcat(r->p, "CAST(", col, " AS TEXT) = ", ph(r, t->value),
                           NULL);
    }
}

static const char *render_term(render_t *r, const xp_section_t *sec,
                               const xp_term_t *t)
{
    const char *s = "", *pat;
    int i, j;

    switch (t->kind) {
    case XP_TERM_HAS:
        return apr_pstrcat(r->p, xp_sql_ident(r->p, t->column), " IS NOT NULL",
                           NULL);
    case XP_TERM_EQ:
        return render_eq(r, sec, t);
    case XP_TERM_SEARCH:
        pat = like_pattern(r->p, t->value);
        for (i = 0; i < sec->search->nelts; i++) {
            const char *c = APR_ARRAY_IDX(sec->search, i, const char *);
            s = apr_pstrcat(r->p, s, i ? " OR " : "", "LOWER(CAST(",
                            xp_sql_ident(r->p, c), " AS TEXT)) LIKE ",
                            ph(r, pat), " ESCAPE '\\'", NULL);
        }
        return apr_pstrcat(r->p, "(", s, ")", NULL);
    case XP_TERM_INVOLVES:
        for (i = 0; i < sec->involves->nelts; i++) {
            const char *c = APR_ARRAY_IDX(sec->involves, i, const char *);
            s = apr_pstrcat(r->p, s, i ? " OR " : "", "CAST(",
                            xp_sql_ident(r->p, c), " AS TEXT) IN (", NULL);
            for (j = 0; j < t->ids->nelts; j++)
                s = apr_pstrcat(r->p, s, j ? "," : "",
                                ph(r, APR_ARRAY_IDX(t->ids, j, const char *)),
                                NULL);
            s = apr_pstrcat(r->p, s, ")", NULL);
        }
        return apr_pstrcat(r->p, "(", s, ")", NULL);
    }
    return "1=0";
}

static const char *or_tree(render_t *r, const char **l, int n);

/* One side of an OR: a line, or a group of them in parentheses. */
static const char *or_side(render_t *r, const char **l, int n)
{
    return n == 1 ? l[0] : apr_pstrcat(r->p, "(", or_tree(r, l, n), ")", NULL);
}

/* n lines ORed as a balanced tree: a chain of n ORs is an expression n
 * deep, and SQLite refuses one deeper than 1000 (an API may turn a
 * tenant's services into as many lines); a tree is log2(n) deep. */
static const char *or_tree(render_t *r, const char **l, int n)
{
    if (n == 1)
        return l[0];
    return apr_pstrcat(r->p, or_side(r, l, n / 2), " OR ",
                       or_side(r, l + n / 2, n - n / 2), NULL);
}

/* The lines of a non-whole selection: terms ANDed, lines ORed. */
static const char *render_lines(render_t *r, const xp_fsel_t *sel)
{
    const char **lines = apr_palloc(r->p, sizeof(*lines) * sel->lines->nelts);
    int i, j;

    if (sel->lines->nelts == 0)
        return "";
    for (i = 0; i < sel->lines->nelts; i++) {
        const xp_fline_t *fl = &APR_ARRAY_IDX(sel->lines, i, xp_fline_t);
        const char *l = "";
        for (j = 0; j < fl->terms->nelts; j++)
            l = apr_pstrcat(
                r->p, l, j ? " AND " : "",
                render_term(r, sel->section,
                            &APR_ARRAY_IDX(fl->terms, j, xp_term_t)),
                NULL);
        if (sel->lines->nelts > 1)
            l = apr_pstrcat(r->p, "(", l, ")", NULL);
        lines[i] = l;
    }
    return or_tree(r, lines, sel->lines->nelts);
}

/* since <= updated < until, or NULL when no window applies to sec. */
static const char *render_window(render_t *r, const xp_section_t *sec)
{
    const char *u, *s = NULL;

    if (!sec->updated || !r->win || (!r->win->since && !r->win->until))
        return NULL;
    u = xp_sql_ident(r->p, sec->updated);
    if (r->win->since)
        s = apr_pstrcat(r->p, u, " >= ", ph(r, r->win->since), NULL);
    if (r->win->until)
        s = apr_pstrcat(r->p, s ? s : "", s ? " AND " : "", u, " < ",
                        ph(r, r->win->until), NULL);
    return s;
}

static const char *render_section(render_t *r, const xp_section_t *sec);

/* "<alias.>tenantcol = %s" when the read is for a tenant and sec has
 * one, else NULL. alias may be NULL. */
static const char *tenant_term(render_t *r, const xp_section_t *sec,
                               const char *alias)
{
    if (!r->tenant || !sec->tenant)
        return NULL;
    return apr_pstrcat(r->p, alias ? alias : "", alias ? "." : "",
                       xp_sql_ident(r->p, sec->tenant), " = ",
                       ph(r, r->tenant), NULL);
}

/* own (NULL: no rows) restricted to the read's tenant. */
static const char *tenant_and(render_t *r, const xp_section_t *sec,
                              const char *own)
{
    const char *t;

    if (!own || !(t = tenant_term(r, sec, NULL)))
        return own;
    return apr_pstrcat(r->p, "(", own, ") AND ", t, NULL);
}

/* key IN (SELECT col FROM child WHERE ...) for every child of sec that
 * contributes rows, ORed after own (which may be NULL). */
static const char *render_closure(render_t *r, const xp_section_t *sec,
                                  const char *own)
{
    const char *s = own, *sub;
    int i, j, parts = own ? 1 : 0;

    for (i = 0; i < r->secs->list->nelts; i++) {
        const xp_section_t *c = APR_ARRAY_IDX(r->secs->list, i, xp_section_t *);
        for (j = 0; c != sec && j < c->refs->nelts; j++) {
            const xp_ref_t *ref = &APR_ARRAY_IDX(c->refs, j, xp_ref_t);
            if (strcmp(ref->section, sec->name))
                continue;
            if (!(sub = render_section(r, c)))
                continue;
            sub = apr_pstrcat(
                r->p, xp_sql_ident(r->p, xp_ref_target(r->secs, ref)),
                " IN (SELECT ", xp_sql_ident(r->p, ref->column), " FROM ",
                xp_sql_ident(r->p, c->table), " WHERE ", sub, ")", NULL);
            if (parts == 1 && own)
                s = apr_pstrcat(r->p, "(", own, ")", NULL);
            s = apr_pstrcat(r->p, s ? s : "", parts ? " OR " : "", sub, NULL);
            parts++;
        }
    }
    return s;
}

/*
 * The rows own selects and, transitively, every row of the same section
 * they reference (a parent comment, its parent, ...): one recursive CTE
 * over the section's keys, following each self reference (the key of a
 * row p whose target column holds the value of c's ref column). UNION
 * ends a cycle in the data. NULL when sec references no row of its own.
 */
static const char *render_self(render_t *r, const xp_section_t *sec,
                               const char *own)
{
    const char *on = NULL, *t = xp_sql_ident(r->p, sec->table);
    const char *k = xp_sql_ident(r->p, sec->key), *cte, *tp, *tc;
    int i;

    for (i = 0; i < sec->refs->nelts; i++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, i, xp_ref_t);
        if (!xp_ref_is_self(sec, ref))
            continue;
        on = apr_pstrcat(r->p, on ? on : "", on ? " OR " : "", "p.",
                         xp_sql_ident(r->p, xp_ref_target(r->secs, ref)),
                         " = c.", xp_sql_ident(r->p, ref->column), NULL);
    }
    if (!on)
        return NULL;
    cte = apr_psprintf(r->p, "xp_up%d", ++r->ctes);
    /* a tenant's keys are its own: parent and child both in it (the
     * placeholders in the order of the text) */
    own = tenant_and(r, sec, own);
    tp = tenant_term(r, sec, "p");
    tc = tp ? tenant_term(r, sec, "c") : NULL;
    return apr_pstrcat(r->p, k, " IN (WITH RECURSIVE ", cte, "(k) AS (SELECT ",
                       k, " FROM ", t, " WHERE ", own, " UNION SELECT p.", k,
                       " FROM ", t, " p JOIN ", t, " c ON (", on, ") JOIN ",
                       cte, " ON c.", k, " = ", cte, ".k", tp ? " WHERE " : "",
                       tp ? tp : "", tc ? " AND " : "", tc ? tc : "",
                       ") SELECT k FROM ", cte, ")", NULL);
}

static const char *render_section(render_t *r, const xp_section_t *sec)
{
    const xp_fsel_t *sel =
        apr_hash_get(r->f->by_section, sec->name, APR_HASH_KEY_STRING);
    const char *own = NULL, *win, *self;

    if (sel) {
        if (sel->whole) {
            own = render_window(r, sec);
            if (!own) /* everything: closure can add nothing */
                return tenant_and(r, sec, "1=1");
        } else {
            own = render_lines(r, sel);
            if ((win = render_window(r, sec)))
                own = apr_pstrcat(r->p, "(", own, ") AND ", win, NULL);
        }
    }
    /* Cycles are refused by xp_sections_check; the depth bound only
     * keeps a configuration that skipped it from recursing forever. */
    if (!r->closure || r->depth > r->secs->list->nelts)
        return tenant_and(r, sec, own);
    r->depth++;
    own = render_closure(r, sec, own);
    r->depth--;
    if (own && (self = render_self(r, sec, own)) != NULL)
        own = self;
    return tenant_and(r, sec, own);
}

const char *xp_filter_where(apr_pool_t *p, const xp_filter_t *f,
                            const xp_sections_t *secs, const xp_section_t *sec,
                            const xp_window_t *win, int closure,
                            const char *tenant, xp_dialect_e dialect,
                            apr_array_header_t *args)
{
    render_t r;

    memset(&r, 0, sizeof(r));
    r.p = p;
    r.f = f;
    r.secs = secs;
    r.win = win;
    r.closure = closure;
    r.tenant = tenant;
    r.dialect = dialect;
    r.args = args;
    return render_section(&r, sec);
}

/* Whether sec has rows in the export: selected, or (with closure)
 * referenced by a section that has. */
static int contributes(const xp_filter_t *f, const xp_sections_t *secs,
                       const xp_section_t *sec, int closure, int depth)
{
    int i, j;

    if (apr_hash_get(f->by_section, sec->name, APR_HASH_KEY_STRING))
        return 1;
    if (!closure || depth > secs->list->nelts)
        return 0;
    for (i = 0; i < secs->list->nelts; i++) {
        const xp_section_t *c = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
        for (j = 0; c != sec && j < c->refs->nelts; j++) {
            if (!strcmp(APR_ARRAY_IDX(c->refs, j, xp_ref_t).section,
                        sec->name) &&
                contributes(f, secs, c, closure, depth + 1))
                return 1;
        }
    }
    return 0;
}

apr_array_header_t *xp_filter_sections(apr_pool_t *p, const xp_filter_t *f,
                                       const xp_sections_t *secs, int closure)
{
    apr_array_header_t *ordered = xp_sections_ordered(secs, p);
    apr_array_header_t *out =
        apr_array_make(p, ordered->nelts + 1, sizeof(xp_section_t *));
    int i;

    for (i = 0; i < ordered->nelts; i++) {
        xp_section_t *s = APR_ARRAY_IDX(ordered, i, xp_section_t *);
        if (contributes(f, secs, s, closure, 0))
            APR_ARRAY_PUSH(out, xp_section_t *) = s;
    }
    return out;
}
