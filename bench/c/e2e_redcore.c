/* redcore behind the e2e driver: one client with its default pool (one multiplexed
 * connection per node) shared by every caller thread; blocking calls, pipelines (a
 * redcore_pipeline per caller, reused), callbacks (a window kept full by the caller's
 * thread, or chains that issue their next command from the completion); over TCP or TLS;
 * one server, or a cluster given by its URL. */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <redcore.h>

#include "e2e.h"

struct e2e_conn {
    redcore_client *client;
    redcore_pipeline *pipeline; /* this caller's, cleared and refilled for each run */
};

static redcore_client *CLIENT;
static int CLUSTER; /* connected with --url: the server-side count is the harness's */

const char *backend_name(void) { return "redcore"; }

int backend_init(const e2e_opts *opts, char *err, size_t errlen) {
    redcore_config *cfg = NULL;
    redcore_error *e = NULL;
    CLUSTER = opts->url != NULL;
    if ((opts->url ? redcore_config_from_url(opts->url, &cfg, &e) != REDCORE_OK
                   : (redcore_config_new(&cfg) != REDCORE_OK ||
                      redcore_config_set_host(cfg, opts->host, (uint16_t)opts->port, &e) !=
                          REDCORE_OK)) ||
        /* RESP2, as the peers speak it by default: the same bytes on the wire for all. */
        redcore_config_set_protocol(cfg, 2, &e) != REDCORE_OK ||
        /* TLS: rustls, verifying the chain against the CA file and the name against host. */
        (opts->tls && (redcore_config_set_tls(cfg, true, &e) != REDCORE_OK ||
                       redcore_config_set_tls_ca_file(cfg, opts->tls_ca, &e) != REDCORE_OK)) ||
        redcore_client_new(cfg, &CLIENT, &e) != REDCORE_OK) {
        snprintf(err, errlen, "%s", e ? redcore_error_message(e) : "config failed");
        redcore_error_free(e);
        redcore_config_free(cfg);
        return -1;
    }
    redcore_config_free(cfg);
    return 0;
}

void backend_shutdown(void) { redcore_client_free(CLIENT); }

e2e_conn *backend_connect(const e2e_opts *opts) {
    (void)opts;
    e2e_conn *conn = malloc(sizeof *conn);
    if (conn == NULL) return NULL;
    conn->client = CLIENT;
    if (redcore_pipeline_new(false, &conn->pipeline) != REDCORE_OK) {
        fprintf(stderr, "redcore: redcore_pipeline_new failed\n");
        free(conn);
        return NULL;
    }
    return conn;
}

void backend_disconnect(e2e_conn *conn) {
    if (conn == NULL) return;
    redcore_pipeline_free(conn->pipeline);
    free(conn);
}

/* The connections this client holds, as the server counts them (`connected_clients`: the
 * driver is the server's only client while it runs): the shared one plus any direct
 * connections blocking callers opened. -1 when it cannot be asked, and on a cluster, where
 * INFO reaches one node of several (bench/cluster.py counts on every node instead). */
int backend_connections(int callers) {
    (void)callers;
    if (CLUSTER) return -1;
    const char *argv[] = {"INFO", "clients"};
    size_t lens[] = {4, 7};
    redcore_reply *reply = NULL;
    if (redcore_client_command_blocking(CLIENT, 2, argv, lens, &reply, NULL) != REDCORE_OK)
        return -1;
    size_t len = 0;
    const char *text = redcore_reply_string(reply, &len);
    const char *field = text ? strstr(text, "connected_clients:") : NULL;
    int n = field ? atoi(field + strlen("connected_clients:")) : -1;
    redcore_reply_free(reply);
    return n;
}

static void shape(const redcore_reply *reply, e2e_reply *out) {
    size_t len = 0;
    switch (redcore_reply_get_type(reply)) {
    case REDCORE_REPLY_SIMPLE:
        redcore_reply_string(reply, &len);
        out->kind = E2E_STATUS;
        break;
    case REDCORE_REPLY_BULK:
        redcore_reply_string(reply, &len);
        out->kind = E2E_BULK;
        break;
    case REDCORE_REPLY_NULL:
        out->kind = E2E_NIL;
        break;
    default:
        out->kind = E2E_OTHER;
    }
    out->len = len;
}

int backend_call(e2e_conn *conn, const e2e_cmd *cmd, e2e_reply *out) {
    redcore_reply *reply = NULL;
    redcore_error_code rc = redcore_client_command_blocking(conn->client, cmd->argc, cmd->argv,
                                                            cmd->lens, &reply, NULL);
    if (rc != REDCORE_OK) {
        out->kind = E2E_ERROR;
        out->len = 0;
        /* A server error reply is a reply (a wrong one); anything else is a failed call. */
        return redcore_error_code_is(rc, REDCORE_ERR_RESPONSE) ? 0 : -1;
    }
    shape(reply, out);
    redcore_reply_free(reply);
    return 0;
}

