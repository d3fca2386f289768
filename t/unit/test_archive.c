/*
 * test_archive.c -- the archive writer, checked the way a user would:
 * every format is written from temp NDJSON files (tar.gz and tar.zst also
 * pipelined: entries precompressed apart) and read back with the
 * system tools (tar, zstd, unzip, sha256sum); limits, cancel and abort
 * must leave no file behind.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xp_archive.h"
#include "xp_json.h"

static apr_pool_t *pool;
static const char *dir;                 /* scratch directory */
static const char *small, *big, *empty; /* source NDJSON files */
static apr_off_t small_len, big_len;
static const char *manifest = "{\"format\":\"xport-archive\"}\n";

/* Output of a shell command (stdout), "" on failure. */
static const char *run(const char *fmt, ...)
{
    char cmd[2048], buf[4096];
    const char *out = "";
    va_list ap;
    FILE *f;
    size_t n;

    va_start(ap, fmt);
    apr_vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (!(f = popen(cmd, "r")))
        return out;
    while ((n = fread(buf, 1, sizeof(buf) - 1, f)) > 0) {
        buf[n] = '\0';
        out = apr_pstrcat(pool, out, buf, NULL);
    }
    pclose(f);
    return out;
}

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static apr_off_t write_file(const char *path, const char *data, apr_size_t len)
{
    FILE *f = fopen(path, "w");
    fwrite(data, 1, len, f);
    fclose(f);
    return (apr_off_t)len;
}

static void make_sources(void)
{
    const char *s = "{\"id\":\"1\",\"name\":\"Zo\xc3\xab\"}\n"
                    "{\"id\":\"2\",\"name\":\"a\\\"b\"}\n"
                    "{\"id\":\"3\",\"name\":null}\n";
    xp_buf_t b;
    unsigned int x = 12345;
    int i;

    small = apr_pstrcat(pool, dir, "/small.ndjson", NULL);
    small_len = write_file(small, s, strlen(s));
    empty = apr_pstrcat(pool, dir, "/empty.ndjson", NULL);
    write_file(empty, "", 0);
    /* ~400 KB of poorly compressible lines: several 64 KiB blocks, and
     * far over the small limits used below even after compression. */
    xp_buf_init(&b, pool, 1024);
    for (i = 0; i < 6000; i++) {
        char line[80];
        x = x * 1103515245u + 12345u;
        apr_snprintf(line, sizeof(line),
                     "{\"id\":\"%06d\",\"v\":\"%08x%08x%08x%08x\"}\n", i, x,
                     x * 7u, x ^ 0x5a5a5a5au, x * 13u);
        xp_buf_adds(&b, line);
    }
    big = apr_pstrcat(pool, dir, "/big.ndjson", NULL);
    big_len = write_file(big, b.data, b.len);
}

static const char *sha256sum(const char *path)
{
    const char *o = run("sha256sum '%s'", path);
    return apr_pstrndup(pool, o, strlen(o) >= 64 ? 64 : 0);
}

/* Compress copies of srcpath, fed in odd-sized pieces so queue slots
 * split lines, into cpath with the pipelined compressor. */
/* copies x srcpath through a compressor; sha (may be NULL) gets what
 * the compressor hashed, want what a plain SHA-256 of the same bytes
 * says */
static xp_errcode_e compress_file(xp_format_e fmt, const char *srcpath,
                                  int copies, const char *cpath, apr_off_t max,
                                  apr_off_t *raw, apr_off_t *csize,
                                  apr_uint32_t *crc, const char **sha,
                                  const char **want, xp_error_t *err)
{
    xp_sha256_t *got = xp_sha256_make(pool), *plain = xp_sha256_make(pool);
    xp_acomp_t *c;
    char buf[3001];
    xp_errcode_e rc;
    size_t n;
    FILE *f;

    if ((rc = xp_acomp_start(pool, fmt, cpath, max, got, &c, err)) != XP_OK)
        return rc;
    while (copies-- > 0) {
        f = fopen(srcpath, "r");
        while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
            xp_sha256_update(plain, buf, n);
            if ((rc = xp_acomp_write(c, buf, n, err)) != XP_OK)
                break;
        }
        if (f)
            fclose(f);
        if (rc != XP_OK) {
            xp_acomp_abort(c);
            return rc;
        }
    }
    rc = xp_acomp_finish(c, raw, csize, crc, err);
    if (rc == XP_OK && sha)
        *sha = xp_sha256_final(got, pool, NULL);
    if (rc == XP_OK && want)
        *want = xp_sha256_final(plain, pool, NULL);
    return rc;
}

