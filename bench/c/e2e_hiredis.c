/* hiredis 1.5.0 behind the e2e driver: a synchronous context per caller thread (hiredis
 * contexts are not thread-safe), redisCommandArgv for blocking calls, and
 * redisAppendCommandArgv + redisGetReply for pipelines. Chains run on hiredis's async API
 * (redisAsyncCommandArgv) driven by a libevent event_base on the caller's thread, on an
 * async context of their own. `window` is not offered: a window of W kept full from the
 * completions is what `chains` with W chains does.
 *
 * Built twice: e2e-hiredis (TCP only, as before) and, with -DE2E_HIREDIS_SSL and hiredis's
 * ssl.c on OpenSSL, e2e-hiredis-tls, which also takes --tls (hiredis_ssl: one SSL context
 * shared by every connection, verifying the chain and the host name). */
#include <stdio.h>
#include <stdlib.h>

#include <async.h>
#include <event2/event.h>
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
    const e2e_opts *opts;
    /* The chains' async context and its loop, made by the first run of chains. */
    struct event_base *base;
    redisAsyncContext *ac;
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
    e2e_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) return NULL;
    conn->opts = opts;
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
    if (conn->ac) redisAsyncFree(conn->ac); /* its cleanup hook frees the events */
    if (conn->base) event_base_free(conn->base);
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

/* ---- the async API on libevent ---------------------------------------------------------- */

/* The sdist vendors no adapters/ directory, so this is the glue to libevent, written here on
 * async.h's `ev` hooks: a persistent read event, and a one-shot write event added while the
 * context has output. No timer: no timeout is set. */
typedef struct loop_events {
    redisAsyncContext *ac;
    struct event *rd, *wr;
} loop_events;

static void on_readable(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    redisAsyncHandleRead(((loop_events *)arg)->ac);
}

static void on_writable(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    redisAsyncHandleWrite(((loop_events *)arg)->ac);
}

static void ev_add_read(void *p) { event_add(((loop_events *)p)->rd, NULL); }
static void ev_del_read(void *p) { event_del(((loop_events *)p)->rd); }
static void ev_add_write(void *p) { event_add(((loop_events *)p)->wr, NULL); }
static void ev_del_write(void *p) { event_del(((loop_events *)p)->wr); }

static void ev_cleanup(void *p) {
    loop_events *e = p;
    event_free(e->rd);
    event_free(e->wr);
    free(e);
}

static int loop_attach(redisAsyncContext *ac, struct event_base *base) {
    loop_events *e = calloc(1, sizeof *e);
    if (e == NULL) return -1;
    e->ac = ac;
    e->rd = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, on_readable, e);
    e->wr = event_new(base, ac->c.fd, EV_WRITE, on_writable, e);
    if (e->rd == NULL || e->wr == NULL) {
        if (e->rd) event_free(e->rd);
        if (e->wr) event_free(e->wr);
        free(e);
        return -1;
    }
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

static int async_connect(e2e_conn *conn) {
    if (conn->ac) return 0;
    if (conn->opts->tls) {
        fprintf(stderr, "hiredis: the async runs are TCP only\n");
        return -1;
    }
    conn->base = event_base_new();
    conn->ac = redisAsyncConnect(conn->opts->host, conn->opts->port); /* TCP_NODELAY, net.c */
    if (conn->base == NULL || conn->ac == NULL || conn->ac->err ||
        loop_attach(conn->ac, conn->base) != 0) {
        fprintf(stderr, "hiredis: cannot connect async: %s\n",
                conn->ac ? conn->ac->errstr : "out of memory");
        return -1;
    }
    return 0;
}

/* ---- chains ------------------------------------------------------------------------------- */

/* The run the chains report to, kept in the context's `data`; each command's privdata is
 * its chain. */
typedef struct chain_run {
    struct event_base *base;
    int running;
    int failed;
} chain_run;

static void on_chain_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Issues the chain's command `cmd`, or ends the chain when there is none (or it fails); the
 * last chain to end stops the loop. */
static void chain_issue(redisAsyncContext *ac, e2e_chain *chain, const e2e_cmd *cmd) {
    chain_run *run = ac->data;
    if (cmd != NULL && redisAsyncCommandArgv(ac, on_chain_reply, chain, cmd->argc,
                                             (const char **)cmd->argv, cmd->lens) == REDIS_OK)
        return;
    run->failed |= cmd != NULL;
    if (--run->running == 0) event_base_loopbreak(run->base);
}

/* In the event loop: the reply (freed by hiredis when this returns; NULL when the context
 * went away) and the chain's next command. */
static void on_chain_reply(redisAsyncContext *ac, void *reply, void *privdata) {
    e2e_reply r = {E2E_ERROR, 0};
    if (reply == NULL) {
        ((chain_run *)ac->data)->failed = 1;
        chain_issue(ac, privdata, NULL);
        return;
    }
    shape(reply, &r);
    chain_issue(ac, privdata, e2e_chain_step(privdata, &r));
}

int backend_chains(e2e_conn *conn, int n, e2e_chain **chains) {
    if (async_connect(conn) != 0) return -1;
    chain_run run = {conn->base, n, 0};
    conn->ac->data = &run;
    for (int i = 0; i < n; i++) chain_issue(conn->ac, chains[i], e2e_chain_step(chains[i], NULL));
    /* Returns at the loop break, or early when nothing is left to watch (a lost connection). */
    if (run.running > 0) event_base_dispatch(conn->base);
    conn->ac->data = NULL;
    return run.failed || run.running > 0 ? -1 : 0;
}
