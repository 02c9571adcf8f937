/* The async API on libevent, as in hiredis's README: connect and disconnect callbacks, commands
 * with callbacks (called once each, in order), pub/sub (the subscribe callback is called for
 * every message until the unsubscribe), a refused connection, and redisAsyncDisconnect waiting
 * for pending replies. Built with include/hiredis and adapters/libevent.h. */
/* LIBS: -levent */
#include <string.h>

#include <async.h>
#include <adapters/libevent.h>
#include <hiredis.h>

#include "common.h"

static struct event_base *base;
static int connected, disconnected, disconnect_status = -2;
static int order[16], norder;

static void on_connect(const redisAsyncContext *c, int status) {
    CHECK(status == REDIS_OK && c->err == 0);
    connected++;
}

static void on_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    disconnected++;
    disconnect_status = status;
}

static void on_reply(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = r;
    (void)c;
    CHECK(reply != NULL);
    order[norder++] = (int)(long)privdata;
    if ((long)privdata == 3)
        CHECK(reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "hello") == 0);
}

static void test_commands(void) {
    redisAsyncContext *c = redisAsyncConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    CHECK(redisLibeventAttach(c, base) == REDIS_OK);
    CHECK(redisLibeventAttach(c, base) == REDIS_ERR); /* already attached */
    CHECK(redisAsyncSetConnectCallback(c, on_connect) == REDIS_OK);
    CHECK(redisAsyncSetConnectCallback(c, on_connect) == REDIS_ERR);
    CHECK(redisAsyncSetDisconnectCallback(c, on_disconnect) == REDIS_OK);
    CHECK(redisAsyncCommand(c, NULL, NULL, "SET key %b", "hello", (size_t)5) == REDIS_OK);
    CHECK(redisAsyncCommand(c, on_reply, (void *)1, "PING") == REDIS_OK);
    const char *argv[] = {"INCR", "async-counter"};
    CHECK(redisAsyncCommandArgv(c, on_reply, (void *)2, 2, argv, NULL) == REDIS_OK);
    CHECK(redisAsyncCommand(c, on_reply, (void *)3, "GET key") == REDIS_OK);
    /* Waits for the three replies above, then closes. */
    redisAsyncDisconnect(c);
    CHECK(redisAsyncCommand(c, on_reply, (void *)4, "PING") == REDIS_ERR);
    event_base_dispatch(base);
    CHECK(connected == 1 && disconnected == 1 && disconnect_status == REDIS_OK);
    CHECK(norder == 3 && order[0] == 1 && order[1] == 2 && order[2] == 3);
}

static int messages, subscribe_calls, unsubscribed;

static void publisher_done(redisAsyncContext *c, void *r, void *privdata) {
    (void)privdata;
    CHECK(r != NULL && ((redisReply *)r)->type == REDIS_REPLY_INTEGER);
    redisAsyncDisconnect(c);
}

static void on_message(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = r;
    redisAsyncContext *publisher = privdata;
    if (reply == NULL)
        return;
    CHECK(reply->type == REDIS_REPLY_ARRAY && reply->elements == 3);
    subscribe_calls++;
    if (strcmp(reply->element[0]->str, "subscribe") == 0) {
        CHECK(reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer == 1);
        redisAsyncCommand(publisher, NULL, NULL, "PUBLISH news %s", "one");
        redisAsyncCommand(publisher, publisher_done, NULL, "PUBLISH news %s", "two");
    } else if (strcmp(reply->element[0]->str, "message") == 0) {
        messages++;
        CHECK(strcmp(reply->element[1]->str, "news") == 0);
        if (messages == 2) {
            CHECK(strcmp(reply->element[2]->str, "two") == 0);
            redisAsyncCommand(c, NULL, NULL, "UNSUBSCRIBE news");
        }
    } else if (strcmp(reply->element[0]->str, "unsubscribe") == 0) {
        unsubscribed++;
        redisAsyncDisconnect(c);
    }
}

static void test_pubsub(void) {
    redisAsyncContext *sub = redisAsyncConnect(test_host(), test_port());
    redisAsyncContext *pub = redisAsyncConnect(test_host(), test_port());
    CHECK(sub && pub && sub->err == 0 && pub->err == 0);
    redisLibeventAttach(sub, base);
    redisLibeventAttach(pub, base);
    CHECK(redisAsyncCommand(sub, on_message, pub, "SUBSCRIBE news") == REDIS_OK);
    CHECK(sub->c.flags & REDIS_SUBSCRIBED);
    event_base_dispatch(base);
    CHECK(messages == 2 && unsubscribed == 1 && subscribe_calls == 4);
}

static int refused_status = -2, cleaned;

static void on_refused(const redisAsyncContext *c, int status) {
    refused_status = status;
    CHECK(c->err == REDIS_ERR_IO && strcmp(c->errstr, "Connection refused") == 0);
}

static void never(const redisAsyncContext *c, int status) {
    (void)c;
    (void)status;
    CHECK(!"disconnect callback after a failed connect");
}

static void cleanup_data(void *data) {
    CHECK(data == &cleaned);
    cleaned++;
}

static void test_refused(void) {
    redisAsyncContext *c = redisAsyncConnect("127.0.0.1", 1);
    CHECK(c != NULL);
    /* A refused non-blocking connect shows up on the first event, or at once. */
    if (c->err) {
        CHECK(c->err == REDIS_ERR_IO);
        redisAsyncFree(c);
        return;
    }
    c->data = &cleaned;
    c->dataCleanup = cleanup_data;
    redisLibeventAttach(c, base);
    redisAsyncSetConnectCallback(c, on_refused);
    redisAsyncSetDisconnectCallback(c, never);
    event_base_dispatch(base);
    /* The context was freed by the library after the connect callback. */
    CHECK(refused_status == REDIS_ERR && cleaned == 1);
}

int main(void) {
    base = event_base_new();
    test_commands();
    test_pubsub();
    test_refused();
    event_base_free(base);
    return finish("hiredis async_libevent_test");
}
