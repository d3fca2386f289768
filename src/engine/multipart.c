/*
 * multipart.c -- a streaming multipart/form-data parser for import
 * uploads (RFC 7578 on RFC 2046).
 *
 * The body arrives in chunks of any size: a 150 MB archive must never be
 * held in memory, so the parser is a byte-level state machine that hands
 * out runs of part data straight from the caller's chunk. The only thing
 * it buffers is one part's header block (at most 8 KiB). A delimiter
 * ("\r\n--" boundary) split across chunks is tracked by how much of it
 * has matched so far; its first byte occurs nowhere else in it (a
 * boundary has no CR or LF), so a failed partial match is plain data and
 * matching restarts at the current byte.
 *
 * Line ends: CRLF as the RFC says, or bare LF when the first boundary
 * line ends with LF (some hand-made clients); the first boundary line
 * decides for the whole body.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "xp_multipart.h"

typedef enum {
    ST_PREAMBLE = 0, /* before the first boundary: ignored */
    ST_DELIM_TAIL,   /* just after "--boundary" */
    ST_PAD,          /* transport padding (SP/HT) before the line end */
    ST_CR,           /* saw CR after the boundary, want LF */
    ST_CLOSE_DASH,   /* saw "-" after the boundary, want the second */
    ST_HEADERS,      /* a part's header block */
    ST_DATA,         /* a part's data */
    ST_EPILOGUE,     /* after the closing boundary: ignored */
    ST_ERROR
} mp_state_e;

struct xp_mp_t {
    apr_pool_t *pool;
    xp_mp_callbacks_t cb;
    const char *file_field;
    mp_state_e state;
    char *delim; /* "\r\n--" boundary (CRLF) */
    apr_size_t dlen;
    apr_size_t off;   /* delim + off: what data must match (2 or 1
                         for bare LF bodies; 1 in the preamble) */
    apr_size_t match; /* bytes of delim + off matched so far */
    int mode;         /* 0 undecided, 1 CRLF, 2 LF */
    int saw_cr;       /* the current boundary line ended in CRLF */
    char *hdr;        /* header block being collected */
    apr_size_t hlen;
    apr_pool_t *part_pool; /* cleared for every part */
    xp_mp_part_t part;
    int in_part;
    int nparts, nfiles, seen_field;
    apr_size_t field_len; /* data bytes of the current non-file part */
    xp_errcode_e rc;      /* sticky error */
    const char *msg;
};

/* ------------------------------------------------------------------ */
/* Header values and parameters                                        */
/* ------------------------------------------------------------------ */

static int is_bchar(int c)
{
    return apr_isalnum(c) || (c && strchr("'()+_,-./:=? ", c) != NULL);
}

/* The value of parameter want (case-insensitive) in "type; a=1; b="x"",
 * unquoted, or NULL. *bad is set for an unterminated quoted string. */
static const char *param_get(apr_pool_t *p, const char *v, const char *want,
                             int *bad)
{
    const char *s = strchr(v, ';');

    *bad = 0;
    while (s && *s == ';') {
        const char *name, *eq;
        char *val, *o;

        s++;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        name = s;
        while (*s && *s != '=' && *s != ';') {
            s++;
        }
        if (*s != '=') {
            continue; /* a parameter without value: skip it */
        }
        eq = s++;
        while (eq > name && (eq[-1] == ' ' || eq[-1] == '\t')) {
            eq--;
        }
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        val = o = apr_palloc(p, strlen(s) + 1);
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1]) {
                    s++;
                }
                *o++ = *s;
            }
            if (*s != '"') {
                *bad = 1;
                return NULL;
            }
            s++;
            *o = '\0';
            while (*s && *s != ';') {
                s++; /* junk after the quoted string: ignored */
            }
        } else {
            while (*s && *s != ';') {
                *o++ = *s++;
            }
            while (o > val && (o[-1] == ' ' || o[-1] == '\t')) {
                o--;
            }
            *o = '\0';
        }
        if ((apr_size_t)(eq - name) == strlen(want) &&
            !strncasecmp(name, want, eq - name)) {
            return val;
        }
    }
    return NULL;
}

