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
 * Stream the rows of section `section` that `filter` selects to fn, in
 * the order an export reads them (by key; parents first in a section
 * that references itself), with their values in the section's column
 * order (sec->columns, NULL for SQL NULL), at most `limit` of them
 * (0 or less: all). The data source (driver, params as for
 * xp_source_open) is opened for the call and closed before it returns.
 *
 * filter is the export filter language (SPEC section 4) and may only
 * select rows of `section`: a line naming another section is
 * XP_EINVAL, with err->line, err->column and err->field "filter" as the
 * parser sets them for any other fault. NULL selects the whole section.
 * Values in a filter are quoted with xp_filter_quote. With a tenant
 * (NULL: none), a section that declares tenant= gives only that
 * tenant's rows.
 *
 * An unknown section, or one whose columns are not known yet
 * (xp_source_discover), is XP_EINVAL. A non-XP_OK result of fn stops
 * the read and is returned as it is (with the error fn set). The values
 * passed to fn live until it returns.
 */
xp_errcode_e xp_rows_select(apr_pool_t *p, const char *driver,
                            const char *params, const xp_sections_t *secs,
                            const char *section, const char *filter,
                            const char *tenant, int limit, xp_row_fn fn,
                            void *baton, xp_error_t *err);

/*
 * Append one row of sec (its columns known; values in their order, NULL
 * for SQL NULL) to b as one JSON object, byte for byte as an export
 * writes the row (a line of an NDJSON file, an element of a JSON
 * array): every column under its file name (fields=), values typed by
 * types= (a value that is not of its type is written as a string). No
 * newline. The export's own encoder (xp_rowjson_t) writes it: this is
 * that encoder for one row, for code that needs a few.
 */
void xp_row_json(xp_buf_t *b, const xp_section_t *sec,
                 const char *const *values);

#endif
