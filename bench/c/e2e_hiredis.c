/* hiredis 1.5.0 behind the e2e driver: a synchronous context per caller thread (hiredis
 * contexts are not thread-safe), redisCommandArgv for blocking calls, and
 * redisAppendCommandArgv + redisGetReply for pipelines. hiredis has no callback API without
 * an external event loop, so `window` is not offered.
 *
 * Built twice: e2e-hiredis (TCP only, as before) and, with -DE2E_HIREDIS_SSL and hiredis's
 * ssl.c on OpenSSL, e2e-hiredis-tls, which also takes --tls (hiredis_ssl: one SSL context
 * shared by every connection, verifying the chain and the host name). */
#include <stdio.h>
#include <stdlib.h>

#include <hiredis.h>
#ifdef E2E_HIREDIS_SSL
#include <hiredis_ssl.h>
#endif

#if HIREDIS_MAJOR != 1 || HIREDIS_MINOR != 5
#error "built against the wrong hiredis headers: expected the vendored 1.5"
#endif

#include "e2e.h"

struct e2e_conn {
    redisContext *ctx;
};

const char *backend_name(void) { return "hiredis"; }

#ifdef E2E_HIREDIS_SSL
static redisSSLContext *SSL_CTX_SHARED;
#endif

int backend_init(const e2e_opts *opts, char *err, size_t errlen) {
    if (opts->url) {
        snprintf(err, errlen, "hiredis takes no URL (and has no cluster client)");
        return -1;
    }
    if (!opts->tls) return 0;
#ifdef E2E_HIREDIS_SSL
    redisSSLContextError e = REDIS_SSL_CTX_NONE;
    redisSSLOptions o = {0};
    o.cacert_filename = opts->tls_ca;
    o.verify_mode = REDIS_SSL_VERIFY_PEER;
    o.verify_name = opts->host; /* as rustls (redcore, redis-rs) checks it */
    redisInitOpenSSL();
    SSL_CTX_SHARED = redisCreateSSLContextWithOptions(&o, &e);
    if (SSL_CTX_SHARED == NULL) {
        snprintf(err, errlen, "redisCreateSSLContextWithOptions: %s",
                 redisSSLContextGetError(e));
        return -1;
    }
    return 0;
#else
    snprintf(err, errlen, "built without TLS: use e2e-hiredis-tls");
    return -1;
#endif
}

void backend_shutdown(void) {
#ifdef E2E_HIREDIS_SSL
    redisFreeSSLContext(SSL_CTX_SHARED);
    SSL_CTX_SHARED = NULL;
#endif
}

e2e_conn *backend_connect(const e2e_opts *opts) {
    e2e_conn *conn = malloc(sizeof *conn);
    if (conn == NULL) return NULL;
    conn->ctx = redisConnect(opts->host, opts->port);
    if (conn->ctx == NULL || conn->ctx->err) {
        fprintf(stderr, "hiredis: cannot connect: %s\n",
                conn->ctx ? conn->ctx->errstr : "out of memory");
        redisFree(conn->ctx);
        free(conn);
        return NULL;
    }
    /* redcore and redis-rs set TCP_NODELAY; so does hiredis's redisConnect (net.c). */
#ifdef E2E_HIREDIS_SSL
    if (opts->tls && redisInitiateSSLWithContext(conn->ctx, SSL_CTX_SHARED) != REDIS_OK) {
        fprintf(stderr, "hiredis: TLS handshake failed: %s\n", conn->ctx->errstr);
        redisFree(conn->ctx);
        free(conn);
        return NULL;
    }
#endif
    return conn;
}

void backend_disconnect(e2e_conn *conn) {
    if (conn == NULL) return;
    redisFree(conn->ctx);
    free(conn);
}

int backend_connections(int callers) { return callers; }

static void shape(const redisReply *reply, e2e_reply *out) {
    out->len = 0;
    switch (reply->type) {
    case REDIS_REPLY_STATUS:
        out->kind = E2E_STATUS;
        out->len = reply->len;
        break;
    case REDIS_REPLY_STRING:
        out->kind = E2E_BULK;
        out->len = reply->len;
        break;
    case REDIS_REPLY_NIL:
        out->kind = E2E_NIL;
        break;
    case REDIS_REPLY_ERROR:
        out->kind = E2E_ERROR;
        break;
    default:
        out->kind = E2E_OTHER;
    }
}

/* hiredis takes `const char **` but does not write through it; hence the casts below. */
int backend_call(e2e_conn *conn, const e2e_cmd *cmd, e2e_reply *out) {
    redisReply *reply =
        redisCommandArgv(conn->ctx, cmd->argc, (const char **)cmd->argv, cmd->lens);
    if (reply == NULL) return -1;
    shape(reply, out);
    freeReplyObject(reply);
    return 0;
}

int backend_pipeline(e2e_conn *conn, int n, const e2e_cmd *cmds, e2e_reply *out) {
    for (int i = 0; i < n; i++)
        if (redisAppendCommandArgv(conn->ctx, cmds[i].argc, (const char **)cmds[i].argv,
                                   cmds[i].lens) != REDIS_OK)
            return -1;
    for (int i = 0; i < n; i++) {
        void *reply = NULL;
        if (redisGetReply(conn->ctx, &reply) != REDIS_OK || reply == NULL) return -1;
        shape(reply, &out[i]);
        freeReplyObject(reply);
    }
    return 0;
}

int backend_window(e2e_conn *conn, long n, int depth, e2e_gen gen, void *ctx, int expect,
                   long *bad) {
    (void)conn, (void)n, (void)depth, (void)gen, (void)ctx, (void)expect, (void)bad;
    return -2;
}
