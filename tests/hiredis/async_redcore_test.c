/* adapters/redcore.h: an async context run on redcore's own event loop thread, so the program
 * has no event loop. The main thread queues commands and waits for their callbacks; callbacks
 * queue more commands; pub/sub messages arrive on the loop thread; the context is closed with
 * redisAsyncDisconnect. With REDIS_OPT_NOAUTOFREE, as adapters/redcore.h advises for
 * contexts used from other threads. */
/* LIBS: -lpthread */
#include <pthread.h>
#include <string.h>

#include <adapters/redcore.h>
#include <async.h>
#include <hiredis.h>

#include "common.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int connected, disconnected, replies, chained, messages;
static pthread_t main_thread;

static void bump(int *counter) {
    pthread_mutex_lock(&mu);
    (*counter)++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&mu);
}

/* Waits until *counter reaches n (at most 5 s). */
static int wait_for(int *counter, int n) {
    struct timespec deadline;
    int ok;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&mu);
    while (*counter < n)
        if (pthread_cond_timedwait(&changed, &mu, &deadline) != 0)
            break;
    ok = *counter >= n;
    pthread_mutex_unlock(&mu);
    return ok;
}

static void on_connect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    CHECK(!pthread_equal(pthread_self(), main_thread));
    bump(&connected);
}

static void on_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    bump(&disconnected);
}

static void on_chained(redisAsyncContext *c, void *r, void *privdata) {
    (void)c;
    (void)privdata;
    CHECK(r != NULL && ((redisReply *)r)->type == REDIS_REPLY_INTEGER);
    bump(&chained);
}

static void on_reply(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = r;
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING && reply->str != NULL &&
          strcmp(reply->str, (const char *)privdata) == 0);
    /* A callback may queue more work on its own context. */
    CHECK(redisAsyncCommand(c, on_chained, NULL, "INCR redcore-adapter") == REDIS_OK);
    bump(&replies);
}

static void on_message(redisAsyncContext *c, void *r, void *privdata) {
    redisReply *reply = r;
    (void)c;
    (void)privdata;
    if (reply && reply->elements == 3 && strcmp(reply->element[0]->str, "message") == 0)
        bump(&messages);
}

/* A context set up on the loop thread (from another context's callback) whose connect
 * callback asks to disconnect with two commands queued: hiredis writes them on the next
 * writable event, delivers both replies, then disconnects. */
static int late_replies, late_disconnected;

static void on_late_reply(redisAsyncContext *c, void *r, void *privdata) {
    (void)c;
    CHECK(r != NULL && ((redisReply *)r)->type == REDIS_REPLY_STRING &&
          strcmp(((redisReply *)r)->str, (const char *)privdata) == 0);
    bump(&late_replies);
}

static void on_late_connect(const redisAsyncContext *c, int status) {
    CHECK(status == REDIS_OK);
    redisAsyncDisconnect((redisAsyncContext *)c);
}

static void on_late_disconnect(const redisAsyncContext *c, int status) {
    (void)c;
    CHECK(status == REDIS_OK);
    bump(&late_disconnected);
}

static void start_late(redisAsyncContext *c, void *r, void *privdata) {
    (void)c;
    (void)r;
    (void)privdata;
    redisAsyncContext *late = redisAsyncConnect(test_host(), test_port());
    CHECK(late != NULL && late->err == 0 && redisRedcoreAttach(late) == REDIS_OK);
    CHECK(redisAsyncSetDisconnectCallback(late, on_late_disconnect) == REDIS_OK);
    CHECK(redisAsyncCommand(late, on_late_reply, "one", "ECHO one") == REDIS_OK);
    CHECK(redisAsyncCommand(late, on_late_reply, "two", "ECHO two") == REDIS_OK);
    CHECK(redisAsyncSetConnectCallback(late, on_late_connect) == REDIS_OK);
}

int main(void) {
    main_thread = pthread_self();
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.options = REDIS_OPT_NOAUTOFREE;
    redisAsyncContext *c = redisAsyncConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0);
    CHECK(redisRedcoreAttach(c) == REDIS_OK);
    CHECK(redisRedcoreAttach(c) == REDIS_ERR);
    CHECK(redisAsyncSetConnectCallback(c, on_connect) == REDIS_OK);
    CHECK(redisAsyncSetDisconnectCallback(c, on_disconnect) == REDIS_OK);
    CHECK(wait_for(&connected, 1));

    /* Commands from this thread while the loop thread runs callbacks. */
    for (int i = 0; i < 200; i++) {
        static const char *words[] = {"alpha", "beta", "gamma"};
        const char *w = words[i % 3];
        CHECK(redisAsyncCommand(c, on_reply, (void *)w, "ECHO %s", w) == REDIS_OK);
    }
    CHECK(wait_for(&replies, 200));
    CHECK(wait_for(&chained, 200));

    /* Pub/sub on a second attached context. */
    redisAsyncContext *sub = redisAsyncConnectWithOptions(&opt);
    CHECK(sub != NULL && redisRedcoreAttach(sub) == REDIS_OK);
    CHECK(redisAsyncSetDisconnectCallback(sub, on_disconnect) == REDIS_OK);
    CHECK(redisAsyncCommand(sub, on_message, NULL, "SUBSCRIBE redcore-news") == REDIS_OK);
    redisContext *pub = redisConnect(test_host(), test_port());
    int delivered = 0;
    for (int i = 0; i < 50 && delivered == 0; i++) {
        redisReply *r = redisCommand(pub, "PUBLISH redcore-news hello");
        delivered = (int)r->integer;
        freeReplyObject(r);
        if (!delivered) {
            struct timespec pause = {0, 20 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
    }
    CHECK(delivered == 1 && wait_for(&messages, 1));
    redisFree(pub);

    CHECK(redisAsyncCommand(c, start_late, NULL, "PING") == REDIS_OK);
    CHECK(wait_for(&late_replies, 2) && wait_for(&late_disconnected, 1));

    redisAsyncDisconnect(c);
    CHECK(wait_for(&disconnected, 1));
    redisAsyncFree(sub);
    CHECK(wait_for(&disconnected, 2));
    return finish("hiredis async_redcore_test");
}
