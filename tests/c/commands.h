/* Helpers shared by the C test programs that talk to the test server: its address (set by
 * main from REDCORE_TEST_HOST / REDCORE_TEST_PORT), a client for it, error-code checks, and
 * running a command for its integer reply. Include after check.h and redcore.h; each program
 * is one translation unit, so the statics live there. */
#ifndef REDCORE_TEST_COMMANDS_H
#define REDCORE_TEST_COMMANDS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "redcore.h"

static const char *test_host;
static uint16_t test_port;

/* True when the code is `expected` and `*err` was written just when it is not OK; prints the
 * error otherwise. Frees `*err` and clears it. (`*err` is read here, after the call that
 * produced `code` has returned.) */
static inline int code_is(redcore_error_code code, redcore_error **err, redcore_error_code expected) {
    int ok = code == expected && (code == REDCORE_OK) == (*err == NULL);
    if (!ok) {
        fprintf(stderr, "expected %s, got %s: %s\n", redcore_error_code_name(expected),
                redcore_error_code_name(code), redcore_error_message(*err));
    }
    redcore_error_free(*err);
    *err = NULL;
    return ok;
}

static inline redcore_client *new_client(void) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, test_host, test_port, NULL) == REDCORE_OK);
    if (redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot connect: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        client = NULL;
    }
    redcore_config_free(cfg);
    return client;
}

/* Runs a command of NUL-terminated arguments; returns its integer reply (-1000 for a nil
 * reply, the number for a bulk string of digits). */
static inline long long run_int(redcore_client *client, int argc, const char *const *argv) {
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    long long value = -999;
    if (redcore_client_command_blocking(client, argc, argv, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "%s failed: %s\n", argv[0], redcore_error_message(err));
        redcore_error_free(err);
        return value;
    }
    switch (redcore_reply_get_type(reply)) {
    case REDCORE_REPLY_INTEGER:
        value = redcore_reply_integer(reply);
        break;
    case REDCORE_REPLY_NULL:
        value = -1000;
        break;
    default:
        value = atoll(redcore_reply_string(reply, NULL));
    }
    redcore_reply_free(reply);
    return value;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__})
#define NARGS(...) ((int)(sizeof(ARGS(__VA_ARGS__)) / sizeof(const char *)))
#define RUN(c, ...) run_int((c), NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

/* Reads the test server's address from the environment; false (with a message) when it is
 * not set. */
static inline int read_test_server(const char *program) {
    test_host = getenv("REDCORE_TEST_HOST");
    const char *port = getenv("REDCORE_TEST_PORT");
    if (test_host == NULL || port == NULL) {
        fprintf(stderr, "%s: REDCORE_TEST_HOST and REDCORE_TEST_PORT are not set; "
                        "run it under tests/tools/with-redis.sh\n", program);
        return 0;
    }
    test_port = (uint16_t)atoi(port);
    return 1;
}

#endif
