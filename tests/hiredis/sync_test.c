/* The blocking API as hiredis's README shows it: connect (TCP with a timeout, Unix socket),
 * redisCommand with %s / %b / printf conversions, replies of each type, redisCommandArgv,
 * values up to 1 MiB (alone, in MGET, pipelined),
 * errors (refused connection, server errors, closed connection), reconnect, keepalive and
 * timeouts. Written against hiredis's documented API; built with include/hiredis only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <hiredis.h>

#include "common.h"

static redisContext *connect_tcp(void) {
    struct timeval timeout = {1, 500000}; /* 1.5 seconds */
    redisContext *c = redisConnectWithTimeout(test_host(), test_port(), timeout);
    if (c == NULL || c->err) {
        fprintf(stderr, "connection error: %s\n", c ? c->errstr : "can't allocate context");
        exit(1);
    }
    return c;
}

static void test_readme_example(redisContext *c) {
    redisReply *reply;
    unsigned int j;

    reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
    freeReplyObject(reply);

    reply = redisCommand(c, "SET %s %s", "foo", "hello world");
    CHECK(reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0);
    freeReplyObject(reply);

    reply = redisCommand(c, "SET %b %b", "bar", (size_t)3, "hello\0world", (size_t)11);
    CHECK(reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);

    reply = redisCommand(c, "GET foo");
    CHECK(reply->type == REDIS_REPLY_STRING && reply->len == 11 &&
          strcmp(reply->str, "hello world") == 0);
    freeReplyObject(reply);

    reply = redisCommand(c, "GET bar");
    CHECK(reply->type == REDIS_REPLY_STRING && reply->len == 11 &&
          memcmp(reply->str, "hello\0world", 11) == 0 && reply->str[11] == '\0');
    freeReplyObject(reply);

    reply = redisCommand(c, "INCR counter");
    CHECK(reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
    freeReplyObject(reply);
    reply = redisCommand(c, "INCR counter");
    CHECK(reply->type == REDIS_REPLY_INTEGER && reply->integer == 2);
    freeReplyObject(reply);

    reply = redisCommand(c, "DEL mylist");
    freeReplyObject(reply);
    for (j = 0; j < 10; j++) {
        char buf[64];
        snprintf(buf, 64, "%u", j);
        reply = redisCommand(c, "LPUSH mylist element-%s", buf);
        CHECK(reply->type == REDIS_REPLY_INTEGER && reply->integer == (long long)j + 1);
        freeReplyObject(reply);
    }
    reply = redisCommand(c, "LRANGE mylist 0 -1");
    CHECK(reply->type == REDIS_REPLY_ARRAY && reply->elements == 10);
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 10) {
        CHECK(strcmp(reply->element[0]->str, "element-9") == 0);
        CHECK(strcmp(reply->element[9]->str, "element-0") == 0);
    }
    freeReplyObject(reply);
}

static void test_reply_types(redisContext *c) {
    redisReply *reply = redisCommand(c, "GET nosuchkey");
    CHECK(reply->type == REDIS_REPLY_NIL && reply->str == NULL);
    freeReplyObject(reply);

    /* printf conversions inside arguments */
    reply = redisCommand(c, "SET key:%d %.2f", 7, 2.5);
    CHECK(reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(c, "GET key:7");
    CHECK(reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "2.50") == 0);
    freeReplyObject(reply);

    /* A server error is a reply, not a context error. */
    reply = redisCommand(c, "INCR foo");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_ERROR &&
          strncmp(reply->str, "ERR", 3) == 0 && c->err == 0);
    freeReplyObject(reply);

    /* Nested arrays from a transaction. */
    freeReplyObject(redisCommand(c, "MULTI"));
    freeReplyObject(redisCommand(c, "PING"));
    freeReplyObject(redisCommand(c, "LRANGE mylist 0 1"));
    reply = redisCommand(c, "EXEC");
    CHECK(reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
          reply->element[0]->type == REDIS_REPLY_STATUS &&
          reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements == 2);
    freeReplyObject(reply);

    /* RESP3 types after HELLO 3: map (flattened), double with its text, boolean, verbatim. */
    reply = redisCommand(c, "HELLO 3");
    CHECK(reply->type == REDIS_REPLY_MAP && reply->elements % 2 == 0 &&
          reply->element[0]->type == REDIS_REPLY_STRING);
    freeReplyObject(reply);
    freeReplyObject(redisCommand(c, "DEL z"));
    freeReplyObject(redisCommand(c, "ZADD z 1.5 a"));
    reply = redisCommand(c, "ZSCORE z a");
    CHECK(reply->type == REDIS_REPLY_DOUBLE && reply->dval == 1.5 && strcmp(reply->str, "1.5") == 0);
    freeReplyObject(reply);
    reply = redisCommand(c, "EVAL %s 0", "redis.setresp(3); return true");
    CHECK(reply->type == REDIS_REPLY_BOOL && reply->integer == 1);
    freeReplyObject(reply);
    reply = redisCommand(c, "CLIENT INFO");
    CHECK(reply->type == REDIS_REPLY_VERB && strcmp(reply->vtype, "txt") == 0 &&
          strncmp(reply->str, "id=", 3) == 0);
    freeReplyObject(reply);
    reply = redisCommand(c, "HELLO 2");
    CHECK(reply->type == REDIS_REPLY_ARRAY);
    freeReplyObject(reply);
}

