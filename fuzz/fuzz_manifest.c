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
