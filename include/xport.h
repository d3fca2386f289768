/*
 * xport.h -- types shared by the whole engine: sections, jobs, errors.
 *
 * The engine (everything declared under include/ except
 * mod_xport_private.h) never includes an httpd header: it speaks APR,
 * APR-util DBD, jansson and libarchive only, so that unit tests, fuzz
 * targets and tools link it without a server.
 */
#ifndef XPORT_H
#define XPORT_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_hash.h>
#include <apr_time.h>

#define XPORT_VERSION "0.1.0"
#define XPORT_GENERATOR "mod_xport/" XPORT_VERSION
#define XPORT_ARCHIVE_VERSION 1

/* ------------------------------------------------------------------ */
/* Errors: every engine function that can fail fills an xp_error_t.     */
/* ------------------------------------------------------------------ */

/* HTTP-neutral error classes; the glue maps them to status codes. */
typedef enum {
    XP_OK = 0,
    XP_EINVAL,    /* bad client input (400) */
    XP_ENOTFOUND, /* unknown thing (404) */
    XP_ECONFLICT, /* state does not allow it (409) */
    XP_ELIMIT,    /* a configured limit was hit (413/429/job failure) */
    XP_ECANCEL,   /* the job was cancelled */
    XP_ETIMEOUT,  /* the job ran past XportJobTimeout */
    XP_ESHUTDOWN, /* the worker is stopping: re-queue the job */
    XP_EDB,       /* database error */
    XP_EIO        /* file system / archive error */
} xp_errcode_e;

typedef struct xp_error_t {
    xp_errcode_e code;
    int line;            /* 1-based line in the client's input, 0 if none */
    int column;          /* 1-based column, 0 if none */
    const char *field;   /* request field it concerns, or NULL */
    const char *message; /* a sentence a person can act on */
} xp_error_t;

/* Set err (if not NULL) and return code. Message is printf-formatted and
 * allocated from p. */
