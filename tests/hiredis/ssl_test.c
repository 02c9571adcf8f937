/* TLS as hiredis's README shows it (hiredis_ssl.h): an SSL context from the CA and client
 * certificate files, redisInitiateSSLWithContext on a blocking context and on an async one,
 * verify_name, and the errors (missing key, unreadable CA, wrong name, a plain port, a context
 * associated twice). Against the TLS port of tests/tools/with-redis.sh (skipped without it). */
#include <string.h>

#include <adapters/poll.h>
#include <async.h>
#include <hiredis.h>
#include <hiredis_ssl.h>

#include "common.h"

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static redisContext *connect_tls(redisSSLContext *ssl) {
    redisContext *c = redisConnect(test_host(), atoi(env("REDCORE_TEST_TLS_PORT")));
    CHECK(c != NULL && c->err == 0);
    if (redisInitiateSSLWithContext(c, ssl) != REDIS_OK)
        fprintf(stderr, "TLS: %s\n", c->errstr);
    return c;
}

static void test_blocking(redisSSLContext *ssl) {
    redisContext *c = connect_tls(ssl);
    CHECK(c->err == 0);
    redisReply *reply = redisCommand(c, "SET tls-key %s", "over tls");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    reply = redisCommand(c, "GET tls-key");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "over tls") == 0);
    freeReplyObject(reply);

    /* Pipelining and a large value through TLS records. */
    static char big[200000];
    memset(big, 'x', sizeof big);
    CHECK(redisAppendCommand(c, "SET big %b", big, sizeof big) == REDIS_OK);
    CHECK(redisAppendCommand(c, "STRLEN big") == REDIS_OK);
    CHECK(redisAppendCommand(c, "GET big") == REDIS_OK);
    void *r;
    CHECK(redisGetReply(c, &r) == REDIS_OK && ((redisReply *)r)->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    CHECK(redisGetReply(c, &r) == REDIS_OK && ((redisReply *)r)->integer == (long long)sizeof big);
    freeReplyObject(r);
    CHECK(redisGetReply(c, &r) == REDIS_OK && ((redisReply *)r)->len == sizeof big);
    freeReplyObject(r);

    /* A second association is refused. */
    CHECK(redisInitiateSSLWithContext(c, ssl) == REDIS_ERR && c->err == REDIS_ERR_OTHER &&
          strcmp(c->errstr, "redisContext was already associated") == 0);
    redisFree(c);

    /* After a reconnect the context is plain again; TLS is initiated anew. */
    c = connect_tls(ssl);
    CHECK(redisReconnect(c) == REDIS_OK);
    CHECK(redisInitiateSSLWithContext(c, ssl) == REDIS_OK);
    reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);
}

static int async_done, async_freed;

static void on_free(void *data) {
    *(int *)data = 1;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    (void)privdata;
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "over tls") == 0);
    async_done = 1;
    redisAsyncDisconnect(ac);
}

static void test_async(redisSSLContext *ssl) {
    redisAsyncContext *ac = redisAsyncConnect(test_host(), atoi(env("REDCORE_TEST_TLS_PORT")));
    CHECK(ac != NULL && ac->err == 0);
    /* As in hiredis: right after the (non-blocking) connect, before the loop runs. */
    CHECK(redisInitiateSSLWithContext(&ac->c, ssl) == REDIS_OK);
    redisPollAttach(ac);
    ac->data = &async_freed;
    ac->dataCleanup = on_free;
    redisAsyncCommand(ac, on_reply, NULL, "GET tls-key");
    /* The reply callback disconnects; the context is freed once that is done. */
    for (int i = 0; i < 100 && !async_freed; i++)
        redisPollTick(ac, 0.05);
    CHECK(async_done && async_freed);
}

static void test_errors(void) {
    redisSSLContextError err = REDIS_SSL_CTX_NONE;
    CHECK(redisCreateSSLContext(env("REDCORE_TEST_TLS_CA"), NULL, env("REDCORE_TEST_TLS_CERT"),
                                NULL, NULL, &err) == NULL &&
          err == REDIS_SSL_CTX_CERT_KEY_REQUIRED);
    CHECK(strcmp(redisSSLContextGetError(err),
                 "Client cert and key must both be specified or skipped") == 0);
    CHECK(redisCreateSSLContext("/nonexistent/ca.crt", NULL, NULL, NULL, NULL, &err) == NULL &&
          err == REDIS_SSL_CTX_CA_CERT_LOAD_FAILED);
    CHECK(strcmp(redisSSLContextGetError((redisSSLContextError)99), "Unknown error code") == 0);

    /* A name the server's certificate (localhost, 127.0.0.1) does not carry. */
    redisSSLOptions opt = {0};
    opt.cacert_filename = env("REDCORE_TEST_TLS_CA");
    opt.verify_mode = REDIS_SSL_VERIFY_PEER;
    opt.verify_name = "wrong.example.com";
    redisSSLContext *wrong = redisCreateSSLContextWithOptions(&opt, &err);
    CHECK(wrong != NULL && err == REDIS_SSL_CTX_NONE);
    redisContext *c = connect_tls(wrong);
    CHECK(c->err == REDIS_ERR_IO && strstr(c->errstr, "not valid for") != NULL);
    redisFree(c);
    redisFreeSSLContext(wrong);

    /* Without verify_name only the chain is checked (server_name is just SNI), as in hiredis:
     * a name the certificate does not carry is accepted. */
    redisSSLContext *sni = redisCreateSSLContext(env("REDCORE_TEST_TLS_CA"), NULL, NULL, NULL,
                                                 "not-in-the-certificate.example", &err);
    c = connect_tls(sni);
    CHECK(c->err == 0);
    redisFree(c);
    redisFreeSSLContext(sni);

    /* The right name. */
    opt.verify_name = "localhost";
    redisSSLContext *right = redisCreateSSLContextWithOptions(&opt, &err);
    c = connect_tls(right);
    CHECK(c->err == 0);
    redisReply *reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisFree(c);
    redisFreeSSLContext(right);

    /* TLS against the plain port fails the handshake instead of hanging. */
    redisSSLContext *ssl = redisCreateSSLContext(env("REDCORE_TEST_TLS_CA"), NULL, NULL, NULL, NULL, &err);
    c = redisConnect(test_host(), test_port());
    struct timeval tv = {2, 0};
    redisSetTimeout(c, tv);
    CHECK(redisInitiateSSLWithContext(c, ssl) == REDIS_ERR && c->err != 0);
    redisFree(c);
    redisFreeSSLContext(ssl);
    redisFreeSSLContext(NULL);
}

int main(void) {
    if (!env("REDCORE_TEST_TLS_PORT")) {
        printf("hiredis ssl_test: no TLS port (openssl missing?), skipped\n");
        return 0;
    }
    CHECK(redisInitOpenSSL() == REDIS_OK);
    redisSSLContextError err = REDIS_SSL_CTX_CREATE_FAILED;
    redisSSLContext *ssl = redisCreateSSLContext(env("REDCORE_TEST_TLS_CA"), NULL,
                                                 env("REDCORE_TEST_TLS_CERT"),
                                                 env("REDCORE_TEST_TLS_KEY"), "localhost", &err);
    CHECK(ssl != NULL && err == REDIS_SSL_CTX_NONE);
    if (ssl == NULL)
        return finish("hiredis ssl_test");
    test_blocking(ssl);
    test_async(ssl);
    redisFreeSSLContext(ssl);
    test_errors();
    return finish("hiredis ssl_test");
}
