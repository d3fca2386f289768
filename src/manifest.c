/*
 * manifest.c -- renders manifest.json, the first entry of every archive
 * (SPEC 5, archive format version 1).
 *
 * The key order is part of the format: people diff manifests, and an
 * import reads "format" and "version" first. jansson keeps insertion
 * order, so the order below is the order on disk; do not reorder.
 */
#include <apr_strings.h>

#include "xp_manifest.h"

static void mf_set_columns(apr_pool_t *p, xp_json_t *o,
                           const apr_array_header_t *cols)
{
    xp_json_t *a = xp_json_array(p);
    int i;

    for (i = 0; cols && i < cols->nelts; i++)
        xp_json_append_str(a, APR_ARRAY_IDX(cols, i, const char *));
    xp_json_set(o, "columns", a);
}

static xp_json_t *mf_section(apr_pool_t *p, const xp_mf_section_t *s)
{
    xp_json_t *o = xp_json_object(p), *win;

    xp_json_set_str(o, "name", s->name);
    xp_json_set_str(o, "file", s->file);
    xp_json_set_str(o, "key", s->key);
    mf_set_columns(p, o, s->columns);
    xp_json_set_int(o, "count", s->count);
    xp_json_set_int(o, "bytes", s->bytes);
    xp_json_set_str(o, "sha256", s->sha256);
    /* null says "exported whole" (the section has no updated= column or
     * no window was asked for); an object gives the bounds applied. */
    if (!s->windowed) {
        xp_json_set_null(o, "window");
    }
    else {
        win = xp_json_object(p);
        xp_json_set_str(win, "since", s->since);
        xp_json_set_str(win, "until", s->until);
        xp_json_set(o, "window", win);
    }
    return o;
}

const char *xp_manifest_render(apr_pool_t *p, const xp_manifest_t *m)
{
    apr_pool_t *tmp;
    xp_json_t *o, *secs;
    const char *text;
    int i;

    /* The json values are only scaffolding for the text: build them in a
     * subpool and release them before returning. */
    if (apr_pool_create(&tmp, p) != APR_SUCCESS)
        return NULL;
    o = xp_json_object(tmp);
    xp_json_set_str(o, "format", "xport-archive");
    xp_json_set_int(o, "version", XPORT_ARCHIVE_VERSION);
    xp_json_set_str(o, "generator", XPORT_GENERATOR);
    xp_json_set_str(o, "created_at", m->created_at);
    xp_json_set_str(o, "instance", m->instance);
    xp_json_set_str(o, "filter", m->filter);
    xp_json_set_str(o, "since", m->since);
    xp_json_set_str(o, "until", m->until);
    xp_json_set_bool(o, "closure", m->closure);
    secs = xp_json_array(tmp);
    for (i = 0; m->sections && i < m->sections->nelts; i++)
        xp_json_append(secs, mf_section(tmp, &APR_ARRAY_IDX(
                                                  m->sections, i,
                                                  xp_mf_section_t)));
    xp_json_set(o, "sections", secs);
    text = xp_json_dump_pretty(tmp, o);
    /* A text file ends with a newline; cat and diff stay quiet. */
    text = text ? apr_pstrcat(p, text, "\n", NULL) : NULL;
    apr_pool_destroy(tmp);
    return text;
}
