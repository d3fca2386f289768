/*
 * xp_hash.h -- incremental SHA-256 (OpenSSL libcrypto EVP; APR-util has
 * none), and bcrypt for hash=col:bcrypt (APR-util's).
 */
#ifndef XP_HASH_H
#define XP_HASH_H

#include <apr_pools.h>

typedef struct xp_sha256_t xp_sha256_t;

/* Context freed with the pool. */
xp_sha256_t *xp_sha256_make(apr_pool_t *p);
void xp_sha256_update(xp_sha256_t *h, const void *data, apr_size_t len);
/* Finish: 32 raw bytes into out (may be NULL) and returns 64 lowercase hex
 * chars allocated from p. The context can be reused after xp_sha256_reset. */
const char *xp_sha256_final(xp_sha256_t *h, apr_pool_t *p,
                            unsigned char out[32]);
void xp_sha256_reset(xp_sha256_t *h);
/* Hash of a whole file; NULL on error (errno-style status in *rv). */
const char *xp_sha256_file(apr_pool_t *p, const char *path, apr_status_t *rv);
/* RFC 4648 base64 of 32 raw bytes, for Repr-Digest. */
const char *xp_sha256_hex_to_b64(apr_pool_t *p, const char *hex);

/* The cost of the bcrypt hashes an import makes: 2^5 rounds, htpasswd
 * -B's default, which apr_password_validate (and so mod_authn_file)
 * checks in about a millisecond. */
#define XP_BCRYPT_COST 5

/* 1 if s is a bcrypt hash: "$2a$", "$2b$" or "$2y$", two cost digits,
 * "$", then 53 characters of bcrypt's base64 alphabet (60 in all). */
int xp_bcrypt_is_hash(const char *s);
/* plain hashed with bcrypt (XP_BCRYPT_COST, a 16-byte random salt), in
 * p; NULL when APR fails (no randomness). */
const char *xp_bcrypt_hash(apr_pool_t *p, const char *plain);
/* 1 if plain is the password hash was made from. */
int xp_bcrypt_matches(const char *plain, const char *hash);

#endif
