/*
 * section.c -- the XportSection declarations: parsing their options,
 * cross-checking them once all are read, and ordering sections so that
 * parents (sections referenced through ref=) come before their children.
 *
 * Identifiers found here are the only ones that ever reach SQL, so every
 * one is validated against ^[A-Za-z_][A-Za-z0-9_]*$ at configuration
 * time. Messages name the section, the option and the bad value, because
 * they surface in `apachectl configtest`.
 */
#include <stdint.h>
#include <string.h>

#include <apr_strings.h>

#include "xport.h"

#define KNOWN_OPTIONS                                                          \
    "table, key, columns, search, involves, updated, ref, types, mode, "       \
    "fields, hash"
/* The longest name a column may have in files (fields=). */
#define XP_FIELD_MAX 255

int xp_ident_valid(const char *s)
{
    const char *c;

    if (!s ||
        !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (c = s + 1; *c; c++) {
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return 0;
    }
    return c - s <= 63;
}

int xp_field_name_valid(const char *s)
{
    const unsigned char *c = (const unsigned char *)s, *end;
    int n;

    if (!s || !*s || strlen(s) > XP_FIELD_MAX)
        return 0;
    end = c + strlen(s);
    while (*c) {
        if (*c < 0x20 || *c == 0x7f)
            return 0;
        if (*c < 0x80) {
            c++;
            continue;
        }
        if ((n = xp_utf8_len(c, end)) == 0)
            return 0;
        c += n;
    }
    return 1;
}

xp_sections_t *xp_sections_make(apr_pool_t *p)
{
    xp_sections_t *secs = apr_pcalloc(p, sizeof(*secs));

    secs->list = apr_array_make(p, 8, sizeof(xp_section_t *));
    secs->by_name = apr_hash_make(p);
    return secs;
}

xp_section_t *xp_sections_find(const xp_sections_t *secs, const char *name)
{
    if (!secs || !name)
        return NULL;
    return apr_hash_get(secs->by_name, name, APR_HASH_KEY_STRING);
}

static const char *bad_option(apr_pool_t *p, const char *sec, const char *arg,
                              const char *why)
{
    return apr_psprintf(p, "XportSection %s: bad option \"%s\" (%s)", sec, arg,
                        why);
}

static int list_has(const apr_array_header_t *a, const char *s)
{
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(a, i, const char *), s))
            return 1;
    }
    return 0;
}

/* "a,b,c" -> array of identifiers; NULL message or an error. */
static const char *parse_ident_list(apr_pool_t *p, const char *sec,
                                    const char *arg, const char *value,
                                    apr_array_header_t **out)
{
    apr_array_header_t *a = apr_array_make(p, 4, sizeof(const char *));
    char *copy = apr_pstrdup(p, value), *item, *next;

    for (item = copy; item; item = next) {
        if ((next = strchr(item, ',')))
            *next++ = '\0';
        if (!*item)
            return bad_option(p, sec, arg, "empty name in the list");
        if (!xp_ident_valid(item))
            return bad_option(p, sec, arg,
                              apr_psprintf(p,
                                           "\"%s\" is not a valid column "
                                           "name: use letters, digits and _",
                                           item));
        if (list_has(a, item))
            return bad_option(p, sec, arg,
                              apr_psprintf(p, "\"%s\" is listed twice", item));
        APR_ARRAY_PUSH(a, const char *) = item;
    }
    *out = a;
    return NULL;
}

/* The next "col:value" item of the comma list at *rest: *col and *val
 * point into it, *rest moves past it (NULL after the last). NULL, "" when
 * the item has no ':' (the caller says what it expected), or why col is
 * not a column name. */
static const char *next_pair(apr_pool_t *p, char **rest, char **col, char **val)
{
    char *item = *rest, *next, *colon;

    if ((next = strchr(item, ',')))
        *next++ = '\0';
    *rest = next;
    if (!(colon = strchr(item, ':')))
        return "";
    *colon++ = '\0';
    *col = item;
    *val = colon;
    if (!xp_ident_valid(item))
        return apr_psprintf(p, "\"%s\" is not a valid column name", item);
    return NULL;
}

