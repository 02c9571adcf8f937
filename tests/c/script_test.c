/* The script class of redcore.h (redcore_script), checked from C against a real server: run
 * by `make test-c` under tests/tools/with-redis.sh, plainly and under valgrind.
 *
 * The SHA-1 computed locally against the server's, runs (blocking and with a callback) after
 * SCRIPT FLUSH, read-only runs, scripts in pipelines and transactions, FCALL through the
 * client, and NULL arguments. Every wait is bounded (WAIT_MS). */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "commands.h"
#include "redcore.h"
#include "wait.h"

static const char INCR[] = "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static redcore_script *new_script(const char *source) {
    redcore_script *script = NULL;
    CHECK(redcore_script_new(source, strlen(source), &script) == REDCORE_OK);
    return script;
}

/* Runs `script` with one key and one argument; returns its integer reply (-999 on error). */
static long long run(redcore_script *script, redcore_client *client, const char *key,
                     const char *arg, bool read_only, redcore_error_code expected) {
    const char *keys[] = {key};
    const char *args[] = {arg};
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    redcore_error_code code = redcore_script_run_blocking(script, client, 1, keys, NULL, 1, args,
                                                          NULL, read_only, &reply, &err);
    CHECK(code_is(code, &err, expected));
    long long value = reply != NULL ? redcore_reply_integer(reply) : -999;
    redcore_reply_free(reply);
    return value;
}

static void test_sha_and_runs(redcore_client *client) {
    redcore_script *one = new_script("return 1");
    CHECK(strcmp(redcore_script_sha(one), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db") == 0);
    redcore_script_free(one);

    redcore_script *incr = new_script(INCR);
    redcore_error *err = NULL;
    CHECK(code_is(redcore_script_load_blocking(incr, client, &err), &err, REDCORE_OK));
    const char *exists[] = {"SCRIPT", "EXISTS", redcore_script_sha(incr)};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_blocking(client, 3, exists, NULL, &reply, NULL) == REDCORE_OK);
    CHECK(redcore_reply_integer(redcore_reply_element(reply, 0)) == 1);
    redcore_reply_free(reply);

    RUN(client, "DEL", "c-script");
    CHECK(run(incr, client, "c-script", "5", false, REDCORE_OK) == 5);
    /* Flushed: NOSCRIPT, loaded, run again. */
    RUN(client, "SCRIPT", "FLUSH");
    CHECK(run(incr, client, "c-script", "2", false, REDCORE_OK) == 7);
    /* Read-only: the server refuses the write inside. */
    run(incr, client, "c-script", "1", true, REDCORE_ERR_RESPONSE);
    /* Binary keys and arguments with lengths; none at all. */
    const char *keys[] = {"c-bin\0x"};
    size_t keylens[] = {7};
    const char *args[] = {"3"};
    CHECK(redcore_script_run_blocking(incr, client, 1, keys, keylens, 1, args, NULL, false,
                                      &reply, NULL) == REDCORE_OK);
    CHECK(redcore_reply_integer(reply) == 3);
    redcore_reply_free(reply);
    redcore_script *two = new_script("return 2");
    CHECK(redcore_script_run_blocking(two, client, 0, NULL, NULL, 0, NULL, NULL, false, &reply,
                                      NULL) == REDCORE_OK);
    CHECK(redcore_reply_integer(reply) == 2);
    redcore_reply_free(reply);
    redcore_script_free(two);
    redcore_script_free(incr);
}

typedef struct {
    atomic_int done;
    atomic_long value;
} outcome;

static void record(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    outcome *o = userdata;
    atomic_store(&o->value, (reply != NULL && err == NULL) ? (long)redcore_reply_integer(reply)
                                                           : -1L);
    atomic_fetch_add(&o->done, 1);
}

static void test_callback_run(redcore_client *client) {
    redcore_script *incr = new_script(INCR);
    RUN(client, "DEL", "c-async");
    RUN(client, "SCRIPT", "FLUSH");
    outcome o = {0};
    const char *keys[] = {"c-async"};
    const char *args[] = {"40"};
    redcore_error *err = NULL;
    CHECK(code_is(redcore_script_run(incr, client, 1, keys, NULL, 1, args, NULL, false, record,
                                     &o, &err),
                  &err, REDCORE_OK));
    CHECK(wait_for(&o.done, 1, "the script's callback"));
    CHECK(atomic_load(&o.value) == 40);
    redcore_script_free(incr);
}

static void test_pipelines(redcore_client *client) {
    redcore_script *incr = new_script(INCR);
    for (int transaction = 0; transaction < 2; transaction++) {
        RUN(client, "SET", "c-pipe", "100");
        RUN(client, "SCRIPT", "FLUSH");
        redcore_pipeline *p = NULL;
        CHECK(redcore_pipeline_new(transaction != 0, &p) == REDCORE_OK);
        const char *keys[] = {"c-pipe"};
        const char *args[] = {"1"};
        for (int i = 0; i < 3; i++) {
            CHECK(redcore_pipeline_append_script(p, incr, 1, keys, NULL, 1, args, NULL, false,
                                                 NULL) == REDCORE_OK);
        }
        redcore_pipeline_result *result = NULL;
        CHECK(redcore_client_pipeline_run_blocking(client, p, &result, NULL) == REDCORE_OK);
        CHECK(redcore_pipeline_result_len(result) == 3);
        for (size_t i = 0; i < 3; i++) {
            const redcore_reply *r = NULL;
            CHECK(redcore_pipeline_result_get(result, i, &r, NULL) == REDCORE_OK);
            CHECK(r != NULL && redcore_reply_integer(r) == 101 + (long long)i);
        }
        redcore_pipeline_result_free(result);
        redcore_pipeline_free(p);
    }
    redcore_script_free(incr);
}

static void test_functions_and_nulls(redcore_client *client) {
    RUN(client, "FUNCTION", "LOAD", "REPLACE",
        "#!lua name=ctest\nredis.register_function('twice', "
        "function(keys, args) return 2 * tonumber(args[1]) end)");
    CHECK(RUN(client, "FCALL", "twice", "0", "21") == 42);

    redcore_script *script = NULL;
    redcore_reply *reply = NULL;
    CHECK(redcore_script_new(NULL, 1, &script) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_new("x", 1, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_sha(NULL) == NULL);
    script = new_script("return 1");
    CHECK(redcore_script_run_blocking(NULL, client, 0, NULL, NULL, 0, NULL, NULL, false, &reply,
                                      NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_run_blocking(script, NULL, 0, NULL, NULL, 0, NULL, NULL, false, &reply,
                                      NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_run_blocking(script, client, 0, NULL, NULL, 0, NULL, NULL, false, NULL,
                                      NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_run_blocking(script, client, 1, NULL, NULL, 0, NULL, NULL, false, &reply,
                                      NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_script_run(script, client, 0, NULL, NULL, 0, NULL, NULL, false, NULL, NULL,
                             NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_pipeline_append_script(NULL, script, 0, NULL, NULL, 0, NULL, NULL, false,
                                         NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(reply == NULL);
    redcore_script_free(script);
    redcore_script_free(NULL);
}

int main(void) {
    if (!read_test_server("script_test")) {
        return 2;
    }
    redcore_client *client = new_client();
    if (client == NULL) {
        return 1;
    }
    test_sha_and_runs(client);
    test_callback_run(client);
    test_pipelines(client);
    test_functions_and_nulls(client);
    redcore_client_free(client);
    if (failures != 0) {
        fprintf(stderr, "script_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("script_test: ok");
    return 0;
}
