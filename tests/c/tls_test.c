/* TLS, credential providers and re-authentication, checked from C against the server that
 * tests/tools/with-redis.sh starts (its TLS port and generated certificates). Without
 * REDCORE_TEST_TLS_PORT (no openssl there) the TLS checks are skipped.
 * Built with -Wall -Wextra -Wpedantic -Werror; clean under valgrind (no leak, no error). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redcore.h"

static const char *env(const char *name) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* A config for the TLS port, trusting the test CA. */
static redcore_config *tls_config(void) {
    redcore_config *cfg = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, "127.0.0.1", (uint16_t)atoi(env("REDCORE_TEST_TLS_PORT")),
                                  NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_ca_file(cfg, env("REDCORE_TEST_TLS_CA"), NULL) == REDCORE_OK);
    /* Generous: under valgrind on a loaded machine a TLS handshake takes seconds. */
    CHECK(redcore_config_set_connect_timeout_ms(cfg, 15000, NULL) == REDCORE_OK);
    return cfg;
}

/* Sends PING; true when the answer is PONG. */
static int pings(redcore_client *client) {
    const char *argv[] = {"PING"};
    redcore_reply *reply = NULL;
    if (redcore_client_command_blocking(client, 1, argv, NULL, &reply, NULL) != REDCORE_OK) {
        return 0;
    }
    size_t len = 0;
    const char *text = redcore_reply_string(reply, &len);
    int ok = text != NULL && len == 4 && memcmp(text, "PONG", 4) == 0;
    redcore_reply_free(reply);
    return ok;
}

/* Client creation fails with `code` and a message containing `fragment`. */
static void fails_with(redcore_config *cfg, redcore_error_code code, const char *fragment) {
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_client_new(cfg, &client, &err) == code);
    CHECK(client == NULL);
    CHECK(err != NULL && redcore_error_is(err, REDCORE_ERR_CONNECTION));
    if (err != NULL && strstr(redcore_error_message(err), fragment) == NULL) {
        fprintf(stderr, "'%s' not in: %s\n", fragment, redcore_error_message(err));
        failures++;
    }
    redcore_error_free(err);
}