/* "col:SECTION[.col2][,col:SECTION[.col2]]" */
static const char *parse_refs(apr_pool_t *p, xp_section_t *s, const char *arg,
                              const char *value)
{
    char *copy = apr_pstrdup(p, value), *item, *next, *colon, *dot;
    int i;

    for (item = copy; item; item = next) {
        xp_ref_t *ref;

        if ((next = strchr(item, ',')))
            *next++ = '\0';
        colon = strchr(item, ':');
        if (!colon)
            return bad_option(p, s->name, arg,
                              "expected col:SECTION or col:SECTION.column");
        *colon++ = '\0';
        if ((dot = strchr(colon, '.')))
            *dot++ = '\0';
        if (!xp_ident_valid(item) || !xp_ident_valid(colon) ||
            (dot && !xp_ident_valid(dot)))
            return bad_option(p, s->name, arg,
                              "expected col:SECTION or col:SECTION.column "
                              "with names of letters, digits and _");
        for (i = 0; i < s->refs->nelts; i++) {
            if (!strcmp(APR_ARRAY_IDX(s->refs, i, xp_ref_t).column, item))
                return bad_option(p, s->name, arg,
                                  apr_psprintf(p,
                                               "column \"%s\" has two "
                                               "references",
                                               item));
        }
        ref = &APR_ARRAY_PUSH(s->refs, xp_ref_t);
        ref->column = item;
        ref->section = colon;
        ref->target = dot;
    }
    return NULL;
}

/* "col:Name[,col:Name]": Name is what files call the column. */
static const char *parse_fields(apr_pool_t *p, xp_section_t *s, const char *arg,
                                const char *value)
{
    apr_hash_t *used = apr_hash_make(p);
    char *rest = apr_pstrdup(p, value), *item, *colon;
    const char *why;

    while (rest) {
        if ((why = next_pair(p, &rest, &item, &colon)))
            return bad_option(p, s->name, arg,
                              *why ? why : "expected col:Name");
        if (!xp_field_name_valid(colon))
            return bad_option(p, s->name, arg,
                              apr_psprintf(p,
                                           "the name of column \"%s\" must "
                                           "be 1 to 255 bytes of UTF-8 "
                                           "without control characters",
                                           item));
        if (apr_hash_get(s->fields, item, APR_HASH_KEY_STRING))
            return bad_option(
                p, s->name, arg,
                apr_psprintf(p, "column \"%s\" is named twice", item));
        if (apr_hash_get(used, colon, APR_HASH_KEY_STRING))
            return bad_option(
                p, s->name, arg,
                apr_psprintf(p, "two columns are called \"%s\"", colon));
        apr_hash_set(s->fields, item, APR_HASH_KEY_STRING, colon);
        apr_hash_set(used, colon, APR_HASH_KEY_STRING, item);
    }
    return NULL;
}

/* "col:bcrypt[,col:bcrypt]" */
static const char *parse_hash(apr_pool_t *p, xp_section_t *s, const char *arg,
                              const char *value)
{
    char *rest = apr_pstrdup(p, value), *item, *colon;
    const char *why;

    while (rest) {
        if ((why = next_pair(p, &rest, &item, &colon)))
            return bad_option(p, s->name, arg,
                              *why ? why : "expected col:bcrypt");
        if (strcmp(colon, "bcrypt"))
            return bad_option(p, s->name, arg,
                              apr_psprintf(p,
                                           "unknown hash \"%s\": use "
                                           "bcrypt",
                                           colon));
        if (list_has(s->bcrypt, item))
            return bad_option(
                p, s->name, arg,
                apr_psprintf(p, "column \"%s\" is hashed twice", item));
        APR_ARRAY_PUSH(s->bcrypt, const char *) = item;
    }
    return NULL;
}

/* "col:int,col:real,col:bool,col:json" */
static const char *parse_types(apr_pool_t *p, xp_section_t *s, const char *arg,
                               const char *value)
{
    static const char *const names[] = {"string", "int", "real", "bool",
                                        "json"};
    char *rest = apr_pstrdup(p, value), *item, *colon;
    const char *why;
    int t;

    while (rest) {
        if ((why = next_pair(p, &rest, &item, &colon)))
            return bad_option(
                p, s->name, arg,
                *why ? why
                     : "expected col:int, col:real, col:bool or col:json");
        for (t = 0; t < 5 && strcmp(names[t], colon); t++)
            ;
        if (t == 5)
            return bad_option(p, s->name, arg,
                              apr_psprintf(p,
                                           "unknown type \"%s\": use int, "
                                           "real, bool, json or string",
                                           colon));
        if (apr_hash_get(s->types, item, APR_HASH_KEY_STRING))
            return bad_option(
                p, s->name, arg,
                apr_psprintf(p, "column \"%s\" is typed twice", item));
        apr_hash_set(s->types, item, APR_HASH_KEY_STRING,
                     (void *)(intptr_t)(t + 1));
    }
    return NULL;
}

