/* The transaction helper (redcore_client_transaction, redcore_transaction) and fail-fast
 * pipelines, checked from C against a real server: run by `make test-c` under
 * tests/tools/with-redis.sh, plainly and under valgrind.
 *
 * A WATCH race lost on the first attempt and won on the second, WATCH after the last
 * attempt, EXECABORT with each queueing error, errors inside EXEC at their positions, a
 * function that stops the transaction, a fail-fast pipeline's message, NULL arguments; a
 * transaction on a held connection sent whole or not at all. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "redcore.h"

/* What the transaction functions below share with their tests. */
typedef struct {
    redcore_client *other; /* writes the watched key on the attempts listed in `interfere` */
    uint32_t interfere;    /* bit n: write on attempt n */
    uint32_t attempts;
    long long read;
} race;

/* Reads "c-tx", lets the other client write it when told to, queues "c-tx" = read - 10. */
static int spend(void *userdata, redcore_transaction *tx) {
    race *r = userdata;
    r->attempts = redcore_transaction_attempt(tx);
    const char *get[] = {"GET", "c-tx"};
    redcore_reply *reply = NULL;
    int code = redcore_transaction_command_blocking(tx, 2, get, NULL, &reply, NULL);
    if (code != REDCORE_OK) {
        return code;
    }
    r->read = atoll(redcore_reply_string(reply, NULL));
    redcore_reply_free(reply);
    if (r->interfere & (1u << r->attempts)) {
        RUN(r->other, "INCRBY", "c-tx", "1000");
    }
    char value[32];
    snprintf(value, sizeof value, "%lld", r->read - 10);
    const char *set[] = {"SET", "c-tx", value};
    const char *again[] = {"GET", "c-tx"};
    code = redcore_transaction_queue(tx, 3, set, NULL, NULL);
    return code != REDCORE_OK ? code : (int)redcore_transaction_queue(tx, 2, again, NULL, NULL);
}

static const char *const WATCHED[] = {"c-tx"};

static void test_watch_race(redcore_client *client, redcore_client *other) {
    RUN(client, "SET", "c-tx", "100");
    race r = {.other = other, .interfere = 1u << 1};
    redcore_pipeline_result *result = NULL;
    redcore_error *err = NULL;
    /* Lost on attempt 1, won on attempt 2 with what the other client wrote. */
    CHECK(code_is(redcore_client_transaction(client, 1, WATCHED, NULL, 3, spend, &r, &result,
                                             &err),
                  &err, REDCORE_OK));
    CHECK(r.attempts == 2 && r.read == 1100);
    const redcore_reply *reply = NULL;
    CHECK(redcore_pipeline_result_len(result) == 2);
    CHECK(redcore_pipeline_result_get(result, 1, &reply, NULL) == REDCORE_OK);
    CHECK(reply != NULL && strcmp(redcore_reply_string(reply, NULL), "1090") == 0);
    redcore_pipeline_result_free(result);

    /* Lost on every attempt: WATCH, and none of the SETs ran. */
    r = (race){.other = other, .interfere = (1u << 1) | (1u << 2)};
    result = NULL;
    CHECK(code_is(redcore_client_transaction(client, 1, WATCHED, NULL, 2, spend, &r, &result,
                                             &err),
                  &err, REDCORE_ERR_WATCH));
    CHECK(result == NULL && r.attempts == 2);
    CHECK(RUN(client, "GET", "c-tx") == 3090);
}

/* Queues INCR c-n, then a command refused when queued (wrong arity), then INCR c-n. */
static int queue_bad(void *userdata, redcore_transaction *tx) {
    (void)userdata;
    const char *incr[] = {"INCR", "c-n"};
    const char *bad[] = {"GET"};
    redcore_transaction_queue(tx, 2, incr, NULL, NULL);
    redcore_transaction_queue(tx, 1, bad, NULL, NULL);
    redcore_transaction_queue(tx, 2, incr, NULL, NULL);
    return REDCORE_OK;
}

/* Queues a command that fails inside EXEC between two that succeed. */
static int queue_wrongtype(void *userdata, redcore_transaction *tx) {
    (void)userdata;
    const char *set[] = {"SET", "c-str", "x"};
    const char *push[] = {"LPUSH", "c-str", "y"};
    const char *get[] = {"GET", "c-str"};
    redcore_transaction_queue(tx, 3, set, NULL, NULL);
    redcore_transaction_queue(tx, 3, push, NULL, NULL);
    redcore_transaction_queue(tx, 2, get, NULL, NULL);
    return REDCORE_OK;
}