static void test_tls(void) {
    redcore_config *cfg = tls_config();
    redcore_client *client = NULL;
    CHECK(redcore_client_new(cfg, &client, NULL) == REDCORE_OK);
    CHECK(pings(client));
    redcore_client_free(client);

    /* Mutual TLS, TLS 1.3 only, verified by name. */
    CHECK(redcore_config_set_tls_client_cert(cfg, env("REDCORE_TEST_TLS_CERT"),
                                             env("REDCORE_TEST_TLS_KEY"), NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_min_version(cfg, 13, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_server_name(cfg, "localhost", NULL) == REDCORE_OK);
    client = NULL;
    CHECK(redcore_client_new(cfg, &client, NULL) == REDCORE_OK);
    CHECK(pings(client));
    redcore_client_free(client);

    /* A name the certificate does not carry. */
    CHECK(redcore_config_set_tls_server_name(cfg, "elsewhere.example", NULL) == REDCORE_OK);
    fails_with(cfg, REDCORE_ERR_TLS, "hostname mismatch");
    /* ...accepted only in the mode named for what it is. */
    CHECK(redcore_config_set_tls_insecure_skip_verify(cfg, true, NULL) == REDCORE_OK);
    client = NULL;
    CHECK(redcore_client_new(cfg, &client, NULL) == REDCORE_OK);
    CHECK(pings(client));
    redcore_client_free(client);
    redcore_config_free(cfg);

    /* Trusting the wrong certificate: unknown CA. */
    cfg = tls_config();
    CHECK(redcore_config_set_tls_ca_file(cfg, env("REDCORE_TEST_TLS_CERT"), NULL) == REDCORE_OK);
    fails_with(cfg, REDCORE_ERR_TLS, "unknown CA");
    /* Plain text to the TLS port. */
    CHECK(redcore_config_set_tls(cfg, false, NULL) == REDCORE_OK);
    fails_with(cfg, REDCORE_ERR_TLS, "rediss://");
    /* Bad settings are reported when the client is created, naming the setting. */
    CHECK(redcore_config_set_tls(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_ca_file(cfg, "/nonexistent/ca.pem", NULL) == REDCORE_OK);
    redcore_client *none = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_client_new(cfg, &none, &err) == REDCORE_ERR_TLS);
    CHECK(err != NULL && strstr(redcore_error_message(err), "tls_ca_file") != NULL);
    redcore_error_free(err);
    err = NULL;
    CHECK(redcore_config_set_tls_min_version(cfg, 11, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_error_free(err);
    CHECK(redcore_config_set_tls_client_cert(cfg, "/c.pem", NULL, NULL) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    redcore_config_free(cfg);
}

struct provider_state {
    int calls;
    int freed;
};

/* Hands out the `default` user with a token (the test server's default user has no password,
 * so any password is accepted with a user name). */
static bool provide(void *userdata, redcore_credentials *out) {
    struct provider_state *state = userdata;
    state->calls++;
    char token[] = "token-from-c";
    bool ok = redcore_credentials_set(out, "default", token, strlen(token), 0) == REDCORE_OK;
    memset(token, 0, sizeof token);
    return ok;
}

static void release(void *userdata) {
    ((struct provider_state *)userdata)->freed++;
}

static bool refuse(void *userdata, redcore_credentials *out) {
    (void)userdata;
    redcore_credentials_set_error(out, "vault sealed");
    return false;
}

struct reauth_outcome {
    size_t connections;
    size_t failed;
    int calls;
};

static void on_reauth(void *userdata, size_t connections, size_t failed,
                      const redcore_error *first_error) {
    struct reauth_outcome *outcome = userdata;
    outcome->connections = connections;
    outcome->failed = failed;
    outcome->calls++;
    (void)first_error;
}

static void test_credentials(void) {
    struct provider_state state = {0, 0};
    redcore_config *cfg = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, env("REDCORE_TEST_HOST"),
                                  (uint16_t)atoi(env("REDCORE_TEST_PORT")), NULL) == REDCORE_OK);
    CHECK(redcore_config_set_credential_provider(cfg, provide, &state, release, NULL) ==
          REDCORE_OK);
    /* The provider and a password are exclusive. */
    CHECK(redcore_config_set_password(cfg, "pw", NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_client *client = NULL;
    CHECK(redcore_client_new(cfg, &client, NULL) == REDCORE_OK);
    CHECK(state.calls >= 1);
    CHECK(pings(client));

    /* Re-authenticate with explicit credentials, waiting... */
    size_t connections = 0;
    const char *pw = "another-token";
    CHECK(redcore_client_reauthenticate_blocking(client, "default", pw, strlen(pw),
                                                 &connections, NULL) == REDCORE_OK);
    CHECK(connections == 1);
    /* ...and by asking the provider again, without waiting. */
    int before = state.calls;
    struct reauth_outcome outcome = {0, 0, 0};
    CHECK(redcore_client_reauthenticate(client, NULL, NULL, 0, on_reauth, &outcome) ==
          REDCORE_OK);
    CHECK(state.calls == before + 1);
    for (int i = 0; i < 500 && outcome.calls == 0; i++) {
        CHECK(pings(client));
    }
    CHECK(outcome.calls == 1 && outcome.connections == 1 && outcome.failed == 0);
    /* A wrong password for a user that does not exist is refused and reported. */
    redcore_error *err = NULL;
    const char *bad = "bad-secret-42";
    CHECK(redcore_client_reauthenticate_blocking(client, "nobody", bad, strlen(bad), NULL,
                                                 &err) == REDCORE_ERR_AUTHENTICATION);
    CHECK(err != NULL && strstr(redcore_error_message(err), bad) == NULL);
    redcore_error_free(err);
    redcore_client_free(client);
    CHECK(state.freed == 0); /* the config still holds the provider */
    redcore_config_free(cfg);
    CHECK(state.freed == 1);

    /* A provider that refuses fails the connection with its reason. */
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, env("REDCORE_TEST_HOST"),
                                  (uint16_t)atoi(env("REDCORE_TEST_PORT")), NULL) == REDCORE_OK);
    CHECK(redcore_config_set_credential_provider(cfg, refuse, NULL, NULL, NULL) == REDCORE_OK);
    fails_with(cfg, REDCORE_ERR_AUTHENTICATION, "vault sealed");
    CHECK(redcore_config_set_token_refresh(cfg, 0, 0, 0, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_set_token_refresh(cfg, 75, 1000, 500, NULL) == REDCORE_OK);
    redcore_config_free(cfg);
}

int main(void) {
    if (env("REDCORE_TEST_HOST") == NULL || env("REDCORE_TEST_PORT") == NULL) {
        fprintf(stderr, "tls_test: run me under tests/tools/with-redis.sh\n");
        return 1;
    }
    if (env("REDCORE_TEST_TLS_PORT") != NULL) {
        test_tls();
    } else {
        puts("tls_test: REDCORE_TEST_TLS_PORT is not set (no openssl?): TLS checks skipped");
    }
    test_credentials();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("tls_test: ok");
    return 0;
}
