/* redcore's C reader (redcore_reader, what a C program parses with) on a benchmark buffer,
 * fed in chunks (reads) of CHUNK bytes (default 64 KiB), each reply walked through the
 * redcore_reply_* accessors and freed: the same work as parse_hiredis.c does with hiredis's
 * reader, through the same kind of API.
 *
 *   parse-redcore FILE WORKLOAD MIN_SECONDS [CHUNK]      prints one JSON object on stdout
 *
 * One warm-up pass, then passes until MIN_SECONDS have gone by (at least one); then one more
 * pass counting heap calls per reply. The library's allocations are counted by linking with
 * -Wl,--wrap for malloc, calloc, realloc and posix_memalign (libredcore.a is linked
 * statically, so its calls go through the wrappers); counting is off during the timed passes.
 * The checksum is computed the same way by every parser benchmark. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <redcore.h>

static size_t CHUNK = 64 * 1024;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- counting the library's heap calls ---------------------------------------------------- */

static bool COUNTING;
static uint64_t ALLOCS, REALLOCS;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);

void *__wrap_malloc(size_t n) {
    ALLOCS += COUNTING;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    ALLOCS += COUNTING;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    REALLOCS += COUNTING;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    ALLOCS += COUNTING;
    return __real_posix_memalign(p, align, n);
}

/* ---- the walk ------------------------------------------------------------------------------ */

typedef struct tally {
    uint64_t replies, leaves, checksum;
} tally;

/* Leaves (non-aggregate values) and the checksum: string lengths, integers, booleans and
 * doubles truncated to integers, added with wrap-around. */
static void walk(const redcore_reply *r, tally *t) {
    size_t len = 0;
    switch (redcore_reply_get_type(r)) {
    case REDCORE_REPLY_ARRAY:
    case REDCORE_REPLY_SET:
    case REDCORE_REPLY_PUSH:
        len = redcore_reply_len(r);
        for (size_t i = 0; i < len; i++) walk(redcore_reply_element(r, i), t);
        return;
    case REDCORE_REPLY_MAP:
    case REDCORE_REPLY_ATTRIBUTE:
        len = redcore_reply_len(r);
        for (size_t i = 0; i < len; i++) {
            walk(redcore_reply_map_key(r, i), t);
            walk(redcore_reply_map_value(r, i), t);
        }
        return;
    case REDCORE_REPLY_INTEGER:
        t->checksum += (uint64_t)redcore_reply_integer(r);
        break;
    case REDCORE_REPLY_BOOLEAN:
        t->checksum += (uint64_t)redcore_reply_bool(r);
        break;
    case REDCORE_REPLY_DOUBLE:
        t->checksum += (uint64_t)(int64_t)redcore_reply_double(r);
        break;
    case REDCORE_REPLY_NULL:
        break;
    default: /* strings, status, errors, verbatim, big numbers */
        redcore_reply_string(r, &len);
        t->checksum += (uint64_t)len;
    }
    t->leaves++;
}

static int pass(const uint8_t *buf, size_t len, tally *t) {
    redcore_reader *reader = NULL;
    redcore_error *err = NULL;
    if (redcore_reader_new(0, 0, 0, &reader, NULL) != REDCORE_OK) return -1;
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        if (redcore_reader_feed(reader, buf + off, n) != REDCORE_OK) goto fail;
        for (;;) {
            redcore_reply *reply = NULL;
            if (redcore_reader_get_reply(reader, &reply, &err) != REDCORE_OK) goto fail;
            if (reply == NULL) break;
            t->replies++;
            walk(reply, t);
            redcore_reply_free(reply);
        }
    }
    redcore_reader_free(reader);
    return 0;
fail:
    fprintf(stderr, "parse-redcore: %s\n", err ? redcore_error_message(err) : "feed failed");
    redcore_error_free(err);
    redcore_reader_free(reader);
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: parse-redcore FILE WORKLOAD MIN_SECONDS [CHUNK]\n");
        return 2;
    }
    if (argc == 5) CHUNK = (size_t)atol(argv[4]);
    if (CHUNK == 0) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        fprintf(stderr, "parse-redcore: cannot read %s\n", argv[1]);
        return 2;
    }
    fclose(f);
    double min_time = atof(argv[3]);

    tally warm = {0, 0, 0};
    if (pass(buf, len, &warm) != 0) return 1;
    int passes = 0;
    tally t = {0, 0, 0};
    double t0 = now_s(), secs;
    do {
        tally one = {0, 0, 0};
        if (pass(buf, len, &one) != 0) return 1;
        passes++;
        t = one;
        secs = now_s() - t0;
    } while (secs < min_time);

    tally counted = {0, 0, 0};
    COUNTING = true;
    int rc = pass(buf, len, &counted);
    COUNTING = false;
    if (rc != 0) return 1;

    double per_pass = secs / passes;
    printf("{\"parser\":\"redcore-c\",\"workload\":\"%s\",\"bytes\":%zu,\"replies\":%llu,"
           "\"leaves\":%llu,\"checksum\":%llu,\"passes\":%d,\"secs_per_pass\":%.6f,"
           "\"replies_per_sec\":%.1f,\"leaves_per_sec\":%.1f,\"mb_per_sec\":%.1f,"
           "\"allocs\":%llu,\"reallocs\":%llu,\"allocs_per_reply\":%.4f,"
           "\"allocs_per_leaf\":%.4f}\n",
           argv[2], len, (unsigned long long)t.replies, (unsigned long long)t.leaves,
           (unsigned long long)t.checksum, passes, per_pass, (double)t.replies / per_pass,
           (double)t.leaves / per_pass, (double)len / per_pass / 1e6,
           (unsigned long long)ALLOCS, (unsigned long long)REALLOCS,
           (double)(ALLOCS + REALLOCS) / (double)counted.replies,
           (double)(ALLOCS + REALLOCS) / (double)counted.leaves);
    free(buf);
    return 0;
}
