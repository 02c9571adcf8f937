/* Bounded waiting for the C test programs: a monotonic clock in ms, a sleep, and a poll of an
 * atomic counter that gives up after WAIT_MS (10 s unless the program defines it first) and
 * says what it waited for. Needs _POSIX_C_SOURCE 200809L before the first include. */
#ifndef REDCORE_TEST_WAIT_H
#define REDCORE_TEST_WAIT_H

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#ifndef WAIT_MS
#define WAIT_MS 10000.0
#endif

static inline double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Waits until `*counter` reaches `target`, up to WAIT_MS; says what it waited for if not. */
static inline int wait_for(atomic_int *counter, int target, const char *what) {
    double deadline = now_ms() + WAIT_MS;
    while (atomic_load(counter) < target) {
        if (now_ms() > deadline) {
            fprintf(stderr, "timed out after %.0f ms waiting for %s (%d of %d)\n", WAIT_MS,
                    what, atomic_load(counter), target);
            return 0;
        }
        sleep_ms(1);
    }
    return 1;
}

#endif
