/* Commands the server never answers are refused before anything is queued, since each
 * callback (async) or redisGetReply (sync) waits for one reply per command:
 *  - async: a command with no arguments (argc 0, a format of "" or only spaces) and a
 *    formatted buffer that is not exactly one complete command return REDIS_ERR, with no
 *    callback and ac->err untouched (hiredis asserts); the commands around them get their own
 *    replies;
 *  - sync: a command with no arguments fails with REDIS_ERR_OTHER "Empty command" (hiredis
 *    sends it and waits for the reply until the timeout); redisAppendFormattedCommand still
 *    appends the caller's bytes as they are, even a command in pieces.
 * Written against hiredis's documented API; built with include/hiredis only. */
#include <string.h>

#include <adapters/poll.h>
#include <async.h>
#include <hiredis.h>
#include <sds.h>

#include "common.h"

static int answered, gone;

/* privdata: the text the reply must carry. */
static void expect(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    redisReply *reply = r;
    CHECK(reply != NULL && reply->str != NULL && strcmp(reply->str, privdata) == 0);
    answered++;
}

static void never(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac;
    (void)r;
    (void)privdata;
    CHECK(!"the callback of a refused command ran");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    (void)ac;
    (void)status;
    gone = 1;
}

static void test_async(void) {
    static const char *const refused[] = {
        "",
        "*0\r\n",
        "*-1\r\n",
        "\r\n",
        " \t\r\n",
        "PING",                                       /* an inline command without its end */
        "*2\r\n$4\r\nPING\r\n",                       /* one argument of two */
        "*1\r\n$4\r\nPIN",                            /* cut short */
        "*1\r\n$4\r\nPINGxx",                         /* no CRLF after the argument */
        "*1\r\nPING\r\n",                             /* no $ header */
        "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n",   /* two commands, one callback */
        "PING\r\nPING\r\n",
    };
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    redisAsyncContext *ac = redisAsyncConnectWithOptions(&opt);
    CHECK(ac != NULL && ac->err == 0 && redisPollAttach(ac) == REDIS_OK);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);

    CHECK(redisAsyncCommand(ac, expect, "OK", "SET empty-command-key v1") == REDIS_OK);
    CHECK(redisAsyncCommandArgv(ac, never, NULL, 0, NULL, NULL) == REDIS_ERR);
    CHECK(redisAsyncCommand(ac, never, NULL, "") == REDIS_ERR);
    CHECK(redisAsyncCommand(ac, never, NULL, "   ") == REDIS_ERR);
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        CHECK(redisAsyncFormattedCommand(ac, never, NULL, refused[i], strlen(refused[i])) ==
              REDIS_ERR);
    CHECK(ac->err == 0);

    CHECK(redisAsyncCommand(ac, expect, "v1", "GET empty-command-key") == REDIS_OK);
    /* One inline command is one command. */
    CHECK(redisAsyncFormattedCommand(ac, expect, "hi", "ECHO hi\r\n", 9) == REDIS_OK);
    CHECK(redisAsyncFormattedCommand(ac, expect, "PONG", "*1\r\n$4\r\nPING\r\n", 14) ==
          REDIS_OK);
    for (int i = 0; i < 100 && answered < 4 && !gone; i++)
        redisPollTick(ac, 0.05);
    CHECK(answered == 4 && !gone);
    if (!gone)
        redisAsyncFree(ac);
}

static void check_refused(redisContext *c, int rc) {
    CHECK(rc == REDIS_ERR && c->err == REDIS_ERR_OTHER && strcmp(c->errstr, "Empty command") == 0);
    CHECK(sdslen(c->obuf) == 0);
    CHECK(redisReconnect(c) == REDIS_OK);
}

static void test_sync(void) {
    redisContext *c = redisConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    /* A bound on the wait for a reply that never comes, should one be sent. */
    struct timeval tv = {0, 500000};
    CHECK(redisSetTimeout(c, tv) == REDIS_OK);

    CHECK(redisCommand(c, "") == NULL);
    check_refused(c, REDIS_ERR);
    CHECK(redisCommand(c, "  ") == NULL);
    check_refused(c, REDIS_ERR);
    CHECK(redisCommandArgv(c, 0, NULL, NULL) == NULL);
    check_refused(c, REDIS_ERR);
    check_refused(c, redisAppendCommand(c, ""));
    check_refused(c, redisAppendCommandArgv(c, 0, NULL, NULL));

    /* A context that already failed keeps saying why, as hiredis's does. */
    CHECK(redisCommand(c, "GET %p", (void *)c) == NULL && c->err == REDIS_ERR_OTHER);
    CHECK(redisCommand(c, "") == NULL && strcmp(c->errstr, "Invalid format string") == 0);
    CHECK(redisReconnect(c) == REDIS_OK);

    /* A formatted buffer is the caller's bytes, appended as they are. */
    CHECK(redisAppendFormattedCommand(c, "*1\r\n$4\r\nPI", 10) == REDIS_OK);
    CHECK(redisAppendFormattedCommand(c, "NG\r\n", 4) == REDIS_OK);
    void *r = NULL;
    CHECK(redisGetReply(c, &r) == REDIS_OK);
    redisReply *reply = r;
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
    freeReplyObject(reply);
    redisFree(c);
}

int main(void) {
    test_async();
    test_sync();
    return finish("hiredis empty_command_test");
}