const char *xp_mp_boundary(apr_pool_t *p, const char *content_type,
                           xp_error_t *err)
{
    const char *b;
    apr_size_t i, n;
    int bad;

    b = content_type ? param_get(p, content_type, "boundary", &bad) : NULL;
    if (!b || !*b) {
        xp_error_set(err, p, XP_EINVAL,
                     "no boundary in Content-Type: send "
                     "multipart/form-data; boundary=...");
        return NULL;
    }
    n = strlen(b);
    if (n > XP_MP_MAX_BOUNDARY) {
        xp_error_set(err, p, XP_EINVAL,
                     "the multipart boundary in Content-Type is %lu "
                     "characters long; at most 70 are allowed",
                     (unsigned long)n);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (!is_bchar((unsigned char)b[i])) {
            break;
        }
    }
    if (i < n || b[n - 1] == ' ') {
        xp_error_set(err, p, XP_EINVAL,
                     "the multipart boundary in Content-Type has a "
                     "character RFC 2046 does not allow%s",
                     b[n - 1] == ' ' && i == n ? " (a trailing space)" : "");
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------------ */
/* The parser                                                          */
/* ------------------------------------------------------------------ */

xp_mp_t *xp_mp_make(apr_pool_t *p, const char *boundary, const char *file_field,
                    const xp_mp_callbacks_t *cb)
{
    xp_mp_t *m = apr_pcalloc(p, sizeof(*m));

    m->pool = p;
    if (cb) {
        m->cb = *cb;
    }
    m->file_field = file_field;
    m->delim = apr_pstrcat(p, "\r\n--", boundary, NULL);
    m->dlen = strlen(m->delim);
    m->off = 1; /* preamble: "\n--boundary"; the body start counts as LF */
    m->match = 1;
    m->hdr = apr_palloc(p, XP_MP_MAX_HEADER + 1);
    apr_pool_create(&m->part_pool, p);
    m->state = ST_PREAMBLE;
    return m;
}

int xp_mp_parts(const xp_mp_t *m)
{
    return m->nparts;
}

/* Fail the parse for good. */
static xp_errcode_e mp_fail(xp_mp_t *m, xp_errcode_e rc, const char *msg,
                            xp_error_t *err)
{
    m->state = ST_ERROR;
    m->rc = rc;
    m->msg = msg;
    return xp_error_set(err, m->pool, rc, "%s", msg);
}

/* A callback failed: keep its message. */
static xp_errcode_e mp_cb_fail(xp_mp_t *m, xp_errcode_e rc, xp_error_t *err)
{
    return mp_fail(m, rc,
                   err && err->message ? err->message
                                       : "the upload could not be stored",
                   err);
}

static xp_errcode_e emit(xp_mp_t *m, const char *buf, apr_size_t len,
                         xp_error_t *err)
{
    xp_errcode_e rc;

    if (len == 0) {
        return XP_OK;
    }
    if (!m->part.is_file) {
        m->field_len += len;
        if (m->field_len > XP_MP_MAX_FIELD) {
            return mp_fail(m, XP_EINVAL,
                           apr_psprintf(m->pool,
                                        "the form field \"%s\" is longer "
                                        "than 64 KiB; only the file part may "
                                        "be large",
                                        m->part.name),
                           err);
        }
    }
    if (m->cb.data &&
        (rc = m->cb.data(m->cb.baton, &m->part, buf, len, err)) != XP_OK) {
        return mp_cb_fail(m, rc, err);
    }
    return XP_OK;
}

static xp_errcode_e part_end(xp_mp_t *m, xp_error_t *err)
{
    xp_errcode_e rc;

    m->in_part = 0;
    if (m->cb.end && (rc = m->cb.end(m->cb.baton, &m->part, err)) != XP_OK) {
        return mp_cb_fail(m, rc, err);
    }
    return XP_OK;
}

/* Content-Disposition: form-data; name="..."; filename="..." */
static const char *parse_disposition(xp_mp_t *m, const char *v)
{
    apr_pool_t *p = m->part_pool;
    apr_size_t tl = strcspn(v, "; \t");
    int bad;

    if (tl != 9 || strncasecmp(v, "form-data", 9)) {
        return "its Content-Disposition is not form-data";
    }
    m->part.name = param_get(p, v, "name", &bad);
    if (bad) {
        return "its Content-Disposition has an unterminated quoted string";
    }
    m->part.filename = param_get(p, v, "filename", &bad);
    if (!m->part.filename && !bad) {
        m->part.filename = param_get(p, v, "filename*", &bad);
    }
    if (bad) {
        return "its Content-Disposition has an unterminated quoted string";
    }
    return NULL;
}

/* One header line (CR stripped, folded lines joined). */
static const char *header_line(xp_mp_t *m, char *line)
{
    char *colon = strchr(line, ':'), *v;

    if (!colon) {
        return "it has a header line without a colon";
    }
    *colon = '\0';
    for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
    }
    if (!strcasecmp(line, "Content-Disposition")) {
        return parse_disposition(m, v);
    }
    if (!strcasecmp(line, "Content-Type")) {
        m->part.content_type = apr_pstrdup(m->part_pool, v);
    }
    return NULL; /* others (Content-Transfer-Encoding ...) ignored */
}

/* Split the collected block (ends with an empty line) into header lines. */
static const char *parse_headers(xp_mp_t *m)
{
    char *s = m->hdr, *end = m->hdr + m->hlen, *line = NULL;
    const char *why;

    while (s < end) {
        char *nl = memchr(s, '\n', end - s), *e = nl;

        if (e > s && e[-1] == '\r') {
            e--;
        }
        *e = '\0';
        if (*s == ' ' || *s == '\t') { /* obsolete folding */
            if (!line) {
                return "its first header line starts with a space";
            }
            line = apr_pstrcat(m->part_pool, line, " ", s, NULL);
        } else {
            if (line && (why = header_line(m, line))) {
                return why;
            }
            line = *s ? apr_pstrdup(m->part_pool, s) : NULL;
        }
        s = nl + 1;
    }
    if (line && (why = header_line(m, line))) {
        return why;
    }
    return NULL;
}

static xp_errcode_e part_begin(xp_mp_t *m, xp_error_t *err)
{
    const char *why;
    xp_errcode_e rc;

    m->hdr[m->hlen] = '\0';
    if (memchr(m->hdr, '\0', m->hlen)) {
        why = "its headers contain a NUL byte";
    } else if (!(why = parse_headers(m)) && !m->part.name) {
        why = "it has no Content-Disposition: form-data; name=...";
    }
    if (why) {
        return mp_fail(m, XP_EINVAL,
                       apr_psprintf(m->pool,
                                    "malformed multipart body: "
                                    "part %d: %s",
                                    m->part.index + 1, why),
                       err);
    }
    if (m->file_field && !strcmp(m->part.name, m->file_field)) {
        if (m->seen_field) {
            return mp_fail(m, XP_EINVAL,
                           apr_psprintf(m->pool,
                                        "two parts named \"%s\"; send the "
                                        "file once",
                                        m->file_field),
                           err);
        }
        m->seen_field = 1;
        m->part.is_file = 1;
    } else {
        m->part.is_file = m->part.filename != NULL;
    }
    if (m->part.is_file && ++m->nfiles > 1) {
        return mp_fail(m, XP_EINVAL,
                       apr_psprintf(m->pool,
                                    "two file parts (\"%s\" is the second); "
                                    "an import takes exactly one file%s%s%s",
                                    m->part.name,
                                    m->file_field ? ", in the field \"" : "",
                                    m->file_field ? m->file_field : "",
                                    m->file_field ? "\"" : ""),
                       err);
    }
    m->in_part = 1;
    m->field_len = 0;
    if (m->cb.begin &&
        (rc = m->cb.begin(m->cb.baton, &m->part, err)) != XP_OK) {
        return mp_cb_fail(m, rc, err);
    }
    return XP_OK;
}

/* A boundary line has ended: the next part's headers follow. */
static xp_errcode_e boundary_line_end(xp_mp_t *m, xp_error_t *err)
{
    if (m->mode == 0) {
        m->mode = m->saw_cr ? 1 : 2;
    }
    if (m->nparts >= XP_MP_MAX_PARTS) {
        return mp_fail(m, XP_EINVAL,
                       apr_psprintf(m->pool,
                                    "more than %d parts in the multipart "
                                    "body; an import takes one file and a "
                                    "few option fields",
                                    XP_MP_MAX_PARTS),
                       err);
    }
    apr_pool_clear(m->part_pool);
    memset(&m->part, 0, sizeof(m->part));
    m->part.index = m->nparts++;
    m->hlen = 0;
    m->state = ST_HEADERS;
    return XP_OK;
}

/* Part data: hand out runs of buf, stop after a delimiter. *used is how
 * much of buf was consumed. */
static xp_errcode_e feed_data(xp_mp_t *m, const char *buf, apr_size_t len,
                              apr_size_t *used, xp_error_t *err)
{
    const char *d = m->delim + m->off;
    apr_size_t dl = m->dlen - m->off, i = 0, run = 0;
    xp_errcode_e rc;

    while (i < len) {
        if (m->match == 0) { /* fast path: skip to the next candidate */
            const char *c = memchr(buf + i, d[0], len - i);
            if (!c) {
                break;
            }
            i = (apr_size_t)(c - buf);
        }
        if (buf[i] == d[m->match]) {
            if (m->match == 0) {
                if ((rc = emit(m, buf + run, i - run, err)) != XP_OK) {
                    return rc;
                }
                run = i;
            }
            i++;
            if (++m->match == dl) {
                m->match = 0;
                *used = i;
                m->state = ST_DELIM_TAIL;
                m->saw_cr = 0;
                return part_end(m, err);
            }
            continue;
        }
        if (m->match > 0) { /* not a delimiter after all: it was data */
            if ((rc = emit(m, d, m->match, err)) != XP_OK) {
                return rc;
            }
            m->match = 0;
            run = i; /* buf[i] is looked at again, as a possible start */
            continue;
        }
        i++;
    }
    *used = len;
    return m->match == 0 ? emit(m, buf + run, len - run, err) : XP_OK;
}

/* The preamble: look for "--boundary" at the start or after an LF. */
static apr_size_t feed_preamble(xp_mp_t *m, const char *buf, apr_size_t len)
{
    const char *d = m->delim + 1; /* "\n--boundary" */
    apr_size_t dl = m->dlen - 1, i;

    for (i = 0; i < len; i++) {
        if (buf[i] != d[m->match]) {
            m->match = buf[i] == '\n' ? 1 : 0;
            continue;
        }
        if (++m->match == dl) {
            m->match = 0;
            m->state = ST_DELIM_TAIL;
            m->saw_cr = 0;
            return i + 1;
        }
    }
    return len;
}

static xp_errcode_e bad_boundary_line(xp_mp_t *m, xp_error_t *err)
{
    return mp_fail(m, XP_EINVAL,
                   "malformed multipart body: a boundary line is followed "
                   "by other characters (the boundary must not occur in "
                   "the data, and the line must end after it)",
                   err);
}

/* One byte of the boundary line's tail: "--", padding, CRLF or LF. */
static xp_errcode_e feed_tail(xp_mp_t *m, char c, xp_error_t *err)
{
    switch (m->state) {
    case ST_DELIM_TAIL:
        if (c == '-') {
            m->state = ST_CLOSE_DASH;
            return XP_OK;
        }
        /* fall through */
    case ST_PAD:
        if (c == ' ' || c == '\t') {
            m->state = ST_PAD;
            return XP_OK;
        }
        if (c == '\r') {
            m->saw_cr = 1;
            m->state = ST_CR;
            return XP_OK;
        }
        return c == '\n' ? boundary_line_end(m, err)
                         : bad_boundary_line(m, err);
    case ST_CR:
        return c == '\n' ? boundary_line_end(m, err)
                         : bad_boundary_line(m, err);
    default: /* ST_CLOSE_DASH */
        if (c != '-') {
            return bad_boundary_line(m, err);
        }
        m->state = ST_EPILOGUE;
        return XP_OK;
    }
}

/* Collect the header block up to its empty line. *used as in feed_data. */
static xp_errcode_e feed_headers(xp_mp_t *m, const char *buf, apr_size_t len,
                                 apr_size_t *used, xp_error_t *err)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        char *h = m->hdr;
        apr_size_t n;

        if (m->hlen == XP_MP_MAX_HEADER) {
            return mp_fail(m, XP_EINVAL,
                           apr_psprintf(m->pool,
                                        "malformed multipart body: part %d: "
                                        "part headers longer than 8 KiB",
                                        m->part.index + 1),
                           err);
        }
        h[m->hlen++] = buf[i];
        n = m->hlen;
        if (buf[i] != '\n') {
            continue;
        }
        /* the block ends with an empty line: LF LF, or LF CR LF; an
         * empty block is just the line end */
        if ((n >= 2 && h[n - 2] == '\n') ||
            (n >= 3 && h[n - 2] == '\r' && h[n - 3] == '\n') || n == 1 ||
            (n == 2 && h[0] == '\r')) {
            *used = i + 1;
            m->state = ST_DATA;
            m->match = 0;
            m->off = m->mode == 2 ? 1 : 0; /* bare LF: "\n--boundary" */
            return part_begin(m, err);
        }
    }
    *used = len;
    return XP_OK;
}

