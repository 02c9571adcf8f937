/* Connecting, where hiredis 1.5.0 does something one might not guess, checked as it does it:
 *  - TCP options with a NULL host connect to the loopback address (getaddrinfo(NULL, ...)),
 *    and redisReconnect does so again.
 * Written against hiredis's documented API; built with include/hiredis only. */
#include <string.h>

#include <hiredis.h>

#include "common.h"

static void ping(redisContext *c) {
    redisReply *reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
    freeReplyObject(reply);
}

static void test_null_host(void) {
    /* NULL stands for the loopback address, IPv4 first: only where the tests' server is. */
    if (strcmp(test_host(), "127.0.0.1") != 0)
        return;
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, NULL, test_port());
    redisContext *c = redisConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0 && c->tcp.host == NULL && c->tcp.port == test_port());
    ping(c);
    CHECK(redisReconnect(c) == REDIS_OK && c->err == 0);
    ping(c);
    redisFree(c);
}

int main(void) {
    test_null_host();
    return finish("hiredis connect_test");
}
