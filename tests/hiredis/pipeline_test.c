/* Pipelining as hiredis's README shows it: redisAppendCommand a few times, then
 * redisGetReply for each; and the same on a non-blocking context driven by hand with
 * redisBufferWrite / redisBufferRead / redisGetReply, the way an event loop integration does. */
#include <poll.h>
#include <string.h>

#include <hiredis.h>

#include "common.h"

static void test_blocking_pipeline(void) {
    redisContext *c = redisConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    void *r;
    redisReply *reply;
    int i;

    CHECK(redisAppendCommand(c, "SET pipe %d", 1) == REDIS_OK);
    CHECK(redisAppendCommand(c, "INCRBY pipe %lld", 41LL) == REDIS_OK);
    const char *argv[] = {"GET", "pipe"};
    CHECK(redisAppendCommandArgv(c, 2, argv, NULL) == REDIS_OK);
    char *formatted;
    int len = redisFormatCommand(&formatted, "PING %s", "hello");
    CHECK(len > 0 && redisAppendFormattedCommand(c, formatted, (size_t)len) == REDIS_OK);
    redisFreeCommand(formatted);
    /* Nothing is sent until a reply is asked for. */
    CHECK(sdslen(c->obuf) > 0);

    CHECK(redisGetReply(c, &r) == REDIS_OK);
    reply = r;
    CHECK(reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0);
    freeReplyObject(reply);
    CHECK(redisGetReply(c, &r) == REDIS_OK);
    reply = r;
    CHECK(reply->type == REDIS_REPLY_INTEGER && reply->integer == 42);
    freeReplyObject(reply);
    CHECK(redisGetReply(c, &r) == REDIS_OK);
    reply = r;
    CHECK(reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "42") == 0);
    freeReplyObject(reply);
    /* NULL: the reply is freed. */
    CHECK(redisGetReply(c, NULL) == REDIS_OK);
    CHECK(sdslen(c->obuf) == 0);

    /* A long pipeline. */
    for (i = 0; i < 1000; i++)
        CHECK(redisAppendCommand(c, "ECHO %d", i) == REDIS_OK);
    for (i = 0; i < 1000; i++) {
        char expected[16];
        snprintf(expected, sizeof expected, "%d", i);
        CHECK(redisGetReply(c, &r) == REDIS_OK);
        reply = r;
        CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, expected) == 0);
        freeReplyObject(reply);
    }
    redisFree(c);
}

static void test_nonblocking_by_hand(void) {
    redisContext *c = redisConnectNonBlock(test_host(), test_port());
    CHECK(c != NULL && c->err == 0 && !(c->flags & REDIS_BLOCK));
    /* On a non-blocking context, redisCommand only queues and returns NULL. */
    CHECK(redisCommand(c, "SET nb %s", "value") == NULL && c->err == 0);
    CHECK(redisCommand(c, "GET nb") == NULL && c->err == 0);

    int done = 0, got = 0;
    void *replies[2] = {NULL, NULL};
    while (got < 2) {
        struct pollfd pfd = {c->fd, (short)(POLLIN | (done ? 0 : POLLOUT)), 0};
        CHECK(poll(&pfd, 1, 2000) == 1);
        if (pfd.revents & POLLOUT)
            CHECK(redisBufferWrite(c, &done) == REDIS_OK);
        if (pfd.revents & POLLIN) {
            CHECK(redisBufferRead(c) == REDIS_OK);
            void *r = NULL;
            while (got < 2 && redisGetReply(c, &r) == REDIS_OK && r != NULL) {
                replies[got++] = r;
                r = NULL;
            }
        }
        if (failures)
            break;
    }
    CHECK(got == 2);
    if (got == 2) {
        CHECK(((redisReply *)replies[0])->type == REDIS_REPLY_STATUS);
        CHECK(((redisReply *)replies[1])->type == REDIS_REPLY_STRING &&
              strcmp(((redisReply *)replies[1])->str, "value") == 0);
    }
    freeReplyObject(replies[0]);
    freeReplyObject(replies[1]);
    /* Nothing more to read: a non-blocking redisGetReply hands back NULL. */
    void *none = (void *)1;
    CHECK(redisGetReply(c, &none) == REDIS_OK && none == NULL);
    redisFree(c);
}

int main(void) {
    test_blocking_pipeline();
    test_nonblocking_by_hand();
    return finish("hiredis pipeline_test");
}
