/*
 * rewrite.c -- an import's rewrite rules (xp_rewrite.h): checked once
 * when the import is asked for (xp_import_prepare) and again by the
 * worker that runs it, then applied to every row as it is read, before
 * any check, so that a rewritten row is judged, counted and written like
 * any other (dry runs included).
 *
 * A rule's set is parsed once by the row parser itself (a JSON object of
 * the set's names and values), so its values are typed and worded
 * exactly as a file's would be. Rules are filed per section under their
 * key; the keys a set renamed are filed likewise, so that a row costs a
 * hash lookup per key ref and one for its own key, whatever the number
 * of rules.
 */
#include <string.h>

#include <apr_strings.h>

#include "xp_rewrite.h"
#include "xp_json.h"

/* One rule. */
typedef struct {
    const char *key;
    const char *reject;     /* NULL: a set */
    const char **values;    /* per column: the set's value */
    unsigned char *present; /* per column: the set names it */
} rw_rule_t;

struct rw_sec_t;

/* A key ref of a section: its column and the section it names. */
typedef struct {
    int col;
    struct rw_sec_t *target;
} rw_ref_t;

/* What the rules say about one section, and what its rows renamed. */
typedef struct rw_sec_t {
    const xp_section_t *sec;
    int keyidx;
    apr_hash_t *rules;   /* key -> rw_rule_t */
    apr_hash_t *renamed; /* old key -> new key */
    rw_ref_t *refs;
    int nrefs;
} rw_sec_t;

struct xp_rewrite_t {
    apr_pool_t *pool;
    apr_hash_t *secs; /* section name -> rw_sec_t */
};

/* A fault of the rules: "rewrite: <why>", the field named. */
static xp_errcode_e rw_bad(xp_error_t *err, apr_pool_t *p, const char *why)
{
    xp_error_set(err, p, XP_EINVAL, "rewrite: %s", why);
    if (err)
        err->field = "rewrite";
    return XP_EINVAL;
}

static xp_errcode_e rule_bad(xp_error_t *err, apr_pool_t *p, int i,
                             const char *why)
{
    return rw_bad(err, p, apr_psprintf(p, "rule %d: %s", i, why));
}

/* The section's state, made the first time it is asked for. NULL when
 * secs has no such section or does not know its columns yet. */
static rw_sec_t *rw_sec(xp_rewrite_t *rw, const xp_sections_t *secs,
                        const char *name)
{
    rw_sec_t *rs = apr_hash_get(rw->secs, name, APR_HASH_KEY_STRING);
    const xp_section_t *sec;
    int i;

    if (rs || !(sec = xp_sections_find(secs, name)) || !sec->columns)
        return rs;
    rs = apr_pcalloc(rw->pool, sizeof(*rs));
    rs->sec = sec;
    rs->keyidx = xp_section_column_index(sec, sec->key);
    rs->rules = apr_hash_make(rw->pool);
    rs->renamed = apr_hash_make(rw->pool);
    apr_hash_set(rw->secs, sec->name, APR_HASH_KEY_STRING, rs);
    rs->refs =
        apr_pcalloc(rw->pool, sizeof(*rs->refs) * (sec->refs->nelts + 1));
    for (i = 0; i < sec->refs->nelts; i++) {
        const xp_ref_t *ref = &APR_ARRAY_IDX(sec->refs, i, xp_ref_t);
        const xp_section_t *t = xp_sections_find(secs, ref->section);
        rw_ref_t *r = &rs->refs[rs->nrefs];
        if (!t || (ref->target && strcmp(ref->target, t->key)) ||
            (r->col = xp_section_column_index(sec, ref->column)) < 0)
            continue;
        /* a self reference finds rs filed above */
        if ((r->target = rw_sec(rw, secs, t->name)) != NULL)
            rs->nrefs++;
    }
    return rs;
}

/* A rule's key: a string, or a number as its text. */
static const char *rule_key(apr_pool_t *p, const xp_json_t *k)
{
    xp_json_kind_e t = k ? xp_json_kind(k) : XP_JSON_NULL;

    if (t != XP_JSON_STRING && t != XP_JSON_INT && t != XP_JSON_REAL)
        return NULL;
    return xp_json_text(p, k);
}

/* A set: its object through the row parser, as a line of the file. */
static xp_errcode_e rule_set(xp_rewrite_t *rw, const rw_sec_t *rs, int i,
                             const xp_json_t *set, rw_rule_t *rule,
                             xp_error_t *err)
{
    apr_pool_t *p = rw->pool;
    const char *text = xp_json_dump(p, set);
    xp_error_t e = {0};
    xp_row_t row;

    if (!xp_json_is_object(set))
        return rule_bad(err, p, i, "set must be an object of name: value");
    if (xp_row_parse(p, rs->sec, text, strlen(text), &row, &e) != XP_OK)
        return rule_bad(err, p, i, e.message);
    if (row.unknown && row.unknown->nelts)
        return rule_bad(
            err, p, i,
            apr_psprintf(p, "section \"%s\" has no column \"%s\"",
                         rs->sec->name,
                         APR_ARRAY_IDX(row.unknown, 0, const char *)));
    rule->values = row.values;
    rule->present = row.present;
    return XP_OK;
}

