/*
 * test_apeek.c -- peeking at a stored upload: the rows of two sections
 * of the demo from a tar.gz and a zip the exporter made, a peek that
 * stops at the last section asked for (what follows it, even an entry
 * the import would refuse, is never read), and the faults of a
 * malformed archive.
 */
#include <archive.h>
#include <archive_entry.h>

#include "tap.h"
#include "demo.h"
#include "xp_apeek.h"

/* What the callback saw: "section:line:row" lines. */
typedef struct {
    const char *seen;
    int stop_at; /* > 0: fail on this call */
    int calls;
} seen_t;

static xp_errcode_e on_row(void *baton, const char *section, long line,
                           const xp_json_t *row, xp_error_t *err)
{
    seen_t *s = baton;

    if (++s->calls == s->stop_at)
        return xp_error_set(err, pool, XP_ECANCEL, "enough");
    s->seen = apr_psprintf(pool, "%s%s:%ld:%s\n", s->seen, section, line,
                           xp_json_dump(pool, row));
    return XP_OK;
}

static xp_errcode_e peek(const char *path, const char *const *sections,
                         seen_t *s, xp_error_t *err)
{
    memset(s, 0, sizeof(*s));
    s->seen = "";
    memset(err, 0, sizeof(*err));
    return xp_apeek_rows(pool, path, 0, sections, on_row, s, err);
}

static const char *const users_comments[] = {"users", "comments", NULL};

static const char want[] =
    "users:1:{\"id\":\"u1\",\"Email\":\"a@x\",\"name\":\"Alice\",\"age\":30}\n"
    "users:2:{\"id\":\"u2\",\"Email\":\"b@x\",\"name\":\"Bob\",\"age\":40}\n"
    "users:3:{\"id\":\"u3\",\"Email\":\"c@x\",\"name\":\"Carol\","
    "\"age\":null}\n"
    "comments:1:{\"id\":1,\"room_id\":\"r1\",\"user_id\":\"u1\","
    "\"body\":\"hi\"}\n"
    "comments:2:{\"id\":2,\"room_id\":\"r1\",\"user_id\":\"u2\","
    "\"body\":\"hello\"}\n"
    "comments:3:{\"id\":3,\"room_id\":\"r2\",\"user_id\":\"u2\","
    "\"body\":\"buy now\"}\n"
    "comments:4:{\"id\":4,\"room_id\":\"r2\",\"user_id\":\"u3\","
    "\"body\":\"bye\"}\n";

static void test_exported(const char *fmt)
{
    const char *path = demo_export(fmt);
    const char *const rooms[] = {"rooms", "ghosts", NULL};
    seen_t s;
    xp_error_t err;

    is_int(peek(path, users_comments, &s, &err), XP_OK, "%s: peek", fmt);
    is_str(s.seen, want, "%s: the rows of users and comments, in order", fmt);
    is_int(peek(path, rooms, &s, &err), XP_OK,
           "%s: a section the archive lacks is no fault", fmt);
    is_int(s.calls, 2, "%s: ... the rooms are read", fmt);
    memset(&s, 0, sizeof(s));
    s.seen = "";
    s.stop_at = 2;
    memset(&err, 0, sizeof(err));
    is_int(xp_apeek_rows(pool, path, 0, users_comments, on_row, &s, &err),
           XP_ECANCEL, "%s: the callback's failure stops the peek", fmt);
    is_str(err.message, "enough", "%s: ... with its error", fmt);
    is_int(s.calls, 2, "%s: ... at once", fmt);
}

