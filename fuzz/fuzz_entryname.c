/*
 * fuzz_entryname.c -- the archive entry-name check (SPEC 6.1,
 * xp_areader_name_problem): a name passes exactly when it is 1..255
 * bytes of valid UTF-8 without control characters or backslashes, not
 * absolute and without a ".." component; every refused name gets a
 * reason, and the names an import reads ("manifest.json",
 * "data/<ident>.ndjson") always pass. The rules are re-stated here
 * independently of the engine's code, so the two must agree.
 */
#include "fuzz_common.h"
#include "xp_areader.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    return 0;
}

/* Decode code points; 0 on overlongs, surrogates, > U+10FFFF, truncation. */
static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0, k, len;
    unsigned long cp;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0)
            len = 2, cp = s[i] & 0x1F;
        else if ((s[i] & 0xF0) == 0xE0)
            len = 3, cp = s[i] & 0x0F;
        else if ((s[i] & 0xF8) == 0xF0)
            len = 4, cp = s[i] & 0x07;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static int has_dotdot_component(const char *name)
{
    const char *start = name, *slash;

    for (;;) {
        slash = strchr(start, '/');
        if ((slash ? (size_t)(slash - start) : strlen(start)) == 2 &&
            start[0] == '.' && start[1] == '.')
            return 1;
        if (!slash)
            return 0;
        start = slash + 1;
    }
}

static int safe(const char *name)
{
    size_t n = strlen(name), i;

    if (n == 0 || n > 255 || name[0] == '/' || strchr(name, '\\'))
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return 0;
    return utf8_ok((const unsigned char *)name, n) &&
           !has_dotdot_component(name);
}

/* The names an import reads. */
static int wanted(const char *name)
{
    size_t n = strlen(name);
    char ident[64];

    if (!strcmp(name, "manifest.json"))
        return 1;
    if (n < 5 + 1 + 7 || strncmp(name, "data/", 5) ||
        strcmp(name + n - 7, ".ndjson"))
        return 0;
    n -= 5 + 7;
    if (n >= sizeof(ident))
        return 0;
    memcpy(ident, name + 5, n);
    ident[n] = '\0';
    return xp_ident_valid(ident);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name;
    const char *why;

    if (size > 4096 || !(name = fuzz_cstring(data, size)))
        return 0;
    why = xp_areader_name_problem(name);
    if (safe(name))
        FUZZ_CHECK(why == NULL, "a safe name passes");
    else
        FUZZ_CHECK(why != NULL && *why, "an unsafe name has a reason");
    if (wanted(name))
        FUZZ_CHECK(why == NULL, "the names an import reads pass");
    free(name);
    return 0;
}