/* One opt=value word into s. */
static const char *parse_option(apr_pool_t *p, xp_section_t *s, const char *arg)
{
    const char *eq = strchr(arg, '='), *v;
    char *opt;

    if (!eq || eq == arg)
        return bad_option(p, s->name, arg,
                          "expected option=value; options are " KNOWN_OPTIONS);
    opt = apr_pstrmemdup(p, arg, (apr_size_t)(eq - arg));
    v = eq + 1;
    if (!*v)
        return bad_option(p, s->name, arg, "empty value");
    if (!strcmp(opt, "table") || !strcmp(opt, "key") ||
        !strcmp(opt, "updated")) {
        if (!xp_ident_valid(v))
            return bad_option(p, s->name, arg,
                              "not a valid name: use letters, "
                              "digits and _, at most 63");
        if (*opt == 't')
            s->table = v;
        else if (*opt == 'k')
            s->key = v;
        else
            s->updated = v;
        return NULL;
    }
    if (!strcmp(opt, "columns")) {
        s->columns_declared = 1;
        return parse_ident_list(p, s->name, arg, v, &s->columns);
    }
    if (!strcmp(opt, "search"))
        return parse_ident_list(p, s->name, arg, v, &s->search);
    if (!strcmp(opt, "involves"))
        return parse_ident_list(p, s->name, arg, v, &s->involves);
    if (!strcmp(opt, "ref"))
        return parse_refs(p, s, arg, v);
    if (!strcmp(opt, "types"))
        return parse_types(p, s, arg, v);
    if (!strcmp(opt, "fields"))
        return parse_fields(p, s, arg, v);
    if (!strcmp(opt, "hash"))
        return parse_hash(p, s, arg, v);
    if (!strcmp(opt, "mode")) {
        if (!strcmp(v, "upsert"))
            s->mode = XP_MODE_UPSERT;
        else if (!strcmp(v, "append"))
            s->mode = XP_MODE_APPEND;
        else
            return bad_option(p, s->name, arg,
                              "expected mode=upsert or "
                              "mode=append");
        return NULL;
    }
    return apr_psprintf(
        p, "XportSection %s: unknown option \"%s\" (known: " KNOWN_OPTIONS ")",
        s->name, arg);
}

const char *xp_sections_add(xp_sections_t *secs, apr_pool_t *p,
                            const char *name, int argc, const char *const *argv)
{
    xp_section_t *s;
    apr_hash_t *seen = apr_hash_make(p);
    const char *msg;
    int i;

    if (!xp_ident_valid(name))
        return apr_psprintf(p,
                            "XportSection: bad section name \"%s\" (use "
                            "letters, digits and _, at most 63)",
                            name ? name : "");
    if (!strcmp(name, "all"))
        return "XportSection: \"all\" cannot be a section name (filters use "
               "it for every section)";
    if (xp_sections_find(secs, name))
        return apr_psprintf(p, "XportSection %s: section declared twice", name);
    s = apr_pcalloc(p, sizeof(*s));
    s->name = apr_pstrdup(p, name);
    s->search = apr_array_make(p, 1, sizeof(const char *));
    s->involves = apr_array_make(p, 1, sizeof(const char *));
    s->refs = apr_array_make(p, 1, sizeof(xp_ref_t));
    s->types = apr_hash_make(p);
    s->fields = apr_hash_make(p);
    s->bcrypt = apr_array_make(p, 1, sizeof(const char *));
    for (i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *opt =
            eq ? apr_pstrmemdup(p, argv[i], (apr_size_t)(eq - argv[i]))
               : argv[i];
        if (eq && apr_hash_get(seen, opt, APR_HASH_KEY_STRING))
            return apr_psprintf(p,
                                "XportSection %s: option \"%s\" given twice "
                                "(\"%s\")",
                                name, opt, argv[i]);
        if ((msg = parse_option(p, s, apr_pstrdup(p, argv[i]))))
            return msg;
        apr_hash_set(seen, opt, APR_HASH_KEY_STRING, opt);
    }
    if (!s->key)
        return apr_psprintf(p, "XportSection %s: key=COLUMN is required", name);
    if (!s->table)
        s->table = s->name;
    APR_ARRAY_PUSH(secs->list, xp_section_t *) = s;
    apr_hash_set(secs->by_name, s->name, APR_HASH_KEY_STRING, s);
    return NULL;
}