xp_errcode_e xp_error_set(xp_error_t *err, apr_pool_t *p, xp_errcode_e code,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ */
/* Sections (XportSection)                                              */
/* ------------------------------------------------------------------ */

typedef enum {
    XP_TYPE_STRING = 0,
    XP_TYPE_INT,
    XP_TYPE_REAL,
    XP_TYPE_BOOL,
    XP_TYPE_JSON,
    XP_TYPE_BYTES /* BLOB / bytea: base64 text in the engine and in files
                     (xp_bytes.h) */
} xp_type_e;

typedef enum { XP_MODE_UPSERT = 0, XP_MODE_APPEND } xp_mode_e;

typedef struct xp_ref_t {
    const char *column;  /* column of this section holding a key */
    const char *section; /* name of the referenced section */
    const char *target;  /* ref=col:SECTION.col2: SECTION's unique column
                            col2; NULL: SECTION's key (xp_ref_target) */
} xp_ref_t;

typedef struct xp_section_t {
    const char *name;
    const char *table;            /* default: name */
    const char *key;              /* required */
    apr_array_header_t *columns;  /* const char *; NULL until declared or
                                     discovered (xp_source_discover) */
    int columns_declared;         /* columns= was given */
    apr_array_header_t *search;   /* const char * */
    apr_array_header_t *involves; /* const char * */
    const char *updated;          /* NULL if none */
    apr_array_header_t *refs;     /* xp_ref_t */
    apr_hash_t *types; /* column -> (xp_type_e)(intptr_t)+1 ; absent = string */
    xp_mode_e mode;
    apr_hash_t *fields;         /* fields=: column -> its name in files */
    apr_array_header_t *names;  /* const char *: the file name of each of
                                   columns, set with them by
                                   xp_sections_check; NULL before */
    apr_array_header_t *bcrypt; /* const char *: hash=col:bcrypt columns */
    const char *tenant; /* tenant=: the column naming the tenant a row
                           belongs to; NULL if the section has none */
} xp_section_t;

/* All sections of one server, in declaration order. */
typedef struct xp_sections_t {
    apr_array_header_t *list; /* xp_section_t * */
    apr_hash_t *by_name;      /* name -> xp_section_t * */
} xp_sections_t;

xp_sections_t *xp_sections_make(apr_pool_t *p);

/* Parse one "XportSection NAME opt=value..." declaration (argv are the
 * opt=value words) and add it. Returns NULL or an error message naming
 * the option and value. Identifiers must match ^[A-Za-z_][A-Za-z0-9_]*$. */
const char *xp_sections_add(xp_sections_t *secs, apr_pool_t *p,
                            const char *name, int argc,
                            const char *const *argv);

/* Cross-checks after all declarations: every ref names a declared
 * section (and, with .col2, a column of it), no ref cycles between
 * sections (a section may reference itself), key/search/involves/updated/
 * ref/types/fields/hash/tenant columns are in columns, the tenant is not
 * the key, no key, ref or tenant column is hashed or bytes, fields= names
 * clash
 * with no other column (when columns are known, which then also sets
 * each section's names). NULL or an error message. */
const char *xp_sections_check(xp_sections_t *secs, apr_pool_t *p);

xp_section_t *xp_sections_find(const xp_sections_t *secs, const char *name);

/* Sections in reference order: parents before children, ties in
 * declaration order. */
apr_array_header_t *xp_sections_ordered(const xp_sections_t *secs,
                                        apr_pool_t *p);

xp_type_e xp_section_type(const xp_section_t *sec, const char *column);
int xp_section_has_column(const xp_section_t *sec, const char *column);

/* The name of column in files and records: its fields= name, or itself. */
const char *xp_section_field(const xp_section_t *sec, const char *column);
/* The index in sec->columns of the column whose file name is name, -1 if
 * none. */
int xp_section_field_index(const xp_section_t *sec, const char *name);
/* The index of column in sec->columns, -1 if none (or column NULL, or
 * the columns not known yet). */
int xp_section_column_index(const xp_section_t *sec, const char *column);
/* The file name of sec->columns[i] (sec->names once known). */
const char *xp_section_name_at(const xp_section_t *sec, int i);
/* 1 if column is stored bcrypt-hashed (hash=column:bcrypt). */
int xp_section_hashed(const xp_section_t *sec, const char *column);

/* The column of ref's section that ref's values name: ref->target, or
 * the key of the section it references (NULL if that is not declared). */
const char *xp_ref_target(const xp_sections_t *secs, const xp_ref_t *ref);
/* 1 if ref names the section it belongs to (a row references a row of
 * its own section: a parent comment, a manager). */
int xp_ref_is_self(const xp_section_t *sec, const xp_ref_t *ref);

/* 1 if s may name a tenant (xp_job_t.tenant): 1 to 200 letters, digits,
 * '.', '_', '~' or '-', as a tenant of an API key (xp_cred.h). */
int xp_tenant_valid(const char *s);

/* 1 if s matches ^[A-Za-z_][A-Za-z0-9_]*$ (and is at most 63 bytes). */
int xp_ident_valid(const char *s);
/* 1 if s may name a column in files (fields=, a manifest's columns):
 * 1 to 255 bytes of UTF-8, no control character. It never reaches SQL. */
int xp_field_name_valid(const char *s);

/* ------------------------------------------------------------------ */
/* Small utilities (src/engine/util.c)                                         */
/* ------------------------------------------------------------------ */

/* "200M" -> bytes; K/M/G (powers of 1024), bare number = bytes.
 * Returns NULL or an error message. */
const char *xp_parse_size(const char *s, apr_off_t *out);
/* "15m" -> microseconds; s/m/h/d, bare number = seconds. */
const char *xp_parse_duration(const char *s, apr_interval_time_t *out);
/* Length of the valid UTF-8 sequence at s (a byte >= 0x80, before end),
 * 0 if invalid: no overlong forms, no surrogates, nothing past U+10FFFF. */
int xp_utf8_len(const unsigned char *s, const unsigned char *end);
/* Value of one hexadecimal digit, or -1. */
int xp_hexval(char c);
/* A request's boolean: true/1 -> 1; false/0, empty or NULL -> 0.
 * Returns 0, or -1 for anything else. */
int xp_parse_bool(const char *s, int *out);
/* ISO 8601 date (YYYY-MM-DD) or date-time
 * (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+hh:mm]). Returns NULL or an error message;
 * *out is the normalised text "YYYY-MM-DDTHH:MM:SS.fffZ"-style as given in UTC
 * when an offset is given. */
const char *xp_parse_iso8601(apr_pool_t *p, const char *s, apr_time_t *out);
/* "2026-11-22T10:00:03.417Z" */
const char *xp_iso8601(apr_pool_t *p, apr_time_t t);
/* 32 lowercase hex characters from 16 random bytes (apr_generate_random_bytes).
 */
const char *xp_new_id(apr_pool_t *p);
/* 1 if s is 32 lowercase hex characters. */
int xp_id_valid(const char *s);
/* A job id as a client may write it, 32 hex digits or a UUID
 * (8-4-4-4-12), either case: the id (32 lowercase hex), or NULL. */
const char *xp_id_parse(apr_pool_t *p, const char *s);
apr_time_t xp_now_ms(void); /* milliseconds since the epoch */
/* A child of parent with an allocator of its own, for one thread at a
 * time while other threads use parent (created and destroyed by the
 * thread that owns parent). */
apr_pool_t *xp_pool_own(apr_pool_t *parent);

/* ------------------------------------------------------------------ */
/* Jobs                                                                  */
/* ------------------------------------------------------------------ */

typedef enum { XP_KIND_EXPORT = 0, XP_KIND_IMPORT } xp_kind_e;

typedef enum {
    XP_ST_QUEUED = 0,
    XP_ST_RUNNING,
    XP_ST_COMPLETED,
    XP_ST_FAILED,
    XP_ST_CANCELLED,
    XP_ST_TIMED_OUT
} xp_status_e;

const char *xp_status_name(xp_status_e st);
int xp_status_parse(const char *name, xp_status_e *out); /* 0 ok, -1 bad */
int xp_status_finished(xp_status_e st);
const char *xp_kind_name(xp_kind_e k);

/* One job row. Times are milliseconds since the epoch (0 = unset).
 * JSON-valued fields are kept as JSON text. */
typedef struct xp_job_t {
    const char *id;
    xp_kind_e kind;
    xp_status_e status;
    const char *user_id;
    const char *filter;  /* export filter text (NULL for imports) */
    const char *format;  /* tar.gz, tar.zst, zip, ndjson, json */
    const char *options; /* JSON object text: since, until, closure,
                            file_name, dry_run, on_conflict,
                            sections, unknown_columns ... */
    const char *source_system;
    const char *correlation_id;
    const char *counts;         /* JSON object text {"users":12,...} or NULL */
    const char *changes;        /* JSON object text (imports) or NULL */
    const char *error_messages; /* JSON array text, at most 100 strings */
    long errors_total;
    apr_int64_t progress_done;
    apr_int64_t progress_total;
    apr_int64_t file_size; /* -1 if none */
    const char *sha256;    /* lowercase hex or NULL */
    const char *path;      /* download file name, e.g.
                              export-demo-1763801234567.tar.gz */
    const char *file; /* file name inside XportStorage (exports/<id>.tar.gz) */
    int attempts;
    int cancel_requested;
    const char *owner;  /* "host:pid" of the claiming worker */
    const char *server; /* "ServerName:port" of the virtual host
                           that accepted the job; the worker runs
                           it with that host's configuration */
    const char *api;    /* the API that created the job (XportAPI):
                           "native", ...; NULL is stored as "native" */
    const char *key;    /* at most one active (queued or running) job
                           per key, in the job store: "one export per
                           repository version"; NULL: none */
    const char *tenant; /* the tenant the job works for: reads of tenant=
                           sections see only its rows, imports write
                           them for it (also in options as "tenant", so
                           that it survives a store without the column);
                           NULL: none, every row */
    apr_int64_t created_at, updated_at, started_at, finished_at, heartbeat_at;
} xp_job_t;

struct xp_source_t; /* xp_source.h */

/* Reports from a running job to whoever runs it (the worker thread).
 * Called between batches; keep cheap. */
typedef struct xp_job_ctl_t {
    void *baton;
    /* live progress */
    void (*progress)(void *baton, apr_int64_t done, apr_int64_t total);
    /* XP_OK to go on, or XP_ECANCEL / XP_ETIMEOUT / XP_ESHUTDOWN to stop */
    xp_errcode_e (*check)(void *baton);
    /* The data source connection the job works on: once it is open (src)
     * and just before it closes (NULL). In between another thread may
     * stop a statement that does not return (xp_source_interrupt), which
     * check cannot do: it runs between batches. May be NULL. */
    void (*source)(void *baton, struct xp_source_t *src);
} xp_job_ctl_t;

#endif /* XPORT_H */
