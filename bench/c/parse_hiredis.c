/* hiredis 1.5.0's reader on a benchmark buffer, fed in chunks (reads) of CHUNK bytes (default
 * 64 KiB), building hiredis's own reply objects (the default redisReplyObjectFunctions) and
 * freeing each reply.
 *
 *   parse-hiredis FILE WORKLOAD MIN_SECONDS [CHUNK]      prints one JSON object on stdout
 *
 * One warm-up pass, then passes until MIN_SECONDS have gone by (at least one); then one more
 * pass with counting allocators (hiredisSetAllocators) to count heap calls per reply, so
 * the count does not slow the timed passes. The checksum is computed the same way by every
 * parser benchmark (benches/parser.rs), to prove they all read the same values. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <alloc.h>
#include <hiredis.h>
#include <read.h>

#if HIREDIS_MAJOR != 1 || HIREDIS_MINOR != 5
#error "built against the wrong hiredis headers: expected the vendored 1.5"
#endif

static size_t CHUNK = 64 * 1024;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct tally {
    uint64_t replies, leaves, checksum;
} tally;

/* Leaves (non-aggregate values) and the checksum: string lengths, integers, booleans and
 * doubles truncated to integers, added with wrap-around. */
static void walk(const redisReply *r, tally *t) {
    switch (r->type) {
    case REDIS_REPLY_ARRAY:
    case REDIS_REPLY_MAP:
    case REDIS_REPLY_SET:
    case REDIS_REPLY_PUSH:
    case REDIS_REPLY_ATTR:
        for (size_t i = 0; i < r->elements; i++) walk(r->element[i], t);
        return;
    case REDIS_REPLY_INTEGER:
        t->checksum += (uint64_t)r->integer;
        break;
    case REDIS_REPLY_BOOL:
        t->checksum += (uint64_t)r->integer;
        break;
    case REDIS_REPLY_DOUBLE:
        t->checksum += (uint64_t)(int64_t)r->dval;
        break;
    case REDIS_REPLY_NIL:
        break;
    default: /* strings, status, error, verbatim, bignum */
        t->checksum += (uint64_t)r->len;
    }
    t->leaves++;
}

static int pass(const char *buf, size_t len, tally *t) {
    redisReader *reader = redisReaderCreate();
    if (reader == NULL) return -1;
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        if (redisReaderFeed(reader, buf + off, n) != REDIS_OK) goto fail;
        for (;;) {
            void *reply = NULL;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK) goto fail;
            if (reply == NULL) break;
            t->replies++;
            walk(reply, t);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(reader);
    return 0;
fail:
    fprintf(stderr, "parse-hiredis: %s\n", reader->errstr);
    redisReaderFree(reader);
    return -1;
}

static uint64_t ALLOCS, REALLOCS;

static void *count_malloc(size_t n) {
    ALLOCS++;
    return malloc(n);
}
static void *count_calloc(size_t n, size_t m) {
    ALLOCS++;
    return calloc(n, m);
}
static void *count_realloc(void *p, size_t n) {
    REALLOCS++;
    return realloc(p, n);
}
static char *count_strdup(const char *s) {
    ALLOCS++;
    return strdup(s);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: parse-hiredis FILE WORKLOAD MIN_SECONDS [CHUNK]\n");
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
    char *buf = malloc(len ? len : 1);
    if (buf == NULL || fread(buf, 1, len, f) != len) {
        fprintf(stderr, "parse-hiredis: cannot read %s\n", argv[1]);
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

    hiredisAllocFuncs counting = {count_malloc, count_calloc, count_realloc, count_strdup, free};
    hiredisSetAllocators(&counting);
    tally counted = {0, 0, 0};
    if (pass(buf, len, &counted) != 0) return 1;
    hiredisResetAllocators();

    double per_pass = secs / passes;
    printf("{\"parser\":\"hiredis\",\"workload\":\"%s\",\"bytes\":%zu,\"replies\":%llu,"
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
