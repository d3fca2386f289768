/*
 * test_util.c -- sizes, durations, ISO 8601 times, ids and job state
 * names, as the directives and the API use them.
 */
#include <apr_general.h>
#include <apr_strings.h>

#include "tap.h"
#include "xport.h"

static void test_sizes(void)
{
    apr_off_t n = -1;

    is_str(xp_parse_size("200M", &n), NULL, "200M parses");
    is_int(n, 200LL * 1024 * 1024, "200M is 200 MiB");
    is_str(xp_parse_size("2G", &n), NULL, "2G parses");
    is_int(n, 2LL * 1024 * 1024 * 1024, "2G is 2 GiB");
    is_str(xp_parse_size("64k", &n), NULL, "lowercase k parses");
    is_int(n, 65536, "64k is 65536");
    is_str(xp_parse_size("12345", &n), NULL, "bare bytes parse");
    is_int(n, 12345, "bare number is bytes");
    is_str(xp_parse_size("0", &n), NULL, "0 parses");
    is_int(n, 0, "0 is 0");
    n = 77;
    ok(xp_parse_size("-1M", &n) != NULL, "negative size refused");
    ok(strstr(xp_parse_size("-1M", &n), "negative") != NULL,
       "message says negative");
    ok(xp_parse_size("", &n) != NULL, "empty size refused");
    ok(xp_parse_size("M", &n) != NULL, "unit without number refused");
    ok(xp_parse_size("10T", &n) != NULL, "unknown unit refused");
    ok(xp_parse_size("10MB", &n) != NULL, "trailing garbage refused");
    ok(xp_parse_size("1 M", &n) != NULL, "space inside refused");
    ok(xp_parse_size("99999999999999999999", &n) != NULL,
       "overflowing number refused");
    ok(xp_parse_size("9000000000G", &n) != NULL, "overflow by unit refused");
    is_int(n, 77, "failed parses leave the output alone");
}

static void test_durations(void)
{
    apr_interval_time_t d = -1;

    is_str(xp_parse_duration("15m", &d), NULL, "15m parses");
    is_int(d, 15LL * 60 * APR_USEC_PER_SEC, "15m in microseconds");
    is_str(xp_parse_duration("7d", &d), NULL, "7d parses");
    is_int(d, 7LL * 86400 * APR_USEC_PER_SEC, "7d in microseconds");
    is_str(xp_parse_duration("2h", &d), NULL, "2h parses");
    is_int(d, 7200LL * APR_USEC_PER_SEC, "2h in microseconds");
    is_str(xp_parse_duration("30s", &d), NULL, "30s parses");
    is_int(d, 30LL * APR_USEC_PER_SEC, "30s in microseconds");
    is_str(xp_parse_duration("45", &d), NULL, "bare number parses");
    is_int(d, 45LL * APR_USEC_PER_SEC, "bare number is seconds");
    ok(xp_parse_duration("-5m", &d) != NULL, "negative duration refused");
    ok(xp_parse_duration("5w", &d) != NULL, "unknown unit refused");
    ok(xp_parse_duration("5mm", &d) != NULL, "trailing garbage refused");
    ok(xp_parse_duration("", &d) != NULL, "empty duration refused");
    ok(xp_parse_duration("abc", &d) != NULL, "words refused");
    ok(xp_parse_duration("999999999999999999d", &d) != NULL,
       "overflow refused");
}