/* The pipelined writer: entries compressed apart, then assembled. */
static int pipelined;

static xp_errcode_e add_piped(xp_awriter_t *w, xp_format_e fmt,
                              const char *name, const char *srcpath, int copies,
                              xp_error_t *err)
{
    const char *cpath = apr_pstrcat(pool, srcpath, ".z", NULL);
    apr_off_t raw = 0, csize = 0;
    apr_uint32_t crc = 0;
    const char *sha = NULL, *want = NULL;
    xp_errcode_e rc;

    unlink(cpath);
    rc = compress_file(fmt, srcpath, copies, cpath, 0, &raw, &csize, &crc, &sha,
                       &want, err);
    if (rc == XP_OK)
        is_str(sha, want,
               "%s: the compressor's SHA-256 of %s (x%d) is the data's, "
               "padding left out",
               xp_format_name(fmt), name, copies);
    if (rc == XP_OK)
        rc = xp_awriter_add_compressed(w, name, raw, cpath, csize, crc, NULL,
                                       err);
    unlink(cpath);
    return rc;
}

static xp_errcode_e add_source(xp_awriter_t *w, xp_format_e fmt,
                               const char *name, const char *srcpath,
                               apr_off_t size, xp_error_t *err)
{
    if (pipelined)
        return add_piped(w, fmt, name, srcpath, 1, err);
    return xp_awriter_add_file(w, name, srcpath, size, NULL, err);
}

/* Write manifest + two sections; returns the archive path or NULL. */
static const char *write_archive(xp_format_e fmt, const char *name,
                                 apr_off_t *size, const char **sha)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    xp_error_t err = {0};
    xp_awriter_t *w = NULL;
    /* 2026-11-22T10:00:03Z */
    apr_time_t mtime = apr_time_from_sec(1795341603);

    if ((pipelined ? xp_awriter_open_pipelined : xp_awriter_open)(
            pool, path, fmt, 0, mtime, &w, &err) != XP_OK ||
        xp_awriter_add_mem(w, "manifest.json", manifest, strlen(manifest),
                           &err) != XP_OK ||
        add_source(w, fmt, "data/users.ndjson", small, small_len, &err) !=
            XP_OK ||
        add_source(w, fmt, "data/big.ndjson", big, -1, &err) != XP_OK ||
        xp_awriter_close(w, size, sha, &err) != XP_OK) {
        printf("# %s: %s\n", name, err.message);
        if (w)
            xp_awriter_abort(w);
        return NULL;
    }
    return path;
}

static void check_common(const char *what, const char *path, apr_off_t size,
                         const char *sha)
{
    struct stat sb = {0};

    ok(path != NULL, "%s written", what);
    if (!path)
        return;
    ok(stat(path, &sb) == 0 && sb.st_size == size,
       "%s: reported size matches the file", what);
    is_int(sb.st_mode & 0777, 0600, "%s: file mode 0600", what);
    is_str(sha, sha256sum(path), "%s: SHA-256 equals sha256sum", what);
}

