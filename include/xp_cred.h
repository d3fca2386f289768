/*
 * xp_cred.h -- credentials, without httpd: the API keys of a token file
 * (AuthType xport-token), signed download links and the dashboard's form
 * tokens (HMAC-SHA256). The glue (src/httpd/token.c, src/httpd/link.c,
 * src/httpd/manager.c) reads them off requests;
 * this file reads the token file and does the cryptography, so that unit
 * tests reach every rule without a server.
 */
#ifndef XP_CRED_H
#define XP_CRED_H

#include "xport.h"

/* ------------------------------------------------------------------ */
/* API keys                                                             */
/* ------------------------------------------------------------------ */

#define XP_TOKEN_DIGEST_LEN 32 /* SHA-256 */

/* One line of a token file: `user:SHA256-hex-of-token[:tenants]`. */
typedef struct xp_token_t {
    const char *user;
    unsigned char digest[XP_TOKEN_DIGEST_LEN];
    const char *tenants; /* "a,b", "*" (every tenant) or "" (none) */
    int line;            /* 1-based line of the file */
} xp_token_t;

typedef struct xp_tokens_t {
    const char *path;
    apr_array_header_t *list; /* xp_token_t */
} xp_tokens_t;

/* Parse one line (without its line end). A blank line or a `#` comment
 * gives out->user NULL. Returns NULL or what is wrong (a sentence without
 * file and line; it never quotes the hash). */
const char *xp_token_parse_line(apr_pool_t *p, const char *line,
                                xp_token_t *out);

/* Read a whole token file. Returns NULL, or "PATH line N: what is wrong"
 * (also for a token hash given twice: which user it would be is
 * ambiguous). */
const char *xp_tokens_read(apr_pool_t *p, const char *path,
                           xp_tokens_t **out);

/* The entry for a presented token: its SHA-256 is compared in constant
 * time with every entry's (all of them, whatever matches). NULL if none. */
const xp_token_t *xp_tokens_match(const xp_tokens_t *t, const char *token,
                                  apr_size_t len);

/* 1 if an entry's tenant list is "*" or names tenant. */
int xp_tenants_allow(const char *tenants, const char *tenant);

/* ------------------------------------------------------------------ */
/* Signed links                                                         */
/* ------------------------------------------------------------------ */

#define XP_LINK_KEY_LEN 32 /* the secret kept in the job store */

/* What a link grants: one file of one job, to one user, until expires. */
typedef struct xp_link_t {
    const char *job;     /* job id */
    const char *file;    /* the file name the link's path ends with */
    const char *user;    /* who the link authenticates (the job's owner) */
    apr_int64_t expires; /* Unix seconds */
    const char *nonce;   /* makes each link made its own (single-use links
                            are spent by signature); NULL: none */
} xp_link_t;

typedef enum {
    XP_LINK_VALID = 0,
    XP_LINK_EXPIRED, /* signed by us, past its expiry (410) */
    XP_LINK_ALTERED  /* not signed by us as it stands (404) */
} xp_link_e;

/* The signature: base64url without padding (43 characters) of
 * HMAC-SHA256(key, "xport-link-1" NUL job NUL file NUL user NUL expires),
 * every part as text; NUL cannot occur in any of them, so no two links
 * sign the same bytes. A nonce, when there is one, is signed after the
 * expiry (NUL-separated too). */
const char *xp_link_sign(apr_pool_t *p, const unsigned char *key,
                         const xp_link_t *l);

/* Check a presented signature at time now (Unix seconds): the signature
 * first (compared in constant time), then the expiry. */
xp_link_e xp_link_verify(apr_pool_t *p, const unsigned char *key,
                         const xp_link_t *l, const char *sig, apr_int64_t now);

/* ------------------------------------------------------------------ */
/* Form tokens                                                          */
/* ------------------------------------------------------------------ */

#define XP_FORM_TOKEN_LEN 43

/* The token a page made for user carries and sends back with every
 * request that changes state (the dashboard's guard against cross-site
 * requests): base64url without padding (43 characters) of
 * HMAC-SHA256(key, "xport-form-1" NUL user). It names no time: it stays
 * valid as long as the key does. NULL when user is NULL. */
const char *xp_form_token(apr_pool_t *p, const unsigned char *key,
                          const char *user);

/* 1 if presented is user's token under key (compared in constant time). */
int xp_form_token_valid(apr_pool_t *p, const unsigned char *key,
                        const char *user, const char *presented);

#endif
