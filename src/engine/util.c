/*
 * util.c -- small engine helpers: error filling, the size / duration
 * syntax of the directives, ISO 8601 times as the API and manifests speak
 * them, random job ids, and the names of job states and kinds.
 *
 * Everything here is pure (no I/O, no httpd): the directive setters, the
 * request validation and the job store all lean on it, so its error
 * messages say what was wrong with the value rather than just "invalid".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "xport.h"

xp_errcode_e xp_error_set(xp_error_t *err, apr_pool_t *p, xp_errcode_e code,
                          const char *fmt, ...)
{
    va_list ap;

    if (err) {
        va_start(ap, fmt);
        err->code = code;
        err->message = apr_pvsprintf(p, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Parse the leading decimal digits of s into *out; refuse overflow past
 * max. Returns the first non-digit, or NULL when there is no digit or the
 * number overflows. */
static const char *parse_digits(const char *s, apr_uint64_t max,
                                apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    const char *c = s;

    for (; *c >= '0' && *c <= '9'; c++) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (max - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    if (c == s)
        return NULL;
    *out = v;
    return c;
}

const char *xp_parse_size(const char *s, apr_off_t *out)
{
    const apr_uint64_t max = (apr_uint64_t)APR_INT64_MAX;
    apr_uint64_t n, mul = 1;
    const char *end;

    if (!s || !*s)
        return "empty size: give a number of bytes, optionally with K, M or G";
    if (*s == '-')
        return "size must not be negative";
    if (!(*s >= '0' && *s <= '9'))
        return "size must start with a digit (e.g. 200M)";
    end = parse_digits(s, max, &n);
    if (!end)
        return "size is too large";
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024 * 1024 * 1024;
        end++;
        break;
    default:
        return "size has an unknown unit: use K, M or G (powers of 1024) or "
               "a bare number of bytes";
    }
    if (*end)
        return "size has trailing characters after the unit (e.g. 200M)";
    if (n > max / mul)
        return "size is too large";
    *out = (apr_off_t)(n * mul);
    return NULL;
}

