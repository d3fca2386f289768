/*
 * fuzz_common.h -- what every libFuzzer target shares: APR set up once,
 * a fresh pool per input (destroyed after it, so LeakSanitizer sees any
 * allocation the engine makes outside the pool), the demo's sections,
 * and a way to fail loudly when an engine contract is broken.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "xport.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract is a finding: print it and abort so libFuzzer keeps
 * the input. */
#define FUZZ_CHECK(cond, what)                                               \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz contract broken: %s (%s:%d)\n", (what),   \
                    __FILE__, __LINE__);                                     \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* The whole input as a NUL-terminated string in its own malloc block
 * (exact size, so ASan catches a read past the end). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

static inline apr_pool_t *fuzz_pool(void)
{
    apr_pool_t *p = NULL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        abort();
    return p;
}

static inline void fuzz_apr_init(void)
{
    static int done;

    if (!done) {
        if (apr_initialize() != APR_SUCCESS)
            abort();
        done = 1;
    }
}

/* The demo's sections (as in t/unit/test_filter.c and conf/): refs,
 * search, involves, windows and every column type. */
static inline xp_sections_t *fuzz_sections(apr_pool_t *p)
{
    static const char *const decl[][2] = {
        {"users", "key=id search=name,notes types=selected:bool "
                  "updated=updated_at "
                  "columns=id,name,email,favorite_color,selected,notes,"
                  "updated_at"},
        {"bots", "key=id search=name ref=owner_id:users "
                 "columns=id,name,owner_id,coordinates,location,created_at"},
        {"messages", "key=id involves=bot_id,user_id "
                     "ref=bot_id:bots,user_id:users updated=created_at "
                     "columns=id,bot_id,user_id,body,created_at"},
        {"jobs", "key=id types=attempts:int,progress:real,payload:json "
                 "columns=id,name,status,attempts,progress,payload"},
        {"scripts", "key=id search=name columns=id,name,body"},
        {"global_properties", "key=name"},
    };
    xp_sections_t *secs = xp_sections_make(p);
    size_t i;

    for (i = 0; i < sizeof(decl) / sizeof(decl[0]); i++) {
        char *copy = apr_pstrdup(p, decl[i][1]), *last, *w;
        const char *argv[16];
        int argc = 0;

        for (w = apr_strtok(copy, " ", &last); w && argc < 16;
             w = apr_strtok(NULL, " ", &last))
            argv[argc++] = w;
        FUZZ_CHECK(!xp_sections_add(secs, p, decl[i][0], argc, argv),
                   "fixture section declares");
    }
    FUZZ_CHECK(!xp_sections_check(secs, p), "fixture sections check");
    return secs;
}

#endif
