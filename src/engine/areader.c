/*
 * areader.c -- reads an uploaded archive entry by entry with libarchive,
 * never extracting to disk (SPEC 6.1, 6.6). The only file that includes
 * archive.h for reading.
 *
 * An upload is hostile until proven otherwise, so the reader is narrow on
 * purpose: only the tar and zip formats and the gzip and zstd filters are
 * enabled (never the _all variants: rar, 7z, iso or cpio parsers are attack
 * surface we do not need); one level of compression at most; entry names
 * are checked before anything looks at the data; only regular files named
 * manifest.json or data/<ident>.ndjson pass; and the bytes actually
 * decompressed are counted against XportMaxUncompressedSize, because the
 * sizes in headers are whatever the uploader wrote there.
 *
 * Two layers are not libarchive's to judge. A gzip upload is inflated by
 * agzip.c (zlib checks every member's CRC-32 and length, which
 * libarchive 3.6 never does) and libarchive reads the tar inside through
 * a read callback; at the archive's end the rest of the stream is read
 * through, so that a tar.gz whose last trailer is wrong is refused too.
 * A zip's names are checked byte by byte by azip.c before any entry is
 * handed out, since libarchive cuts a name at its first NUL.
 */
#include <errno.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_file_io.h>

#include <archive.h>
#include <archive_entry.h>

#include "xp_areader.h"
#include "xp_agzip.h"
#include "xp_azip.h"

/* Read size for the file and for decompressed data: big enough for
 * throughput, small enough that a worker thread's memory stays flat. */
#define AR_BLOCK (64 * 1024)
#define AR_NAME_MAX 255

#define AR_NOT_ARCHIVE "not a tar.gz, tar.zst, zip or tar archive"

struct xp_areader_t {
    apr_pool_t *p;
    struct archive *a;           /* archive mode, else NULL */
    apr_file_t *f;               /* raw mode */
    apr_file_t *af;              /* archive mode: the upload, for our gzip
                                    layer and the zip name check */
    struct archive_entry *first; /* read by open, handed out by next */
    int started;                 /* next was called at least once */
    int in_entry;                /* the current entry has unread data */
    int at_end;
    const char *name; /* current entry, for messages */
    apr_off_t max, total;
    apr_hash_t *seen; /* lowercased name -> name as given */
    char *buf;
    xp_agzip_t *gz;    /* the gzip layer when ours, else NULL */
    xp_error_t gz_err; /* why its read callback failed, if it did */
    apr_off_t drained; /* decompressed after the archive's end */
};

static apr_status_t ar_cleanup(void *data)
{
    xp_areader_t *r = data;

    if (r->a) {
        archive_read_free(r->a);
        r->a = NULL;
    }
    return APR_SUCCESS;
}

/* A name (len bytes, NULs included) as it may be quoted in a message:
 * printable ASCII as is, everything else as \xNN, long names cut, so that
 * a hostile name cannot forge log lines or flood the error list. */
static const char *ar_quote_n(apr_pool_t *p, const char *name, apr_size_t len)
{
    char *out = apr_palloc(p, 100 * 4 + 8), *o = out;
    const unsigned char *s = (const unsigned char *)name;
    apr_size_t n;

    for (n = 0; n < len && n < 100; n++) {
        if (s[n] < 0x20 || s[n] >= 0x7f || s[n] == '\\') {
            o += apr_snprintf(o, 5, "\\x%02x", s[n]);
        } else {
            if (s[n] == '"')
                *o++ = '\\';
            *o++ = (char)s[n];
        }
    }
    if (n < len)
        o += apr_snprintf(o, 4, "...");
    *o = '\0';
    return out;
}

static const char *ar_quote(apr_pool_t *p, const char *name)
{
    return ar_quote_n(p, name, strlen(name));
}