xp_type_e xp_section_type(const xp_section_t *sec, const char *column)
{
    void *v = apr_hash_get(sec->types, column, APR_HASH_KEY_STRING);

    return v ? (xp_type_e)((intptr_t)v - 1) : XP_TYPE_STRING;
}

/* Before columns are known (declared or discovered), the columns a
 * section has are the ones its own options name: nothing else may be
 * trusted to exist. */
static int named_by_options(const xp_section_t *sec, const char *column)
{
    int i;

    if (!strcmp(sec->key, column) ||
        (sec->updated && !strcmp(sec->updated, column)) ||
        list_has(sec->search, column) || list_has(sec->involves, column) ||
        apr_hash_get(sec->types, column, APR_HASH_KEY_STRING) ||
        (sec->fields &&
         apr_hash_get(sec->fields, column, APR_HASH_KEY_STRING)) ||
        list_has(sec->bcrypt, column))
        return 1;
    for (i = 0; i < sec->refs->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(sec->refs, i, xp_ref_t).column, column))
            return 1;
    }
    return 0;
}

int xp_section_has_column(const xp_section_t *sec, const char *column)
{
    if (!sec || !column)
        return 0;
    if (sec->columns)
        return list_has(sec->columns, column);
    return named_by_options(sec, column);
}

const char *xp_section_field(const xp_section_t *sec, const char *column)
{
    const char *name =
        sec->fields ? apr_hash_get(sec->fields, column, APR_HASH_KEY_STRING)
                    : NULL;

    return name ? name : column;
}

const char *xp_section_name_at(const xp_section_t *sec, int i)
{
    if (sec->names && sec->names->nelts == sec->columns->nelts)
        return APR_ARRAY_IDX(sec->names, i, const char *);
    return xp_section_field(sec, APR_ARRAY_IDX(sec->columns, i, const char *));
}

int xp_section_column_index(const xp_section_t *sec, const char *column)
{
    int i;

    for (i = 0; sec->columns && i < sec->columns->nelts; i++)
        if (!strcmp(APR_ARRAY_IDX(sec->columns, i, const char *), column))
            return i;
    return -1;
}

int xp_section_field_index(const xp_section_t *sec, const char *name)
{
    int i;

    for (i = 0; sec->columns && i < sec->columns->nelts; i++)
        if (!strcmp(xp_section_name_at(sec, i), name))
            return i;
    return -1;
}

int xp_section_hashed(const xp_section_t *sec, const char *column)
{
    return list_has(sec->bcrypt, column);
}

const char *xp_ref_target(const xp_sections_t *secs, const xp_ref_t *ref)
{
    const xp_section_t *t;

    if (ref->target)
        return ref->target;
    t = xp_sections_find(secs, ref->section);
    return t ? t->key : NULL;
}

int xp_ref_is_self(const xp_section_t *sec, const xp_ref_t *ref)
{
    return !strcmp(sec->name, ref->section);
}

static const char *declared_names(apr_pool_t *p, const xp_sections_t *secs)
{
    const char *s = "";
    int i;

    for (i = 0; i < secs->list->nelts; i++)
        s = apr_pstrcat(p, s, i ? ", " : "",
                        APR_ARRAY_IDX(secs->list, i, xp_section_t *)->name,
                        NULL);
    return *s ? s : "none";
}