static void test_tar(const char *what, xp_format_e fmt, const char *name,
                     const char *decomp)
{
    apr_off_t size = 0;
    const char *sha = NULL, *path = write_archive(fmt, name, &size, &sha);

    check_common(what, path, size, sha);
    if (!path)
        return;
    is_str(run("%s < '%s' | tar -tf -", decomp, path),
           "manifest.json\ndata/users.ndjson\ndata/big.ndjson\n",
           "%s: tar lists the entries in order", what);
    is_int(sh("%s < '%s' | tar -xOf - manifest.json | "
              "cmp -s - /dev/stdin <<'EOF'\n%sEOF\n",
              decomp, path, manifest),
           0, "%s: manifest.json byte-identical", what);
    is_int(sh("%s < '%s' | tar -xOf - data/users.ndjson | cmp -s - '%s'",
              decomp, path, small),
           0, "%s: data/users.ndjson byte-identical", what);
    is_int(sh("%s < '%s' | tar -xOf - data/big.ndjson | cmp -s - '%s'", decomp,
              path, big),
           0, "%s: data/big.ndjson (multi-block) byte-identical", what);
    is_str(run("%s < '%s' | TZ=UTC tar -tvf - --numeric-owner | "
               "awk 'NR==2 {print $1, $2, $4, $5}'",
               decomp, path),
           "-rw-r--r-- 0/0 2026-11-22 10:00\n",
           "%s: entry mode 0644, owner 0/0, given mtime", what);
    is_str(run("%s < '%s' | tar -tvf - | awk 'NR==1 {print $2}'", decomp, path),
           "0/0\n", "%s: no user/group names stored", what);
}

static void test_zip(void)
{
    apr_off_t size = 0;
    const char *sha = NULL;
    const char *path = write_archive(XP_FMT_ZIP, "a.zip", &size, &sha);

    check_common("zip", path, size, sha);
    if (!path)
        return;
    is_int(sh("unzip -tq '%s' >/dev/null", path), 0, "zip: unzip -t ok");
    is_str(run("unzip -Z1 '%s'", path),
           "manifest.json\ndata/users.ndjson\ndata/big.ndjson\n",
           "zip: entries in order");
    is_int(sh("unzip -p '%s' data/users.ndjson | cmp -s - '%s'", path, small),
           0, "zip: data/users.ndjson byte-identical");
    is_int(sh("unzip -p '%s' data/big.ndjson | cmp -s - '%s'", path, big), 0,
           "zip: data/big.ndjson byte-identical");
    ok(strstr(run("unzip -v '%s'", path), "Defl:") != NULL,
       "zip: entries are deflated");
    ok(strncmp(run("zipinfo '%s' manifest.json", path), "-rw-r--r--", 10) == 0,
       "zip: entry mode 0644");
}

/* An entry written as it is made, its size unknown until the end: the
 * big file fed in odd-sized pieces, read back by unzip and by Python's
 * zipfile; the same pieces again give the same bytes. */
static const char *write_streamed(const char *name, apr_off_t max)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL), *sha = NULL;
    char *data = apr_palloc(pool, (apr_size_t)big_len);
    FILE *f = fopen(big, "r");
    xp_error_t err = {0};
    apr_size_t off = 0, n, piece = 1;
    apr_off_t size = 0;
    xp_awriter_t *w;
    xp_errcode_e rc;

    if (!f || fread(data, 1, (apr_size_t)big_len, f) != (size_t)big_len)
        data = NULL;
    if (f)
        fclose(f);
    rc = xp_awriter_open(pool, path, XP_FMT_ZIP, max, apr_time_from_sec(1e9),
                         &w, &err);
    if (rc == XP_OK && data)
        rc = xp_awriter_begin(w, "export.json", &err);
    while (rc == XP_OK && data && off < (apr_size_t)big_len) {
        n = piece * 997 % 70000;
        if (n > (apr_size_t)big_len - off)
            n = (apr_size_t)big_len - off;
        rc = xp_awriter_write(w, data + off, n, &err);
        off += n;
        piece++;
    }
    if (rc == XP_OK)
        rc = xp_awriter_close(w, &size, &sha, &err);
    if (rc != XP_OK) {
        printf("# %s: %s\n", name, err.message ? err.message : "?");
        xp_awriter_abort(w);
        return NULL;
    }
    return sha;
}

