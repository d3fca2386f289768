/*
 * xp_filter.h -- the export filter language (SPEC section 4).
 *
 * A filter is parsed against the configured sections into an xp_filter_t;
 * xp_filter_where() then renders one section's selection as an SQL
 * boolean expression with apr_dbd "%s" placeholders and a list of bound
 * values. Identifiers in the SQL come only from the configuration; every
 * value from the filter is a bound parameter.
 */
#ifndef XP_FILTER_H
#define XP_FILTER_H

#include "xport.h"

typedef enum {
    XP_TERM_HAS = 0, /* has:col            -> col IS NOT NULL          */
    XP_TERM_EQ,      /* [has:]col=value    -> col equals value        */
    XP_TERM_SEARCH,  /* bare or quoted text -> any search col contains */
    XP_TERM_INVOLVES /* id[,id...]          -> any involves col equals */
} xp_term_kind_e;

typedef struct xp_term_t {
    xp_term_kind_e kind;
    const char *column;      /* HAS / EQ */
    const char *value;       /* EQ / SEARCH */
    apr_array_header_t *ids; /* INVOLVES: const char * */
} xp_term_t;

/* One line: terms ANDed. A line with no terms selects the whole section. */
typedef struct xp_fline_t {
    int line;
    apr_array_header_t *terms; /* xp_term_t */
} xp_fline_t;

/* The selection of one section: its lines ORed. */
typedef struct xp_fsel_t {
    xp_section_t *section;
    int whole;                 /* some line selects the whole section */
    apr_array_header_t *lines; /* xp_fline_t */
} xp_fsel_t;

typedef struct xp_filter_t {
    const char *text;
    apr_hash_t *by_section;    /* name -> xp_fsel_t * */
    apr_array_header_t *order; /* xp_fsel_t *, in reference order */
    apr_array_header_t *named; /* xp_fsel_t *, in the order the text first
                                  names their sections (`all`: in
                                  declaration order) */
} xp_filter_t;

/*
 * Parse text (LF or CRLF lines). On a fault returns XP_EINVAL with
 * err->line / err->column (1-based, pointing at the offending character)
 * and a message such as: line 2, column 7: unknown column "colour" for
 * section "bots" (declared: id, name, ...).
 */
xp_errcode_e xp_filter_parse(apr_pool_t *p, const char *text,
                             const xp_sections_t *secs, xp_filter_t **out,
                             xp_error_t *err);

/*
 * value as a filter value that xp_filter_parse reads back exactly, for
 * filters made by code (a row by its key: "versions/id=" + this): in
 * single quotes, with backslash and single quote escaped by a backslash.
 * NULL when value is NULL or holds a line feed, which no filter value
 * can (it ends the filter's line).
 */
const char *xp_filter_quote(apr_pool_t *p, const char *value);

typedef enum { XP_DIALECT_SQLITE = 0, XP_DIALECT_PGSQL } xp_dialect_e;

/* Time window (since/until), either may be NULL: values are bound as given
 * (already normalised ISO 8601 text). */
typedef struct xp_window_t {
    const char *since;
    const char *until;
} xp_window_t;

/*
 * The SQL boolean expression selecting the rows of sec: its own filter
 * lines (if selected), ANDed with the window when the section declares
 * updated=; and with closure, ORed with "key IN (SELECT refcol FROM child
 * WHERE <child's expression>)" for every selected section that references
 * sec, transitively. With a tenant, every section that declares
 * tenant= (sec, the children closure looks at, the rows a self reference
 * reaches) is read for that tenant only: "tenantcol = %s" ANDed, the
 * tenant a bound value. Placeholders are "%s"; their values are appended
 * to args (const char *) in order. Returns "1=1"-style true expression
 * when the whole section is selected, NULL if sec contributes no rows.
 */
const char *xp_filter_where(apr_pool_t *p, const xp_filter_t *f,
                            const xp_sections_t *secs, const xp_section_t *sec,
                            const xp_window_t *win, int closure,
                            const char *tenant, xp_dialect_e dialect,
                            apr_array_header_t *args);

/* Sections the export will contain, in reference order (with closure:
 * also every section reachable through refs from a selected one). */
apr_array_header_t *xp_filter_sections(apr_pool_t *p, const xp_filter_t *f,
                                       const xp_sections_t *secs, int closure);

/* Quote an identifier for SQL ("name"); the identifier must be valid. */
const char *xp_sql_ident(apr_pool_t *p, const char *ident);

#endif
