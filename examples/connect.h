/* connect.h: what the examples pubsub.c, scripts.c and caching.c share: a client for
 * REDCORE_TEST_URL (set by `make demo`), or redis://127.0.0.1:6379, and a blocking command
 * whose errors are printed. */
#ifndef REDCORE_EXAMPLE_CONNECT_H
#define REDCORE_EXAMPLE_CONNECT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "redcore.h"

/* The client, with client-side caching when `cached` is true; NULL (after printing why) when
 * it cannot connect. */
static inline redcore_client *connect_client(bool cached) {
    const char *url = getenv("REDCORE_TEST_URL");
    url = url != NULL && url[0] != '\0' ? url : "redis://127.0.0.1:6379";
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        (cached && redcore_config_set_cache(cfg, true, 0, 0, &err) != REDCORE_OK) ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        redcore_error_free(err);
        client = NULL;
    }
    redcore_config_free(cfg);
    return client;
}

/* Runs a command and waits; writes its integer reply to `*integer_out` when that is not NULL
 * (0 for a reply that is not an integer). Returns 0, or 1 after printing the error. */
static inline int command(redcore_client *client, int argc, const char **argv,
                          long long *integer_out) {
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    if (redcore_client_command_blocking(client, argc, argv, NULL, &reply, &err) != REDCORE_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    if (integer_out != NULL) {
        *integer_out = redcore_reply_get_type(reply) == REDCORE_REPLY_INTEGER
                           ? (long long)redcore_reply_integer(reply)
                           : 0;
    }
    redcore_reply_free(reply);
    return 0;
}

#endif