/* Every column an option names must be among the section's columns. */
static const char *check_columns(apr_pool_t *p, const xp_section_t *s)
{
    apr_hash_index_t *hi;
    const char *msg = "XportSection %s: %s= names column \"%s\", which is not "
                      "in the columns of table \"%s\"";
    int i;

    if (!s->columns)
        return NULL;
    if (!list_has(s->columns, s->key))
        return apr_psprintf(p, msg, s->name, "key", s->key, s->table);
    if (s->updated && !list_has(s->columns, s->updated))
        return apr_psprintf(p, msg, s->name, "updated", s->updated, s->table);
    for (i = 0; i < s->search->nelts; i++) {
        const char *c = APR_ARRAY_IDX(s->search, i, const char *);
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "search", c, s->table);
    }
    for (i = 0; i < s->involves->nelts; i++) {
        const char *c = APR_ARRAY_IDX(s->involves, i, const char *);
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "involves", c, s->table);
    }
    for (i = 0; i < s->refs->nelts; i++) {
        const char *c = APR_ARRAY_IDX(s->refs, i, xp_ref_t).column;
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "ref", c, s->table);
    }
    for (hi = apr_hash_first(p, s->types); hi; hi = apr_hash_next(hi)) {
        const char *c = apr_hash_this_key(hi);
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "types", c, s->table);
    }
    for (hi = apr_hash_first(p, s->fields); hi; hi = apr_hash_next(hi)) {
        const char *c = apr_hash_this_key(hi);
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "fields", c, s->table);
    }
    for (i = 0; i < s->bcrypt->nelts; i++) {
        const char *c = APR_ARRAY_IDX(s->bcrypt, i, const char *);
        if (!list_has(s->columns, c))
            return apr_psprintf(p, msg, s->name, "hash", c, s->table);
    }
    return NULL;
}

/* A fields= name must not be what another column is called: a file's
 * key would then mean two columns. Checked against the columns the
 * section has, or (before they are known) the ones its options name. */
static const char *check_fields(apr_pool_t *p, const xp_section_t *s)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, s->fields); hi; hi = apr_hash_next(hi)) {
        const char *c = apr_hash_this_key(hi), *name = apr_hash_this_val(hi);
        if (strcmp(c, name) && xp_section_has_column(s, name))
            return apr_psprintf(p,
                                "XportSection %s: fields=%s:%s names column "
                                "\"%s\" after another column of the section",
                                s->name, c, name, c);
    }
    return NULL;
}

/* hash= columns hold secrets, not keys: a hashed key or reference could
 * never be looked up, and only text can hold a hash. */
static const char *check_hashes(apr_pool_t *p, const xp_section_t *s)
{
    int i, j;

    for (i = 0; i < s->bcrypt->nelts; i++) {
        const char *c = APR_ARRAY_IDX(s->bcrypt, i, const char *);
        const char *why = NULL;
        if (!strcmp(c, s->key))
            why = "it is the key";
        else if (xp_section_type(s, c) != XP_TYPE_STRING)
            why = "it is typed (types=); a hash is text";
        for (j = 0; !why && j < s->refs->nelts; j++)
            if (!strcmp(APR_ARRAY_IDX(s->refs, j, xp_ref_t).column, c))
                why = "it holds a reference";
        if (why)
            return apr_psprintf(p,
                                "XportSection %s: hash=%s:bcrypt cannot "
                                "apply to column \"%s\": %s",
                                s->name, c, c, why);
    }
    return NULL;
}

/* The file name of each column, once the columns are known. */
static void set_names(apr_pool_t *p, xp_section_t *s)
{
    int i;

    if (!s->columns)
        return;
    s->names = apr_array_make(p, s->columns->nelts ? s->columns->nelts : 1,
                              sizeof(const char *));
    for (i = 0; i < s->columns->nelts; i++)
        APR_ARRAY_PUSH(s->names, const char *) =
            xp_section_field(s, APR_ARRAY_IDX(s->columns, i, const char *));
}

/* Every ref names a declared section, and a .col2 one of its columns. */
static const char *check_refs(apr_pool_t *p, const xp_sections_t *secs,
                              const xp_section_t *s)
{
    int j;

    for (j = 0; j < s->refs->nelts; j++) {
        const xp_ref_t *r = &APR_ARRAY_IDX(s->refs, j, xp_ref_t);
        const xp_section_t *t = xp_sections_find(secs, r->section);
        if (!t)
            return apr_psprintf(p,
                                "XportSection %s: ref=%s:%s names an "
                                "undeclared section \"%s\" (declared: %s)",
                                s->name, r->column, r->section, r->section,
                                declared_names(p, secs));
        if (r->target && !xp_section_has_column(t, r->target))
            return apr_psprintf(p,
                                "XportSection %s: ref=%s:%s.%s names column "
                                "\"%s\", which section %s does not have",
                                s->name, r->column, r->section, r->target,
                                r->target, r->section);
    }
    return NULL;
}

/* Depth-first search for a ref cycle through s. state: 0 new, 1 on the
 * current path, 2 done. path holds the names on the current path. */
