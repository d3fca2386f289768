/*
 * bytes.c -- types=col:bytes (xp_bytes.h): base64 as the engine's
 * spelling of binary values, and the SQL that converts at the database.
 *
 * Why base64 all the way and not raw buffers: every row in the engine is
 * an array of NUL-terminated strings (the read, the JSON encoder, the
 * import's checks and the sink's bound text parameters); a value with a
 * NUL in it would need a length beside it everywhere. Base64 is what the
 * files carry anyway, so only the database edge converts:
 * PostgreSQL with encode()/decode(), SQLite with two functions given to
 * the data source connection here (it has none of its own), and
 * PostgreSQL's COPY, which takes no expressions, with bytea's hex input.
 */
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>
#include <sqlite3.h>

#include "xp_bytes.h"

#define XP_BYTES_SQLITE_ENC "xp_base64"
#define XP_BYTES_SQLITE_DEC "xp_unbase64"

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int xp_base64_valid(const char *s)
{
    apr_size_t n = strlen(s), pad = 0, i;

    if (n % 4)
        return 0;
    if (n && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    for (i = 0; i < n - pad; i++)
        if (!b64_char(s[i]))
            return 0;
    return 1;
}

unsigned char *xp_base64_decode(apr_pool_t *p, const char *s, apr_size_t *len)
{
    unsigned char *out = apr_palloc(p, (apr_size_t)apr_base64_decode_len(s) + 1);
    int n = apr_base64_decode_binary(out, s);

    out[n] = '\0';
    *len = (apr_size_t)n;
    return out;
}

const char *xp_base64_encode(apr_pool_t *p, const unsigned char *data,
                             apr_size_t n)
{
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len((int)n));

    apr_base64_encode_binary(out, data, (int)n);
    return out;
}

const char *xp_bytes_read_sql(apr_pool_t *p, xp_dialect_e dialect,
                              const char *qcol)
{
    /* encode() breaks its base64 into lines of 76 */
    if (dialect == XP_DIALECT_PGSQL)
        return apr_pstrcat(p, "replace(encode(", qcol,
                           ", 'base64'), chr(10), '')", NULL);
    return apr_pstrcat(p, XP_BYTES_SQLITE_ENC "(", qcol, ")", NULL);
}

const char *xp_bytes_write_sql(xp_dialect_e dialect)
{
    return dialect == XP_DIALECT_PGSQL ? "decode(%s, 'base64')"
                                       : XP_BYTES_SQLITE_DEC "(%s)";
}

const char *xp_bytes_pg_text(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t n, i;
    unsigned char *raw = xp_base64_decode(p, s, &n);
    char *out = apr_palloc(p, 2 * n + 3), *o = out;

    *o++ = '\\';
    *o++ = 'x';
    for (i = 0; i < n; i++) {
        *o++ = hex[raw[i] >> 4];
        *o++ = hex[raw[i] & 15];
    }
    *o = '\0';
    return out;
}

/* xp_base64(x): the bytes of x as base64 text; NULL stays NULL. */
static void sqlite_encode(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *data;
    char *out;
    int n;

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    data = sqlite3_value_blob(argv[0]);
    n = sqlite3_value_bytes(argv[0]);
    if (!(out = sqlite3_malloc(apr_base64_encode_len(n)))) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    apr_base64_encode_binary(out, data ? data : (const unsigned char *)"", n);
    sqlite3_result_text(ctx, out, -1, sqlite3_free);
}

/* xp_unbase64(t): the bytes base64 text t spells, as a BLOB. */
static void sqlite_decode(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s;
    unsigned char *out;
    int n;

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    s = (const char *)sqlite3_value_text(argv[0]);
    if (!s || !xp_base64_valid(s)) {
        sqlite3_result_error(ctx, "not base64", -1);
        return;
    }
    if (!(out = sqlite3_malloc(apr_base64_decode_len(s) + 1))) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    n = apr_base64_decode_binary(out, s);
    sqlite3_result_blob(ctx, out, n, sqlite3_free);
}

int xp_bytes_sqlite_register(void *sqlite)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC, rc;

    rc = sqlite3_create_function(sqlite, XP_BYTES_SQLITE_ENC, 1, flags, NULL,
                                 sqlite_encode, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(sqlite, XP_BYTES_SQLITE_DEC, 1, flags,
                                     NULL, sqlite_decode, NULL, NULL);
    return rc;
}