/* 1 if s[0..n) is valid UTF-8 (RFC 3629: no overlongs, no surrogates). */
static int ar_utf8_valid(const unsigned char *s, apr_size_t n)
{
    apr_size_t i = 0, need, k;
    unsigned char lo, hi;

    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        lo = 0x80;
        hi = 0xBF;
        if (s[i] >= 0xC2 && s[i] <= 0xDF)
            need = 1;
        else if (s[i] >= 0xE0 && s[i] <= 0xEF) {
            need = 2;
            lo = s[i] == 0xE0 ? 0xA0 : 0x80;
            hi = s[i] == 0xED ? 0x9F : 0xBF;
        } else if (s[i] >= 0xF0 && s[i] <= 0xF4) {
            need = 3;
            lo = s[i] == 0xF0 ? 0x90 : 0x80;
            hi = s[i] == 0xF4 ? 0x8F : 0xBF;
        } else
            return 0;
        for (k = 1; k <= need; k++) {
            if (i + k >= n || s[i + k] < lo || s[i + k] > hi)
                return 0;
            lo = 0x80;
            hi = 0xBF;
        }
        i += need + 1;
    }
    return 1;
}

const char *xp_areader_name_problem(const char *name)
{
    apr_size_t n = strlen(name), i;
    const char *c;

    if (n == 0)
        return "empty names are not allowed";
    if (n > AR_NAME_MAX)
        return "names longer than 255 bytes are not allowed";
    for (i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return "control characters are not allowed in names";
    if (!ar_utf8_valid((const unsigned char *)name, n))
        return "names must be valid UTF-8";
    if (strchr(name, '\\'))
        return "backslashes are not allowed in names";
    if (name[0] == '/')
        return "absolute names are not allowed";
    /* ".." as a whole path component, anywhere */
    for (c = name; (c = strstr(c, "..")) != NULL; c += 2)
        if ((c == name || c[-1] == '/') && (c[2] == '/' || c[2] == '\0'))
            return "names outside the archive are not allowed";
    return NULL;
}

/* "manifest.json" or "data/<ident>.ndjson" */
static int ar_name_allowed(apr_pool_t *p, const char *name)
{
    apr_size_t n = strlen(name);

    if (!strcmp(name, "manifest.json"))
        return 1;
    if (n <= 5 + 7 || strncmp(name, "data/", 5) ||
        strcmp(name + n - 7, ".ndjson"))
        return 0;
    return xp_ident_valid(apr_pstrndup(p, name + 5, n - 5 - 7));
}

static const char *ar_type_problem(struct archive_entry *e)
{
    if (archive_entry_hardlink(e))
        return "hard links are not allowed";
    if (archive_entry_symlink(e))
        return "symbolic links are not allowed";
    switch (archive_entry_filetype(e)) {
    case AE_IFREG:
        return NULL;
    case AE_IFLNK:
        return "symbolic links are not allowed";
    case AE_IFDIR:
        return "directories are not allowed";
    case AE_IFCHR:
    case AE_IFBLK:
        return "device files are not allowed";
    case AE_IFIFO:
        return "FIFOs are not allowed";
    case AE_IFSOCK:
        return "sockets are not allowed";
    default:
        return "only regular files are allowed";
    }
}

static xp_errcode_e ar_check_entry(xp_areader_t *r, struct archive_entry *e,
                                   xp_error_t *err)
{
    const char *name = archive_entry_pathname(e), *why, *lower, *prev;
    char *l;

    if (!name)
        name = archive_entry_pathname_utf8(e);
    if (!name)
        return xp_error_set(err, r->p, XP_EINVAL,
                            "an entry's name cannot be read");
    if ((why = xp_areader_name_problem(name)) != NULL ||
        (why = ar_type_problem(e)) != NULL)
        return xp_error_set(err, r->p, XP_EINVAL, "entry \"%s\": %s",
                            ar_quote(r->p, name), why);
    if (!ar_name_allowed(r->p, name))
        return xp_error_set(err, r->p, XP_EINVAL,
                            "entry \"%s\": not a file an import reads "
                            "(expected manifest.json and "
                            "data/<section>.ndjson only)",
                            ar_quote(r->p, name));
    lower = l = apr_pstrdup(r->p, name);
    for (; *l; l++)
        *l = apr_tolower(*l);
    if ((prev = apr_hash_get(r->seen, lower, APR_HASH_KEY_STRING)) != NULL) {
        if (strcmp(prev, name))
            return xp_error_set(err, r->p, XP_EINVAL,
                                "entry \"%s\": repeats \"%s\" (names that "
                                "differ only in case are the same file on "
                                "many systems)",
                                ar_quote(r->p, name), ar_quote(r->p, prev));
        return xp_error_set(err, r->p, XP_EINVAL,
                            "entry \"%s\": appears twice in the archive",
                            ar_quote(r->p, name));
    }
    apr_hash_set(r->seen, lower, APR_HASH_KEY_STRING, apr_pstrdup(r->p, name));
    r->name = apr_pstrdup(r->p, name);
    return XP_OK;
}

/* Compression layers over the format: libarchive's filters (less the
 * bottom "none") and ours. */
static int ar_layers(xp_areader_t *r)
{
    return archive_filter_count(r->a) - 1 + (r->gz != NULL);
}

/* One level of compression over tar, none over zip: libarchive would
 * happily peel a tar.gz.gz, which the contract refuses. Under our gzip
 * layer libarchive must find a bare tar; it still has its gzip filter
 * so that a gzip inside ours is seen, and refused, as one. */
static int ar_layout_ok(xp_areader_t *r)
{
    int fmt = archive_format(r->a) & ARCHIVE_FORMAT_BASE_MASK;

    if (fmt == ARCHIVE_FORMAT_ZIP)
        return ar_layers(r) == 0;
    return fmt == ARCHIVE_FORMAT_TAR && ar_layers(r) <= 1;
}

/* libarchive's read callback over our gzip layer. A failure is also
 * kept in r->gz_err: libarchive may put its own words over ours
 * ("Truncated tar archive"), and ours say what is wrong. */
static la_ssize_t ar_gz_read(struct archive *a, void *data, const void **buf)
{
    xp_areader_t *r = data;
    apr_size_t len;

    if (xp_agzip_read(r->gz, buf, &len, &r->gz_err) != XP_OK) {
        archive_set_error(a, EINVAL, "%s", r->gz_err.message);
        return ARCHIVE_FATAL;
    }
    return (la_ssize_t)len;
}

/* Why libarchive failed: our gzip layer's reason when it had one. */
static const char *ar_why(const xp_areader_t *r)
{
    return r->gz_err.code != XP_OK ? r->gz_err.message
                                   : archive_error_string(r->a);
}

/* Its class: an unreadable upload stays XP_EIO, bad input XP_EINVAL. */
static xp_errcode_e ar_code(const xp_areader_t *r)
{
    return r->gz_err.code != XP_OK ? r->gz_err.code : XP_EINVAL;
}

static xp_errcode_e ar_new(xp_areader_t *r, xp_error_t *err)
{
    if (!(r->a = archive_read_new()))
        return xp_error_set(err, r->p, XP_EIO, "out of memory");
    apr_pool_cleanup_register(r->p, r, ar_cleanup, apr_pool_cleanup_null);
    if (archive_read_support_filter_gzip(r->a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(r->a) != ARCHIVE_OK ||
        archive_read_support_filter_none(r->a) != ARCHIVE_OK ||
        archive_read_support_format_tar(r->a) != ARCHIVE_OK ||
        archive_read_support_format_zip(r->a) != ARCHIVE_OK)
        return xp_error_set(err, r->p, XP_EIO,
                            "libarchive lacks tar/zip/gzip/zstd support: %s",
                            archive_error_string(r->a));
    return XP_OK;
}

/* Hand libarchive the upload: a gzip through our layer, anything else
 * by name (a zip needs the seekable reader). libarchive already bids for
 * the format while opening. */
static xp_errcode_e ar_open_input(xp_areader_t *r, const char *path,
                                  xp_error_t *err)
{
    xp_errcode_e rc;
    int rv;

    if (!xp_agzip_sniff(r->af))
        rv = archive_read_open_filename(r->a, path, AR_BLOCK);
    else if ((rc = xp_agzip_open(r->p, r->af, &r->gz, err)) != XP_OK)
        return rc;
    else
        rv = archive_read_open(r->a, r, NULL, ar_gz_read, NULL);
    if (rv == ARCHIVE_OK)
        return XP_OK;
    if (r->gz_err.code != XP_OK)
        return xp_error_set(err, r->p, r->gz_err.code, "%s", ar_why(r));
    /* libarchive's "file format" errno is private; a missing or
     * unreadable file was already caught before */
    return xp_error_set(err, r->p, XP_EINVAL, AR_NOT_ARCHIVE " (%s)",
                        archive_error_string(r->a));
}

/* A zip's names byte by byte, before any entry is handed out. */
static xp_errcode_e ar_check_zip(xp_areader_t *r, xp_error_t *err)
{
    xp_azip_bad_t bad;
    xp_errcode_e rc = xp_azip_check_names(r->p, r->af, &bad, err);

    if (rc != XP_OK && bad.name)
        return xp_error_set(err, r->p, XP_EINVAL,
                            "entry \"%s\": NUL bytes are not allowed in names",
                            ar_quote_n(r->p, bad.name, bad.len));
    return rc;
}

/* Read the first header now: a file that is no archive at all fails
 * here, before the caller creates anything. */
static xp_errcode_e ar_first(xp_areader_t *r, xp_error_t *err)
{
    int rv = archive_read_next_header(r->a, &r->first);

    /* tar reads a leading zero block as its end: an ISO image (32 KiB
     * of zeros first) would pass as an empty tar. No import is empty, so
     * say what it might be. */
    if (rv == ARCHIVE_EOF)
        return xp_error_set(err, r->p, XP_EINVAL,
                            AR_NOT_ARCHIVE
                            " (no entry found: an empty tar, "
                            "or a format that starts with zeros such as an "
                            "ISO image)");
    if (rv != ARCHIVE_OK && rv != ARCHIVE_WARN && r->gz_err.code != XP_OK)
        return xp_error_set(err, r->p, r->gz_err.code, "%s", ar_why(r));
    if (rv != ARCHIVE_OK && rv != ARCHIVE_WARN)
        return xp_error_set(err, r->p, XP_EINVAL, AR_NOT_ARCHIVE " (%s)",
                            archive_error_string(r->a));
    if (!ar_layout_ok(r))
        return xp_error_set(err, r->p, XP_EINVAL,
                            AR_NOT_ARCHIVE
                            " (found %s under %d layers "
                            "of compression; expected at most one gzip or "
                            "zstd layer over a tar, none over a zip)",
                            archive_format_name(r->a), ar_layers(r));
    if ((archive_format(r->a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP)
        return ar_check_zip(r, err);
    return XP_OK;
}

static xp_errcode_e ar_open_archive(xp_areader_t *r, const char *path,
                                    xp_error_t *err)
{
    apr_finfo_t fi;
    apr_status_t st;
    char ebuf[120];
    xp_errcode_e rc;

    if ((st = apr_stat(&fi, path, APR_FINFO_TYPE, r->p)) != APR_SUCCESS ||
        fi.filetype != APR_REG ||
        (st = apr_file_open(&r->af, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                            APR_OS_DEFAULT, r->p)) != APR_SUCCESS)
        return xp_error_set(
            err, r->p, XP_EIO, "cannot open upload %s: %s", path,
            st != APR_SUCCESS ? apr_strerror(st, ebuf, sizeof(ebuf))
                              : "not a regular file");
    if ((rc = ar_new(r, err)) != XP_OK ||
        (rc = ar_open_input(r, path, err)) != XP_OK)
        return rc;
    return ar_first(r, err);
}

xp_errcode_e xp_areader_open(apr_pool_t *p, const char *path,
                             const char *raw_format, apr_off_t max_uncompressed,
                             xp_areader_t **out, xp_error_t *err)
{
    xp_areader_t *r = apr_pcalloc(p, sizeof(*r));
    apr_status_t rv;
    char ebuf[120];
    xp_errcode_e rc;

    *out = NULL;
    r->p = p;
    r->max = max_uncompressed;
    r->seen = apr_hash_make(p);
    r->buf = apr_palloc(p, AR_BLOCK);
    if (raw_format) {
        rv = apr_file_open(&r->f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                           APR_OS_DEFAULT, p);
        if (rv != APR_SUCCESS)
            return xp_error_set(err, p, XP_EIO, "cannot open upload %s: %s",
                                path, apr_strerror(rv, ebuf, sizeof(ebuf)));
    } else if ((rc = ar_open_archive(r, path, err)) != XP_OK)
        return rc;
    *out = r;
    return XP_OK;
}

static xp_errcode_e ar_next_raw(xp_areader_t *r, xp_aentry_t *e,
                                xp_error_t *err)
{
    apr_finfo_t fi;

    (void)err;
    if (r->started)
        return XP_ENOTFOUND;
    r->started = r->in_entry = 1;
    r->name = "";
    e->name = "";
    e->size = apr_file_info_get(&fi, APR_FINFO_SIZE, r->f) == APR_SUCCESS
                  ? (apr_int64_t)fi.size
                  : -1;
    return XP_OK;
}

static xp_errcode_e ar_over_limit(xp_areader_t *r, xp_error_t *err)
{
    return xp_error_set(err, r->p, XP_ELIMIT,
                        "the upload expands to more than %" APR_OFF_T_FMT
                        " bytes (XportMaxUncompressedSize); stopped in "
                        "entry \"%s\"",
                        r->max, ar_quote(r->p, r->name ? r->name : ""));
}

/* The archive has ended, but tar stops at its end blocks: read our gzip
 * layer to the end of its last member (the bytes thrown away) so that
 * every trailer is checked. The bytes count against the limit, or a bomb
 * after the end blocks would run on. */
static xp_errcode_e ar_drain(xp_areader_t *r, xp_error_t *err)
{
    const void *buf;
    apr_size_t len;
    xp_errcode_e rc;

    if (!r->gz)
        return XP_OK;
    do {
        if ((rc = xp_agzip_read(r->gz, &buf, &len, err)) != XP_OK)
            return rc;
        r->drained += (apr_off_t)len;
        if (r->max > 0 && r->total + r->drained > r->max)
            return ar_over_limit(r, err);
    } while (len);
    return XP_OK;
}

xp_errcode_e xp_areader_next(xp_areader_t *r, xp_aentry_t *e, xp_error_t *err)
{
    struct archive_entry *ae;
    const char *buf;
    apr_size_t len;
    xp_errcode_e rc;
    int rv;

    if (r->f)
        return ar_next_raw(r, e, err);
    /* Unread data is decompressed all the same: count it. */
    while (r->in_entry)
        if ((rc = xp_areader_read(r, &buf, &len, err)) != XP_OK)
            return rc;
    if (r->at_end)
        return XP_ENOTFOUND;
    if (!r->started) {
        r->started = 1;
        ae = r->first;
    } else {
        rv = archive_read_next_header(r->a, &ae);
        if (rv == ARCHIVE_EOF) {
            r->at_end = 1;
            return (rc = ar_drain(r, err)) != XP_OK ? rc : XP_ENOTFOUND;
        }
        if (rv != ARCHIVE_OK && rv != ARCHIVE_WARN)
            return xp_error_set(err, r->p, ar_code(r),
                                "the archive is damaged after entry "
                                "\"%s\": %s",
                                ar_quote(r->p, r->name ? r->name : ""),
                                ar_why(r));
    }
    if ((rc = ar_check_entry(r, ae, err)) != XP_OK)
        return rc;
    e->name = r->name;
    e->size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : -1;
    r->in_entry = 1;
    return XP_OK;
}

xp_errcode_e xp_areader_read(xp_areader_t *r, const char **buf, apr_size_t *len,
                             xp_error_t *err)
{
    la_ssize_t n;
    apr_size_t got = AR_BLOCK;
    apr_status_t rv;
    char ebuf[120];

    *buf = r->buf;
    *len = 0;
    if (!r->in_entry)
        return XP_OK;
    if (r->f) {
        rv = apr_file_read(r->f, r->buf, &got);
        if (rv == APR_EOF)
            got = 0;
        else if (rv != APR_SUCCESS)
            return xp_error_set(err, r->p, XP_EIO, "cannot read upload: %s",
                                apr_strerror(rv, ebuf, sizeof(ebuf)));
        n = (la_ssize_t)got;
    } else if ((n = archive_read_data(r->a, r->buf, AR_BLOCK)) < 0)
        return xp_error_set(err, r->p, ar_code(r),
                            "entry \"%s\" cannot be read: %s",
                            ar_quote(r->p, r->name), ar_why(r));
    if (n == 0) {
        r->in_entry = 0;
        return XP_OK;
    }
    r->total += n;
    if (r->max > 0 && r->total > r->max) {
        r->in_entry = 0;
        r->at_end = 1;
        return ar_over_limit(r, err);
    }
    *len = (apr_size_t)n;
    return XP_OK;
}

apr_off_t xp_areader_total(const xp_areader_t *r)
{
    return r->total;
}
