/*
 * hash.c -- SHA-256 for archives, section files and uploads; bcrypt for
 * the columns an import stores hashed (hash=col:bcrypt).
 *
 * APR-util has no SHA-256, so this uses OpenSSL's EVP interface (httpd
 * deployments carry libcrypto anyway). The EVP context is released by a
 * pool cleanup, so a job that fails half-way leaks nothing. bcrypt is
 * APR-util's, the one htpasswd -B and mod_authn_file use, so a stored
 * hash is one httpd itself can check.
 */
#include <string.h>

#include <openssl/evp.h>

#include <apr_base64.h>
#include <apr_general.h>
#include <apr_md5.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "xp_hash.h"
#include "xport.h"

/* Files are hashed in blocks of this size: few system calls, and a
 * buffer small enough that hashing never shows in a job's memory. */
#define XP_HASH_BLOCK (64 * 1024)

struct xp_sha256_t {
    EVP_MD_CTX *ctx;
};

static apr_status_t sha256_cleanup(void *data)
{
    xp_sha256_t *h = data;
    if (h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
    return APR_SUCCESS;
}

xp_sha256_t *xp_sha256_make(apr_pool_t *p)
{
    xp_sha256_t *h = apr_pcalloc(p, sizeof(*h));

    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        if (h->ctx)
            EVP_MD_CTX_free(h->ctx);
        return NULL;
    }
    apr_pool_cleanup_register(p, h, sha256_cleanup, apr_pool_cleanup_null);
    return h;
}

void xp_sha256_update(xp_sha256_t *h, const void *data, apr_size_t len)
{
    if (len)
        EVP_DigestUpdate(h->ctx, data, len);
}

static const char *hex_of(apr_pool_t *p, const unsigned char *d, apr_size_t n)
{
    static const char hx[] = "0123456789abcdef";
    char *s = apr_palloc(p, n * 2 + 1);
    apr_size_t i;

    for (i = 0; i < n; i++) {
        s[2 * i] = hx[d[i] >> 4];
        s[2 * i + 1] = hx[d[i] & 0xF];
    }
    s[n * 2] = '\0';
    return s;
}

const char *xp_sha256_final(xp_sha256_t *h, apr_pool_t *p,
                            unsigned char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != 32)
        return NULL;
    if (out)
        memcpy(out, md, 32);
    /* Leave the context ready for the next message, so a forgotten
     * xp_sha256_reset cannot feed a finalised context. */
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
    return hex_of(p, md, 32);
}

void xp_sha256_reset(xp_sha256_t *h)
{
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

const char *xp_sha256_file(apr_pool_t *p, const char *path, apr_status_t *rv)
{
    apr_pool_t *sub;
    apr_file_t *f;
    xp_sha256_t *h;
    const char *hex = NULL;
    char *block;
    apr_size_t n;
    apr_status_t st;

    if ((st = apr_pool_create(&sub, p)) != APR_SUCCESS)
        goto out;
    h = xp_sha256_make(sub);
    block = apr_palloc(sub, XP_HASH_BLOCK);
    if (!h) {
        st = APR_ENOMEM;
        goto done;
    }
    st = apr_file_open(&f, path, APR_FOPEN_READ, APR_FPROT_OS_DEFAULT, sub);
    if (st != APR_SUCCESS)
        goto done;
    for (;;) {
        n = XP_HASH_BLOCK;
        st = apr_file_read(f, block, &n);
        if (n)
            xp_sha256_update(h, block, n);
        if (st == APR_EOF) {
            st = APR_SUCCESS;
            break;
        }
        if (st != APR_SUCCESS)
            break;
    }
    apr_file_close(f);
    if (st == APR_SUCCESS && !(hex = xp_sha256_final(h, p, NULL)))
        st = APR_EGENERAL;
done:
    apr_pool_destroy(sub);
out:
    if (rv)
        *rv = st;
    return hex;
}

const char *xp_sha256_hex_to_b64(apr_pool_t *p, const char *hex)
{
    unsigned char raw[32];
    char *b64;
    int i, hi, lo;

    if (!hex || strlen(hex) != 64)
        return NULL;
    for (i = 0; i < 32; i++) {
        hi = xp_hexval(hex[2 * i]);
        lo = xp_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    b64 = apr_palloc(p, apr_base64_encode_len(32));
    apr_base64_encode_binary(b64, raw, 32);
    return b64;
}

/* ------------------------------------------------------------------ */
/* bcrypt                                                               */
/* ------------------------------------------------------------------ */

#define XP_BCRYPT_LEN 60
#define XP_BCRYPT_SALT 16

int xp_bcrypt_is_hash(const char *s)
{
    static const char alphabet[] =
        "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    if (!s || strlen(s) != XP_BCRYPT_LEN || s[0] != '$' || s[1] != '2' ||
        (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' ||
        s[4] < '0' || s[4] > '3' || s[5] < '0' || s[5] > '9' || s[6] != '$')
        return 0;
    return strspn(s + 7, alphabet) == XP_BCRYPT_LEN - 7;
}

const char *xp_bcrypt_hash(apr_pool_t *p, const char *plain)
{
    unsigned char salt[XP_BCRYPT_SALT];
    char out[XP_BCRYPT_LEN + 8];

    if (apr_generate_random_bytes(salt, sizeof(salt)) != APR_SUCCESS ||
        apr_bcrypt_encode(plain, XP_BCRYPT_COST, salt, sizeof(salt), out,
                          sizeof(out)) != APR_SUCCESS)
        return NULL;
    return apr_pstrdup(p, out);
}

int xp_bcrypt_matches(const char *plain, const char *hash)
{
    return apr_password_validate(plain, hash) == APR_SUCCESS;
}
