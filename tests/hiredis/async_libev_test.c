/* The async API on libev (adapters/libev.h): connect, a few commands, disconnect. */
/* LIBS: -lev */
#include <string.h>

#include <adapters/libev.h>
#include <async.h>
#include <hiredis.h>

#include "common.h"

static int connected, disconnected, got;

static void on_connect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    connected++;
}

static void on_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    disconnected++;
}

static void on_get(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = r;
    (void)privdata;
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "libev") == 0);
    got++;
    redisAsyncDisconnect(c);
}

int main(void) {
    struct ev_loop *loop = ev_default_loop(0);
    redisAsyncContext *c = redisAsyncConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    CHECK(redisLibevAttach(loop, c) == REDIS_OK);
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    redisAsyncCommand(c, NULL, NULL, "SET libev-key %s", "libev");
    redisAsyncCommand(c, on_get, NULL, "GET libev-key");
    ev_run(loop, 0);
    CHECK(connected == 1 && got == 1 && disconnected == 1);
    ev_loop_destroy(loop);
    return finish("hiredis async_libev_test");
}
