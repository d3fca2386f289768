/*
 * xp_ndjson.h -- the row side of an import (SPEC 6.5, 6.6): cutting a
 * stream into lines (NDJSON) or array elements (a JSON array file), and
 * parsing one line into column values of a section.
 */
#ifndef XP_NDJSON_H
#define XP_NDJSON_H

#include <apr_pools.h>
#include <apr_tables.h>
#include "xport.h"

/* The longest line (or array element) an import accepts. */
#define XP_NDJSON_MAX_LINE (16 * 1024 * 1024)

typedef struct xp_lines_t xp_lines_t;
/* Called per line; line is NOT NUL-terminated and only valid during the
 * call. A non-XP_OK return stops the feed and is returned by it. */
typedef xp_errcode_e (*xp_line_fn)(void *baton, const char *line,
                                   apr_size_t len, long lineno,
                                   xp_error_t *err);

/* max_line: XP_NDJSON_MAX_LINE for imports. The buffer is freed when p
 * is cleared. */
xp_lines_t *xp_lines_make(apr_pool_t *p, apr_size_t max_line);
/* Feed a block; calls fn for every complete line (without the LF; a
 * trailing CR is stripped; empty lines skipped but counted; a UTF-8 BOM
 * at the start of line 1 is dropped); eof flushes a last line without LF.
 * A line over max_line: XP_ELIMIT "line N is longer than 16 MiB". */
xp_errcode_e xp_lines_feed(xp_lines_t *l, const char *buf, apr_size_t len,
                           int eof, xp_line_fn fn, void *baton,
                           xp_error_t *err);
/* Lines seen so far (including empty ones). */
long xp_lines_count(const xp_lines_t *l);

/* A JSON array file (format "json"): feeds each element's compact JSON
 * text to fn as if it were a line (lineno = element index + 1), streaming
 * (never the whole file in memory). Nesting deeper than 64, a top level
 * that is not an array, or text after the closing ']' fail XP_EINVAL; an
 * element over max_elem fails XP_ELIMIT. */
typedef struct xp_jarray_t xp_jarray_t;
xp_jarray_t *xp_jarray_make(apr_pool_t *p, apr_size_t max_elem);
xp_errcode_e xp_jarray_feed(xp_jarray_t *j, const char *buf, apr_size_t len,
                            int eof, xp_line_fn fn, void *baton,
                            xp_error_t *err);

typedef struct xp_row_t {
    const char *
        *values; /* per sec->columns index; NULL = JSON null or absent */
    unsigned char *present; /* per column: 1 if the key was in the object */
    apr_array_header_t *unknown; /* const char *: keys not among the
                                  * columns; NULL while there is none */
} xp_row_t;

/* Parse one line as a JSON object (duplicate keys, NUL, invalid UTF-8,
 * depth > 64 rejected) into row (allocated from p) per sec->columns, whose
 * keys are the columns' names in files (fields=, xp_section_name_at):
 * strings as their text, numbers as their JSON text, true/false as
 * "1"/"0", objects/arrays as compact JSON text; a value not fitting sec's
 * types= (int: integer in int64 range, real: number, bool: true/false/0/1,
 * json: any) -> XP_EINVAL "column \"c\": \"abc\" is not an int". Unknown
 * keys go to row->unknown, NULL if none (the caller decides
 * reject/ignore). */
xp_errcode_e xp_row_parse(apr_pool_t *p, const xp_section_t *sec,
                          const char *line, apr_size_t len, xp_row_t *row,
                          xp_error_t *err);

/* The same through jansson's tree, always: what xp_row_parse falls back
 * to for anything but a flat, valid object (and how it words every
 * error); the fuzzer checks that both give the same row. */
xp_errcode_e xp_row_parse_slow(apr_pool_t *p, const xp_section_t *sec,
                               const char *line, apr_size_t len, xp_row_t *row,
                               xp_error_t *err);

#endif
