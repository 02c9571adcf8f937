/* redcore's C reader (redcore_reader, what a C program parses with) on a benchmark buffer,
 * each reply walked through the redcore_reply_* accessors and freed: the same work as
 * parse_hiredis.c does with hiredis's reader, through the same kind of API. The library's heap
 * calls are counted by linking with -Wl,--wrap for malloc, calloc, realloc and posix_memalign
 * (libredcore.a is linked statically, so its calls go through the wrappers). The command line
 * and the passes: parse_bench.h. */
#include <stdio.h>

#include <redcore.h>

#include "parse_bench.h"

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

static int pass(const char *buf, size_t len, size_t chunk, tally *t) {
    redcore_reader *reader = NULL;
    redcore_error *err = NULL;
    if (redcore_reader_new(0, 0, 0, &reader, NULL) != REDCORE_OK) return -1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (redcore_reader_feed(reader, (const uint8_t *)buf + off, n) != REDCORE_OK) goto fail;
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

static void set_counting(bool on) { COUNTING = on; }

int main(int argc, char **argv) {
    heap_counter counter = {set_counting, &ALLOCS, &REALLOCS};
    return parse_bench_main("redcore-c", argc, argv, pass, counter);
}
