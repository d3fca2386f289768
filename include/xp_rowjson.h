/*
 * xp_rowjson.h -- one section's rows as the JSON objects every export
 * format writes: the section's columns in order under their fields=
 * names, values typed per types= (strings otherwise), null for NULL.
 */
#ifndef XP_ROWJSON_H
#define XP_ROWJSON_H

#include "xport.h"
#include "xp_json.h"

typedef struct xp_rowjson_t xp_rowjson_t;

/* The encoder of sec's rows (sec->columns known), allocated from p. */
xp_rowjson_t *xp_rowjson_make(apr_pool_t *p, const xp_section_t *sec);
/* Append the row's object, without a newline, to buf. values are those
 * of sec->columns (NULL = SQL NULL), as xp_source_scan gives them. */
void xp_rowjson_write(xp_rowjson_t *rj, xp_buf_t *buf,
                      const char *const *values, int ncols);
/* Free what the rows written since the last call needed (json= values are
 * parsed and re-serialised): call it between batches. */
void xp_rowjson_clear(xp_rowjson_t *rj);

#endif