static int give_up(void *userdata, redcore_transaction *tx) {
    (void)userdata;
    const char *multi[] = {"MULTI"};
    redcore_reply *reply = NULL;
    CHECK(redcore_transaction_command_blocking(tx, 1, multi, NULL, &reply, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    return REDCORE_ERR_LOCK_NOT_OWNED;
}

static void test_exec_outcomes(redcore_client *client) {
    RUN(client, "DEL", "c-n", "c-str");
    redcore_pipeline_result *result = NULL;
    redcore_error *err = NULL;
    CHECK(code_is(redcore_client_transaction(client, 0, NULL, NULL, 1, queue_bad, NULL, &result,
                                             &err),
                  &err, REDCORE_OK));
    const redcore_reply *reply = NULL;
    const redcore_error *each = NULL;
    CHECK(redcore_pipeline_result_get(result, 0, &reply, &each) == REDCORE_ERR_EXEC_ABORT);
    CHECK(redcore_pipeline_result_get(result, 1, &reply, &each) == REDCORE_ERR_RESPONSE);
    CHECK(each != NULL && strstr(redcore_error_message(each), "wrong number") != NULL);
    CHECK(redcore_pipeline_result_get(result, 2, &reply, &each) == REDCORE_ERR_EXEC_ABORT);
    redcore_pipeline_result_free(result);
    CHECK(RUN(client, "EXISTS", "c-n") == 0);

    CHECK(redcore_client_transaction(client, 0, NULL, NULL, 1, queue_wrongtype, NULL, &result,
                                     NULL) == REDCORE_OK);
    CHECK(redcore_pipeline_result_get(result, 0, &reply, NULL) == REDCORE_OK);
    CHECK(redcore_pipeline_result_get(result, 1, &reply, NULL) == REDCORE_ERR_RESPONSE);
    CHECK(redcore_pipeline_result_get(result, 2, &reply, NULL) == REDCORE_OK);
    CHECK(strcmp(redcore_reply_string(reply, NULL), "x") == 0);
    redcore_pipeline_result_free(result);

    result = NULL;
    CHECK(code_is(redcore_client_transaction(client, 1, WATCHED, NULL, 3, give_up, NULL, &result,
                                             &err),
                  &err, REDCORE_ERR_LOCK_NOT_OWNED));
    CHECK(result == NULL);
}

static void test_fail_fast_and_nulls(redcore_client *client) {
    redcore_pipeline *p = NULL;
    CHECK(redcore_pipeline_new(false, &p) == REDCORE_OK);
    const char *set[] = {"SET", "c-ff", "v"};
    const char *push[] = {"LPUSH", "c-ff", "x"};
    const char *get[] = {"GET", "c-ff"};
    redcore_pipeline_append(p, 3, set, NULL, NULL);
    redcore_pipeline_append(p, 3, push, NULL, NULL);
    redcore_pipeline_append(p, 2, get, NULL, NULL);
    CHECK(redcore_pipeline_set_fail_fast(p, true) == REDCORE_OK);
    redcore_pipeline_result *result = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_client_pipeline_run_blocking(client, p, &result, &err) == REDCORE_ERR_RESPONSE);
    CHECK(result == NULL && err != NULL &&
          strstr(redcore_error_message(err), "command 2 of 3 in the pipeline (LPUSH)") != NULL);
    redcore_error_free(err);
    CHECK(redcore_pipeline_set_fail_fast(p, false) == REDCORE_OK);
    CHECK(redcore_client_pipeline_run_blocking(client, p, &result, NULL) == REDCORE_OK);
    redcore_pipeline_result_free(result);
    redcore_pipeline_free(p);
    CHECK(redcore_pipeline_set_fail_fast(NULL, true) == REDCORE_ERR_INVALID_ARGUMENT);

    CHECK(redcore_client_transaction(NULL, 0, NULL, NULL, 1, spend, NULL, &result, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_client_transaction(client, 0, NULL, NULL, 1, NULL, NULL, &result, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_client_transaction(client, 0, NULL, NULL, 1, spend, NULL, NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_client_transaction(client, 0, NULL, NULL, 0, spend, NULL, &result, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_transaction_attempt(NULL) == 0);
    CHECK(redcore_transaction_queue(NULL, 1, get, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
}

/* One transaction through redcore_dedicated_submit_transaction (flat layout), waited for on
 * `queue`: its code, and on REDCORE_OK the completion (copied out; pointers in it live until
 * the next wait). */
static redcore_error_code submit_transaction(redcore_dedicated *held, redcore_completion_queue *queue,
                                             size_t count, const uint32_t *argcs,
                                             const size_t *lens, const char *bytes,
                                             redcore_completion *done) {
    size_t total = 0;
    size_t nargs = 0;
    for (size_t i = 0; i < count; i++) {
        nargs += argcs[i];
    }
    for (size_t i = 0; i < nargs; i++) {
        total += lens[i];
    }
    redcore_error *err = NULL;
    redcore_error_code code = redcore_dedicated_submit_transaction(
        held, queue, 7, count, argcs, lens, (const uint8_t *)bytes, total, &err);
    redcore_error_free(err);
    if (code == REDCORE_OK) {
        CHECK(redcore_completion_queue_wait(queue, 10000, done, 1) == 1 && done->token == 7);
    }
    return code;
}

/* A transaction on a held connection is sent whole or not at all: with SUBSCRIBE among its
 * commands nothing goes out (no MULTI, no SET, no EXEC, so the WATCH still holds). With no
 * command, MULTI and EXEC still go out and tell a changed key (WATCH). */
static void test_dedicated_transaction(redcore_client *client, redcore_client *other) {
    redcore_completion_queue *queue = NULL;
    redcore_dedicated *held = NULL;
    CHECK(redcore_completion_queue_new(&queue) == REDCORE_OK);
    CHECK(redcore_client_dedicated(client, &held, NULL) == REDCORE_OK);
    RUN(client, "DEL", "c-dtx", "c-dtx-w");
    CHECK(RUN(client, "SET", "c-dtx-w", "1") != -999);
    const char *watch[] = {"WATCH", "c-dtx-w"};
    redcore_reply *reply = NULL;
    CHECK(redcore_dedicated_command_blocking(held, 2, watch, NULL, &reply, NULL) == REDCORE_OK);
    redcore_reply_free(reply);
    redcore_completion done;

    /* SET c-dtx 1, SUBSCRIBE ch, GET c-dtx-w */
    const uint32_t refused_argcs[] = {3, 2, 2};
    const size_t refused_lens[] = {3, 5, 1, 9, 2, 3, 7};
    const char refused[] = "SETc-dtx1SUBSCRIBEchGETc-dtx-w";
    CHECK(submit_transaction(held, queue, 3, refused_argcs, refused_lens, refused, &done) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(RUN(client, "EXISTS", "c-dtx") == 0);

    /* The watch holds: another client's write makes the next EXEC (of nothing) fail. */
    RUN(other, "SET", "c-dtx-w", "2");
    CHECK(submit_transaction(held, queue, 0, NULL, NULL, NULL, &done) == REDCORE_OK);
    CHECK(done.pipeline == NULL && done.error != NULL &&
          redcore_error_get_code(done.error) == REDCORE_ERR_WATCH);

    /* Unwatched now: SET and GET run, their results in order. */
    const uint32_t argcs[] = {3, 2};
    const size_t lens[] = {3, 5, 1, 3, 7};
    const char bytes[] = "SETc-dtx1GETc-dtx-w";
    CHECK(submit_transaction(held, queue, 2, argcs, lens, bytes, &done) == REDCORE_OK);
    CHECK(done.pipeline != NULL && redcore_pipeline_result_len(done.pipeline) == 2);
    const redcore_reply *got = NULL;
    CHECK(redcore_pipeline_result_get(done.pipeline, 1, &got, NULL) == REDCORE_OK &&
          strcmp(redcore_reply_string(got, NULL), "2") == 0);
    CHECK(RUN(client, "GET", "c-dtx") == 1);
    CHECK(redcore_dedicated_submit_transaction(NULL, queue, 1, 0, NULL, NULL, NULL, 0, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    redcore_dedicated_release(held);
    redcore_completion_queue_free(queue);
}

int main(void) {
    if (!read_test_server("transaction_test")) {
        return 2;
    }
    redcore_client *client = new_client();
    redcore_client *other = new_client();
    if (client == NULL || other == NULL) {
        return 1;
    }
    test_watch_race(client, other);
    test_exec_outcomes(client);
    test_fail_fast_and_nulls(client);
    test_dedicated_transaction(client, other);
    redcore_client_free(other);
    redcore_client_free(client);
    if (failures != 0) {
        fprintf(stderr, "transaction_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("transaction_test: ok");
    return 0;
}