int xp_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int xp_parse_bool(const char *s, int *out)
{
    if (!s || !*s || !strcasecmp(s, "false") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    return -1;
}

const char *xp_parse_duration(const char *s, apr_interval_time_t *out)
{
    const apr_uint64_t max = (apr_uint64_t)APR_INT64_MAX;
    apr_uint64_t n, mul = 1;
    const char *end;

    if (!s || !*s)
        return "empty duration: give a number of seconds, optionally with "
               "s, m, h or d";
    if (*s == '-')
        return "duration must not be negative";
    if (!(*s >= '0' && *s <= '9'))
        return "duration must start with a digit (e.g. 15m)";
    end = parse_digits(s, max, &n);
    if (!end)
        return "duration is too large";
    switch (*end) {
    case '\0':
        break;
    case 's':
    case 'S':
        end++;
        break;
    case 'm':
    case 'M':
        mul = 60;
        end++;
        break;
    case 'h':
    case 'H':
        mul = 3600;
        end++;
        break;
    case 'd':
    case 'D':
        mul = 86400;
        end++;
        break;
    default:
        return "duration has an unknown unit: use s, m, h or d, or a bare "
               "number of seconds";
    }
    if (*end)
        return "duration has trailing characters after the unit (e.g. 15m)";
    mul *= (apr_uint64_t)APR_USEC_PER_SEC;
    if (n > max / mul)
        return "duration is too large";
    *out = (apr_interval_time_t)(n * mul);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* ISO 8601                                                            */
/* ------------------------------------------------------------------ */

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && is_leap(y)) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (civil calendar
 * arithmetic on 400-year eras, valid for every year we accept). */
static apr_int64_t days_from_civil(int y, int m, int d)
{
    apr_int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Exactly n digits at s -> *v; 0 if s does not start with n digits. */
static int fixed_digits(const char *s, int n, int *v)
{
    int i, r = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        r = r * 10 + (s[i] - '0');
    }
    *v = r;
    return 1;
}

typedef struct {
    int y, mo, d, h, mi, s, usec, off_min;
} iso_parts_t;

/* The time part after 'T': HH:MM[:SS[.fff]][Z|+hh:mm|-hh:mm]. */
static const char *parse_iso_time(apr_pool_t *p, const char *s, const char *c,
                                  iso_parts_t *t)
{
    int sign, oh, om, scale;

    if (!fixed_digits(c, 2, &t->h) || c[2] != ':' ||
        !fixed_digits(c + 3, 2, &t->mi))
        return apr_psprintf(p,
                            "\"%s\" is not an ISO 8601 time: expected "
                            "HH:MM after the T",
                            s);
    if (t->h > 23)
        return apr_psprintf(p, "\"%s\": hour %02d is out of range (00-23)", s,
                            t->h);
    if (t->mi > 59)
        return apr_psprintf(p, "\"%s\": minute %02d is out of range (00-59)", s,
                            t->mi);
    c += 5;
    if (*c == ':') {
        if (!fixed_digits(c + 1, 2, &t->s))
            return apr_psprintf(p, "\"%s\": expected two digits of seconds", s);
        if (t->s > 59)
            return apr_psprintf(p,
                                "\"%s\": second %02d is out of range "
                                "(00-59)",
                                s, t->s);
        c += 3;
        if (*c == '.' || *c == ',') {
            c++;
            if (*c < '0' || *c > '9')
                return apr_psprintf(p,
                                    "\"%s\": expected digits after the "
                                    "decimal point",
                                    s);
            for (scale = 100000; *c >= '0' && *c <= '9'; c++, scale /= 10)
                t->usec += scale * (*c - '0');
        }
    }
    if (*c == 'Z' || *c == 'z') {
        c++;
    } else if (*c == '+' || *c == '-') {
        sign = *c == '-' ? -1 : 1;
        if (!fixed_digits(c + 1, 2, &oh) || c[3] != ':' ||
            !fixed_digits(c + 4, 2, &om))
            return apr_psprintf(p,
                                "\"%s\": a time zone offset must be "
                                "+hh:mm or -hh:mm",
                                s);
        if (oh > 23 || om > 59)
            return apr_psprintf(p,
                                "\"%s\": time zone offset %.6s is out of "
                                "range",
                                s, c);
        t->off_min = sign * (oh * 60 + om);
        c += 6;
    }
    if (*c)
        return apr_psprintf(p,
                            "\"%s\": unexpected \"%s\" at the end (expected "
                            "Z or an offset like +02:00)",
                            s, c);
    return NULL;
}

const char *xp_parse_iso8601(apr_pool_t *p, const char *s, apr_time_t *out)
{
    iso_parts_t t;
    const char *msg;
    apr_int64_t secs;

    memset(&t, 0, sizeof(t));
    if (!s || !*s)
        return "empty date: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]";
    if (!fixed_digits(s, 4, &t.y) || s[4] != '-' ||
        !fixed_digits(s + 5, 2, &t.mo) || s[7] != '-' ||
        !fixed_digits(s + 8, 2, &t.d))
        return apr_psprintf(p,
                            "\"%s\" is not an ISO 8601 date: expected "
                            "YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]",
                            s);
    if (t.mo < 1 || t.mo > 12)
        return apr_psprintf(p, "\"%s\": month %02d is out of range (01-12)", s,
                            t.mo);
    if (t.d < 1 || t.d > days_in_month(t.y, t.mo))
        return apr_psprintf(p,
                            "\"%s\": day %02d is out of range for "
                            "%04d-%02d (01-%02d)",
                            s, t.d, t.y, t.mo, days_in_month(t.y, t.mo));
    if (s[10] == 'T' || s[10] == 't') {
        if ((msg = parse_iso_time(p, s, s + 11, &t)))
            return msg;
    } else if (s[10]) {
        return apr_psprintf(p,
                            "\"%s\": unexpected \"%s\" after the date "
                            "(expected T and a time)",
                            s, s + 10);
    }
    /* No offset means UTC: the API and manifests speak UTC only. */
    secs = days_from_civil(t.y, t.mo, t.d) * 86400 + t.h * 3600 + t.mi * 60 +
           t.s - (apr_int64_t)t.off_min * 60;
    *out = secs * APR_USEC_PER_SEC + t.usec;
    return NULL;
}

const char *xp_iso8601(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;

    if (apr_time_exp_gmt(&x, t) != APR_SUCCESS)
        return apr_pstrdup(p, "1970-01-01T00:00:00.000Z");
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                        x.tm_year + 1900, x.tm_mon + 1, x.tm_mday, x.tm_hour,
                        x.tm_min, x.tm_sec, x.tm_usec / 1000);
}

