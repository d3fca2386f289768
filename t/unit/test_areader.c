/*
 * test_areader.c -- the archive reader against real archives: made with
 * tar, zip, gzip and zstd on the command line where they can, and with
 * libarchive's writer for what the tools refuse to make (links, devices,
 * "../" and absolute names, duplicates). Every hostile entry must be
 * refused with a message naming it; a good archive must read back byte
 * for byte; a gzip bomb must stop at the limit.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include <archive.h>
#include <archive_entry.h>

#include "tap.h"
#include "xp_areader.h"

static apr_pool_t *pool;
static char dir[] = "/tmp/xp_areader_XXXXXX";

static int sh(const char *fmt, ...)
{
    va_list ap;
    char *cmd;

    va_start(ap, fmt);
    cmd = apr_pvsprintf(pool, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *path_of(const char *name)
{
    return apr_pstrcat(pool, dir, "/", name, NULL);
}

static void put_file(const char *name, const char *data, apr_size_t len)
{
    FILE *f = fopen(path_of(name), "wb");

    fwrite(data, 1, len, f);
    fclose(f);
}

/* One entry for the libarchive writer. */
typedef struct {
    const char *name;
    int type;             /* AE_IF* */
    const char *data;     /* regular files */
    const char *link;     /* symlink target */
    const char *hardlink; /* hardlink target */
} ent_t;