static void test_zip_streamed(void)
{
    const char *path = apr_pstrcat(pool, dir, "/s1.zip", NULL);
    const char *h1 = write_streamed("s1.zip", 0), *h2;
    xp_error_t err = {0};
    xp_awriter_t *w;

    ok(h1 != NULL, "zip streamed: written");
    is_int(sh("unzip -tq '%s' >/dev/null", path), 0,
           "zip streamed: unzip -t ok");
    is_str(run("unzip -Z1 '%s'", path), "export.json\n",
           "zip streamed: the one entry");
    is_int(sh("unzip -p '%s' export.json | cmp -s - '%s'", path, big), 0,
           "zip streamed: unzip -p gives the bytes written");
    is_int(sh("python3 -c 'import sys, zipfile; "
              "sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1])"
              ".read(\"export.json\"))' '%s' | cmp -s - '%s'",
              path, big),
           0, "zip streamed: Python's zipfile reads it too");
    h2 = write_streamed("s2.zip", 0);
    is_str(h2, h1, "zip streamed: reproducible");
    ok(write_streamed("s3.zip", 4096) == NULL &&
           access(apr_pstrcat(pool, dir, "/s3.zip", NULL), F_OK) != 0,
       "zip streamed: the size limit holds, nothing left");
    path = apr_pstrcat(pool, dir, "/s4.tar.gz", NULL);
    xp_awriter_open(pool, path, XP_FMT_TAR_GZ, 0, 0, &w, &err);
    is_int(xp_awriter_begin(w, "export.json", &err), XP_EINVAL,
           "tar.gz: an entry of unknown size refused");
    is_int(xp_awriter_write(w, "x", 1, &err), XP_EINVAL,
           "tar.gz: ... and data without an entry");
    xp_awriter_abort(w);
}

/* A zip entry whose data changes character within each 256 KiB piece
 * (noise, text, zeros), so the compressor ends blocks inside a piece:
 * the entry still reads back whole, with unzip and Python's zipfile. */
static void test_zip_mixed(void)
{
    const char *path = apr_pstrcat(pool, dir, "/mixed.zip", NULL);
    const char *raw = apr_pstrcat(pool, dir, "/mixed.bin", NULL);
    apr_size_t n = 3 * 300 * 1024, i;
    char *data = apr_palloc(pool, n);
    apr_uint32_t x = 12345;
    xp_error_t err = {0};
    xp_awriter_t *w = NULL;
    xp_errcode_e rc;
    FILE *f;

    for (i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        data[i] = (i / 100000) % 3 == 0   ? (char)(x >> 16)
                  : (i / 100000) % 3 == 1 ? "row,text;"[i % 9]
                                          : 0;
    }
    f = fopen(raw, "w");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
    unlink(path);
    rc = xp_awriter_open(pool, path, XP_FMT_ZIP, 0, 0, &w, &err);
    if (rc == XP_OK)
        rc = xp_awriter_begin(w, "mixed.bin", &err);
    if (rc == XP_OK)
        rc = xp_awriter_write(w, data, n, &err);
    if (rc == XP_OK)
        rc = xp_awriter_close(w, NULL, NULL, &err);
    ok(rc == XP_OK, "zip mixed: written (%s)", rc ? err.message : "ok");
    is_int(sh("unzip -tq '%s' >/dev/null && unzip -p '%s' mixed.bin | "
              "cmp -s - '%s'",
              path, path, raw),
           0, "zip mixed: unzip gives the bytes written");
    is_int(sh("python3 -c 'import sys, zipfile; "
              "sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1])"
              ".read(\"mixed.bin\"))' '%s' | cmp -s - '%s'",
              path, raw),
           0, "zip mixed: so does Python's zipfile");
}

/* More entries than a zip's classic end record counts (65535): the
 * ZIP64 end record and its locator carry the number. */
