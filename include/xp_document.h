/*
 * xp_document.h -- format=document: an export as one JSON document, the
 * row of a root section whose members are the rows of the others, the
 * one entry export.json of a zip (src/engine/document.c). Run by
 * xp_export_run like any format; declared here for export.c.
 */
#ifndef XP_DOCUMENT_H
#define XP_DOCUMENT_H

#include "xport.h"
#include "xp_filter.h"
#include "xp_source.h"

#define XP_DOC_ENTRY "export.json"

/*
 * The sections of a document in document order: the root first -- the
 * section the filter text names first (with `all` first: the first
 * section declared) -- then every other section the filter names, in the
 * order it first names them, then those only closure adds, parents
 * first.
 */
apr_array_header_t *xp_document_sections(apr_pool_t *p, const xp_filter_t *f,
                                         const xp_sections_t *secs,
                                         int closure);

/* XP_EINVAL (field "filter") when a member, named after its section,
 * would repeat one of the root's field names (fields= names). Nothing to
 * check while the root's columns are not known. */
xp_errcode_e xp_document_check(apr_pool_t *p,
                               const apr_array_header_t *sections,
                               xp_error_t *err);

/* One section of a document, as the export planned it. */
typedef struct xp_doc_part_t {
    const xp_section_t *sec;
    const char *where; /* xp_filter_where's selection; NULL: no rows */
    const apr_array_header_t *args;
    apr_int64_t count; /* rows the plan counted */
    apr_int64_t rows;  /* out: rows written */
} xp_doc_part_t;

typedef struct xp_doc_job_t {
    xp_source_t *src;        /* inside the export's read transaction */
    const char *path;        /* the zip to create (O_EXCL, 0600) */
    apr_off_t max_size;      /* XportMaxArchiveSize; 0 = none */
    int batch_rows;          /* rows between checks */
    const xp_job_ctl_t *ctl; /* ->check between batches; may be NULL */
    apr_int64_t *done;       /* counts every row written */
    xp_doc_part_t *parts;    /* parts[0] is the root */
    int nparts;
    apr_off_t size;     /* out: bytes of the zip */
    const char *sha256; /* out: its SHA-256 (hex) */
} xp_doc_job_t;

/*
 * Write the document into a new zip at dj->path, the rows streamed from
 * the database into the compressor as they are read. The root must have
 * counted exactly one row, else XP_EINVAL naming the section and the
 * count, before anything is written. On any failure the zip is removed.
 */
xp_errcode_e xp_document_write(apr_pool_t *p, xp_doc_job_t *dj,
                               xp_error_t *err);

#endif
