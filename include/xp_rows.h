/*
 * xp_rows.h -- a section's rows outside an export job: a few of them
 * read in a request (chosen with the filter language, never with SQL
 * from the caller), and one row rendered as JSON exactly as the export
 * writes it into files.
 */
#ifndef XP_ROWS_H
#define XP_ROWS_H

#include "xport.h"
#include "xp_json.h"
#include "xp_source.h"

/*
 * Append one row of sec (values in sec->columns' order, NULL for SQL
 * NULL) to b as one JSON object, byte for byte as an export writes the
 * row (a line of an NDJSON file, an element of a JSON array): every
 * column under its file name (fields=), values typed by types= (a value
 * that is not of its type is written as a string). No newline.
 */
void xp_row_json(xp_buf_t *b, const xp_section_t *sec,
                 const char *const *values);

/*
 * Append one value as the export writes it: JSON null for NULL; int and
 * real as the number when the text is a JSON number; bool as true or
 * false for 1/0, t/f, true/false (any case); json re-serialised
 * compactly when it parses (parsed in scratch); anything else as a
 * string.
 */
void xp_row_value_json(xp_buf_t *b, apr_pool_t *scratch, xp_type_e type,
                       const char *v);

#endif