static void test_zip_many(void)
{
    const char *path = apr_pstrcat(pool, dir, "/many.zip", NULL);
    xp_error_t err = {0};
    xp_awriter_t *w = NULL;
    xp_errcode_e rc;
    int i;

    unlink(path);
    rc = xp_awriter_open(pool, path, XP_FMT_ZIP, 0, 0, &w, &err);
    for (i = 0; rc == XP_OK && i < 70000; i++)
        rc = xp_awriter_add_mem(w, apr_psprintf(pool, "e/%d", i), "x", 1, &err);
    if (rc == XP_OK)
        rc = xp_awriter_close(w, NULL, NULL, &err);
    ok(rc == XP_OK, "zip many: 70000 entries written (%s)",
       rc ? err.message : "ok");
    is_str(run("python3 -c 'import sys, zipfile; z = zipfile.ZipFile("
               "sys.argv[1]); print(len(z.namelist()), z.read(\"e/69999\")"
               ".decode(), z.testzip())' '%s'",
               path),
           "70000 x None\n", "zip many: Python's zipfile reads all of them");
    is_str(run("unzip -l '%s' | tail -1 | awk '{print $2}'", path), "70000\n",
           "zip many: unzip counts them");
    unlink(path);
}

static void test_bare(void)
{
    apr_off_t size = 0;
    const char *sha = NULL, *path, *text;
    xp_error_t err = {0};
    xp_awriter_t *w;
    xp_json_t *j;

    path = apr_pstrcat(pool, dir, "/a.ndjson", NULL);
    ok(xp_awriter_open(pool, path, XP_FMT_NDJSON, 0, 0, &w, &err) == XP_OK &&
           xp_awriter_add_file(w, "data/big.ndjson", big, big_len, NULL,
                               &err) == XP_OK,
       "ndjson: section copied");
    is_int(xp_awriter_add_mem(w, "manifest.json", "{}", 2, &err), XP_EINVAL,
           "ndjson: add_mem refused (no entries in a bare file)");
    is_int(xp_awriter_add_file(w, "x", small, small_len, NULL, &err), XP_EINVAL,
           "ndjson: a second section refused");
    ok(xp_awriter_close(w, &size, &sha, &err) == XP_OK, "ndjson: closed");
    check_common("ndjson", path, size, sha);
    is_int(sh("cmp -s '%s' '%s'", path, big), 0,
           "ndjson: byte-identical to the section file");

    path = apr_pstrcat(pool, dir, "/a.json", NULL);
    ok(xp_awriter_open(pool, path, XP_FMT_JSON, 0, 0, &w, &err) == XP_OK &&
           xp_awriter_add_file(w, "s", small, small_len, NULL, &err) == XP_OK &&
           xp_awriter_close(w, &size, &sha, &err) == XP_OK,
       "json: written");
    check_common("json", path, size, sha);
    text = run("cat '%s'", path);
    is_str(text,
           "[\n{\"id\":\"1\",\"name\":\"Zo\xc3\xab\"},\n"
           "{\"id\":\"2\",\"name\":\"a\\\"b\"},\n"
           "{\"id\":\"3\",\"name\":null}\n]\n",
           "json: lines become array elements");
    j = xp_json_parse(pool, text, strlen(text), &err);
    ok(xp_json_is_array(j) && xp_json_size(j) == 3,
       "json: parses back as an array of 3");

    path = apr_pstrcat(pool, dir, "/big.json", NULL);
    ok(xp_awriter_open(pool, path, XP_FMT_JSON, 0, 0, &w, &err) == XP_OK &&
           xp_awriter_add_file(w, "s", big, big_len, NULL, &err) == XP_OK &&
           xp_awriter_close(w, &size, &sha, &err) == XP_OK,
       "json: multi-block section written");
    text = run("cat '%s'", path);
    j = xp_json_parse(pool, text, strlen(text), &err);
    ok(xp_json_size(j) == 6000, "json: parses back with all 6000 rows");
    is_str(xp_json_get_str(xp_json_at(pool, j, 5999), "id"), "005999",
           "json: last row intact");

    path = apr_pstrcat(pool, dir, "/empty.json", NULL);
    ok(xp_awriter_open(pool, path, XP_FMT_JSON, 0, 0, &w, &err) == XP_OK &&
           xp_awriter_add_file(w, "s", empty, 0, NULL, &err) == XP_OK &&
           xp_awriter_close(w, &size, &sha, &err) == XP_OK,
       "json: empty section written");
    is_str(run("cat '%s'", path), "[]\n", "json: empty section is []");
}