static const char *find_cycle(apr_pool_t *p, const xp_sections_t *secs,
                              const xp_section_t *s, apr_hash_t *state,
                              apr_array_header_t *path)
{
    const char *msg;
    int i, j;

    apr_hash_set(state, s->name, APR_HASH_KEY_STRING, "1");
    APR_ARRAY_PUSH(path, const char *) = s->name;
    for (i = 0; i < s->refs->nelts; i++) {
        const xp_ref_t *r = &APR_ARRAY_IDX(s->refs, i, xp_ref_t);
        const xp_section_t *t = xp_sections_find(secs, r->section);
        const char *st = apr_hash_get(state, r->section, APR_HASH_KEY_STRING);

        /* a row may name another row of its own section (a parent
         * comment): rows, not sections, are ordered for that */
        if (xp_ref_is_self(s, r))
            continue;

        if (st && *st == '1') {
            const char *c = "";
            for (j = 0; j < path->nelts; j++) {
                const char *n = APR_ARRAY_IDX(path, j, const char *);
                if (*c || !strcmp(n, r->section))
                    c = apr_pstrcat(p, c, n, " -> ", NULL);
            }
            return apr_psprintf(p,
                                "XportSection: references form a cycle: "
                                "%s%s (sections must reference each other "
                                "in one direction only)",
                                c, r->section);
        }
        if (!st && t && (msg = find_cycle(p, secs, t, state, path)))
            return msg;
    }
    apr_hash_set(state, s->name, APR_HASH_KEY_STRING, "2");
    apr_array_pop(path);
    return NULL;
}

const char *xp_sections_check(xp_sections_t *secs, apr_pool_t *p)
{
    apr_hash_t *state = apr_hash_make(p);
    apr_array_header_t *path = apr_array_make(p, 8, sizeof(const char *));
    const char *msg;
    int i;

    for (i = 0; i < secs->list->nelts; i++) {
        xp_section_t *s = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
        if ((msg = check_refs(p, secs, s)) || (msg = check_columns(p, s)) ||
            (msg = check_fields(p, s)) || (msg = check_hashes(p, s)))
            return msg;
        set_names(secs->list->pool, s);
    }
    for (i = 0; i < secs->list->nelts; i++) {
        const xp_section_t *s = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
        if (!apr_hash_get(state, s->name, APR_HASH_KEY_STRING) &&
            (msg = find_cycle(p, secs, s, state, path)))
            return msg;
    }
    return NULL;
}

/* 1 when every section s references (other than itself) is in done. */
static int parents_done(const xp_sections_t *secs, const xp_section_t *s,
                        apr_hash_t *done)
{
    int i;

    for (i = 0; i < s->refs->nelts; i++) {
        const char *n = APR_ARRAY_IDX(s->refs, i, xp_ref_t).section;
        if (strcmp(n, s->name) && xp_sections_find(secs, n) &&
            !apr_hash_get(done, n, APR_HASH_KEY_STRING))
            return 0;
    }
    return 1;
}

apr_array_header_t *xp_sections_ordered(const xp_sections_t *secs,
                                        apr_pool_t *p)
{
    int n = secs->list->nelts, i, progress = 1;
    apr_array_header_t *out =
        apr_array_make(p, n ? n : 1, sizeof(xp_section_t *));
    apr_hash_t *done = apr_hash_make(p);

    /* Repeatedly take the first section, in declaration order, whose
     * parents are all out: parents first, ties in declaration order. */
    while (out->nelts < n && progress) {
        progress = 0;
        for (i = 0; i < n; i++) {
            xp_section_t *s = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
            if (!apr_hash_get(done, s->name, APR_HASH_KEY_STRING) &&
                parents_done(secs, s, done)) {
                APR_ARRAY_PUSH(out, xp_section_t *) = s;
                apr_hash_set(done, s->name, APR_HASH_KEY_STRING, s);
                progress = 1;
                break;
            }
        }
    }
    /* A cycle (rejected by xp_sections_check) leaves the rest in
     * declaration order rather than losing sections. */
    for (i = 0; out->nelts < n && i < n; i++) {
        xp_section_t *s = APR_ARRAY_IDX(secs->list, i, xp_section_t *);
        if (!apr_hash_get(done, s->name, APR_HASH_KEY_STRING)) {
            APR_ARRAY_PUSH(out, xp_section_t *) = s;
            apr_hash_set(done, s->name, APR_HASH_KEY_STRING, s);
        }
    }
    return out;
}
