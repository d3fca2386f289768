/*
 * cred.c -- API keys and signed links without httpd (xp_cred.h).
 *
 * A token file holds no token, only its SHA-256: reading the file gives
 * nobody a key. A presented token is hashed and compared with every
 * entry in constant time (CRYPTO_memcmp), so neither the comparison nor
 * the position of the matching line shortens a guess.
 *
 * A signed link is an HMAC over what it grants; the key is the job
 * store's "link" secret, so every node sharing the store checks the
 * links of every other. A form token (the dashboard's guard against
 * cross-site requests) is an HMAC over the user's name, made the same
 * way under a label of its own.
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_lib.h>
#include <apr_base64.h>
#include <apr_file_io.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "xp_cred.h"

/* ------------------------------------------------------------------ */
/* Token files                                                          */
/* ------------------------------------------------------------------ */

#define TOKEN_LINE_MAX 4096

static char *trim(char *s)
{
    char *end;

    while (apr_isspace(*s))
        s++;
    end = s + strlen(s);
    while (end > s && apr_isspace(end[-1]))
        *--end = '\0';
    return s;
}

static int user_valid(const char *u)
{
    if (!*u)
        return 0;
    for (; *u; u++) {
        if (apr_isspace(*u) || apr_iscntrl(*u))
            return 0;
    }
    return 1;
}

/* "*" alone, or names of letters, digits, '.', '_', '~', '-' joined by
 * commas: a tenant is a URL path segment in the APIs that have them. */
static int tenants_valid(const char *t)
{
    const char *q;
    int len = 0;

    if (!strcmp(t, "*"))
        return 1;
    for (q = t;; q++) {
        if (*q == ',' || !*q) {
            if (len == 0)
                return 0;
            if (!*q)
                return 1;
            len = 0;
        } else if (apr_isalnum(*q) || strchr("._~-", *q)) {
            len++;
        } else {
            return 0;
        }
    }
}

