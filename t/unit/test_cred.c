/*
 * test_cred.c -- API keys and signed links (src/engine/cred.c): token
 * file lines and files (with the line a mistake is on), constant-time
 * matching, tenant lists, link signatures (valid, expired, every part
 * altered, another key), form tokens.
 */
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_lib.h>

#include <openssl/evp.h>

#include "tap.h"
#include "xp_cred.h"

/* sha256("alice-key"), sha256("bob-key") as hex */
static char alice_hex[65], bob_hex[65];

static void hex_of(const char *token, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(token, strlen(token), d, &n, EVP_sha256(), NULL);
    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static const char *line_error(apr_pool_t *p, const char *line)
{
    xp_token_t e;

    return xp_token_parse_line(p, line, &e);
}

/* Upper-case hex (as some tools print it) is the same hash. */
static void upper_case_hex(apr_pool_t *p)
{
    char *upper = apr_pstrdup(p, alice_hex), *q;
    xp_token_t lower, up;

    for (q = upper; *q; q++)
        *q = (char)apr_toupper(*q);
    xp_token_parse_line(p, apr_pstrcat(p, "alice:", alice_hex, NULL), &lower);
    ok(!xp_token_parse_line(p, apr_pstrcat(p, "alice:", upper, NULL), &up) &&
           !memcmp(lower.digest, up.digest, XP_TOKEN_DIGEST_LEN),
       "upper-case hex is the same hash");
}

static void test_lines(apr_pool_t *p)
{
    xp_token_t e;
    const char *why;

    why = xp_token_parse_line(p, apr_pstrcat(p, "alice:", alice_hex, NULL), &e);
    ok(!why && e.user && !strcmp(e.user, "alice"), "user:hash parses");
    is_str(e.tenants, "", "... with no tenants");
    xp_token_parse_line(
        p, apr_pstrcat(p, "  bob:", bob_hex, ":acme,globex-2\r\n", NULL), &e);
    is_str(e.user, "bob", "spaces and CRLF around a line are ignored");
    is_str(e.tenants, "acme,globex-2", "a tenant list");
    xp_token_parse_line(p, apr_pstrcat(p, "carol:", bob_hex, ":*", NULL), &e);
    is_str(e.tenants, "*", "every tenant");
    ok(!xp_token_parse_line(p, "", &e) && !e.user, "a blank line is skipped");
    ok(!xp_token_parse_line(p, "  # a comment: x", &e) && !e.user,
       "a comment is skipped");
    ok(line_error(p, "alice") != NULL, "a line without ':' is refused");
    ok(line_error(p, "alice:abc") != NULL, "a short hash is refused");
    why = line_error(p, apr_pstrcat(p, "alice:", alice_hex, "0", NULL));
    ok(why && strstr(why, "64 hexadecimal"), "a long hash: %s", why);
    ok(line_error(p, apr_pstrcat(p, "alice:zz", alice_hex + 2, NULL)) != NULL,
       "a hash with a non-hex digit is refused");
    ok(line_error(p, apr_pstrcat(p, ":", alice_hex, NULL)) != NULL,
       "an empty user is refused");
    ok(line_error(p, apr_pstrcat(p, "al ice:", alice_hex, NULL)) != NULL,
       "a user with a space is refused");
    ok(line_error(p, apr_pstrcat(p, "alice:", alice_hex, ":", NULL)) != NULL,
       "an empty tenant list is refused");
    ok(line_error(p, apr_pstrcat(p, "alice:", alice_hex, ":a,,b", NULL)),
       "an empty tenant name is refused");
    ok(line_error(p, apr_pstrcat(p, "alice:", alice_hex, ":a:b", NULL)),
       "a fourth field is refused");
    ok(line_error(p, apr_pstrcat(p, "alice:", alice_hex, ":a/b", NULL)),
       "a tenant with '/' is refused");
    upper_case_hex(p);
}

static const char *write_file(apr_pool_t *p, const char *dir, const char *name,
                              const char *text)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    FILE *f = fopen(path, "w");

    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void test_files(apr_pool_t *p, const char *dir)
{
    xp_tokens_t *t = NULL;
    const xp_token_t *e;
    const char *path, *why;

    path = write_file(p, dir, "good",
                      apr_pstrcat(p, "# API keys\n\nalice:", alice_hex,
                                  ":acme\nbob:", bob_hex, "\n", NULL));
    why = xp_tokens_read(p, path, &t);
    ok(!why && t && t->list->nelts == 2, "a file with two keys reads: %s",
       why ? why : "ok");
    e = t ? xp_tokens_match(t, "alice-key", 9) : NULL;
    is_str(e ? e->user : NULL, "alice", "alice's token matches alice");
    is_int(e ? e->line : 0, 3, "... on line 3");
    is_str(e ? e->tenants : NULL, "acme", "... with her tenants");
    e = t ? xp_tokens_match(t, "bob-key", 7) : NULL;
    is_str(e ? e->user : NULL, "bob", "bob's token matches bob");
    ok(!xp_tokens_match(t, "bob-ke", 6), "a prefix matches nobody");
    ok(!xp_tokens_match(t, "bob-key ", 8), "a longer token matches nobody");
    ok(!xp_tokens_match(t, "", 0), "an empty token matches nobody");
    ok(!xp_tokens_match(NULL, "bob-key", 7), "no file, no match");

    path = write_file(p, dir, "bad",
                      apr_pstrcat(p, "alice:", alice_hex, "\n# fine\nbob:1234\n",
                                  NULL));
    why = xp_tokens_read(p, path, &t);
    ok(why && strstr(why, path) && strstr(why, "line 3"),
       "a bad line names the file and line: %s", why);
    ok(t == NULL, "... and gives no list");
    path = write_file(
        p, dir, "dup",
        apr_pstrcat(p, "alice:", alice_hex, "\nbob:", alice_hex, "\n", NULL));
    why = xp_tokens_read(p, path, &t);
    ok(why && strstr(why, "line 2") && strstr(why, "line 1"),
       "the same hash twice is refused: %s", why);
    why = xp_tokens_read(p, apr_pstrcat(p, dir, "/missing", NULL), &t);
    ok(why && strstr(why, "cannot open"), "a missing file: %s", why);
    path = write_file(p, dir, "empty", "");
    why = xp_tokens_read(p, path, &t);
    ok(!why && t && t->list->nelts == 0, "an empty file is no key at all");
}

static void test_tenants(void)
{
    ok(xp_tenants_allow("acme,globex", "acme"), "first tenant");
    ok(xp_tenants_allow("acme,globex", "globex"), "last tenant");
    ok(!xp_tenants_allow("acme,globex", "glob"), "a prefix is no tenant");
    ok(!xp_tenants_allow("acme,globex", "acme,globex"), "nor the list");
    ok(!xp_tenants_allow("acme", "acm"), "nor a shorter name");
    ok(xp_tenants_allow("*", "anyone"), "* allows every tenant");
    ok(!xp_tenants_allow("", "acme"), "no tenants allow none");
    ok(!xp_tenants_allow("acme", ""), "an empty tenant is never allowed");
    ok(!xp_tenants_allow(NULL, "acme"), "no list allows none");
}

/* Every part of a signed link changed: the signature no longer fits. */
static void test_altered(apr_pool_t *p, const unsigned char *key,
                         const xp_link_t *l, const char *sig)
{
    const struct {
        const char *what;
        xp_link_t m;
    } cases[] = {
        {"another job",
         {"0123456789abcdef0123456789abcdee", l->file, l->user, l->expires,
          NULL}},
        {"another file",
         {l->job, "users export.jso", l->user, l->expires, NULL}},
        {"another user", {l->job, l->file, "bob", l->expires, NULL}},
        {"a later expiry", {l->job, l->file, l->user, l->expires + 1, NULL}},
        /* the parts shifted across their separators */
        {"parts swapped", {l->job, l->user, l->file, l->expires, NULL}},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        is_int(xp_link_verify(p, key, &cases[i].m, sig, 1900000000),
               XP_LINK_ALTERED, "%s: altered", cases[i].what);
}

static void test_links(apr_pool_t *p)
{
    unsigned char key[XP_LINK_KEY_LEN], other[XP_LINK_KEY_LEN];
    xp_link_t l = {"0123456789abcdef0123456789abcdef", "users export.json",
                   "alice", 2000000000, NULL};
    xp_link_t m;
    const char *sig, *sig2, *short_sig;
    char *bad;

    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    sig = xp_link_sign(p, key, &l);
    is_int(sig ? strlen(sig) : 0, 43, "a signature is 43 characters");
    ok(sig && strspn(sig, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789-_") == 43,
       "... of base64url: %s", sig);
    sig2 = xp_link_sign(p, key, &l);
    is_str(sig2, sig, "signing is deterministic");
    bad = apr_pstrdup(p, sig);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    short_sig = apr_pstrndup(p, sig, 42);
    {
        const struct {
            const char *what;
            const unsigned char *key;
            const char *sig;
            apr_int64_t now;
            xp_link_e want;
        } cases[] = {
            {"a link before its expiry is valid", key, sig, 1900000000,
             XP_LINK_VALID},
            {"... up to its expiry second", key, sig, 2000000000, XP_LINK_VALID},
            {"... and expired after it", key, sig, 2000000001, XP_LINK_EXPIRED},
            {"another key: altered", other, sig, 1900000000, XP_LINK_ALTERED},
            {"one character of the signature changed: altered", key, bad,
             1900000000, XP_LINK_ALTERED},
            {"a short signature: altered", key, short_sig, 1900000000,
             XP_LINK_ALTERED},
            {"no signature: altered", key, NULL, 1900000000, XP_LINK_ALTERED},
            {"altered, whatever the time", key, bad, 2100000000,
             XP_LINK_ALTERED},
        };
        size_t i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            is_int(xp_link_verify(p, cases[i].key, &l, cases[i].sig,
                                  cases[i].now),
                   cases[i].want, "%s", cases[i].what);
    }
    test_altered(p, key, &l, sig);
    m = l;
    m.expires = 0;
    is_int(xp_link_verify(p, key, &m, xp_link_sign(p, key, &m), 0),
           XP_LINK_ALTERED, "an expiry of 0 is never valid");
    /* a nonce makes links of the same file and second their own */
    m = l;
    m.nonce = "00112233445566778899aabbccddeeff";
    sig2 = xp_link_sign(p, key, &m);
    ok(sig2 && strcmp(sig2, sig), "a nonce changes the signature");
    is_int(xp_link_verify(p, key, &m, sig2, 1900000000), XP_LINK_VALID,
           "a link with its nonce verifies");
    m.nonce = "00112233445566778899aabbccddeef0";
    is_int(xp_link_verify(p, key, &m, sig2, 1900000000), XP_LINK_ALTERED,
           "another nonce: altered");
    m.nonce = NULL;
    is_int(xp_link_verify(p, key, &m, sig2, 1900000000), XP_LINK_ALTERED,
           "the nonce left out: altered");
}

/* Form tokens: one per user and key, stable, checked whole. */
static void test_form_tokens(apr_pool_t *p)
{
    unsigned char key[XP_LINK_KEY_LEN], other[XP_LINK_KEY_LEN];
    const char *alice, *bob;
    char *cut;

    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    alice = xp_form_token(p, key, "alice");
    bob = xp_form_token(p, key, "bob");
    is_int(alice ? strlen(alice) : 0, XP_FORM_TOKEN_LEN,
           "a form token is 43 characters");
    ok(alice && strspn(alice, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                              "UVWXYZ0123456789-_") == XP_FORM_TOKEN_LEN,
       "... of base64url");
    is_str(xp_form_token(p, key, "alice"), alice,
           "the same user and key: the same token");
    ok(alice && bob && strcmp(alice, bob), "another user: another token");
    ok(xp_form_token_valid(p, key, "alice", alice), "alice's token is valid");
    ok(!xp_form_token_valid(p, key, "bob", alice),
       "alice's token is not bob's");
    ok(!xp_form_token_valid(p, other, "alice", alice),
       "under another key it is not valid");
    ok(!xp_form_token_valid(p, key, "alice", NULL), "no token: refused");
    ok(!xp_form_token_valid(p, key, "alice", ""), "an empty token: refused");
    cut = apr_pstrndup(p, alice, XP_FORM_TOKEN_LEN - 1);
    ok(!xp_form_token_valid(p, key, "alice", cut),
       "a token cut short: refused");
    ok(!xp_form_token_valid(p, key, "alice", apr_pstrcat(p, alice, "x", NULL)),
       "a token with more after it: refused");
    ok(xp_form_token(p, key, NULL) == NULL, "no user: no token");
}

int main(void)
{
    apr_pool_t *p;
    char dir[] = "/tmp/xp-cred-XXXXXX";
    static const char *const files[] = {"good", "bad", "dup", "empty"};
    size_t i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    hex_of("alice-key", alice_hex);
    hex_of("bob-key", bob_hex);
    test_lines(p);
    test_files(p, dir);
    test_tenants();
    test_links(p);
    test_form_tokens(p);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        apr_file_remove(apr_pstrcat(p, dir, "/", files[i], NULL), p);
    apr_dir_remove(dir, p);
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