/* ------------------------------------------------------------------ */
/* Ids, clocks, names                                                  */
/* ------------------------------------------------------------------ */

const char *xp_new_id(apr_pool_t *p)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    char *s = apr_palloc(p, 33);
    int i;

    if (apr_generate_random_bytes(b, sizeof(b)) != APR_SUCCESS)
        return NULL; /* no entropy source: callers report XP_EIO */
    for (i = 0; i < 16; i++) {
        s[2 * i] = hex[b[i] >> 4];
        s[2 * i + 1] = hex[b[i] & 0x0f];
    }
    s[32] = '\0';
    return s;
}

int xp_id_valid(const char *s)
{
    int i;

    if (!s)
        return 0;
    for (i = 0; i < 32; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[32] == '\0';
}

const char *xp_id_parse(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, 33), *o = out;
    static const int dash[] = {8, 13, 18, 23};
    apr_size_t n = strlen(s), i;
    int d = 0;

    if (n != 32 && n != 36) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (n == 36 && d < 4 && (int)i == dash[d]) {
            if (s[i] != '-') {
                return NULL;
            }
            d++;
            continue;
        }
        if (!apr_isxdigit(s[i])) {
            return NULL;
        }
        *o++ = (char)apr_tolower(s[i]);
    }
    *o = '\0';
    return out;
}

apr_pool_t *xp_pool_own(apr_pool_t *parent)
{
    apr_allocator_t *a = NULL;
    apr_pool_t *np = NULL;

    if (apr_allocator_create(&a) != APR_SUCCESS)
        abort();
    apr_pool_create_ex(&np, parent, NULL, a);
    if (!np)
        abort();
    apr_allocator_owner_set(a, np);
    return np;
}

apr_time_t xp_now_ms(void)
{
    return apr_time_now() / 1000;
}

static const char *const status_names[] = {"queued", "running",   "completed",
                                           "failed", "cancelled", "timed_out"};

const char *xp_status_name(xp_status_e st)
{
    if ((int)st < 0 ||
        (size_t)st >= sizeof(status_names) / sizeof(*status_names))
        return "unknown";
    return status_names[st];
}

int xp_status_parse(const char *name, xp_status_e *out)
{
    size_t i;

    for (i = 0; name && i < sizeof(status_names) / sizeof(*status_names); i++) {
        if (!strcmp(name, status_names[i])) {
            *out = (xp_status_e)i;
            return 0;
        }
    }
    return -1;
}

int xp_status_finished(xp_status_e st)
{
    return st == XP_ST_COMPLETED || st == XP_ST_FAILED ||
           st == XP_ST_CANCELLED || st == XP_ST_TIMED_OUT;
}

const char *xp_kind_name(xp_kind_e k)
{
    return k == XP_KIND_IMPORT ? "import" : "export";
}

int xp_utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0], cp;
    int n, i;

    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if (end - s < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}
