/* The async API on the poll adapter (no library needed): connecting over TCP and a Unix socket,
 * freeing the context from inside a reply callback, the command timeout (every pending
 * callback gets NULL, err REDIS_ERR_TIMEOUT "Timeout", one disconnect callback), and
 * REDIS_OPT_NOAUTOFREE. */
#include <string.h>

#include <adapters/poll.h>
#include <async.h>
#include <hiredis.h>

#include "common.h"

static int connects, disconnects, disconnect_status, replies, null_replies, cleanups;

static void on_connect(redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    connects++;
}

static void on_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    disconnects++;
    disconnect_status = status;
}

static void on_cleanup(void *data) {
    *(redisAsyncContext **)data = NULL;
    cleanups++;
}

static void reset(void) {
    connects = disconnects = replies = null_replies = cleanups = 0;
    disconnect_status = -2;
}

static redisAsyncContext *start(const redisOptions *opt, redisAsyncContext **slot) {
    redisAsyncContext *c = redisAsyncConnectWithOptions(opt);
    CHECK(c != NULL && c->err == 0);
    CHECK(redisPollAttach(c) == REDIS_OK);
    CHECK(redisAsyncSetConnectCallbackNC(c, on_connect) == REDIS_OK);
    CHECK(redisAsyncSetDisconnectCallback(c, on_disconnect) == REDIS_OK);
    c->data = slot;
    c->dataCleanup = on_cleanup;
    *slot = c;
    return c;
}

static void free_in_callback(redisAsyncContext *c, void *r, void *privdata) {
    (void)privdata;
    CHECK(r != NULL && ((redisReply *)r)->type == REDIS_REPLY_STATUS);
    replies++;
    redisAsyncFree(c); /* deferred until this callback returns */
    CHECK(c->c.flags & REDIS_FREEING);
}

static void count_reply(redisAsyncContext *c, void *r, void *privdata) {
    (void)c;
    (void)privdata;
    if (r == NULL)
        null_replies++;
    else
        replies++;
}

static void test_ping_and_free(const redisOptions *opt) {
    redisAsyncContext *slot;
    reset();
    redisAsyncContext *c = start(opt, &slot);
    CHECK(redisAsyncCommand(c, free_in_callback, NULL, "PING") == REDIS_OK);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "PING") == REDIS_OK);
    for (int i = 0; i < 100 && slot != NULL; i++)
        redisPollTick(c, 0.1);
    /* The second PING's callback ran with NULL when the context was freed. */
    CHECK(slot == NULL && connects == 1 && replies == 1 && null_replies == 1);
    CHECK(disconnects == 1 && disconnect_status == REDIS_OK && cleanups == 1);
}

static void test_timeout(void) {
    redisAsyncContext *slot;
    redisOptions opt = {0};
    struct timeval tv = {0, 200000};
    reset();
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.command_timeout = &tv;
    redisAsyncContext *c = start(&opt, &slot);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "DEBUG SLEEP 1") == REDIS_OK);
    CHECK(redisAsyncCommand(c, count_reply, NULL, "PING") == REDIS_OK);
    int handled = 0;
    for (int i = 0; i < 100 && slot != NULL; i++)
        handled |= redisPollTick(c, 0.05);
    CHECK(handled & REDIS_POLL_HANDLED_TIMEOUT);
    CHECK(slot == NULL && null_replies == 2 && replies == 0);
    CHECK(disconnects == 1 && disconnect_status == REDIS_ERR);
    /* Let the server finish its sleep before the next test. */
    redisContext *sync = redisConnect(test_host(), test_port());
    redisReply *r = redisCommand(sync, "PING");
    freeReplyObject(r);
    redisFree(sync);
}

static void on_error_disconnect(const redisAsyncContext *c, int status) {
    disconnects++;
    disconnect_status = status;
    CHECK(c->err == REDIS_ERR_EOF && strcmp(c->errstr, "Server closed the connection") == 0);
}

static void test_noautofree(void) {
    redisOptions opt = {0};
    reset();
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.options = REDIS_OPT_NOAUTOFREE;
    redisAsyncContext *c = redisAsyncConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0);
    redisPollAttach(c);
    redisAsyncSetDisconnectCallback(c, on_error_disconnect);
    redisAsyncCommand(c, count_reply, NULL, "QUIT");
    for (int i = 0; i < 50 && c->err == 0; i++)
        redisPollTick(c, 0.1);
    /* The connection ended but the context is still ours. */
    CHECK(c->err == REDIS_ERR_EOF && disconnects == 0);
    redisAsyncFree(c);
    CHECK(disconnects == 1);
}

int main(void) {
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    test_ping_and_free(&opt);
    if (test_unix()) {
        redisOptions u = {0};
        REDIS_OPTIONS_SET_UNIX(&u, test_unix());
        test_ping_and_free(&u);
    }
    test_timeout();
    test_noautofree();
    return finish("hiredis async_poll_test");
}
