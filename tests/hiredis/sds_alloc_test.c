/* sds and the allocator hooks, as programs use them with hiredis: strings from
 * redisFormatSdsCommandArgv inspected with the inline sdslen, the sds helpers, and custom
 * allocators that every allocation of the library goes through (including failures). */
#include <string.h>

#include <alloc.h>
#include <hiredis.h>
#include <sds.h>

#include "common.h"

static size_t live;

static void *counting_malloc(size_t n) {
    live++;
    return malloc(n);
}
static void *counting_calloc(size_t n, size_t size) {
    live++;
    return calloc(n, size);
}
static void *counting_realloc(void *p, size_t n) {
    if (p == NULL)
        live++;
    return realloc(p, n);
}
static char *counting_strdup(const char *s) {
    live++;
    return strdup(s);
}
static void counting_free(void *p) {
    if (p != NULL)
        live--;
    free(p);
}
static void *failing_malloc(size_t n) {
    (void)n;
    return NULL;
}
static void *failing_calloc(size_t n, size_t size) {
    (void)n;
    (void)size;
    return NULL;
}

static void test_sds(void) {
    sds s = sdsnew("hello");
    CHECK(sdslen(s) == 5 && sdsavail(s) == 0 && strcmp(s, "hello") == 0);
    s = sdscat(s, " world");
    s = sdscatprintf(s, " %d-%s", 42, "x");
    s = sdscatfmt(s, " %i %U %s", -7, 18446744073709551615ULL, "end");
    CHECK(strcmp(s, "hello world 42-x -7 18446744073709551615 end") == 0 && sdslen(s) == strlen(s));
    sdsrange(s, 6, 10);
    CHECK(strcmp(s, "world") == 0);
    sdstoupper(s);
    CHECK(strcmp(s, "WORLD") == 0);
    sds copy = sdsdup(s);
    CHECK(sdscmp(s, copy) == 0);
    sdsclear(copy);
    CHECK(sdslen(copy) == 0 && copy[0] == '\0');
    sdsfree(copy);
    sdsfree(s);

    int count = 0;
    sds *parts = sdssplitlen("a,b,,c", 6, ",", 1, &count);
    CHECK(count == 4 && strcmp(parts[0], "a") == 0 && sdslen(parts[2]) == 0);
    sdsfreesplitres(parts, count);
    parts = sdssplitargs("set \"a b\" 'c'", &count);
    CHECK(count == 3 && strcmp(parts[1], "a b") == 0);
    sdsfreesplitres(parts, count);

    s = sdsempty();
    for (int i = 0; i < 1000; i++)
        s = sdscatlen(s, "0123456789", 10);
    CHECK(sdslen(s) == 10000 && sdsalloc(s) >= 10000);
    sdsfree(s);

    const char *argv[] = {"SET", "k", "v"};
    sds cmd = NULL;
    long long n = redisFormatSdsCommandArgv(&cmd, 3, argv, NULL);
    CHECK(n == (long long)sdslen(cmd) && memcmp(cmd, "*3\r\n$3\r\nSET\r\n", 13) == 0);
    redisFreeSdsCommand(cmd);
}

static void test_allocators(void) {
    hiredisAllocFuncs counting = {counting_malloc, counting_calloc, counting_realloc,
                                  counting_strdup, counting_free};
    hiredisAllocFuncs old = hiredisSetAllocators(&counting);
    CHECK(old.mallocFn == malloc);

    redisReader *r = redisReaderCreate();
    void *reply;
    redisReaderFeed(r, "*2\r\n$1\r\na\r\n:1\r\n", 15);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL);
    CHECK(live > 0);
    freeReplyObject(reply);
    redisReaderFree(r);

    char *cmd = NULL;
    int len = redisFormatCommand(&cmd, "PING");
    CHECK(len > 0 && live == 1);
    hi_free(cmd); /* a formatted command is freed with the program's own hi_free */
    CHECK(live == 0);

    redisContext *c = redisConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    redisReply *pong = redisCommand(c, "PING");
    CHECK(pong != NULL && pong->type == REDIS_REPLY_STATUS);
    freeReplyObject(pong);
    redisFree(c);
    CHECK(live == 0);

    hiredisAllocFuncs failing = {failing_malloc, failing_calloc, realloc, strdup, free};
    hiredisSetAllocators(&failing);
    CHECK(redisConnect(test_host(), test_port()) == NULL);
    CHECK(redisReaderCreate() == NULL);
    CHECK(sdsnew("x") == NULL);
    hiredisResetAllocators();
    CHECK(hiredisAllocFns.mallocFn == malloc);
}

int main(void) {
    test_sds();
    test_allocators();
    return finish("hiredis sds_alloc_test");
}
