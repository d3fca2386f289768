/*
 * xp_hash.h -- incremental SHA-256 (OpenSSL libcrypto EVP; APR-util has none).
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

#endif
