/* The cases every event-loop adapter test runs (async_libuv_test.c, async_glib_test.c, ...):
 * the test file defines `attach(c)` (hooks a context up to its loop) and `turn()` (runs one
 * iteration of the loop, waiting at most ~100 ms), then calls run_adapter_cases(). C, and C++
 * for the Qt adapter.
 *
 *  - connect, SET / GET, disconnect: each callback once, in order;
 *  - the command timeout (the adapter's timer hook): DEBUG SLEEP past it fails every pending
 *    callback with NULL and disconnects with an error;
 *  - the context freed from inside its own reply callback: the adapter lets go from inside its
 *    own dispatch (valgrind sees any use after free). */
#ifndef REDCORE_HIREDIS_ADAPTER_CASES_H
#define REDCORE_HIREDIS_ADAPTER_CASES_H

#include <string.h>

#include <async.h>
#include <hiredis.h>

#include "common.h"

static int attach(redisAsyncContext *c);
static void turn(void);

static int connects, disconnects, disconnect_status, replies, null_replies;
static redisAsyncContext *live;

static void reset(void) {
    connects = disconnects = replies = null_replies = 0;
    disconnect_status = -100;
}

static void on_connect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    connects++;
}

static void on_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    disconnects++;
    disconnect_status = status;
    live = NULL;
}

static void count_reply(redisAsyncContext *c, void *r, void *privdata) {
    (void)c;
    (void)privdata;
    if (r == NULL)
        null_replies++;
    else
        replies++;
}

static void check_get(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = (redisReply *)r;
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING &&
          strcmp(reply->str, (const char *)privdata) == 0);
    replies++;
    redisAsyncDisconnect(c);
}

static void free_in_callback(redisAsyncContext *c, void *r, void *privdata) {
    (void)privdata;
    CHECK(r != NULL);
    replies++;
    redisAsyncFree(c);
}

static redisAsyncContext *start(const struct timeval *timeout) {
    redisOptions opt;
    memset(&opt, 0, sizeof opt);
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.command_timeout = timeout;
    redisAsyncContext *c = redisAsyncConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0);
    CHECK(attach(c) == REDIS_OK);
    /* A second attach is refused: the context already has a loop. */
    CHECK(attach(c) == REDIS_ERR);
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    live = c;
    return c;
}

static void run_while_live(void) {
    for (int i = 0; i < 300 && live != NULL; i++)
        turn();
    CHECK(live == NULL);
}

static void run_adapter_cases(const char *name) {
    reset();
    redisAsyncContext *c = start(NULL);
    CHECK(redisAsyncCommand(c, NULL, NULL, "SET adapter-key %s", name) == REDIS_OK);
    CHECK(redisAsyncCommand(c, check_get, (void *)name, "GET adapter-key") == REDIS_OK);
    run_while_live();
    CHECK(connects == 1 && replies == 1 && disconnects == 1 && disconnect_status == REDIS_OK);

    reset();
    struct timeval tv = {0, 200000};
    c = start(&tv);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "DEBUG SLEEP 1") == REDIS_OK);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "PING") == REDIS_OK);
    run_while_live();
    CHECK(null_replies == 2 && replies == 0 && disconnects == 1 &&
          disconnect_status == REDIS_ERR);
    /* Let the server finish its sleep before the next case. */
    redisContext *sync = redisConnect(test_host(), test_port());
    freeReplyObject(redisCommand(sync, "PING"));
    redisFree(sync);

    reset();
    c = start(NULL);
    CHECK(redisAsyncCommand(c, free_in_callback, NULL, "PING") == REDIS_OK);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "PING") == REDIS_OK);
    run_while_live();
    CHECK(replies == 1 && null_replies == 1 && disconnects == 1 && disconnect_status == REDIS_OK);
}

#endif
