/* The end-to-end benchmark: one driver (e2e.c) and one small backend per client under test
 * (e2e_redcore.c, e2e_hiredis.c). The driver owns everything that could tilt a comparison:
 * the workloads, the keys and values, the threads, the clocks, the latency records, the CPU
 * accounting and the output; a backend only turns "send these commands, give me their
 * replies" into its client's calls. Both backends are built with the same flags. */
#ifndef REDCORE_BENCH_E2E_H
#define REDCORE_BENCH_E2E_H

#include <stddef.h>

/* What the driver was asked to connect to. */
typedef struct e2e_opts {
    const char *host;
    int port;
    /* TLS (--tls): verify the server against the CA in tls_ca (PEM) and its certificate's
     * name against `host`; a backend built without TLS refuses in backend_init. */
    int tls;
    const char *tls_ca;
    /* Callers that will connect (threads); hiredis opens one connection per caller. */
    int callers;
    /* --url: a cluster (`redis+cluster://h:p,...`) or any URL the client parses, instead of
     * host and port; a backend without URLs or cluster support refuses in backend_init. */
    const char *url;
} e2e_opts;

/* One command: up to 3 arguments (GET key, SET key value). */
typedef struct e2e_cmd {
    int argc;
    const char *argv[3];
    size_t lens[3];
} e2e_cmd;

/* The shape of a reply, which the driver checks against what the command must return. */
enum e2e_kind { E2E_STATUS = 1, E2E_BULK, E2E_NIL, E2E_ERROR, E2E_OTHER };

typedef struct e2e_reply {
    int kind;
    size_t len; /* bytes of a status or bulk reply */
} e2e_reply;

/* Makes command `i` of a run into `*cmd` (keys live in `keybuf`, 32 bytes, until the
 * command's reply is read). */
typedef void (*e2e_gen)(void *ctx, long i, e2e_cmd *cmd, char *keybuf);

typedef struct e2e_conn e2e_conn;

/* The client's name as it appears in results ("redcore", "hiredis"). */
const char *backend_name(void);
/* Once, before any caller connects. Returns 0, or -1 with a message in err. */
int backend_init(const e2e_opts *opts, char *err, size_t errlen);
void backend_shutdown(void);
/* Once per caller thread. NULL on failure (after printing why). */
e2e_conn *backend_connect(const e2e_opts *opts);
void backend_disconnect(e2e_conn *conn);
/* Connections the client holds for `callers` callers. */
int backend_connections(int callers);
/* A blocking call. Returns 0 and the reply's shape, or -1 on a client error. */
int backend_call(e2e_conn *conn, const e2e_cmd *cmd, e2e_reply *out);
/* Sends `n` commands together and reads their replies into out[0..n). 0 or -1. */
int backend_pipeline(e2e_conn *conn, int n, const e2e_cmd *cmds, e2e_reply *out);
/* Runs `n` commands made by `gen`, keeping up to `depth` in flight with callbacks; counts in
 * *bad the replies not of kind `expect` (E2E_STATUS "OK", E2E_BULK; 0: any but an error).
 * Returns 0, -1 on error, -2 when the client has no such API. */
int backend_window(e2e_conn *conn, long n, int depth, e2e_gen gen, void *ctx, int expect,
                   long *bad);

/* A chain (mode `chains`): commands issued one after another, each from the completion of
 * the one before, as the independent tasks of an asynchronous program issue theirs. The
 * driver makes the commands and checks the replies; a backend only carries them. */
typedef struct e2e_chain e2e_chain;

/* Hands the chain the reply to its command in flight (NULL on its first step) and returns
 * its next command, or NULL when the chain is done. The command lives until the next step. */
const e2e_cmd *e2e_chain_step(e2e_chain *chain, const e2e_reply *reply);

/* Runs `n` chains on one connection: issues each chain's first command, then each next one
 * from the completion of the one before, until every chain is done. Returns 0, -1 on
 * error, -2 when the client has no callback API. */
int backend_chains(e2e_conn *conn, int n, e2e_chain **chains);

#endif