/* fmt: "tar", "tar.gz", "zip", "cpio", "7z", "iso" */
static void make_archive(const char *name, const char *fmt, const ent_t *ents,
                         int n)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e;
    int i;

    if (!strcmp(fmt, "zip"))
        archive_write_set_format_zip(a);
    else if (!strcmp(fmt, "cpio"))
        archive_write_set_format_cpio(a);
    else if (!strcmp(fmt, "7z"))
        archive_write_set_format_7zip(a);
    else if (!strcmp(fmt, "iso"))
        archive_write_set_format_iso9660(a);
    else
        archive_write_set_format_pax_restricted(a);
    if (!strcmp(fmt, "tar.gz"))
        archive_write_add_filter_gzip(a);
    archive_write_open_filename(a, path_of(name));
    for (i = 0; i < n; i++) {
        e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        archive_entry_set_filetype(e, ents[i].type ? (unsigned)ents[i].type
                                                   : AE_IFREG);
        archive_entry_set_perm(e, 0644);
        if (ents[i].link)
            archive_entry_set_symlink(e, ents[i].link);
        if (ents[i].hardlink)
            archive_entry_set_hardlink(e, ents[i].hardlink);
        if (ents[i].type == (int)AE_IFCHR || ents[i].type == (int)AE_IFBLK)
            archive_entry_set_rdev(e, 0x0103);
        archive_entry_set_size(e, ents[i].data ? strlen(ents[i].data) : 0);
        archive_write_header(a, e);
        if (ents[i].data)
            archive_write_data(a, ents[i].data, strlen(ents[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Reads every entry; returns the first failure (or XP_OK at the end),
 * with the names and data seen as "name=data;" in *seen. */
static xp_errcode_e read_all(const char *name, const char *raw, apr_off_t max,
                             const char **seen, xp_error_t *err)
{
    xp_areader_t *r;
    xp_aentry_t e;
    xp_errcode_e rc;
    const char *buf;
    apr_size_t len;
    char *s = "";

    memset(err, 0, sizeof(*err));
    *seen = "";
    rc = xp_areader_open(pool, path_of(name), raw, max, &r, err);
    while (rc == XP_OK && (rc = xp_areader_next(r, &e, err)) == XP_OK) {
        s = apr_pstrcat(pool, s, e.name, "=", NULL);
        while ((rc = xp_areader_read(r, &buf, &len, err)) == XP_OK && len)
            s = apr_pstrcat(pool, s, apr_pstrmemdup(pool, buf, len), NULL);
        s = apr_pstrcat(pool, s, ";", NULL);
        *seen = s;
    }
    return rc == XP_ENOTFOUND ? XP_OK : rc;
}

static const char *MANIFEST = "{\"format\":\"xport-archive\"}\n";
static const char *USERS = "{\"id\":\"u1\"}\n{\"id\":\"u2\"}\n";

static void test_good_cli(void)
{
    const char *want = apr_pstrcat(pool, "manifest.json=", MANIFEST,
                                   ";data/users.ndjson=", USERS, ";", NULL);
    static const char *kinds[][2] = {
        {"good.tar.gz", "tar -C %s/src -czf %s/good.tar.gz manifest.json "
                        "data/users.ndjson"},
        {"good.tar.zst", "tar -C %s/src --zstd -cf %s/good.tar.zst "
                         "manifest.json data/users.ndjson"},
        {"good.tar", "tar -C %s/src -cf %s/good.tar manifest.json "
                     "data/users.ndjson"},
        {"good.zip", "cd %s/src && zip -q %s/good.zip manifest.json "
                     "data/users.ndjson"},
    };
    const char *seen;
    xp_error_t err;
    int i;

    sh("mkdir -p %s/src/data", dir);
    put_file("src/manifest.json", MANIFEST, strlen(MANIFEST));
    put_file("src/data/users.ndjson", USERS, strlen(USERS));
    for (i = 0; i < 4; i++) {
        sh(kinds[i][1], dir, dir);
        is_int(read_all(kinds[i][0], NULL, 0, &seen, &err), XP_OK, "%s reads",
               kinds[i][0]);
        is_str(seen, want, "%s: names and data in order, byte for byte",
               kinds[i][0]);
    }
}

/* A data entry spanning many 64 KiB blocks comes back unchanged. */
static void test_big_entry(void)
{
    apr_size_t n = 300 * 1000, i, got = 0;
    char *data = apr_palloc(pool, n);
    xp_areader_t *r;
    xp_aentry_t e;
    xp_error_t err = {0};
    const char *buf;
    apr_size_t len;
    int same = 1, blocks = 0;

    for (i = 0; i < n; i++)
        data[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    put_file("src/data/big.ndjson", data, n);
    sh("tar -C %s/src --zstd -cf %s/big.tar.zst data/big.ndjson", dir, dir);
    xp_areader_open(pool, path_of("big.tar.zst"), NULL, 0, &r, &err);
    ok(r && xp_areader_next(r, &e, &err) == XP_OK, "big entry header");
    is_str(e.name, "data/big.ndjson", "big entry name");
    is_int(e.size, n, "header size reported");
    while (xp_areader_read(r, &buf, &len, &err) == XP_OK && len) {
        ok(len <= 65536, "block of at most 64 KiB");
        same = same && got + len <= n && !memcmp(data + got, buf, len);
        got += len;
        blocks++;
    }
    ok(same && got == n, "300 kB entry byte-compared across %d blocks", blocks);
    is_int(xp_areader_total(r), n, "decompressed bytes counted");
    is_int(xp_areader_next(r, &e, &err), XP_ENOTFOUND, "then the end");
}

static void refused(const char *file, const ent_t *ents, int n, const char *fmt,
                    const char *want, const char *what)
{
    const char *seen;
    xp_error_t err;
    xp_errcode_e rc;

    make_archive(file, fmt, ents, n);
    rc = read_all(file, NULL, 0, &seen, &err);
    is_int(rc, XP_EINVAL, "%s: refused", what);
    is_str(err.message, want, "%s: message", what);
}

static void test_bad_names(void)
{
    char longname[320];
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"../x", "entry \"../x\": names outside the archive are not allowed"},
        {"data/../../etc/passwd", "entry \"data/../../etc/passwd\": names "
                                  "outside the archive are not allowed"},
        {"/etc/passwd", "entry \"/etc/passwd\": absolute names are not "
                        "allowed"},
        {"data\\users.ndjson", "entry \"data\\x5cusers.ndjson\": backslashes "
                               "are not allowed in names"},
        {"data/u\x01.ndjson", "entry \"data/u\\x01.ndjson\": control "
                              "characters are not allowed in names"},
        {"data/\xff\xfe.ndjson", "entry \"data/\\xff\\xfe.ndjson\": names "
                                 "must be valid UTF-8"},
        {"notes.txt", "entry \"notes.txt\": not a file an import reads "
                      "(expected manifest.json and data/<section>.ndjson "
                      "only)"},
        {"./manifest.json", "entry \"./manifest.json\": not a file an import "
                            "reads (expected manifest.json and "
                            "data/<section>.ndjson only)"},
        {"data/9users.ndjson", "entry \"data/9users.ndjson\": not a file an "
                               "import reads (expected manifest.json and "
                               "data/<section>.ndjson only)"},
        {"data/sub/users.ndjson", "entry \"data/sub/users.ndjson\": not a "
                                  "file an import reads (expected "
                                  "manifest.json and data/<section>.ndjson "
                                  "only)"},
    };
    ent_t ents[2] = {{"manifest.json", 0, "{}", NULL, NULL}, {0}};
    unsigned i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ents[1].name = cases[i].name;
        ents[1].data = "x";
        refused("badname.tar", ents, 2, "tar", cases[i].want, cases[i].want);
    }
    memset(longname, 'a', sizeof(longname));
    memcpy(longname, "data/", 5);
    strcpy(longname + 300, ".ndjson");
    ents[1].name = longname;
    make_archive("long.tar", "tar", ents, 2);
    {
        const char *seen;
        xp_error_t err;
        ok(read_all("long.tar", NULL, 0, &seen, &err) == XP_EINVAL &&
               strstr(err.message, "names longer than 255 bytes are not "
                                   "allowed"),
           "a 307-byte name is refused: %s", err.message);
    }
}

static void test_bad_types(void)
{
    static const struct {
        int type;
        const char *link, *hard, *want;
    } cases[] = {
        {AE_IFLNK, "/etc/passwd", NULL,
         "entry \"data/users.ndjson\": symbolic links are not allowed"},
        {AE_IFREG, NULL, "manifest.json",
         "entry \"data/users.ndjson\": hard links are not allowed"},
        {AE_IFCHR, NULL, NULL,
         "entry \"data/users.ndjson\": device files are not allowed"},
        {AE_IFBLK, NULL, NULL,
         "entry \"data/users.ndjson\": device files are not allowed"},
        {AE_IFIFO, NULL, NULL,
         "entry \"data/users.ndjson\": FIFOs are not allowed"},
        {AE_IFDIR, NULL, NULL,
         "entry \"data/users.ndjson/\": directories are not allowed"},
    };
    ent_t ents[2] = {{"manifest.json", 0, "{}", NULL, NULL}, {0}};
    unsigned i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ents[1].name = "data/users.ndjson";
        ents[1].type = cases[i].type;
        ents[1].link = cases[i].link;
        ents[1].hardlink = cases[i].hard;
        refused("badtype.tar", ents, 2, "tar", cases[i].want,
                strchr(cases[i].want, ':') + 2);
    }
    /* the same through gzip and zip */
    ents[1].type = AE_IFLNK;
    ents[1].link = "../../etc/shadow";
    ents[1].hardlink = NULL;
    refused("badtype.tar.gz", ents, 2, "tar.gz", cases[0].want,
            "symlink in a tar.gz");
    refused("badtype.zip", ents, 2, "zip", cases[0].want, "symlink in a zip");
}

static void test_duplicates(void)
{
    ent_t twice[3] = {{"manifest.json", 0, "{}", NULL, NULL},
                      {"data/users.ndjson", 0, "a", NULL, NULL},
                      {"data/users.ndjson", 0, "b", NULL, NULL}};
    ent_t cased[3] = {{"manifest.json", 0, "{}", NULL, NULL},
                      {"data/users.ndjson", 0, "a", NULL, NULL},
                      {"data/Users.ndjson", 0, "b", NULL, NULL}};

    refused("dup.tar", twice, 3, "tar",
            "entry \"data/users.ndjson\": appears twice in the archive",
            "the same name twice");
    refused("dupcase.zip", cased, 3, "zip",
            "entry \"data/Users.ndjson\": repeats \"data/users.ndjson\" "
            "(names that differ only in case are the same file on many "
            "systems)",
            "names differing in case");
}

static void test_bomb(void)
{
    const char *seen;
    xp_error_t err;
    xp_errcode_e rc;

    sh("head -c 50M /dev/zero > %s/src/data/zeros.ndjson && "
       "tar -C %s/src -czf %s/bomb.tar.gz manifest.json data/zeros.ndjson",
       dir, dir, dir);
    sh("cd %s/src && zip -q %s/bomb.zip manifest.json data/zeros.ndjson "
       "&& tar --zstd -cf %s/bomb.tar.zst manifest.json data/zeros.ndjson",
       dir, dir, dir);
    sh("rm -f %s/src/data/zeros.ndjson", dir);
    is_int(read_all("bomb.zip", NULL, 10 * 1024 * 1024, &seen, &err), XP_ELIMIT,
           "the same bomb as a zip stops at the limit");
    is_int(read_all("bomb.tar.zst", NULL, 10 * 1024 * 1024, &seen, &err),
           XP_ELIMIT, "and as a tar.zst");
    rc = read_all("bomb.tar.gz", NULL, 10 * 1024 * 1024, &seen, &err);
    is_int(rc, XP_ELIMIT, "50 MB of zeros stop at a 10 MB limit");
    ok(err.message && strstr(err.message, "XportMaxUncompressedSize") &&
           strstr(err.message, "data/zeros.ndjson"),
       "the message names the directive and the entry: %s", err.message);
    is_int(read_all("good.tar.gz", NULL, 10 * 1024 * 1024, &seen, &err), XP_OK,
           "a small archive passes the same limit");
    /* the limit is over all entries, not per entry */
    is_int(read_all("good.tar.gz", NULL, (apr_off_t)strlen(MANIFEST) + 5, &seen,
                    &err),
           XP_ELIMIT, "the limit adds up the entries");
}

static void not_archive(const char *file, const char *what)
{
    const char *seen;
    xp_error_t err;

    is_int(read_all(file, NULL, 0, &seen, &err), XP_EINVAL, "%s refused", what);
    ok(err.message && strstr(err.message, "not a tar.gz, tar.zst, zip or "
                                          "tar archive"),
       "%s: %s", what, err.message);
}

static void test_formats_refused(void)
{
    ent_t ents[2] = {{"manifest.json", 0, "{}", NULL, NULL},
                     {"data/users.ndjson", 0, "{\"id\":1}\n", NULL, NULL}};

    make_archive("x.cpio", "cpio", ents, 2);
    not_archive("x.cpio", "cpio archive");
    make_archive("x.7z", "7z", ents, 2);
    not_archive("x.7z", "7z archive");
    make_archive("x.iso", "iso", ents, 2);
    not_archive("x.iso", "iso image");
    put_file("x.rar",
             "Rar!\x1a\x07\x01\x00\x33\x92\xb5\xe5\x0a\x01\x05\x06"
             "\x00\x05\x01\x01\x80\x80\x00",
             23);
    not_archive("x.rar", "rar signature");
    put_file("sig.7z", "7z\xbc\xaf\x27\x1c\x00\x04junkjunkjunkjunk", 24);
    not_archive("sig.7z", "7z signature");
    sh("gzip -c %s/good.tar.gz > %s/nested.tar.gz.gz", dir, dir);
    not_archive("nested.tar.gz.gz", "tar.gz inside gzip");
    sh("gzip -c %s/good.zip > %s/x.zip.gz", dir, dir);
    not_archive("x.zip.gz", "zip inside gzip");
    sh("gzip -c %s/src/data/users.ndjson > %s/x.ndjson.gz", dir, dir);
    not_archive("x.ndjson.gz", "gzip of a bare ndjson file");
    put_file("empty", "", 0);
    not_archive("empty", "an empty file");
}

static void test_raw(void)
{
    const char *seen;
    xp_error_t err;

    put_file("rows.ndjson", USERS, strlen(USERS));
    is_int(read_all("rows.ndjson", "ndjson", 0, &seen, &err), XP_OK,
           "raw ndjson reads");
    is_str(seen, apr_pstrcat(pool, "=", USERS, ";", NULL),
           "raw: one entry named \"\" holding the file");
    is_int(read_all("rows.ndjson", "ndjson", 10, &seen, &err), XP_ELIMIT,
           "raw mode counts against the limit too");
    /* a gzip inside is just bytes for the row parser to reject */
    is_int(read_all("x.ndjson.gz", "json", 0, &seen, &err), XP_OK,
           "raw mode does not decompress");
    ok(!strncmp(seen, "=\x1f\x8b", 3), "raw data is the file as stored");
}

/* next() without reading drains the entry, still counting its bytes. */
static void test_skip(void)
{
    xp_areader_t *r;
    xp_aentry_t e;
    xp_error_t err = {0};

    xp_areader_open(pool, path_of("good.zip"), NULL, 0, &r, &err);
    ok(xp_areader_next(r, &e, &err) == XP_OK &&
           xp_areader_next(r, &e, &err) == XP_OK,
       "second entry without reading the first");
    is_str(e.name, "data/users.ndjson", "its name");
    is_int(xp_areader_total(r), strlen(MANIFEST), "skipped data counted");
    is_str(xp_areader_name_problem("data/a..b.ndjson"), NULL,
           "\"..\" inside a component is just a name");
}

/* The bytes of a file under dir (NULL if none). */
static char *slurp(const char *name, apr_size_t *len)
{
    FILE *f = fopen(path_of(name), "rb");
    char *data;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    data = apr_palloc(pool, (apr_size_t)n + 1);
    *len = fread(data, 1, (apr_size_t)n, f);
    fclose(f);
    return data;
}

/* out: a copy of in with the byte at at (counted from the end when
 * negative) inverted. */
static void flip(const char *in, const char *out, long at)
{
    apr_size_t n = 0;
    char *data = slurp(in, &n);

    data[at < 0 ? (long)n + at : at] ^= 0xff;
    put_file(out, data, n);
}

/* Reads out and expects it refused: code rc, the message holding want. */
static void refused_with(const char *file, xp_errcode_e rc, const char *want,
                         const char *what)
{
    const char *seen;
    xp_error_t err;

    is_int(read_all(file, NULL, 10 * 1024 * 1024, &seen, &err), rc,
           "%s: refused", what);
    ok(err.message && strstr(err.message, want), "%s: %s", what,
       err.message ? err.message : "(no message)");
}

/* Members of every size read the same, byte for byte: small ones (ours:
 * a member per 256 KiB of tar stream, each taken whole), ones too big for
 * that, and one member for the whole file (gzip -c, pigz); a damaged
 * member amid good ones is refused with zlib's reason. */
static void test_gzip_members(void)
{
    const char *want, *seen;
    xp_error_t err;
    static const char *const sizes[] = {"256K", "200K", "700K", "1300K"};
    int i;

    char *rows = apr_palloc(pool, 80000 * 64), *at = rows;
    long k;

    for (k = 1; k <= 80000; k++) /* about half as compressible as text */
        at += sprintf(at, "{\"id\":%ld,\"v\":\"%lx-%lo\"}\n", k,
                      (unsigned long)k * 2654435761UL, k * 31);
    sh("mkdir -p %s/big/data && cp %s/src/manifest.json %s/big/", dir, dir,
       dir);
    put_file("big/data/big.ndjson", rows, (apr_size_t)(at - rows));
    sh("cd %s/big && tar -cf ../big.tar manifest.json data/big.ndjson && "
       "gzip -c ../big.tar > ../big1.tar.gz",
       dir);
    is_int(read_all("big.tar", NULL, 0, &want, &err), XP_OK,
           "a tar of 3 MB reads");
    ok(strlen(want) > 3000000, "... all of it (%lu bytes)",
       (unsigned long)strlen(want));
    is_int(read_all("big1.tar.gz", NULL, 0, &seen, &err), XP_OK,
           "its gzip -c (one member) reads");
    ok(!strcmp(seen, want), "... byte for byte");
    for (i = 0; i < 4; i++) {
        sh("cd %s && rm -rf parts && mkdir parts && split -b %s big.tar "
           "parts/p. && for f in parts/p.*; do gzip -c $f; done > "
           "bigm.tar.gz",
           dir, sizes[i]);
        is_int(read_all("bigm.tar.gz", NULL, 0, &seen, &err), XP_OK,
               "members of %s each read", sizes[i]);
        ok(!strcmp(seen, want), "... byte for byte");
    }
    sh("cd %s && rm -rf parts && mkdir parts && split -b 256K big.tar "
       "parts/p. && for f in parts/p.*; do gzip -c $f > $f.gz; done",
       dir);
    flip("parts/p.af.gz", "parts/p.af.gz", -8);
    sh("cd %s && cat parts/p.*.gz > bigbad.tar.gz", dir);
    is_int(read_all("bigbad.tar.gz", NULL, 0, &seen, &err), XP_EINVAL,
           "the sixth member's CRC-32 flipped: refused");
    is_str(err.message,
           "entry \"data/big.ndjson\" cannot be read: the gzip stream is "
           "corrupt: the CRC-32 in its trailer does not match the data",
           "... for its trailer");
}

/* Every gzip member's trailer is checked, also after the tar's end. */
static void test_gzip_trailer(void)
{
    const char *want = apr_pstrcat(pool, "manifest.json=", MANIFEST,
                                   ";data/users.ndjson=", USERS, ";", NULL);
    const char *seen;
    apr_size_t n = 0;
    xp_error_t err;

    /* the tar cut in two, each half a member, as pigz and our exports
     * may write */
    sh("cd %s && head -c 700 good.tar | gzip -c > multi.tar.gz && "
       "tail -c +701 good.tar | gzip -c >> multi.tar.gz",
       dir);
    is_int(read_all("multi.tar.gz", NULL, 0, &seen, &err), XP_OK,
           "a tar.gz of two members reads");
    is_str(seen, want, "both members, byte for byte");
    slurp("good.tar.gz", &n);
    flip("good.tar.gz", "crc.tar.gz", -8);
    refused_with("crc.tar.gz", XP_EINVAL,
                 "the gzip stream is corrupt: the CRC-32 in its trailer "
                 "does not match the data",
                 "trailer CRC-32 flipped");
    flip("good.tar.gz", "isize.tar.gz", -1);
    refused_with("isize.tar.gz", XP_EINVAL,
                 "the gzip stream is corrupt: the length in its trailer "
                 "does not match the data",
                 "trailer length flipped");
    sh("head -c %lu %s/good.tar.gz > %s/cut.tar.gz", (unsigned long)n - 8, dir,
       dir);
    refused_with("cut.tar.gz", XP_EINVAL,
                 "the gzip stream ends before its trailer (truncated)",
                 "trailer cut off");
    sh("head -c 100 %s/good.tar.gz > %s/cut100.tar.gz", dir, dir);
    refused_with("cut100.tar.gz", XP_EINVAL, "truncated",
                 "cut after 100 bytes");
    /* a member after the tar's end blocks, its CRC wrong: tar has
     * stopped, the reader goes on to the trailer */
    sh("cd %s && head -c 200000 /dev/zero | gzip -c > zeros.gz && "
       "cp good.tar.gz after.tar.gz && cat zeros.gz >> after.tar.gz",
       dir);
    is_int(read_all("after.tar.gz", NULL, 0, &seen, &err), XP_OK,
           "a good member after the tar's end is read through");
    flip("after.tar.gz", "after-crc.tar.gz", -8);
    is_int(read_all("after-crc.tar.gz", NULL, 0, &seen, &err), XP_EINVAL,
           "a bad CRC-32 after the tar's end: refused");
    is_str(err.message,
           "the gzip stream is corrupt: the CRC-32 in its trailer does not "
           "match the data",
           "at the end, after every entry was read");
    is_str(seen, want, "the entries were read first");
    sh("cd %s && head -c 50M /dev/zero | gzip -c > zeros50.gz && "
       "cat good.tar.gz zeros50.gz > after-bomb.tar.gz",
       dir);
    refused_with("after-bomb.tar.gz", XP_ELIMIT, "XportMaxUncompressedSize",
                 "50 MB of zeros after the tar's end stop at the limit");
    sh("cd %s && cp good.tar.gz junk.tar.gz && printf 'junk' >> junk.tar.gz",
       dir);
    is_int(read_all("junk.tar.gz", NULL, 0, &seen, &err), XP_OK,
           "bytes after the last member that are no member are ignored");
    sh("gzip -c %s/good.tar.gz > %s/gzgz.tar.gz", dir, dir);
    refused_with("gzgz.tar.gz", XP_EINVAL, "under 2 layers of compression",
                 "a gzip inside our gzip");
    sh("zstd -q -c %s/good.tar | gzip -c > %s/zstgz.tar", dir, dir);
    refused_with("zstgz.tar", XP_EINVAL, "under 2 layers of compression",
                 "a zstd inside our gzip");
}

/* A zip of manifest.json and a name to patch (python3's zipfile). */
static void make_zip_py(const char *name, const char *entry)
{
    sh("python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w',"
       "zipfile.ZIP_DEFLATED); z.writestr('manifest.json','{}'); "
       "z.writestr(sys.argv[2],'x'); z.close()\" %s/%s '%s'",
       dir, name, entry);
}

/* out: in with the nth (0-based) occurrence of from replaced by to
 * (same length). */
static void patch(const char *in, const char *out, const char *from,
                  const char *to, apr_size_t len, int nth)
{
    apr_size_t n = 0, i;
    char *data = slurp(in, &n);

    for (i = 0; i + len <= n; i++)
        if (!memcmp(data + i, from, len) && nth-- == 0) {
            memcpy(data + i, to, len);
            break;
        }
    put_file(out, data, n);
}

/* A zip64 zip written by hand: sizes and the local header offset in
 * ZIP64 extra fields (0xFFFFFFFF in the headers), the ZIP64 end record
 * and its locator, the end record saturated. */
static const char *ZIP64_PY =
    "import struct, zlib, sys\n"
    "out = b''; cd = b''\n"
    "ents = [('manifest.json', b'{}'), ('data/users.ndjson', b'x')]\n"
    "for name, data in ents:\n"
    "    off = len(out); crc = zlib.crc32(data); n = name.encode()\n"
    "    lx = struct.pack('<HHQQ', 1, 16, len(data), len(data))\n"
    "    out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 0, 0, 0x21,\n"
    "        crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(lx)) + n + lx + data\n"
    "    cx = struct.pack('<HHQQQ', 1, 24, len(data), len(data), off)\n"
    "    cd += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 0,\n"
    "        0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(n), len(cx), 0, 0, 0,\n"
    "        0, 0xFFFFFFFF) + n + cx\n"
    "cdoff = len(out); out += cd; e64 = len(out)\n"
    "out += struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0,\n"
    "    len(ents), len(ents), len(cd), cdoff)\n"
    "out += struct.pack('<IIQI', 0x07064b50, 0, e64, 1)\n"
    "out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xFFFF, 0xFFFF,\n"
    "    0xFFFFFFFF, 0xFFFFFFFF, 0)\n"
    "open(sys.argv[1], 'wb').write(out)\n";

static void test_zip_names(void)
{
    static const char *nul =
        "entry \"data/users.ndjson\\x00junk\": NUL bytes are not allowed in "
        "names";
    const char *seen;
    xp_error_t err;

    make_zip_py("nul.zip", "data/users.ndjson_junk");
    /* the name is in the local header first, the directory second */
    patch("nul.zip", "nul-cd.zip", "s.ndjson_junk", "s.ndjson\0junk", 13, 1);
    refused_with("nul-cd.zip", XP_EINVAL, nul, "NUL in a directory name");
    patch("nul.zip", "nul-local.zip", "s.ndjson_junk", "s.ndjson\0junk", 13, 0);
    refused_with("nul-local.zip", XP_EINVAL, nul,
                 "NUL in a local header name only");
    is_int(read_all("good.zip", NULL, 0, &seen, &err), XP_OK,
           "a zip without NUL still reads");
    /* an end record that counts one entry too many */
    patch("good.zip", "count.zip", "PK\5\6\0\0\0\0\2\0\2\0",
          "PK\5\6\0\0\0\0\3\0\3\0", 12, 0);
    refused_with("count.zip", XP_EINVAL,
                 "the zip is damaged: its central directory holds 2 entries, "
                 "its end record says 3",
                 "a directory that does not add up");
    /* libarchive would read this one in file order, past the check */
    sh("python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); "
       "z.writestr('manifest.json','{}'); z.comment=b'c'*20000; z.close()\" "
       "%s/comment.zip",
       dir);
    refused_with("comment.zip", XP_EINVAL, "not within its last 16 KiB",
                 "a zip comment over 16 KiB");
    sh("cd %s/src && zip -q -fz %s/fz.zip manifest.json data/users.ndjson", dir,
       dir);
    is_int(read_all("fz.zip", NULL, 0, &seen, &err), XP_OK,
           "a zip -fz (ZIP64 end record) reads: %s",
           err.message ? err.message : "");
    put_file("zip64.py", ZIP64_PY, strlen(ZIP64_PY));
    sh("python3 %s/zip64.py %s/z64.zip", dir, dir);
    is_int(read_all("z64.zip", NULL, 0, &seen, &err), XP_OK,
           "a ZIP64 zip (offsets in extra fields) reads: %s",
           err.message ? err.message : "");
    is_str(seen, "manifest.json={};data/users.ndjson=x;", "its entries");
    patch("z64.zip", "z64-nul.zip", "data/users", "data\0users", 10, 0);
    refused_with("z64-nul.zip", XP_EINVAL,
                 "entry \"data\\x00users.ndjson\": NUL bytes",
                 "NUL in a ZIP64 zip's local header");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp failed\n");
        return 1;
    }
    test_good_cli();
    test_big_entry();
    test_bad_names();
    test_bad_types();
    test_duplicates();
    test_bomb();
    test_formats_refused();
    test_raw();
    test_skip();
    test_gzip_trailer();
    test_gzip_members();
    test_zip_names();
    if (!getenv("XP_KEEP"))
        sh("rm -rf %s", dir);
    apr_pool_destroy(pool);
    return done_testing();
}