static int digest_parse(const char *hex, unsigned char *out)
{
    int i;

    if (strlen(hex) != 2 * XP_TOKEN_DIGEST_LEN)
        return -1;
    for (i = 0; i < XP_TOKEN_DIGEST_LEN; i++) {
        int hi = xp_hexval(hex[2 * i]), lo = xp_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

const char *xp_token_parse_line(apr_pool_t *p, const char *line,
                                xp_token_t *out)
{
    char *s = trim(apr_pstrdup(p, line));
    char *hex, *tenants = NULL;

    memset(out, 0, sizeof(*out));
    if (!*s || *s == '#')
        return NULL;
    if (!(hex = strchr(s, ':')))
        return "expected user:SHA256-hex-of-token[:tenant,tenant|*]";
    *hex++ = '\0';
    if ((tenants = strchr(hex, ':')))
        *tenants++ = '\0';
    if (!user_valid(s))
        return "the user name is empty or has a space or control character";
    if (digest_parse(hex, out->digest) < 0)
        return "the token hash must be 64 hexadecimal digits (the "
               "SHA-256 of the token, e.g. from sha256sum)";
    if (tenants && !tenants_valid(tenants))
        return "the tenant list must be * or names (letters, digits, "
               "'.', '_', '~', '-') separated by commas";
    out->user = s;
    out->tenants = tenants ? tenants : "";
    return NULL;
}

/* An entry with the same digest as e, or NULL. */
static const xp_token_t *same_digest(const xp_tokens_t *t, const xp_token_t *e)
{
    int i;

    for (i = 0; i < t->list->nelts; i++) {
        const xp_token_t *o = &APR_ARRAY_IDX(t->list, i, xp_token_t);
        if (!memcmp(o->digest, e->digest, XP_TOKEN_DIGEST_LEN))
            return o;
    }
    return NULL;
}

/* Read each line into t; NULL or "line N: why". */
static const char *tokens_lines(apr_pool_t *p, apr_file_t *f, xp_tokens_t *t)
{
    char buf[TOKEN_LINE_MAX];
    apr_status_t rv;
    int n = 0;

    while ((rv = apr_file_gets(buf, sizeof(buf), f)) == APR_SUCCESS) {
        apr_size_t len = strlen(buf);
        const xp_token_t *dup;
        xp_token_t e;
        const char *why;

        n++;
        if (len == sizeof(buf) - 1 && buf[len - 1] != '\n')
            return apr_psprintf(p, "line %d: longer than %d bytes", n,
                                TOKEN_LINE_MAX - 2);
        if ((why = xp_token_parse_line(p, buf, &e)))
            return apr_psprintf(p, "line %d: %s", n, why);
        if (!e.user)
            continue;
        e.line = n;
        if ((dup = same_digest(t, &e)))
            return apr_psprintf(p,
                                "line %d: the same token hash as line %d "
                                "(a token must name one user)",
                                n, dup->line);
        APR_ARRAY_PUSH(t->list, xp_token_t) = e;
    }
    if (!APR_STATUS_IS_EOF(rv))
        return apr_psprintf(p, "cannot read after line %d: %pm", n, &rv);
    return NULL;
}

const char *xp_tokens_read(apr_pool_t *p, const char *path, xp_tokens_t **out)
{
    xp_tokens_t *t = apr_pcalloc(p, sizeof(*t));
    apr_file_t *f;
    apr_status_t rv;
    const char *why;

    *out = NULL;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BUFFERED,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return apr_psprintf(p, "%s: cannot open: %pm", path, &rv);
    t->path = apr_pstrdup(p, path);
    t->list = apr_array_make(p, 8, sizeof(xp_token_t));
    why = tokens_lines(p, f, t);
    apr_file_close(f);
    if (why)
        return apr_psprintf(p, "%s %s", path, why);
    *out = t;
    return NULL;
}

const xp_token_t *xp_tokens_match(const xp_tokens_t *t, const char *token,
                                  apr_size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const xp_token_t *found = NULL;
    int i;

    if (!t || !token || !len ||
        !EVP_Digest(token, len, d, &dlen, EVP_sha256(), NULL) ||
        dlen != XP_TOKEN_DIGEST_LEN)
        return NULL;
    /* every entry, whatever matched before */
    for (i = 0; i < t->list->nelts; i++) {
        const xp_token_t *e = &APR_ARRAY_IDX(t->list, i, xp_token_t);
        int same = CRYPTO_memcmp(d, e->digest, XP_TOKEN_DIGEST_LEN) == 0;
        found = same ? e : found;
    }
    return found;
}

int xp_tenants_allow(const char *tenants, const char *tenant)
{
    apr_size_t n;
    const char *q, *end;

    if (!tenants || !tenant || !*tenant)
        return 0;
    if (!strcmp(tenants, "*"))
        return 1;
    n = strlen(tenant);
    for (q = tenants;; q = end + 1) {
        end = strchr(q, ',');
        if ((end ? (apr_size_t)(end - q) : strlen(q)) == n &&
            !strncmp(q, tenant, n))
            return 1;
        if (!end)
            return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Signed links                                                         */
/* ------------------------------------------------------------------ */

#define LINK_SIG_LEN 43 /* base64url of 32 bytes, no padding */

/* base64url without padding of HMAC-SHA256(key, parts joined by NUL);
 * NUL cannot occur in any part, so no two lists sign the same bytes. */
static const char *mac_b64url(apr_pool_t *p, const unsigned char *key,
                              const char *const *parts, apr_size_t n)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    apr_size_t lens[8], total = 0, i;
    char *msg, *b64, *q;

    for (i = 0; i < n; i++)
        total += (lens[i] = strlen(parts[i] ? parts[i] : "")) + 1;
    msg = apr_palloc(p, total);
    for (q = msg, i = 0; i < n; i++) {
        memcpy(q, parts[i] ? parts[i] : "", lens[i]);
        q += lens[i];
        *q++ = '\0';
    }
    if (!HMAC(EVP_sha256(), key, XP_LINK_KEY_LEN, (unsigned char *)msg,
              total - 1, mac, &maclen))
        return NULL;
    b64 = apr_palloc(p, apr_base64_encode_len((int)maclen));
    apr_base64_encode_binary(b64, mac, (int)maclen);
    /* RFC 4648 section 5: URL- and file-name-safe, no padding */
    for (q = b64; *q && *q != '='; q++) {
        if (*q == '+')
            *q = '-';
        else if (*q == '/')
            *q = '_';
    }
    *q = '\0';
    return b64;
}

const char *xp_link_sign(apr_pool_t *p, const unsigned char *key,
                         const xp_link_t *l)
{
    const char *exp = apr_psprintf(p, "%" APR_INT64_T_FMT, l->expires);
    const char *parts[6];

    parts[0] = "xport-link-1";
    parts[1] = l->job;
    parts[2] = l->file;
    parts[3] = l->user;
    parts[4] = exp;
    parts[5] = l->nonce;

    return mac_b64url(p, key, parts, l->nonce ? 6 : 5);
}

xp_link_e xp_link_verify(apr_pool_t *p, const unsigned char *key,
                         const xp_link_t *l, const char *sig, apr_int64_t now)
{
    const char *want;

    if (!sig || strlen(sig) != LINK_SIG_LEN || !l->job || !l->file ||
        !l->user || l->expires <= 0)
        return XP_LINK_ALTERED;
    want = xp_link_sign(p, key, l);
    if (!want || strlen(want) != LINK_SIG_LEN ||
        CRYPTO_memcmp(want, sig, LINK_SIG_LEN) != 0)
        return XP_LINK_ALTERED;
    return now > l->expires ? XP_LINK_EXPIRED : XP_LINK_VALID;
}

/* ------------------------------------------------------------------ */
/* Form tokens                                                          */
/* ------------------------------------------------------------------ */

const char *xp_form_token(apr_pool_t *p, const unsigned char *key,
                          const char *user)
{
    const char *parts[] = {"xport-form-1", user};

    return user ? mac_b64url(p, key, parts, 2) : NULL;
}

int xp_form_token_valid(apr_pool_t *p, const unsigned char *key,
                        const char *user, const char *presented)
{
    const char *want = xp_form_token(p, key, user);

    return want && presented && strlen(want) == XP_FORM_TOKEN_LEN &&
           strlen(presented) == XP_FORM_TOKEN_LEN &&
           CRYPTO_memcmp(want, presented, XP_FORM_TOKEN_LEN) == 0;
}