static void test_argv(redisContext *c) {
    const char *argv[] = {"SET", "argv-key", "a\0b"};
    size_t lens[] = {3, 8, 3};
    redisReply *reply = redisCommandArgv(c, 3, argv, lens);
    CHECK(reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    const char *get[] = {"GET", "argv-key"};
    reply = redisCommandArgv(c, 2, get, NULL);
    CHECK(reply->type == REDIS_REPLY_STRING && reply->len == 3 && memcmp(reply->str, "a\0b", 3) == 0);
    freeReplyObject(reply);
}

static void test_errors(void) {
    redisContext *c = redisConnect("127.0.0.1", 1);
    CHECK(c != NULL && c->err == REDIS_ERR_IO && strcmp(c->errstr, "Connection refused") == 0);
    redisFree(c);

    c = redisConnectUnix("/nonexistent/redcore.sock");
    CHECK(c != NULL && c->err == REDIS_ERR_IO &&
          strcmp(c->errstr, "No such file or directory") == 0);
    redisFree(c);

    struct timeval bad = {0, 2000000};
    c = redisConnectWithTimeout(test_host(), test_port(), bad);
    CHECK(c != NULL && c->err == REDIS_ERR_IO && strcmp(c->errstr, "Invalid timeout specified") == 0);
    redisFree(c);

    /* A bad format string fails before anything is sent. */
    c = connect_tcp();
    CHECK(redisCommand(c, "GET %p", (void *)c) == NULL && c->err == REDIS_ERR_OTHER &&
          strcmp(c->errstr, "Invalid format string") == 0);
    redisFree(c);

    /* The server closes the connection: EOF, then every call fails. */
    c = connect_tcp();
    redisReply *reply = redisCommand(c, "QUIT");
    CHECK(reply != NULL && strcmp(reply->str, "OK") == 0);
    freeReplyObject(reply);
    /* Which error the next call meets is a race: the close itself (EOF), or the reset the
     * kernel sends back for a PING written after it (IO, "Connection reset by peer" or
     * "Broken pipe"). Either way the call fails and the context keeps the error. */
    CHECK(redisCommand(c, "PING") == NULL &&
          ((c->err == REDIS_ERR_EOF && strcmp(c->errstr, "Server closed the connection") == 0) ||
           (c->err == REDIS_ERR_IO && (strstr(c->errstr, "reset") != NULL ||
                                       strstr(c->errstr, "pipe") != NULL))));
    CHECK(redisCommand(c, "PING") == NULL);

    /* ... until redisReconnect. */
    CHECK(redisReconnect(c) == REDIS_OK && c->err == 0);
    reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);

    /* A read timeout: EAGAIN, reported as an I/O error. */
    c = connect_tcp();
    struct timeval tv = {0, 50000};
    CHECK(redisSetTimeout(c, tv) == REDIS_OK);
    reply = redisCommand(c, "BLPOP nosuchlist 1");
    CHECK(reply == NULL && c->err == REDIS_ERR_IO && errno == EAGAIN &&
          strcmp(c->errstr, "Resource temporarily unavailable") == 0);
    redisFree(c);
}

