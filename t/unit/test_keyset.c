/*
 * test_keyset.c -- the set of integer keys an import has written: plain
 * decimals below 2^24 are kept, anything else never is (the database is
 * asked for it instead).
 */
#include <stdio.h>

#include <apr_general.h>

#include "tap.h"
#include "xp_keyset.h"

int main(void)
{
    apr_pool_t *p;
    xp_keyset_t *ks;
    char key[24];
    long i, missing = 0, extra = 0;

    apr_initialize();
    apr_pool_create(&p, NULL);
    ks = xp_keyset_make(p);
    ok(!xp_keyset_has(ks, "1"), "empty: 1 is not in it");
    xp_keyset_add(ks, "0");
    xp_keyset_add(ks, "7");
    xp_keyset_add(ks, "16777215");
    ok(xp_keyset_has(ks, "0") && xp_keyset_has(ks, "7"), "0 and 7 are in");
    ok(xp_keyset_has(ks, "16777215"), "2^24 - 1, the largest, is in");
    ok(!xp_keyset_has(ks, "6") && !xp_keyset_has(ks, "8"),
       "their neighbours are not");
    ok(!xp_keyset_has(ks, "007"), "\"007\" is not 7 here (the database says)");
    ok(!xp_keyset_has(ks, "7.0") && !xp_keyset_has(ks, "+7") &&
           !xp_keyset_has(ks, " 7") && !xp_keyset_has(ks, "") &&
           !xp_keyset_has(ks, NULL),
       "nor any other spelling, nor nothing");
    xp_keyset_add(ks, "16777216");
    xp_keyset_add(ks, "123456789012");
    xp_keyset_add(ks, "-3");
    xp_keyset_add(ks, "abc");
    xp_keyset_add(ks, NULL);
    ok(!xp_keyset_has(ks, "16777216") && !xp_keyset_has(ks, "123456789012") &&
           !xp_keyset_has(ks, "-3") && !xp_keyset_has(ks, "abc"),
       "2^24, a long number, a negative one and a word are never kept");
    for (i = 1; i <= 1000000; i += 3) {
        snprintf(key, sizeof(key), "%ld", i);
        xp_keyset_add(ks, key);
    }
    for (i = 1; i <= 1000000; i++) {
        snprintf(key, sizeof(key), "%ld", i);
        if (xp_keyset_has(ks, key) != (i % 3 == 1 || i == 7))
            (i % 3 == 1 ? missing++ : extra++);
    }
    is_int(missing, 0, "every third number to a million is in");
    is_int(extra, 0, "and no other");
    apr_pool_destroy(p);
    apr_terminate();
    return done_testing();
}
