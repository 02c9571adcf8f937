/* TLS and credentials with redcore: connect over TLS (verifying the server against a CA file,
 * presenting a client certificate when one is given), take the username and password from a
 * provider callback asked at every connect, and switch live connections to new credentials.
 *
 *   REDCORE_TEST_HOST=127.0.0.1 REDCORE_TEST_TLS_PORT=6380 REDCORE_TEST_TLS_CA=ca.crt \
 *   [REDCORE_TEST_TLS_CERT=client.crt REDCORE_TEST_TLS_KEY=client.key] ./tls
 *
 * `make demo` runs it under tests/tools/with-redis.sh, which starts a TLS server with
 * generated certificates and sets these variables. Without REDCORE_TEST_TLS_PORT it says so
 * and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redcore.h"

/* Where a real program would keep its rotating secret (read from a vault, say). */
struct secret_store {
    const char *user;
    char password[64];
    int asked;
};

/* The credential provider: called on a library thread at every connect and reconnect. The
 * library copies what it is given; our buffer stays ours. */
static bool provide(void *userdata, redcore_credentials *out) {
    struct secret_store *store = userdata;
    store->asked++;
    return redcore_credentials_set(out, store->user, store->password, strlen(store->password),
                                   0) == REDCORE_OK;
}

static int fail(const char *what, redcore_error *err) {
    fprintf(stderr, "%s: %s (%s)\n", what, err ? redcore_error_message(err) : "?",
            err ? redcore_error_code_name(redcore_error_get_code(err)) : "?");
    redcore_error_free(err);
    return 1;
}

int main(void) {
    const char *host = getenv("REDCORE_TEST_HOST");
    const char *port = getenv("REDCORE_TEST_TLS_PORT");
    const char *ca = getenv("REDCORE_TEST_TLS_CA");
    const char *cert = getenv("REDCORE_TEST_TLS_CERT");
    const char *key = getenv("REDCORE_TEST_TLS_KEY");
    if (port == NULL || ca == NULL) {
        puts("tls: REDCORE_TEST_TLS_PORT / REDCORE_TEST_TLS_CA not set, nothing to do "
             "(tests/tools/with-redis.sh sets them when openssl is installed)");
        return 0;
    }
    /* The test server's default user has no password, so any password works with a user
     * name; against a real server, put the ACL user and its password here. */
    struct secret_store store = {"default", "first-secret", 0};

    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    redcore_config_new(&cfg);
    if (redcore_config_set_host(cfg, host ? host : "127.0.0.1", (uint16_t)atoi(port), &err) ||
        redcore_config_set_tls(cfg, true, &err) ||
        redcore_config_set_tls_ca_file(cfg, ca, &err) ||
        (cert && key && redcore_config_set_tls_client_cert(cfg, cert, key, &err)) ||
        redcore_config_set_credential_provider(cfg, provide, &store, NULL, &err)) {
        redcore_config_free(cfg);
        return fail("config", err);
    }
    /* The same, as a URL: rediss://127.0.0.1:6380?tls_ca_file=ca.crt&tls_cert_file=...
     * Never in production: redcore_config_set_tls_insecure_skip_verify(cfg, true, NULL). */

    redcore_client *client = NULL;
    redcore_error_code rc = redcore_client_new(cfg, &client, &err);
    redcore_config_free(cfg); /* the client keeps its own copy */
    if (rc != REDCORE_OK) {
        /* TLS problems come as REDCORE_ERR_TLS (a kind of connection error) saying which:
         * unknown CA, expired certificate, hostname mismatch, client certificate required... */
        return fail("connect", err);
    }
    printf("tls: connected over TLS to port %s (provider asked %d time(s))\n", port,
           store.asked);

    const char *set[] = {"SET", "greeting", "hello over TLS"};
    const char *get[] = {"GET", "greeting"};
    redcore_reply *reply = NULL;
    if (redcore_client_command_blocking(client, 3, set, NULL, &reply, &err) != REDCORE_OK) {
        redcore_client_free(client);
        return fail("SET", err);
    }
    redcore_reply_free(reply);
    if (redcore_client_command_blocking(client, 2, get, NULL, &reply, &err) != REDCORE_OK) {
        redcore_client_free(client);
        return fail("GET", err);
    }
    size_t len = 0;
    const char *text = redcore_reply_string(reply, &len);
    printf("tls: GET greeting -> %.*s\n", (int)len, text);
    redcore_reply_free(reply);

    /* The secret rotates: update the store (new connections ask the provider), then move the
     * live connections over without dropping them or failing commands in flight. */
    snprintf(store.password, sizeof store.password, "%s", "second-secret");
    size_t connections = 0;
    if (redcore_client_reauthenticate_blocking(client, NULL, NULL, 0, &connections, &err) !=
        REDCORE_OK) {
        redcore_client_free(client);
        return fail("reauthenticate", err);
    }
    printf("tls: re-authenticated %zu live connection(s)\n", connections);
    memset(store.password, 0, sizeof store.password);
    redcore_client_free(client);
    return 0;
}
