/* pipeline.c: pipelines, transactions and a dedicated connection.
 *
 *   1. a pipeline of 100 SETs and 100 GETs, run blocking, each result checked;
 *   2. a transaction (MULTI ... EXEC) in which one command fails, with each command's result;
 *   3. a pipeline run asynchronously, its results read in a callback;
 *   4. an optimistic update on a dedicated connection: WATCH, GET, MULTI, SET, EXEC.
 *
 * Connects as basic.c does. Exits 0 on success, 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep: also under -std=c11 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redcore.h"

#define PAIRS 100
#define WAIT_SECONDS 10

static const char *server_url(char *buf, size_t cap) {
    const char *url = getenv("REDCORE_TEST_URL");
    const char *host = getenv("REDCORE_TEST_HOST");
    const char *port = getenv("REDCORE_TEST_PORT");
    if (url != NULL && url[0] != '\0') {
        return url;
    }
    snprintf(buf, cap, "redis://%s:%s", host ? host : "127.0.0.1", port ? port : "6379");
    return buf;
}

/* Appends a command of NUL-terminated arguments; prints why and returns false if refused. */
static bool append(redcore_pipeline *pipeline, int argc, const char *const *argv) {
    redcore_error *err = NULL;
    if (redcore_pipeline_append(pipeline, argc, argv, NULL, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot append %s: %s\n", argv[0], redcore_error_message(err));
        redcore_error_free(err);
        return false;
    }
    return true;
}

/* Prints result `i`: its reply, or its error. Both are borrowed from `result`. */
static void print_result(const redcore_pipeline_result *result, size_t i) {
    const redcore_reply *reply = NULL;
    const redcore_error *err = NULL;
    redcore_error_code code = redcore_pipeline_result_get(result, i, &reply, &err);
    if (code != REDCORE_OK) {
        printf("    [%zu] error %s: %s\n", i, redcore_error_code_name(code),
               redcore_error_message(err));
    } else if (redcore_reply_get_type(reply) == REDCORE_REPLY_INTEGER) {
        printf("    [%zu] (integer) %lld\n", i, (long long)redcore_reply_integer(reply));
    } else {
        const char *text = redcore_reply_string(reply, NULL);
        printf("    [%zu] %s\n", i, text ? text : "(nil)");
    }
}

/* ---- 1. A plain pipeline ------------------------------------------------------------------ */

static bool set_and_get(redcore_client *client) {
    printf("a pipeline of %d SETs and %d GETs:\n", PAIRS, PAIRS);
    redcore_pipeline *pipeline = NULL;
    redcore_pipeline_result *result = NULL;
    redcore_error *err = NULL;
    bool ok = false;
    char key[32], value[32];

    if (redcore_pipeline_new(false, &pipeline) != REDCORE_OK) {
        return false;
    }
    /* Arguments are copied by append, so `key` and `value` can be reused at once. */
    for (int i = 0; i < PAIRS; i++) {
        snprintf(key, sizeof key, "example:pipe:%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        const char *set[] = {"SET", key, value};
        if (!append(pipeline, 3, set)) goto out;
    }
    for (int i = 0; i < PAIRS; i++) {
        snprintf(key, sizeof key, "example:pipe:%d", i);
        const char *get[] = {"GET", key};
        if (!append(pipeline, 2, get)) goto out;
    }

    /* All the commands go out together on one connection; one round trip in all. */
    redcore_error_code code = redcore_client_pipeline_run_blocking(client, pipeline, &result, &err);
    if (code != REDCORE_OK) {
        fprintf(stderr, "pipeline failed: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        goto out;
    }
    /* The run succeeded; each command may still have failed on its own. */
    size_t good = 0;
    for (size_t i = 0; i < redcore_pipeline_result_len(result); i++) {
        const redcore_reply *reply = NULL;
        const redcore_error *cmd_err = NULL;
        if (redcore_pipeline_result_get(result, i, &reply, &cmd_err) != REDCORE_OK) {
            fprintf(stderr, "  command %zu failed: %s\n", i, redcore_error_message(cmd_err));
            continue; /* cmd_err is borrowed from `result`: not freed here */
        }
        const char *text = redcore_reply_string(reply, NULL);
        if (i < PAIRS) {
            snprintf(value, sizeof value, "OK");
        } else {
            snprintf(value, sizeof value, "value-%zu", i - PAIRS);
        }
        if (text != NULL && strcmp(text, value) == 0) {
            good++;
        } else {
            fprintf(stderr, "  command %zu answered %s, expected %s\n", i, text, value);
        }
    }
    printf("  %zu results, %zu as expected; the first SET and GET:\n",
           redcore_pipeline_result_len(result), good);
    print_result(result, 0);
    print_result(result, PAIRS);
    ok = good == 2 * PAIRS;
out:
    redcore_pipeline_result_free(result);
    redcore_pipeline_free(pipeline);
    return ok;
}

/* ---- 2. A transaction --------------------------------------------------------------------- */

static bool transaction(redcore_client *client) {
    printf("a transaction in which one command fails:\n");
    redcore_pipeline *tx = NULL;
    redcore_pipeline_result *result = NULL;
    redcore_error *err = NULL;
    bool ok = false;

    /* MULTI and EXEC are added by redcore: append only the commands. */
    if (redcore_pipeline_new(true, &tx) != REDCORE_OK) {
        return false;
    }
    const char *reset[] = {"DEL", "example:tx:a", "example:tx:b"};
    const char *incr_a[] = {"INCR", "example:tx:a"};
    const char *incr_b[] = {"INCRBY", "example:tx:b", "10"};
    const char *bad[] = {"INCR", "example:pipe:0"}; /* holds "value-0", not a number */
    if (!append(tx, 3, reset) || !append(tx, 2, incr_a) || !append(tx, 3, incr_b) ||
        !append(tx, 2, bad)) {
        goto out;
    }
    redcore_error_code code = redcore_client_pipeline_run_blocking(client, tx, &result, &err);
    if (code != REDCORE_OK) {
        fprintf(stderr, "transaction failed: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        goto out;
    }
    /* Redis queued all four and ran them; only the last failed, when it ran, so the others
     * took effect. (A command refused when queued, such as an unknown one, would have aborted
     * the whole transaction: the others would report REDCORE_ERR_EXEC_ABORT.) */
    for (size_t i = 0; i < redcore_pipeline_result_len(result); i++) {
        print_result(result, i);
    }
    const redcore_reply *reply = NULL;
    ok = redcore_pipeline_result_len(result) == 4 &&
         redcore_pipeline_result_get(result, 1, &reply, NULL) == REDCORE_OK &&
         redcore_reply_integer(reply) == 1 &&
         redcore_pipeline_result_get(result, 2, &reply, NULL) == REDCORE_OK &&
         redcore_reply_integer(reply) == 10 &&
         redcore_pipeline_result_get(result, 3, &reply, NULL) == REDCORE_ERR_RESPONSE;
out:
    redcore_pipeline_result_free(result);
    redcore_pipeline_free(tx);
    return ok;
}

/* ---- 3. An asynchronous pipeline ---------------------------------------------------------- */

struct pipeline_done {
    atomic_int answered; /* results that were replies */
    atomic_bool done;
};

/* Runs once, on the client's event-loop thread, with every result. `result`, and the replies
 * and errors read from it, are borrowed until this returns. */
static void on_pipeline(void *userdata, const redcore_pipeline_result *result) {
    struct pipeline_done *state = userdata;
    printf("  callback: %zu results\n", redcore_pipeline_result_len(result));
    for (size_t i = 0; i < redcore_pipeline_result_len(result); i++) {
        const redcore_reply *reply = NULL;
        if (redcore_pipeline_result_get(result, i, &reply, NULL) == REDCORE_OK) {
            atomic_fetch_add(&state->answered, 1);
        }
        print_result(result, i);
    }
    atomic_store(&state->done, true);
}

/* `state` must stay valid until the callback has run: it lives in main. */
static bool async_pipeline(redcore_client *client, struct pipeline_done *state) {
    printf("a pipeline run asynchronously:\n");
    redcore_pipeline *pipeline = NULL;
    if (redcore_pipeline_new(false, &pipeline) != REDCORE_OK) {
        return false;
    }
    const char *ping[] = {"PING"};
    const char *incr[] = {"INCR", "example:tx:a"};
    const char *get[] = {"GET", "example:pipe:42"};
    bool appended = append(pipeline, 1, ping) && append(pipeline, 2, incr) &&
                    append(pipeline, 2, get);
    redcore_error_code code = REDCORE_ERR_INVALID_ARGUMENT;
    if (appended) {
        code = redcore_client_pipeline_run(client, pipeline, on_pipeline, state, NULL);
    }
    /* The run holds its own copy of the commands: the pipeline can go at once. */
    redcore_pipeline_free(pipeline);
    if (code != REDCORE_OK) {
        fprintf(stderr, "cannot run the pipeline: %s\n", redcore_error_code_name(code));
        return false;
    }
    struct timespec tick = {0, 1000000}; /* 1 ms */
    for (int waited_ms = 0; !atomic_load(&state->done); waited_ms++) {
        if (waited_ms > WAIT_SECONDS * 1000) {
            fprintf(stderr, "the pipeline callback did not run within %d s\n", WAIT_SECONDS);
            return false;
        }
        nanosleep(&tick, NULL);
    }
    return atomic_load(&state->answered) == 3;
}

/* ---- 4. WATCH / MULTI / EXEC on a dedicated connection ------------------------------------ */

/* Runs one command on the dedicated connection; returns its reply or NULL (error printed). */
static redcore_reply *run(redcore_dedicated *conn, int argc, const char *const *argv) {
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_dedicated_command_blocking(conn, argc, argv, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "  %s failed: %s\n", argv[0], redcore_error_message(err));
        redcore_error_free(err);
        return NULL;
    }
    return reply;
}

static bool optimistic_update(redcore_client *client) {
    printf("WATCH / GET / MULTI / SET / EXEC on a dedicated connection:\n");
    /* WATCH and MULTI change the state of the connection they run on, so they are refused on
     * the client's shared connections: take one for ourselves. */
    redcore_dedicated *conn = NULL;
    redcore_error *err = NULL;
    if (redcore_client_dedicated(client, &conn, &err) != REDCORE_OK) {
        fprintf(stderr, "no dedicated connection: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return false;
    }
    bool ok = false;
    redcore_reply *reply = NULL;
    const char *watch[] = {"WATCH", "example:tx:a"};
    const char *get[] = {"GET", "example:tx:a"};
    const char *multi[] = {"MULTI"};
    const char *exec[] = {"EXEC"};
    char doubled[32];
    const char *set[] = {"SET", "example:tx:a", doubled};

    if ((reply = run(conn, 2, watch)) == NULL) goto out;
    redcore_reply_free(reply);
    if ((reply = run(conn, 2, get)) == NULL) goto out;
    const char *text = redcore_reply_string(reply, NULL);
    long long current = text ? atoll(text) : 0;
    redcore_reply_free(reply);
    snprintf(doubled, sizeof doubled, "%lld", current * 2);
    printf("  example:tx:a is %lld; setting it to %s unless someone changes it first\n",
           current, doubled);
    if ((reply = run(conn, 1, multi)) == NULL) goto out;
    redcore_reply_free(reply);
    if ((reply = run(conn, 3, set)) == NULL) goto out; /* answers QUEUED */
    redcore_reply_free(reply);
    if ((reply = run(conn, 1, exec)) == NULL) goto out;
    /* EXEC answers one reply per queued command, or nil when a watched key changed. */
    if (redcore_reply_get_type(reply) == REDCORE_REPLY_NULL) {
        printf("  EXEC -> nil: the key changed, nothing was written (retry in real code)\n");
    } else {
        printf("  EXEC -> %zu reply: %s\n", redcore_reply_len(reply),
               redcore_reply_string(redcore_reply_element(reply, 0), NULL));
        ok = true;
    }
    redcore_reply_free(reply);
out:
    /* Back to the client; a MULTI or WATCH left open (after an error above) is undone. */
    redcore_dedicated_release(conn);
    return ok;
}

int main(void) {
    char buf[256];
    const char *url = server_url(buf, sizeof buf);
    redcore_config *config = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    redcore_error_code code = redcore_config_from_url(url, &config, &err);
    if (code == REDCORE_OK) {
        code = redcore_client_new(config, &client, &err);
        redcore_config_free(config);
    }
    if (code != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    printf("connected to %s\n", url);

    struct pipeline_done state = {0};
    bool ok = set_and_get(client) && transaction(client) && async_pipeline(client, &state) &&
              optimistic_update(client);

    /* Completes any callback still pending before it returns: `state` may go after this. */
    redcore_client_free(client);
    printf("pipeline: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
