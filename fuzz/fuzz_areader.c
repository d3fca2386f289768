/*
 * fuzz_areader.c -- reading an uploaded archive (xp_areader.h, SPEC
 * 6.1): any bytes, stored as an upload file, are opened as tar / tar.gz /
 * tar.zst / zip and read entry by entry under a 1 MiB
 * XportMaxUncompressedSize. Checked: every entry handed out has a name an
 * import reads and passes the name check; data blocks are at most 64 KiB
 * and never past the cap (the count is exact); faults carry a message.
 */
#include <unistd.h>

#include "fuzz_common.h"
#include "xp_areader.h"

#define MAX_UNCOMPRESSED (1024 * 1024)

static char path[64];

static void remove_upload(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_apr_init();
    /* one upload file per process, rewritten for each input */
    snprintf(path, sizeof(path), "/tmp/xp_fuzz_areader.%ld", (long)getpid());
    atexit(remove_upload);
    return 0;
}

static int store(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return 0;
    ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static int wanted(const char *name)
{
    size_t n = strlen(name);

    return !strcmp(name, "manifest.json") ||
           (n > 12 && !strncmp(name, "data/", 5) &&
            !strcmp(name + n - 7, ".ndjson"));
}

static void read_all(xp_areader_t *r)
{
    xp_aentry_t e;
    xp_error_t err;
    xp_errcode_e rc;
    apr_off_t total = 0;
    const char *buf;
    apr_size_t len;
    unsigned long sum = 0;

    memset(&err, 0, sizeof(err));
    while ((rc = xp_areader_next(r, &e, &err)) == XP_OK) {
        FUZZ_CHECK(e.name && wanted(e.name), "only names an import reads");
        FUZZ_CHECK(!xp_areader_name_problem(e.name), "a safe name");
        while ((rc = xp_areader_read(r, &buf, &len, &err)) == XP_OK && len) {
            FUZZ_CHECK(len <= 64 * 1024, "blocks of at most 64 KiB");
            sum += (unsigned char)buf[0] + (unsigned char)buf[len - 1];
            total += (apr_off_t)len;
            FUZZ_CHECK(total <= MAX_UNCOMPRESSED, "never past the cap");
        }
        if (rc != XP_OK)
            break;
    }
    (void)sum;
    FUZZ_CHECK(xp_areader_total(r) <= MAX_UNCOMPRESSED + 64 * 1024,
               "the decompressed count stays near the cap");
    if (rc != XP_ENOTFOUND)
        FUZZ_CHECK(err.message && *err.message, "a fault has a message");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    xp_areader_t *r = NULL;
    xp_error_t err;

    if (!store(data, size))
        return 0;
    p = fuzz_pool();
    memset(&err, 0, sizeof(err));
    if (xp_areader_open(p, path, NULL, MAX_UNCOMPRESSED, &r, &err) == XP_OK)
        read_all(r);
    else
        FUZZ_CHECK(err.message && *err.message, "a fault has a message");
    apr_pool_destroy(p); /* closes the archive */
    return 0;
}
