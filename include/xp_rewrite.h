/*
 * xp_rewrite.h -- an import's rewrite rules: per (section, key) either
 * values that replace what the file says, or a rejection. How a dialect
 * that plans an import (a key that already belongs to someone else, a
 * row the target must not take) says so without touching the upload.
 */
#ifndef XP_REWRITE_H
#define XP_REWRITE_H

#include "xport.h"
#include "xp_ndjson.h"

typedef struct xp_rewrite_t xp_rewrite_t;

/*
 * Parse and check rules: text is a JSON array of
 *   {"section": S, "key": K, "set": {NAME: value-or-null, ...}} or
 *   {"section": S, "key": K, "reject": "message"}
 * S a section of secs whose columns are known, K a string or a number
 * (matched against the key's text), NAME a column's name in files
 * (fields=), each value a JSON value as a file gives it (typed per
 * types=, like a row's). An unknown section or name, a value that does
 * not fit its type, both or neither of set/reject, and the same
 * (section, key) twice are XP_EINVAL with a message starting
 * "rewrite: rule N: " (N the rule's 0-based index in the array) and
 * err->field "rewrite". Rules are indexed by (section, key): applying
 * them costs a hash lookup a row, however many there are.
 */
xp_errcode_e xp_rewrite_make(apr_pool_t *p, const xp_sections_t *secs,
                             const char *text, xp_rewrite_t **out,
                             xp_error_t *err);

/*
 * Rewrite one row of sec just parsed from a file (values per
 * sec->columns), in file order. First every key ref of the row
 * (ref=col:S, no .col2) whose value is a key an earlier row of S was
 * renamed from gets the new key; then the rule of the row's own key as
 * the file has it (before that step): a set's values replace the
 * row's (and are marked present), and a set that changes the key is
 * remembered (old -> new) for the rows that follow. Returns NULL, or the
 * rule's rejection message. The values it puts in the row live as long
 * as rw's pool. Renames are remembered in rw's pool: one thread at a
 * time.
 */
const char *xp_rewrite_row(xp_rewrite_t *rw, const xp_section_t *sec,
                           xp_row_t *row);

#endif
