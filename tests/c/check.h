/* CHECK for the C test programs: counts failed conditions instead of stopping at the first.
 * Each test program is one translation unit, so the counter can be static here. */
#ifndef REDCORE_TEST_CHECK_H
#define REDCORE_TEST_CHECK_H

#include <stdio.h>

static int failures = 0;

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,       \
                    __LINE__, #cond);                                    \
            failures++;                                                  \
        }                                                                \
    } while (0)

#endif
