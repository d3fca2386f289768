/*
 * fuzz_manifest.c -- manifest.json validation (SPEC 5, 6.2): any bytes
 * either parse into a manifest or fail with a message starting
 * "manifest.json: " (or naming the unsupported version); a manifest that parsed renders to text that parses
 * again with the same sections.
 */
#include "fuzz_common.h"
#include "xp_manifest.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

/* What SPEC 5 promises about every section of a manifest that parsed. */
static void check_sections(apr_pool_t *p, const xp_manifest_t *m)
{
    int i, j, has_key;

    for (i = 0; i < m->sections->nelts; i++) {
        const xp_mf_section_t *s =
            &APR_ARRAY_IDX(m->sections, i, xp_mf_section_t);

        FUZZ_CHECK(xp_ident_valid(s->name), "section names are identifiers");
        /* the key and the columns are the file's names (fields=): short
         * UTF-8 text, only ever compared, never put into SQL */
        FUZZ_CHECK(xp_field_name_valid(s->key), "the key is a column name");
        FUZZ_CHECK(!strcmp(s->file, apr_psprintf(p, "data/%s.ndjson",
                                                 s->name)),
                   "file is data/<name>.ndjson");
        FUZZ_CHECK(s->count >= 0 && s->bytes >= 0, "count and bytes >= 0");
        FUZZ_CHECK(strlen(s->sha256) == 64 &&
                       strspn(s->sha256, "0123456789abcdef") == 64,
                   "sha256 is 64 lowercase hex");
        for (j = 0, has_key = 0; j < s->columns->nelts; j++) {
            const char *c = APR_ARRAY_IDX(s->columns, j, const char *);
            FUZZ_CHECK(xp_field_name_valid(c), "columns are column names");
            has_key |= !strcmp(c, s->key);
        }
        FUZZ_CHECK(has_key, "the key is among the columns");
        for (j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(APR_ARRAY_IDX(m->sections, j, xp_mf_section_t)
                                  .name,
                              s->name),
                       "section names are unique");
    }
}

static void round_trip(apr_pool_t *p, const xp_manifest_t *m)
{
    const char *text = xp_manifest_render(p, m);
    xp_manifest_t *again = NULL;
    xp_error_t err;

    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(text != NULL, "a parsed manifest renders");
    if (xp_manifest_parse(p, text, strlen(text), &again, &err) != XP_OK) {
        fprintf(stderr, "rendered manifest fails: %s\n%s\n", err.message, text);
        FUZZ_CHECK(0, "a rendered manifest parses again");
    }
    FUZZ_CHECK(again->sections->nelts == m->sections->nelts,
               "same sections after a round trip");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *text;
    xp_manifest_t *m = NULL;
    xp_error_t err;
    xp_errcode_e rc;

    if (!(text = malloc(size ? size : 1)))
        return 0;
    /* not NUL-terminated on purpose: the parser takes a length */
    memcpy(text, data, size);
    p = fuzz_pool();
    memset(&err, 0, sizeof(err));
    rc = xp_manifest_parse(p, text, size, &m, &err);
    if (rc == XP_OK) {
        FUZZ_CHECK(m != NULL && m->sections != NULL, "a parsed manifest");
        check_sections(p, m);
        round_trip(p, m);
    } else {
        FUZZ_CHECK(m == NULL, "no manifest handed out on a fault");
        /* SPEC 6.2 words the version fault on its own */
        FUZZ_CHECK(err.message &&
                       (!strncmp(err.message, "manifest.json: ", 15) ||
                        !strncmp(err.message, "unsupported archive version ",
                                 28)),
                   "a fault names manifest.json");
    }
    apr_pool_destroy(p);
    free(text);
    return 0;
}