xp_errcode_e xp_mp_feed(xp_mp_t *m, const char *buf, apr_size_t len,
                        xp_error_t *err)
{
    apr_size_t i = 0, used;
    xp_errcode_e rc = XP_OK;

    while (i < len && rc == XP_OK) {
        used = 1;
        switch (m->state) {
        case ST_PREAMBLE:
            used = feed_preamble(m, buf + i, len - i);
            break;
        case ST_DELIM_TAIL:
        case ST_PAD:
        case ST_CR:
        case ST_CLOSE_DASH:
            rc = feed_tail(m, buf[i], err);
            break;
        case ST_HEADERS:
            rc = feed_headers(m, buf + i, len - i, &used, err);
            break;
        case ST_DATA:
            rc = feed_data(m, buf + i, len - i, &used, err);
            break;
        case ST_EPILOGUE:
            used = len - i;
            break;
        case ST_ERROR:
            return xp_error_set(err, m->pool, m->rc, "%s", m->msg);
        }
        i += used;
    }
    if (m->state == ST_ERROR) {
        return xp_error_set(err, m->pool, m->rc, "%s", m->msg);
    }
    return rc;
}

xp_errcode_e xp_mp_finish(xp_mp_t *m, xp_error_t *err)
{
    if (m->state == ST_ERROR) {
        return xp_error_set(err, m->pool, m->rc, "%s", m->msg);
    }
    if (m->state != ST_EPILOGUE) {
        return mp_fail(m, XP_EINVAL,
                       m->nparts == 0 && m->state == ST_PREAMBLE
                           ? "malformed multipart body: the boundary of "
                             "Content-Type never occurs in it (body ends "
                             "before the closing boundary)"
                           : "malformed multipart body: body ends before "
                             "the closing boundary (the upload may have "
                             "been cut short)",
                       err);
    }
    if (m->file_field && !m->seen_field) {
        return mp_fail(m, XP_EINVAL,
                       apr_psprintf(m->pool,
                                    "no part named \"%s\": send the archive "
                                    "in the form field \"%s\"",
                                    m->file_field, m->file_field),
                       err);
    }
    return XP_OK;
}