static xp_errcode_e cancel_after_two(void *baton)
{
    int *calls = baton;
    return ++*calls > 2 ? XP_ECANCEL : XP_OK;
}

static void test_limits(void)
{
    const char *path = apr_pstrcat(pool, dir, "/limit.tar.gz", NULL);
    xp_error_t err = {0};
    xp_errcode_e rc;
    xp_awriter_t *w;
    xp_job_ctl_t ctl = {0};
    int calls = 0;

    ok(xp_awriter_open(pool, path, XP_FMT_TAR_GZ, 4096, 0, &w, &err) == XP_OK,
       "limit: writer opened with max 4096 bytes");
    rc = xp_awriter_add_file(w, "data/big.ndjson", big, big_len, NULL, &err);
    if (rc == XP_OK)
        rc = xp_awriter_close(w, NULL, NULL, &err);
    is_int(rc, XP_ELIMIT, "limit: XP_ELIMIT when the archive grows past it");
    is_str(err.message,
           "the archive would exceed XportMaxArchiveSize (4096 bytes)",
           "limit: message names XportMaxArchiveSize");
    xp_awriter_abort(w);
    ok(access(path, F_OK) != 0, "limit: no file left after abort");

    path = apr_pstrcat(pool, dir, "/limit.ndjson", NULL);
    xp_awriter_open(pool, path, XP_FMT_NDJSON, big_len - 1, 0, &w, &err);
    /* the file's thread finds it: on a later write, or at the close */
    rc = xp_awriter_add_file(w, "s", big, big_len, NULL, &err);
    if (rc == XP_OK)
        rc = xp_awriter_close(w, NULL, NULL, &err);
    is_int(rc, XP_ELIMIT, "limit: one byte over for a bare file");
    xp_awriter_abort(w);
    ok(access(path, F_OK) != 0, "limit: bare file removed");
    xp_awriter_open(pool, path, XP_FMT_NDJSON, big_len, 0, &w, &err);
    ok(xp_awriter_add_file(w, "s", big, big_len, NULL, &err) == XP_OK &&
           xp_awriter_close(w, NULL, NULL, &err) == XP_OK,
       "limit: exactly at the limit is fine");

    path = apr_pstrcat(pool, dir, "/cancel.tar.zst", NULL);
    ctl.baton = &calls;
    ctl.check = cancel_after_two;
    xp_awriter_open(pool, path, XP_FMT_TAR_ZST, 0, 0, &w, &err);
    is_int(xp_awriter_add_file(w, "data/big.ndjson", big, big_len, &ctl, &err),
           XP_ECANCEL, "cancel: ctl->check's code stops the copy");
    is_int(calls, 3, "cancel: checked once per block until it said stop");
    xp_awriter_abort(w);
    ok(access(path, F_OK) != 0, "cancel: no file left after abort");
}

static void test_errors(void)
{
    const char *path = apr_pstrcat(pool, dir, "/a.tar.gz", NULL);
    xp_error_t err = {0};
    xp_awriter_t *w = NULL;
    apr_pool_t *sub;

    is_int(xp_awriter_open(pool, path, XP_FMT_TAR_GZ, 0, 0, &w, &err), XP_EIO,
           "an existing file is never overwritten (O_EXCL)");
    ok(err.message && strstr(err.message, path), "the error names the file: %s",
       err.message);
    ok(access(path, F_OK) == 0, "the existing file is left alone");

    path = apr_pstrcat(pool, dir, "/shrunk.tar.gz", NULL);
    xp_awriter_open(pool, path, XP_FMT_TAR_GZ, 0, 0, &w, &err);
    is_int(xp_awriter_add_file(w, "x", small, small_len + 10, NULL, &err),
           XP_EIO, "a source shorter than announced is refused");
    xp_awriter_abort(w);

    path = apr_pstrcat(pool, dir, "/forgotten.tar.zst", NULL);
    apr_pool_create(&sub, pool);
    xp_awriter_open(sub, path, XP_FMT_TAR_ZST, 0, 0, &w, &err);
    apr_pool_destroy(sub);
    ok(access(path, F_OK) != 0,
       "a writer whose pool goes away removes its file");
}

