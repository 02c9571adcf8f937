/* The driver of the C parser benchmarks (see parse_bench.h). It is its own translation unit so
 * that each benchmark's pass stays a function of its own in a profile. */
#include "parse_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

/* The time the passes really ran, where the wall clock also counts the time they waited for a
 * core on a machine shared with other work. */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

int parse_bench_main(const char *parser, int argc, char **argv, parse_pass pass,
                     heap_counter counter) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: parse-%s FILE WORKLOAD MIN_SECONDS [CHUNK]\n", parser);
        return 2;
    }
    size_t chunk = argc == 5 ? (size_t)atol(argv[4]) : 64 * 1024;
    if (chunk == 0) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        fprintf(stderr, "parse-%s: cannot read %s\n", parser, argv[1]);
        return 2;
    }
    fclose(f);
    double min_time = atof(argv[3]);

    tally warm = {0, 0, 0};
    if (pass(buf, len, chunk, &warm) != 0) return 1;
    int passes = 0;
    tally t = {0, 0, 0};
    double t0 = now_s(), cpu0 = cpu_s(), secs;
    do {
        tally one = {0, 0, 0};
        if (pass(buf, len, chunk, &one) != 0) return 1;
        passes++;
        t = one;
        secs = now_s() - t0;
    } while (secs < min_time);
    double cpu_per_pass = (cpu_s() - cpu0) / passes;

    tally counted = {0, 0, 0};
    counter.set(true);
    int rc = pass(buf, len, chunk, &counted);
    counter.set(false);
    if (rc != 0) return 1;

    uint64_t calls = *counter.allocs + *counter.reallocs;
    double per_pass = secs / passes;
    printf("{\"parser\":\"%s\",\"workload\":\"%s\",\"bytes\":%zu,\"replies\":%llu,"
           "\"leaves\":%llu,\"checksum\":%llu,\"passes\":%d,\"secs_per_pass\":%.6f,"
           "\"replies_per_sec\":%.1f,\"leaves_per_sec\":%.1f,\"mb_per_sec\":%.1f,"
           "\"allocs\":%llu,\"reallocs\":%llu,\"allocs_per_reply\":%.4f,"
           "\"allocs_per_leaf\":%.4f,\"cpu_secs_per_pass\":%.6f,\"replies_per_cpu_sec\":%.1f}\n",
           parser, argv[2], len, (unsigned long long)t.replies, (unsigned long long)t.leaves,
           (unsigned long long)t.checksum, passes, per_pass, (double)t.replies / per_pass,
           (double)t.leaves / per_pass, (double)len / per_pass / 1e6,
           (unsigned long long)*counter.allocs, (unsigned long long)*counter.reallocs,
           (double)calls / (double)counted.replies, (double)calls / (double)counted.leaves,
           cpu_per_pass, (double)t.replies / cpu_per_pass);
    free(buf);
    return 0;
}