static void test_options(void) {
    redisContext *c = connect_tcp();
    CHECK(c->fd >= 0 && (c->flags & REDIS_BLOCK) && (c->flags & REDIS_CONNECTED));
    CHECK(c->connection_type == REDIS_CONN_TCP && strcmp(c->tcp.host, test_host()) == 0 &&
          c->tcp.port == test_port());
    CHECK(redisEnableKeepAlive(c) == REDIS_OK);
    CHECK(redisEnableKeepAliveWithInterval(c, 30) == REDIS_OK);
    CHECK(redisSetTcpUserTimeout(c, 1000) == REDIS_OK);
    CHECK(c->push_cb != NULL); /* the default handler drops RESP3 pushes */

    /* redisFreeKeepFd leaves the socket usable by a new context. */
    int fd = redisFreeKeepFd(c);
    CHECK(fd >= 0);
    c = redisConnectFd(fd);
    CHECK(c != NULL && c->err == 0 && c->fd == fd);
    redisReply *reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    /* No host to reconnect to (connect_test.c shows what redisReconnect does then). */
    CHECK(redisReconnect(c) == REDIS_ERR && c->err != 0);
    redisFree(c);
    redisFree(NULL);

    if (test_unix()) {
        c = redisConnectUnix(test_unix());
        CHECK(c != NULL && c->err == 0 && c->connection_type == REDIS_CONN_UNIX);
        reply = redisCommand(c, "PING");
        CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
        freeReplyObject(reply);
        CHECK(redisEnableKeepAlive(c) == REDIS_ERR && c->err == 0);
        redisFree(c);
    }

    static int freed = 0;
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.options = REDIS_OPT_NO_PUSH_AUTOFREE | REDIS_OPT_SET_SOCK_CLOEXEC;
    REDIS_OPTIONS_SET_PRIVDATA(&opt, &freed, NULL);
    c = redisConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0 && c->push_cb == NULL && c->privdata == &freed);
    redisFree(c);
}

/* Values longer than a socket read (16 KiB), whose text the reader takes straight into the
 * reply as it arrives: alone, in an MGET beside short ones, and pipelined. */
static void test_long_values(redisContext *c) {
    static const size_t sizes[] = {4096, 16385, 100000, 1 << 20};
    size_t n = sizeof sizes / sizeof sizes[0];
    char *value = malloc(sizes[n - 1]);
    CHECK(value != NULL);
    if (value == NULL) return;
    for (size_t i = 0; i < sizes[n - 1]; i++) value[i] = i % 97 == 3 ? '\n' : (char)('A' + i % 53);
    for (size_t i = 0; i < n; i++) {
        redisReply *reply = redisCommand(c, "SET long:%d %b", (int)i, value, sizes[i]);
        CHECK(reply && reply->type == REDIS_REPLY_STATUS);
        freeReplyObject(reply);
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *reply = redisCommand(c, "GET long:%d", (int)i);
        CHECK(reply && reply->type == REDIS_REPLY_STRING && reply->len == sizes[i] &&
              memcmp(reply->str, value, sizes[i]) == 0 && reply->str[reply->len] == '\0');
        freeReplyObject(reply);
    }
    redisReply *reply = redisCommand(c, "MGET long:3 nokey long:1 long:0");
    CHECK(reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4);
    if (reply && reply->elements == 4) {
        CHECK(reply->element[0]->len == sizes[3] && memcmp(reply->element[0]->str, value, sizes[3]) == 0);
        CHECK(reply->element[1]->type == REDIS_REPLY_NIL);
        CHECK(reply->element[2]->len == sizes[1] && memcmp(reply->element[2]->str, value, sizes[1]) == 0);
        CHECK(reply->element[3]->len == sizes[0]);
    }
    freeReplyObject(reply);
    for (size_t i = 0; i < n; i++) redisAppendCommand(c, "GET long:%d", (int)(n - 1 - i));
    for (size_t i = 0; i < n; i++) {
        void *r = NULL;
        CHECK(redisGetReply(c, &r) == REDIS_OK);
        redisReply *got = r;
        size_t want = sizes[n - 1 - i];
        CHECK(got && got->len == want && memcmp(got->str, value, want) == 0);
        freeReplyObject(got);
    }
    free(value);
}

int main(void) {
    redisContext *c = connect_tcp();
    test_readme_example(c);
    test_reply_types(c);
    test_argv(c);
    test_long_values(c);
    redisFree(c);
    test_errors();
    test_options();
    return finish("hiredis sync_test");
}
