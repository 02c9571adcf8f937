/* RESP3 pushes (client-side caching invalidations), sync and async: the default handler drops
 * them, a handler set with redisSetPushCallback gets them (with c->privdata) and owns them,
 * without a handler they come back in-band; an async context's push callback gets them while
 * command callbacks still get their own replies. */
#include <string.h>

#include <adapters/poll.h>
#include <async.h>
#include <hiredis.h>

#include "common.h"

static int invalidations;

static void on_push(void *privdata, void *r) {
    redisReply *reply = r;
    CHECK(privdata == &invalidations);
    CHECK(reply->type == REDIS_REPLY_PUSH && reply->elements == 2 &&
          strcmp(reply->element[0]->str, "invalidate") == 0);
    invalidations++;
    freeReplyObject(reply);
}

static void command(redisContext *c, const char *cmd) {
    redisReply *r = redisCommand(c, cmd);
    CHECK(r != NULL && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

/* Changes `key` from another connection, which invalidates it for the tracking client. */
static void touch(const char *key) {
    redisContext *other = redisConnect(test_host(), test_port());
    redisReply *r = redisCommand(other, "SET %s changed", key);
    freeReplyObject(r);
    redisFree(other);
}

static void test_sync(void) {
    redisContext *c = redisConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0 && c->push_cb != NULL);
    command(c, "HELLO 3");
    command(c, "CLIENT TRACKING ON");
    command(c, "GET tracked");
    touch("tracked");
    /* The default handler drops the invalidation: the reply to PING is PONG. */
    redisReply *r = redisCommand(c, "PING");
    CHECK(r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0);
    freeReplyObject(r);

    c->privdata = &invalidations;
    redisSetPushCallback(c, on_push);
    command(c, "GET tracked");
    touch("tracked");
    command(c, "PING");
    CHECK(invalidations == 1);

    /* No handler: the push is the next reply, and the PING reply follows. */
    redisSetPushCallback(c, NULL);
    command(c, "GET tracked");
    touch("tracked");
    r = redisCommand(c, "PING");
    CHECK(r != NULL && r->type == REDIS_REPLY_PUSH);
    freeReplyObject(r);
    CHECK(redisGetReply(c, (void **)&r) == REDIS_OK && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    c->privdata = NULL;
    redisFree(c);
}

static int async_pushes, async_replies, done;

static void on_async_push(redisAsyncContext *ac, void *r) {
    redisReply *reply = r;
    (void)ac;
    CHECK(reply->type == REDIS_REPLY_PUSH && strcmp(reply->element[0]->str, "invalidate") == 0);
    async_pushes++;
}

static void on_async_reply(redisAsyncContext *ac, void *r, void *privdata) {
    CHECK(r != NULL && ((redisReply *)r)->type != REDIS_REPLY_PUSH);
    async_replies++;
    if (privdata == (void *)1)
        touch("tracked-async");
    if (privdata == (void *)2) {
        done = 1;
        redisAsyncDisconnect(ac);
    }
}

static void test_async(void) {
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.async_push_cb = on_async_push;
    redisAsyncContext *ac = redisAsyncConnectWithOptions(&opt);
    CHECK(ac != NULL && ac->err == 0 && ac->c.push_cb == NULL && ac->push_cb == on_async_push);
    redisPollAttach(ac);
    redisAsyncCommand(ac, on_async_reply, NULL, "HELLO 3");
    redisAsyncCommand(ac, on_async_reply, NULL, "CLIENT TRACKING ON");
    redisAsyncCommand(ac, on_async_reply, (void *)1, "GET tracked-async");
    for (int i = 0; i < 100 && !done; i++) {
        if (async_replies == 3 && async_pushes == 1 && !done)
            redisAsyncCommand(ac, on_async_reply, (void *)2, "PING");
        if (async_replies >= 3 && async_pushes == 1)
            async_replies = 100; /* PING queued once */
        redisPollTick(ac, 0.05);
    }
    CHECK(done && async_pushes == 1);
}

int main(void) {
    test_sync();
    test_async();
    return finish("hiredis push_test");
}
