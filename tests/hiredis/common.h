/* Shared by the hiredis-compatibility tests: where the server is (tests/tools/with-redis.sh
 * exports it) and the CHECK macro of the C tests. */
#ifndef REDCORE_HIREDIS_TEST_COMMON_H
#define REDCORE_HIREDIS_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "../c/check.h"

static inline const char *test_host(void) {
    const char *h = getenv("REDCORE_TEST_HOST");
    return h ? h : "127.0.0.1";
}

static inline int test_port(void) {
    const char *p = getenv("REDCORE_TEST_PORT");
    return p ? atoi(p) : 6379;
}

static inline const char *test_unix(void) {
    return getenv("REDCORE_TEST_UNIX");
}

static inline int finish(const char *name) {
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
