/*
 * xp_bytes.h -- types=col:bytes: binary columns (SQLite BLOB, PostgreSQL
 * bytea). Inside the engine and in every file a value of such a column
 * is standard base64 text with padding (RFC 4648 section 4), so rows stay
 * NUL-terminated strings everywhere; the database converts at the edge:
 * reads select the column as base64 (xp_bytes_read_sql), writes bind the
 * base64 text and have it decoded (xp_bytes_write_sql), so the column
 * holds the raw bytes. SQLite has no base64 of its own: the data source
 * connection gets two functions for it (xp_bytes_sqlite_register).
 */
#ifndef XP_BYTES_H
#define XP_BYTES_H

#include "xport.h"
#include "xp_filter.h"

/* 1 if s is standard base64 with padding: a multiple of 4 characters of
 * A-Z a-z 0-9 + /, at most two '=' at the end. "" is valid (no bytes). */
int xp_base64_valid(const char *s);
/* The bytes of valid base64 s (xp_base64_valid), *len of them, with a
 * NUL after them (not counted). */
unsigned char *xp_base64_decode(apr_pool_t *p, const char *s, apr_size_t *len);
/* n bytes as base64 text with padding. */
const char *xp_base64_encode(apr_pool_t *p, const unsigned char *data,
                             apr_size_t n);

/* The select-list expression reading quoted column qcol as base64 text
 * (NULL stays NULL). */
const char *xp_bytes_read_sql(apr_pool_t *p, xp_dialect_e dialect,
                              const char *qcol);
/* The placeholder ("%s") of a value written into a bytes column, the
 * base64 text bound to it decoded to bytes by the database. */
const char *xp_bytes_write_sql(xp_dialect_e dialect);
/* Valid base64 s as PostgreSQL's text input of bytea ("\x" and hex), for
 * COPY, which takes no expressions. */
const char *xp_bytes_pg_text(apr_pool_t *p, const char *s);

/* Give the SQLite connection (a sqlite3 *) the functions
 * xp_bytes_read_sql / xp_bytes_write_sql use. 0, or SQLite's error
 * code. */
int xp_bytes_sqlite_register(void *sqlite);

#endif