/* Rule i of the array: checked, then filed under its section and key. */
static xp_errcode_e rule_add(xp_rewrite_t *rw, const xp_sections_t *secs, int i,
                             const xp_json_t *o, xp_error_t *err)
{
    apr_pool_t *p = rw->pool;
    rw_rule_t *rule = apr_pcalloc(p, sizeof(*rule));
    const char *name, *reject;
    xp_json_t *set;
    rw_sec_t *rs;
    xp_errcode_e rc;

    if (!xp_json_is_object(o))
        return rule_bad(err, p, i, "not an object");
    set = xp_json_get(p, o, "set");
    reject = xp_json_get_str(o, "reject");
    if (!(name = xp_json_get_str(o, "section")))
        return rule_bad(err, p, i, "section (a string) is missing");
    if (!(rs = rw_sec(rw, secs, name)))
        return rule_bad(err, p, i,
                        apr_psprintf(p,
                                     "\"%s\" is not a section configured on "
                                     "this server",
                                     name));
    if (!(rule->key = rule_key(p, xp_json_get(p, o, "key"))))
        return rule_bad(err, p, i, "key (a string or a number) is missing");
    if (!set == !xp_json_has(o, "reject"))
        return rule_bad(err, p, i,
                        "give either set or reject, not both or "
                        "neither");
    if (!set && !reject)
        return rule_bad(err, p, i, "reject must be a message (a string)");
    if (set && (rc = rule_set(rw, rs, i, set, rule, err)) != XP_OK)
        return rc;
    rule->reject = reject ? apr_pstrdup(p, reject) : NULL;
    if (apr_hash_get(rs->rules, rule->key, APR_HASH_KEY_STRING))
        return rule_bad(err, p, i,
                        apr_psprintf(p,
                                     "section \"%s\" key \"%s\" has a rule "
                                     "already",
                                     name, rule->key));
    apr_hash_set(rs->rules, rule->key, APR_HASH_KEY_STRING, rule);
    return XP_OK;
}

xp_errcode_e xp_rewrite_make(apr_pool_t *p, const xp_sections_t *secs,
                             const char *text, xp_rewrite_t **out,
                             xp_error_t *err)
{
    xp_rewrite_t *rw = apr_pcalloc(p, sizeof(*rw));
    xp_error_t e = {0};
    xp_json_t *a;
    xp_errcode_e rc;
    apr_size_t i;
    int k;

    *out = NULL;
    rw->pool = p;
    rw->secs = apr_hash_make(p);
    if (!(a = xp_json_parse(p, text, strlen(text), &e)))
        return rw_bad(err, p, apr_pstrcat(p, "not JSON: ", e.message, NULL));
    if (!xp_json_is_array(a))
        return rw_bad(err, p, "not a JSON array of rules");
    /* every section: a row of one without rules may name renamed keys */
    for (k = 0; k < secs->list->nelts; k++)
        rw_sec(rw, secs, APR_ARRAY_IDX(secs->list, k, xp_section_t *)->name);
    for (i = 0; i < xp_json_size(a); i++)
        if ((rc = rule_add(rw, secs, (int)i, xp_json_at(p, a, i), err)) !=
            XP_OK)
            return rc;
    *out = rw;
    return XP_OK;
}

/* The key refs that name a renamed key get the new one. */
static void row_refs(const rw_sec_t *rs, xp_row_t *row)
{
    const char *v, *to;
    int i;

    for (i = 0; i < rs->nrefs; i++) {
        const rw_ref_t *r = &rs->refs[i];
        if (!(v = row->values[r->col]) || !apr_hash_count(r->target->renamed))
            continue;
        if ((to = apr_hash_get(r->target->renamed, v, APR_HASH_KEY_STRING)))
            row->values[r->col] = to;
    }
}

const char *xp_rewrite_row(xp_rewrite_t *rw, const xp_section_t *sec,
                           xp_row_t *row)
{
    rw_sec_t *rs = apr_hash_get(rw->secs, sec->name, APR_HASH_KEY_STRING);
    const rw_rule_t *rule = NULL;
    const char *key, *to;
    int c;

    if (!rs)
        return NULL;
    key = rs->keyidx >= 0 ? row->values[rs->keyidx] : NULL;
    row_refs(rs, row);
    if (!key || !(rule = apr_hash_get(rs->rules, key, APR_HASH_KEY_STRING)))
        return NULL;
    if (rule->reject)
        return rule->reject;
    for (c = 0; c < sec->columns->nelts; c++)
        if (rule->present[c]) {
            row->values[c] = rule->values[c];
            row->present[c] = 1;
        }
    to = rs->keyidx >= 0 ? row->values[rs->keyidx] : NULL;
    if (to && strcmp(to, rule->key))
        apr_hash_set(rs->renamed, rule->key, APR_HASH_KEY_STRING, to);
    return NULL;
}
