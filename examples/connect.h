/* connect.h: the client the examples pubsub.c, scripts.c and caching.c run on: a client for
 * REDCORE_TEST_URL (set by `make demo`), or redis://127.0.0.1:6379, with `protocol` 2 or 3
 * (0 keeps the URL's). Prints why and returns NULL when it cannot connect. */
#ifndef REDCORE_EXAMPLE_CONNECT_H
#define REDCORE_EXAMPLE_CONNECT_H

#include <stdio.h>
#include <stdlib.h>

#include "redcore.h"

static inline redcore_client *connect_client(int protocol) {
    const char *url = getenv("REDCORE_TEST_URL");
    url = url != NULL && url[0] != '\0' ? url : "redis://127.0.0.1:6379";
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    if (redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        (protocol != 0 && redcore_config_set_protocol(cfg, protocol, &err) != REDCORE_OK) ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "cannot connect to %s: %s\n", url, redcore_error_message(err));
        redcore_error_free(err);
        client = NULL;
    }
    redcore_config_free(cfg);
    return client;
}

#endif