/* Pipelined archives: what the tools say of the multi-member stream, a
 * section larger than the compressor's queue, a name that needs a pax
 * header, an empty entry, and the limit enforced by the compressor. */
static void test_piped(xp_format_e fmt, const char *name, const char *tester,
                       const char *decomp)
{
    const char *path = apr_pstrcat(pool, dir, "/", name, NULL);
    const char *longname = apr_pstrcat(
        pool, "data/", apr_psprintf(pool, "%0120d", 7), ".ndjson", NULL);
    const char *cpath = apr_pstrcat(pool, dir, "/limit.z", NULL);
    apr_off_t raw = 0, csize = 0, size = 0;
    apr_uint32_t crc = 0;
    xp_error_t err = {0};
    xp_awriter_t *w = NULL;
    const char *sha = NULL;
    xp_errcode_e rc;

    unlink(path);
    rc = xp_awriter_open_pipelined(pool, path, fmt, 0, 0, &w, &err);
    if (rc == XP_OK)
        rc = xp_awriter_add_mem(w, "manifest.json", manifest, strlen(manifest),
                                &err);
    if (rc == XP_OK)
        rc = add_piped(w, fmt, "data/empty.ndjson", empty, 1, &err);
    if (rc == XP_OK)
        rc = add_piped(w, fmt, longname, big, 8, &err);
    if (rc == XP_OK)
        rc = xp_awriter_close(w, &size, &sha, &err);
    ok(rc == XP_OK, "%s pipelined: written (%s)", name,
       rc == XP_OK ? "ok" : err.message);
    if (rc != XP_OK)
        return;
    is_str(sha, sha256sum(path), "%s pipelined: SHA-256 of the file", name);
    is_int(sh("%s '%s' 2>/dev/null", tester, path), 0,
           "%s pipelined: %s accepts the stream", name, tester);
    is_str(run("%s < '%s' | tar -tf -", decomp, path),
           apr_pstrcat(pool, "manifest.json\ndata/empty.ndjson\n", longname,
                       "\n", NULL),
           "%s pipelined: tar lists every entry, the long name whole", name);
    is_int(sh("%s < '%s' | tar -xOf - '%s' | cmp -s - /dev/stdin "
              "<<EOF\n$(for i in 1 2 3 4 5 6 7 8; do cat '%s'; done)\nEOF\n",
              decomp, path, longname, big),
           0, "%s pipelined: a 3 MB entry (many queue slots) byte-identical",
           name);
    if (fmt == XP_FMT_TAR_GZ) {
        /* a member per header and per 256 KiB of an entry's data */
        is_str(run("perl -MIO::Uncompress::Gunzip=gunzip -e 'gunzip(\"%s\" "
                   "=> \"-\", MultiStream => 1) or exit 1' | tar -tf - | "
                   "wc -l",
                   path),
               "3\n",
               "%s pipelined: a reader taking member after member sees every "
               "entry",
               name);
        is_str(run("perl -MIO::Uncompress::Gunzip=gunzip -e 'gunzip(\"%s\" "
                   "=> \"-\") or exit 1' | wc -c",
                   path),
               "1024\n",
               "%s pipelined: the first member is the manifest's header and "
               "data, whole",
               name);
    }
    rc = compress_file(fmt, big, 1, cpath, 1000, &raw, &csize, &crc, NULL, NULL,
                       &err);
    is_int(rc, XP_ELIMIT,
           "%s pipelined: compressed data over the limit "
           "fails with XP_ELIMIT",
           name);
    ok(access(cpath, F_OK) != 0, "%s pipelined: and leaves no file", name);
    {
        const char *a = apr_pstrcat(pool, dir, "/again1.z", NULL);
        const char *b = apr_pstrcat(pool, dir, "/again2.z", NULL);
        int i, same = 1;

        /* tar.gz: slots compressed on two threads, in any order */
        for (i = 0; i < 5 && same; i++) {
            unlink(a);
            unlink(b);
            rc = compress_file(fmt, big, 8, a, 0, &raw, &csize, &crc, NULL,
                               NULL, &err);
            if (rc == XP_OK)
                rc = compress_file(fmt, big, 8, b, 0, &raw, &csize, &crc, NULL,
                                   NULL, &err);
            same = rc == XP_OK && sh("cmp -s '%s' '%s'", a, b) == 0;
        }
        ok(same, "%s pipelined: the same data compresses to the same bytes "
                 "(five times twice)",
           name);
        unlink(a);
        unlink(b);
    }
}