/* A tar.gz of name with these entries (name, data pairs, NULL-ended). */
static const char *tar_gz(const char *name, const char *const *ents)
{
    const char *path = apr_pstrcat(pool, demo_dir, "/", name, NULL);
    struct archive *a = archive_write_new();
    struct archive_entry *e;

    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    archive_write_open_filename(a, path);
    for (; ents[0]; ents += 2) {
        e = archive_entry_new();
        archive_entry_set_pathname(e, ents[0]);
        archive_entry_set_size(e, strlen(ents[1]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, ents[1], strlen(ents[1]));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    return path;
}

#define SHA0 "0000000000000000000000000000000000000000000000000000000000000000"
#define MF_SEC(n)                                                              \
    "{\"name\":\"" n "\",\"file\":\"data/" n ".ndjson\",\"key\":\"id\","       \
    "\"columns\":[\"id\"],\"count\":1,\"bytes\":1,\"sha256\":\"" SHA0 "\"}"
static const char manifest[] =
    "{\"format\":\"xport-archive\",\"version\":1,\"sections\":[" MF_SEC(
        "a") "," MF_SEC("b") "," MF_SEC("c") "]}";

static void test_stops_early(void)
{
    const char *const ents[] = {"manifest.json", manifest, "data/a.ndjson",
                                "{\"id\":\"a1\"}\n", "data/b.ndjson",
                                "\n{\"id\":\"b1\"}\n{\"id\":\"b2\"}",
                                /* not listed: the import refuses it, a peek of
                                 * a and b never gets there */
                                "data/zz.ndjson", "{}\n", NULL};
    const char *path = tar_gz("early.tar.gz", ents);
    const char *const ab[] = {"b", "a", NULL}, *const c[] = {"c", NULL};
    seen_t s;
    xp_error_t err;

    is_int(peek(path, ab, &s, &err), XP_OK,
           "early: a and b read (no hash is checked)");
    is_str(s.seen,
           "a:1:{\"id\":\"a1\"}\nb:2:{\"id\":\"b1\"}\nb:3:{\"id\":\"b2\"}\n",
           "early: in archive order, lines counted as the import does");
    is_int(peek(path, c, &s, &err), XP_EINVAL,
           "early: reading on to c meets the unlisted entry");
    ok(err.message && strstr(err.message, "\"data/zz.ndjson\", which "
                                          "manifest.json does not list"),
       "early: ... named: %s", err.message);
}

static void test_malformed(void)
{
    const char *const missing[] = {"manifest.json", manifest, "data/a.ndjson",
                                   "{\"id\":1}\n", NULL};
    const char *const badline[] = {"manifest.json", manifest, "data/a.ndjson",
                                   "{\"id\":1}\n[1]\n", NULL};
    const char *const nomf[] = {"data/a.ndjson", "{}\n", NULL};
    const char *const b[] = {"b", NULL}, *const a[] = {"a", NULL};
    const char *bare = apr_pstrcat(pool, demo_dir, "/bare.ndjson", NULL);
    FILE *f = fopen(bare, "w");
    seen_t s;
    xp_error_t err;

    fputs("{\"id\":1}\n", f);
    fclose(f);
    is_int(peek(tar_gz("missing.tar.gz", missing), b, &s, &err), XP_EINVAL,
           "malformed: a listed entry missing");
    ok(err.message && strstr(err.message, "\"data/b.ndjson\""),
       "malformed: ... named: %s", err.message);
    is_int(peek(tar_gz("badline.tar.gz", badline), a, &s, &err), XP_EINVAL,
           "malformed: a line that is not an object");
    is_str(err.message, "data/a.ndjson line 2: not a JSON object",
           "malformed: ... named with its line");
    is_int(s.calls, 1, "malformed: ... after the good line");
    is_int(peek(tar_gz("nomf.tar.gz", nomf), a, &s, &err), XP_EINVAL,
           "malformed: no manifest first");
    ok(err.message && strstr(err.message, "manifest.json must be the"),
       "malformed: ... said: %s", err.message);
    is_int(peek(bare, a, &s, &err), XP_EINVAL, "malformed: a bare file");
    ok(err.message && strstr(err.message, "not a tar.gz"),
       "malformed: ... is not an archive: %s", err.message);
}

int main(void)
{
    if (demo_init() != 0) {
        printf("Bail out! the demo databases\n");
        return 1;
    }
    test_exported("tar.gz");
    test_exported("zip");
    test_stops_early();
    test_malformed();
    return demo_done();
}
