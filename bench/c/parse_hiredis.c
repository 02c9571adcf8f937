/* hiredis 1.5.0's reader on a benchmark buffer, building hiredis's own reply objects (the
 * default redisReplyObjectFunctions), walking and freeing each reply; heap calls counted with
 * hiredisSetAllocators. The command line and the passes: parse_bench.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alloc.h>
#include <hiredis.h>
#include <read.h>

#include "parse_bench.h"

#if HIREDIS_MAJOR != 1 || HIREDIS_MINOR != 5
#error "built against the wrong hiredis headers: expected the vendored 1.5"
#endif

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

static int pass(const char *buf, size_t len, size_t chunk, tally *t) {
    redisReader *reader = redisReaderCreate();
    if (reader == NULL) return -1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
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
static bool COUNTING;

static void *count_malloc(size_t n) {
    ALLOCS += COUNTING;
    return malloc(n);
}
static void *count_calloc(size_t n, size_t m) {
    ALLOCS += COUNTING;
    return calloc(n, m);
}
static void *count_realloc(void *p, size_t n) {
    REALLOCS += COUNTING;
    return realloc(p, n);
}
static char *count_strdup(const char *s) {
    ALLOCS += COUNTING;
    return strdup(s);
}

static void set_counting(bool on) {
    static hiredisAllocFuncs counting = {count_malloc, count_calloc, count_realloc, count_strdup,
                                         free};
    COUNTING = on;
    if (on)
        hiredisSetAllocators(&counting);
    else
        hiredisResetAllocators();
}

int main(int argc, char **argv) {
    heap_counter counter = {set_counting, &ALLOCS, &REALLOCS};
    return parse_bench_main("hiredis", argc, argv, pass, counter);
}