static void test_formats(void)
{
    xp_format_e f = XP_FMT_NDJSON;

    ok(xp_format_parse("tar.zst", &f) == 0 && f == XP_FMT_TAR_ZST,
       "format tar.zst parsed");
    ok(xp_format_parse("rar", &f) == -1, "unknown format refused");
    is_str(xp_format_mime(XP_FMT_TAR_GZ), "application/gzip", "gzip mime");
    is_str(xp_format_mime(XP_FMT_NDJSON), "application/x-ndjson",
           "ndjson mime");
    is_str(xp_format_ext(XP_FMT_ZIP), "zip", "zip extension");
    ok(xp_format_is_archive(XP_FMT_ZIP) && !xp_format_is_archive(XP_FMT_JSON),
       "archive vs bare formats");
    ok(xp_format_parse("document", &f) == 0 && f == XP_FMT_DOCUMENT &&
           !strcmp(xp_format_ext(f), "zip") &&
           !strcmp(xp_format_mime(f), "application/zip") &&
           !xp_format_is_archive(f),
       "document: a zip, no manifest archive");
}

int main(void)
{
    char tmpl[] = "/tmp/xp_test_archive_XXXXXX";
    apr_off_t s1 = 0, s2 = 0;
    const char *h1 = NULL, *h2 = NULL;

    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    if (!mkdtemp(tmpl)) {
        printf("Bail out! cannot create a scratch directory\n");
        return 1;
    }
    dir = tmpl;
    make_sources();
    test_formats();
    test_tar("tar.gz", XP_FMT_TAR_GZ, "a.tar.gz", "gzip -dc");
    test_tar("tar.zst", XP_FMT_TAR_ZST, "a.tar.zst", "zstd -dcq");
    pipelined = 1;
    test_tar("tar.gz pipelined", XP_FMT_TAR_GZ, "p.tar.gz", "gzip -dc");
    test_tar("tar.zst pipelined", XP_FMT_TAR_ZST, "p.tar.zst", "zstd -dcq");
    pipelined = 0;
    test_piped(XP_FMT_TAR_GZ, "q.tar.gz", "gzip -t", "gzip -dc");
    test_piped(XP_FMT_TAR_ZST, "q.tar.zst", "zstd -tq", "zstd -dcq");
    pipelined = 1; /* a zip is always written pipelined */
    test_zip();
    pipelined = 0;
    test_zip_streamed();
    test_zip_mixed();
    test_zip_many();
    test_bare();
    test_limits();
    test_errors();
    /* Same input, same mtime: same bytes (gzip stores no timestamp). */
    write_archive(XP_FMT_TAR_GZ, "r1.tar.gz", &s1, &h1);
    write_archive(XP_FMT_TAR_GZ, "r2.tar.gz", &s2, &h2);
    is_str(h1, h2, "tar.gz is reproducible");
    ok(sh("tar --zstd -tf '%s/a.tar.zst' >/dev/null 2>&1", dir) == 0,
       "tar --zstd reads the tar.zst");
    sh("rm -rf '%s'", dir);
    apr_pool_destroy(pool);
    return done_testing();
}