static void test_iso(apr_pool_t *p)
{
    apr_time_t t = 0;
    const char *m;

    is_str(xp_parse_iso8601(p, "2026-11-22", &t), NULL, "date parses");
    is_str(xp_iso8601(p, t), "2026-11-22T00:00:00.000Z",
           "date is midnight UTC");
    is_str(xp_parse_iso8601(p, "2026-11-22T10:00:03.417Z", &t), NULL,
           "date-time with ms parses");
    is_str(xp_iso8601(p, t), "2026-11-22T10:00:03.417Z", "round trip");
    is_int(t, 1795341603417000LL, "epoch microseconds right");
    is_str(xp_parse_iso8601(p, "2026-11-22T10:00", &t), NULL,
           "minutes precision parses");
    is_str(xp_iso8601(p, t), "2026-11-22T10:00:00.000Z", "no zone means UTC");
    is_str(xp_parse_iso8601(p, "2026-11-22T12:30:00+02:00", &t), NULL,
           "offset parses");
    is_str(xp_iso8601(p, t), "2026-11-22T10:30:00.000Z", "offset applied");
    is_str(xp_parse_iso8601(p, "2026-11-22T00:15:00-01:30", &t), NULL,
           "negative offset parses");
    is_str(xp_iso8601(p, t), "2026-11-22T01:45:00.000Z",
           "negative offset applied");
    is_str(xp_parse_iso8601(p, "2024-02-29", &t), NULL, "leap day parses");
    is_str(xp_parse_iso8601(p, "1969-12-31T23:59:59.5Z", &t), NULL,
           "before the epoch parses");
    is_int(t, -500000, "half a second before the epoch");

    m = xp_parse_iso8601(p, "2026-13-01", &t);
    ok(m && strstr(m, "month 13"), "month 13 refused, named: %s", m ? m : "");
    m = xp_parse_iso8601(p, "2025-02-29", &t);
    ok(m && strstr(m, "day 29"), "Feb 29 of a common year refused: %s",
       m ? m : "");
    m = xp_parse_iso8601(p, "2026-04-31", &t);
    ok(m && strstr(m, "day 31"), "April 31 refused: %s", m ? m : "");
    m = xp_parse_iso8601(p, "2026-11-22T24:00", &t);
    ok(m && strstr(m, "hour 24"), "hour 24 refused: %s", m ? m : "");
    m = xp_parse_iso8601(p, "2026-11-22T10:60", &t);
    ok(m && strstr(m, "minute 60"), "minute 60 refused: %s", m ? m : "");
    m = xp_parse_iso8601(p, "2026-11-22T10:00:61", &t);
    ok(m && strstr(m, "second 61"), "second 61 refused: %s", m ? m : "");
    m = xp_parse_iso8601(p, "2026-11-22T10:00+25:00", &t);
    ok(m && strstr(m, "offset"), "offset +25:00 refused: %s", m ? m : "");
    ok(xp_parse_iso8601(p, "22/11/2026", &t) != NULL, "other formats refused");
    ok(xp_parse_iso8601(p, "2026-11-22 10:00", &t) != NULL,
       "space instead of T refused");
    ok(xp_parse_iso8601(p, "2026-11-22T10", &t) != NULL, "hour alone refused");
    ok(xp_parse_iso8601(p, "2026-11-22T10:00:00.Z", &t) != NULL,
       "dot without digits refused");
    ok(xp_parse_iso8601(p, "2026-11-22T10:00Zjunk", &t) != NULL,
       "junk after the zone refused");
    ok(xp_parse_iso8601(p, "", &t) != NULL, "empty refused");
}

static void test_ids(apr_pool_t *p)
{
    const char *a = xp_new_id(p), *b = xp_new_id(p);

    ok(a != NULL && strlen(a) == 32, "id is 32 characters");
    ok(xp_id_valid(a), "new id is valid");
    ok(b && strcmp(a, b) != 0, "two ids differ");
    ok(xp_id_valid("9f2c4e0b6a7d4e1f8a3b5c6d7e8f9012"),
       "spec example id valid");
    ok(!xp_id_valid("9F2C4E0B6A7D4E1F8A3B5C6D7E8F9012"), "uppercase refused");
    ok(!xp_id_valid("9f2c4e0b6a7d4e1f8a3b5c6d7e8f901"),
       "31 characters refused");
    ok(!xp_id_valid("9f2c4e0b6a7d4e1f8a3b5c6d7e8f90123"),
       "33 characters refused");
    ok(!xp_id_valid("../../etc/passwd"), "path refused");
    ok(!xp_id_valid(NULL), "NULL refused");
    ok(xp_now_ms() > 1700000000000LL, "now_ms is in milliseconds");
}

static void test_names(apr_pool_t *p)
{
    xp_status_e st;
    xp_error_t err;

    is_str(xp_status_name(XP_ST_TIMED_OUT), "timed_out", "timed_out name");
    is_str(xp_status_name(XP_ST_QUEUED), "queued", "queued name");
    ok(xp_status_parse("cancelled", &st) == 0 && st == XP_ST_CANCELLED,
       "cancelled parses");
    ok(xp_status_parse("canceled", &st) == -1, "misspelling refused");
    ok(!xp_status_finished(XP_ST_RUNNING) && !xp_status_finished(XP_ST_QUEUED),
       "queued/running not finished");
    ok(xp_status_finished(XP_ST_COMPLETED) &&
           xp_status_finished(XP_ST_FAILED) &&
           xp_status_finished(XP_ST_CANCELLED) &&
           xp_status_finished(XP_ST_TIMED_OUT),
       "the last four are finished");
    is_str(xp_kind_name(XP_KIND_IMPORT), "import", "import kind");
    is_str(xp_kind_name(XP_KIND_EXPORT), "export", "export kind");
    memset(&err, 0, sizeof(err));
    is_int(xp_error_set(&err, p, XP_ELIMIT, "over %d jobs", 3), XP_ELIMIT,
           "error_set returns the code");
    is_str(err.message, "over 3 jobs", "error_set formats the message");
    is_int(err.code, XP_ELIMIT, "error_set stores the code");
    is_int(xp_error_set(NULL, p, XP_EIO, "x"), XP_EIO, "NULL err is fine");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_sizes();
    test_durations();
    test_iso(p);
    test_ids(p);
    test_names(p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