int backend_pipeline(e2e_conn *conn, int n, const e2e_cmd *cmds, e2e_reply *out) {
    redcore_pipeline_result *result = NULL;
    redcore_pipeline_clear(conn->pipeline);
    for (int i = 0; i < n; i++)
        if (redcore_pipeline_append(conn->pipeline, cmds[i].argc, cmds[i].argv, cmds[i].lens,
                                    NULL) != REDCORE_OK)
            return -1;
    if (redcore_client_pipeline_run_blocking(conn->client, conn->pipeline, &result, NULL) !=
        REDCORE_OK)
        return -1;
    for (int i = 0; i < n; i++) {
        const redcore_reply *reply = NULL;
        if (redcore_pipeline_result_get(result, (size_t)i, &reply, NULL) == REDCORE_OK) {
            shape(reply, &out[i]);
        } else {
            out[i].kind = E2E_ERROR;
            out[i].len = 0;
        }
    }
    redcore_pipeline_result_free(result);
    return 0;
}

/* ---- callbacks ---------------------------------------------------------------------------- */

typedef struct window {
    sem_t slots; /* free places in the window */
    int expect;
    long bad;
    pthread_mutex_t lock;
} window;

static void on_reply(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    window *w = userdata;
    int ok;
    if (err != NULL) {
        ok = 0;
    } else {
        e2e_reply r;
        shape(reply, &r);
        ok = w->expect == 0 || r.kind == w->expect;
    }
    if (!ok) {
        pthread_mutex_lock(&w->lock);
        w->bad++;
        pthread_mutex_unlock(&w->lock);
    }
    sem_post(&w->slots);
}

int backend_window(e2e_conn *conn, long n, int depth, e2e_gen gen, void *ctx, int expect,
                   long *bad) {
    window w;
    char keybuf[32];
    e2e_cmd cmd;
    int rc = 0;
    w.expect = expect;
    w.bad = 0;
    pthread_mutex_init(&w.lock, NULL);
    sem_init(&w.slots, 0, (unsigned)depth);
    for (long i = 0; i < n; i++) {
        while (sem_wait(&w.slots) != 0) {
        }
        gen(ctx, i, &cmd, keybuf);
        if (redcore_client_command(conn->client, cmd.argc, cmd.argv, cmd.lens, on_reply, &w, NULL) !=
            REDCORE_OK) {
            sem_post(&w.slots);
            rc = -1;
            break;
        }
    }
    for (int i = 0; i < depth; i++) /* every callback has run */
        while (sem_wait(&w.slots) != 0) {
        }
    sem_destroy(&w.slots);
    pthread_mutex_destroy(&w.lock);
    *bad += w.bad;
    return rc;
}

/* ---- chains ------------------------------------------------------------------------------- */

/* The run every chain reports to when it ends; the caller waits for the last. */
typedef struct chain_run {
    pthread_mutex_t lock;
    pthread_cond_t ended;
    int running;
    int failed;
} chain_run;

typedef struct chain_link {
    chain_run *run;
    e2e_chain *chain;
    redcore_client *client;
} chain_link;

static void chain_end(chain_run *run, int failed) {
    pthread_mutex_lock(&run->lock);
    run->failed |= failed;
    if (--run->running == 0) pthread_cond_signal(&run->ended);
    pthread_mutex_unlock(&run->lock);
}

static void on_chain_reply(void *userdata, const redcore_reply *reply, const redcore_error *err);

/* Issues the chain's command `cmd`, or ends the chain when there is none (or it fails). */
static void chain_issue(chain_link *l, const e2e_cmd *cmd) {
    if (cmd == NULL) {
        chain_end(l->run, 0);
    } else if (redcore_client_command(l->client, cmd->argc, cmd->argv, cmd->lens,
                                      on_chain_reply, l, NULL) != REDCORE_OK) {
        chain_end(l->run, 1);
    }
}

/* On a library thread: the reply to the chain's command, and its next one submitted from
 * here, as the callback contract allows. */
static void on_chain_reply(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    chain_link *l = userdata;
    e2e_reply r = {E2E_ERROR, 0};
    if (err == NULL) shape(reply, &r);
    chain_issue(l, e2e_chain_step(l->chain, &r));
}

int backend_chains(e2e_conn *conn, int n, e2e_chain **chains) {
    chain_run run;
    chain_link *links = malloc((size_t)n * sizeof *links);
    if (links == NULL) return -1;
    pthread_mutex_init(&run.lock, NULL);
    pthread_cond_init(&run.ended, NULL);
    run.running = n; /* before the first submission: a chain may end before the last starts */
    run.failed = 0;
    for (int i = 0; i < n; i++) {
        links[i].run = &run;
        links[i].chain = chains[i];
        links[i].client = conn->client;
        chain_issue(&links[i], e2e_chain_step(chains[i], NULL));
    }
    pthread_mutex_lock(&run.lock);
    while (run.running > 0) pthread_cond_wait(&run.ended, &run.lock);
    pthread_mutex_unlock(&run.lock);
    pthread_cond_destroy(&run.ended);
    pthread_mutex_destroy(&run.lock);
    free(links);
    return run.failed ? -1 : 0;
}
