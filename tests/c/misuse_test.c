/* Bad input from C: every function of redcore.h called with NULL for each pointer it takes,
 * and with out-of-range numbers. Each must return REDCORE_ERR_INVALID_ARGUMENT (or NULL, 0,
 * false, "" as its doc says) and nothing may crash, leak or touch memory it was not given
 * (this program also runs under valgrind, and under ASan with `make asan`).
 * Run under tests/tools/with-redis.sh: the calls that need a live client get one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redcore.h"

#define INVALID REDCORE_ERR_INVALID_ARGUMENT

static int callback_runs = 0;

static void on_reply(void *userdata, const redcore_reply *reply, const redcore_error *err) {
    (void)userdata;
    (void)reply;
    (void)err;
    callback_runs++;
}

static void on_pipeline(void *userdata, const redcore_pipeline_result *result) {
    (void)userdata;
    (void)result;
    callback_runs++;
}

static void on_reauth(void *userdata, size_t connections, size_t failed,
                      const redcore_error *err) {
    (void)userdata;
    (void)connections;
    (void)failed;
    (void)err;
    callback_runs++;
}

static bool on_credentials(void *userdata, redcore_credentials *out) {
    (void)userdata;
    (void)out;
    return false;
}

static bool on_ocsp(void *userdata, const uint8_t *cert, size_t cert_len, const uint8_t *ocsp,
                    size_t ocsp_len) {
    (void)userdata;
    (void)cert;
    (void)cert_len;
    (void)ocsp;
    (void)ocsp_len;
    return true;
}

static void on_lock(void *userdata, bool result, uint64_t fence, const redcore_error *err) {
    (void)userdata;
    (void)result;
    (void)fence;
    (void)err;
    callback_runs++;
}

static void on_lock_lost(void *userdata, const redcore_error *err) {
    (void)userdata;
    (void)err;
}

static int on_remap(void *userdata, const char *host, uint16_t port, char *host_out,
                    size_t host_out_len, uint16_t *port_out) {
    (void)userdata;
    (void)host;
    (void)port;
    (void)host_out;
    (void)host_out_len;
    (void)port_out;
    return 0;
}

/* An INVALID_ARGUMENT error came back through `err` (which is then freed), or `err` was not
 * asked for. */
static int invalid_err(redcore_error *err) {
    int ok = err == NULL || redcore_error_get_code(err) == INVALID;
    if (err != NULL && !ok) {
        fprintf(stderr, "unexpected error: %s\n", redcore_error_message(err));
    }
    redcore_error_free(err);
    return ok;
}

static void test_config_with_null(void) {
    redcore_error *err = NULL;
    CHECK(redcore_config_new(NULL) == INVALID);
    CHECK(redcore_config_from_url(NULL, NULL, NULL) == INVALID);
    CHECK(redcore_config_from_url(NULL, NULL, &err) == INVALID && invalid_err(err));
    err = NULL;
    redcore_config *out = NULL;
    CHECK(redcore_config_from_url("redis://h", NULL, NULL) == INVALID);
    CHECK(redcore_config_from_url(NULL, &out, NULL) == INVALID && out == NULL);
    CHECK(redcore_config_clone(NULL, &out) == INVALID && out == NULL);
    CHECK(redcore_config_clone(NULL, NULL) == INVALID);
    redcore_config_free(NULL);

    /* Every setter, with a NULL config. */
    CHECK(redcore_config_set_host(NULL, "h", 1, NULL) == INVALID);
    CHECK(redcore_config_set_unix_path(NULL, "/p", NULL) == INVALID);
    CHECK(redcore_config_set_db(NULL, 0, NULL) == INVALID);
    CHECK(redcore_config_set_username(NULL, "u", NULL) == INVALID);
    CHECK(redcore_config_set_password(NULL, "p", NULL) == INVALID);
    CHECK(redcore_config_set_client_name(NULL, "n", NULL) == INVALID);
    CHECK(redcore_config_set_protocol(NULL, 3, NULL) == INVALID);
    CHECK(redcore_config_set_connect_timeout_ms(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_command_timeout_ms(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_tcp_nodelay(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_tcp_keepalive(NULL, true, 1, 1, 1, NULL) == INVALID);
    CHECK(redcore_config_set_connections_per_node(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_max_direct_connections_per_node(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_max_in_flight(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_max_dedicated_connections(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_dedicated_wait_timeout_ms(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_retry(NULL, 1, REDCORE_BACKOFF_NONE, 1, 1, NULL) == INVALID);
    CHECK(redcore_config_set_retry_written_commands(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_health_check_interval_ms(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_reactor_threads(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_lazy_connect(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_reader_limits(NULL, 1, 1, 1, NULL) == INVALID);
    CHECK(redcore_config_set_reader_line_limit(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_lib_info(NULL, "n", "v", NULL) == INVALID);
    CHECK(redcore_config_set_tls(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_tls_ca_file(NULL, "f", NULL) == INVALID);
    CHECK(redcore_config_set_tls_ca_dir(NULL, "d", NULL) == INVALID);
    CHECK(redcore_config_set_tls_ca_pem(NULL, "x", 1, NULL) == INVALID);
    CHECK(redcore_config_set_tls_system_roots(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_tls_client_cert(NULL, "c", "k", NULL) == INVALID);
    CHECK(redcore_config_set_tls_server_name(NULL, "n", NULL) == INVALID);
    CHECK(redcore_config_set_tls_min_version(NULL, 12, NULL) == INVALID);
    CHECK(redcore_config_set_tls_insecure_skip_verify(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_set_tls_ocsp_verifier(NULL, on_ocsp, NULL, NULL, NULL) == INVALID);
    CHECK(redcore_config_set_credential_provider(NULL, on_credentials, NULL, NULL, NULL) ==
          INVALID);
    CHECK(redcore_config_set_token_refresh(NULL, 80, 0, 0, NULL) == INVALID);
    CHECK(redcore_config_set_replicated_writes(NULL, 1, 100, NULL) == INVALID);
    /* The error comes back through err_out too. */
    err = NULL;
    CHECK(redcore_config_set_db(NULL, 0, &err) == INVALID && err != NULL && invalid_err(err));

    CHECK(redcore_credentials_set(NULL, "u", "p", 1, 0) == INVALID);
    CHECK(redcore_credentials_set_error(NULL, "why") == INVALID);
}

/* Setters on a live config: NULL strings and numbers out of range. */
static void test_config_out_of_range(void) {
    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, NULL, 6379, NULL) == INVALID);
    CHECK(redcore_config_set_host(cfg, "", 6379, &err) == INVALID && invalid_err(err));
    err = NULL;
    CHECK(redcore_config_set_host(cfg, "h", 0, NULL) == INVALID);
    CHECK(redcore_config_set_unix_path(cfg, NULL, NULL) == INVALID);
    CHECK(redcore_config_set_unix_path(cfg, "", NULL) == INVALID);
    CHECK(redcore_config_set_protocol(cfg, 0, NULL) == INVALID);
    CHECK(redcore_config_set_protocol(cfg, 4, NULL) == INVALID);
    CHECK(redcore_config_set_protocol(cfg, -1, NULL) == INVALID);
    CHECK(redcore_config_set_tcp_keepalive(cfg, true, 0, 5, 3, NULL) == INVALID);
    CHECK(redcore_config_set_tcp_keepalive(cfg, true, 30, 5, 1000, NULL) == INVALID);
    CHECK(redcore_config_set_connections_per_node(cfg, 0, NULL) == INVALID);
    CHECK(redcore_config_set_retry(cfg, 1, -1, 1, 1, NULL) == INVALID);
    CHECK(redcore_config_set_retry(cfg, 1, 99, 1, 1, NULL) == INVALID);
    CHECK(redcore_config_set_retry(cfg, 1, REDCORE_BACKOFF_EXPONENTIAL, 100, 10, NULL) ==
          INVALID);
    CHECK(redcore_config_set_reader_limits(cfg, SIZE_MAX, 0, 0, NULL) == INVALID);
    CHECK(redcore_config_set_reader_limits(cfg, 0, SIZE_MAX, 0, NULL) == INVALID);
    CHECK(redcore_config_set_reader_line_limit(cfg, SIZE_MAX, NULL) == INVALID);
    /* WAIT's 0 would wait forever; 0 replicas turns it off. */
    CHECK(redcore_config_set_replicated_writes(cfg, 1, 0, NULL) == INVALID);
    CHECK(redcore_config_set_replicated_writes(cfg, 1, 100, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_replicated_writes(cfg, 0, 0, NULL) == REDCORE_OK);
    /* NULL clears the PEM, whatever the length says. */
    CHECK(redcore_config_set_tls_ca_pem(cfg, NULL, 5, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_client_cert(cfg, NULL, "k", NULL) == INVALID);
    CHECK(redcore_config_set_tls_min_version(cfg, 99, NULL) == INVALID);
    CHECK(redcore_config_set_tls_min_version(cfg, -12, NULL) == INVALID);
    CHECK(redcore_config_set_tls_ocsp_verifier(cfg, NULL, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_credential_provider(cfg, NULL, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_token_refresh(cfg, 0, 0, 0, NULL) == INVALID);
    CHECK(redcore_config_set_token_refresh(cfg, 101, 0, 0, NULL) == INVALID);
    CHECK(redcore_config_from_url("", &cfg, NULL) == INVALID);
    CHECK(redcore_config_from_url("redis://h:99999", &cfg, NULL) == INVALID);
    CHECK(redcore_config_from_url("redis://h?protocol=9", &cfg, NULL) == INVALID);
    CHECK(redcore_config_from_url("redis://h?max_line_len=-1", &cfg, NULL) == INVALID);
    /* A config that was refused is left as it was: still usable. */
    redcore_config *copy = NULL;
    CHECK(redcore_config_clone(cfg, &copy) == REDCORE_OK && copy != NULL);
    redcore_config_free(copy);
    redcore_config_free(cfg);
}

static void test_client_with_null(void) {
    const char *argv[] = {"PING"};
    redcore_client *client = NULL;
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    redcore_pipeline_result *result = NULL;
    redcore_dedicated *dedicated = NULL;
    size_t count = 7;

    CHECK(redcore_client_new(NULL, &client, NULL) == INVALID && client == NULL);
    CHECK(redcore_client_new(NULL, &client, &err) == INVALID && client == NULL &&
          invalid_err(err));
    err = NULL;
    redcore_client_free(NULL);
    CHECK(redcore_client_command(NULL, 1, argv, NULL, on_reply, NULL, NULL) == INVALID);
    CHECK(redcore_client_command_blocking(NULL, 1, argv, NULL, &reply, NULL) == INVALID);
    CHECK(reply == NULL);
    CHECK(redcore_client_pipeline_run(NULL, NULL, on_pipeline, NULL, NULL) == INVALID);
    CHECK(redcore_client_pipeline_run_blocking(NULL, NULL, &result, NULL) == INVALID);
    CHECK(result == NULL);
    CHECK(redcore_client_dedicated(NULL, &dedicated, NULL) == INVALID && dedicated == NULL);
    CHECK(redcore_dedicated_command(NULL, 1, argv, NULL, on_reply, NULL, NULL) == INVALID);
    CHECK(redcore_dedicated_command_blocking(NULL, 1, argv, NULL, &reply, NULL) == INVALID);
    redcore_dedicated_release(NULL);
    CHECK(redcore_client_reauthenticate(NULL, "u", "p", 1, on_reauth, NULL) == INVALID);
    CHECK(redcore_client_reauthenticate_blocking(NULL, "u", "p", 1, &count, NULL) == INVALID);
    CHECK(count == 7);
    CHECK(redcore_client_set_reauth_callback(NULL, on_reauth, NULL) == INVALID);
    CHECK(redcore_client_drain(NULL, 10, NULL) == INVALID);

    CHECK(redcore_pipeline_new(false, NULL) == INVALID);
    CHECK(redcore_pipeline_append(NULL, 1, argv, NULL, NULL) == INVALID);
    CHECK(redcore_pipeline_len(NULL) == 0);
    redcore_pipeline_clear(NULL);
    redcore_pipeline_free(NULL);
    CHECK(redcore_pipeline_result_len(NULL) == 0);
    const redcore_reply *element = NULL;
    const redcore_error *element_err = NULL;
    CHECK(redcore_pipeline_result_get(NULL, 0, &element, &element_err) == INVALID);
    redcore_pipeline_result_free(NULL);
}

/* A live client, given every argument a caller can get wrong. */
static void test_client_out_of_range(const char *host, uint16_t port) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, host, port, NULL) == REDCORE_OK);
    if (redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "misuse_test: no client: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        redcore_config_free(cfg);
        failures++;
        return;
    }
    CHECK(redcore_client_new(cfg, NULL, NULL) == INVALID);
    redcore_config_free(cfg);

    const char *ping[] = {"PING"};
    const char *with_null[] = {"ECHO", NULL};
    redcore_reply *reply = NULL;
    CHECK(redcore_client_command_blocking(client, -1, ping, NULL, &reply, NULL) == INVALID);
    CHECK(redcore_client_command_blocking(client, 0, ping, NULL, &reply, NULL) == INVALID);
    CHECK(redcore_client_command_blocking(client, 1, NULL, NULL, &reply, NULL) == INVALID);
    CHECK(redcore_client_command_blocking(client, 2, with_null, NULL, &reply, NULL) ==
          INVALID);
    CHECK(redcore_client_command_blocking(client, 1, ping, NULL, NULL, NULL) == INVALID);
    CHECK(reply == NULL);
    CHECK(redcore_client_command(client, -5, ping, NULL, on_reply, NULL, NULL) == INVALID);
    CHECK(redcore_client_command(client, 1, NULL, NULL, on_reply, NULL, NULL) == INVALID);
    CHECK(redcore_client_command(client, 2, with_null, NULL, on_reply, NULL, NULL) == INVALID);
    CHECK(redcore_client_command(client, 1, ping, NULL, NULL, NULL, NULL) == INVALID);
    CHECK(redcore_client_pipeline_run(client, NULL, on_pipeline, NULL, NULL) == INVALID);
    CHECK(redcore_client_pipeline_run_blocking(client, NULL, NULL, NULL) == INVALID);
    CHECK(redcore_client_dedicated(client, NULL, NULL) == INVALID);
    CHECK(redcore_client_reauthenticate_blocking(client, "u", NULL, 3, NULL, NULL) == INVALID);

    /* Pipelines: bad appends, and a result read past its end. */
    redcore_pipeline *pipeline = NULL;
    CHECK(redcore_pipeline_new(false, &pipeline) == REDCORE_OK);
    CHECK(redcore_pipeline_append(pipeline, 0, ping, NULL, NULL) == INVALID);
    CHECK(redcore_pipeline_append(pipeline, -1, ping, NULL, NULL) == INVALID);
    CHECK(redcore_pipeline_append(pipeline, 1, NULL, NULL, NULL) == INVALID);
    CHECK(redcore_pipeline_append(pipeline, 2, with_null, NULL, NULL) == INVALID);
    CHECK(redcore_pipeline_len(pipeline) == 0);
    CHECK(redcore_pipeline_append(pipeline, 1, ping, NULL, NULL) == REDCORE_OK);
    redcore_pipeline_result *result = NULL;
    CHECK(redcore_client_pipeline_run_blocking(client, pipeline, &result, NULL) == REDCORE_OK);
    if (result != NULL) {
        const redcore_reply *element = NULL;
        const redcore_error *element_err = NULL;
        CHECK(redcore_pipeline_result_len(result) == 1);
        CHECK(redcore_pipeline_result_get(result, 1, &element, &element_err) == INVALID);
        CHECK(redcore_pipeline_result_get(result, SIZE_MAX, &element, &element_err) == INVALID);
        CHECK(element == NULL && element_err == NULL);
        CHECK(redcore_pipeline_result_get(result, 0, NULL, NULL) == INVALID);
        redcore_pipeline_result_free(result);
    }
    redcore_pipeline_free(pipeline);

    /* Dedicated connections: bad arguments, the connection stays usable. */
    redcore_dedicated *dedicated = NULL;
    CHECK(redcore_client_dedicated(client, &dedicated, NULL) == REDCORE_OK);
    if (dedicated != NULL) {
        CHECK(redcore_dedicated_command_blocking(dedicated, 0, ping, NULL, &reply, NULL) ==
              INVALID);
        CHECK(redcore_dedicated_command_blocking(dedicated, 1, ping, NULL, NULL, NULL) ==
              INVALID);
        CHECK(redcore_dedicated_command(dedicated, 1, ping, NULL, NULL, NULL, NULL) == INVALID);
        CHECK(redcore_dedicated_command_blocking(dedicated, 1, ping, NULL, &reply, NULL) ==
              REDCORE_OK);
        redcore_reply_free(reply);
        reply = NULL;
        redcore_dedicated_release(dedicated);
    }
    CHECK(redcore_client_drain(client, 0, NULL) == REDCORE_OK);
    CHECK(redcore_client_drain(client, UINT64_MAX, NULL) == REDCORE_OK);
    /* The client is unharmed by all of it. */
    CHECK(redcore_client_command_blocking(client, 1, ping, NULL, &reply, NULL) == REDCORE_OK);
    CHECK(redcore_reply_get_type(reply) == REDCORE_REPLY_SIMPLE ||
          redcore_reply_get_type(reply) == REDCORE_REPLY_BULK);
    redcore_reply_free(reply);
    redcore_client_free(client);
    CHECK(callback_runs == 0);
}

static void test_errors_and_codes(void) {
    redcore_error_code parents[2] = {REDCORE_OK, REDCORE_OK};
    uint16_t slot = 1;
    const char *host = "unchanged";
    uint16_t port = 1;
    CHECK(redcore_error_get_code(NULL) == INVALID);
    CHECK(strcmp(redcore_error_message(NULL), "") == 0);
    CHECK(!redcore_error_is(NULL, REDCORE_ERR_REDIS));
    CHECK(!redcore_error_redirect(NULL, &slot, &host, &port));
    CHECK(slot == 1 && port == 1 && strcmp(host, "unchanged") == 0);
    redcore_error_free(NULL);
    for (int32_t code = -3; code <= 1000; code += (code < 50 ? 1 : 317)) {
        const char *name = redcore_error_code_name(code);
        CHECK(name != NULL);
        if (code < 0 || code > REDCORE_ERR_CANCELLED) {
            CHECK(strcmp(name, "UNKNOWN") == 0);
            CHECK(redcore_error_code_parent(code) == REDCORE_OK);
            CHECK(redcore_error_code_parents(code, parents, 2) == 0);
            CHECK(!redcore_error_code_is(code, REDCORE_ERR_REDIS));
            CHECK(!redcore_error_code_is(REDCORE_ERR_CONNECTION, code));
        }
        /* NULL out with no room is allowed; nothing is written. */
        (void)redcore_error_code_parents(code, NULL, 0);
    }
    CHECK(redcore_error_code_parents(REDCORE_ERR_CLUSTER_DOWN, parents, 1) == 2);
    CHECK(parents[1] == REDCORE_OK);
    CHECK(redcore_version() != NULL);
}

static void test_reader_and_replies(void) {
    redcore_reader *reader = NULL;
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;
    char format[4] = {'x', 'x', 'x', 'x'};
    size_t len = 99;

    CHECK(redcore_reader_new(0, 0, 0, NULL, NULL) == INVALID);
    CHECK(redcore_reader_new(SIZE_MAX, 0, 0, &reader, &err) == INVALID && reader == NULL &&
          invalid_err(err));
    err = NULL;
    CHECK(redcore_reader_new(0, SIZE_MAX, 0, &reader, NULL) == INVALID && reader == NULL);
    /* Deeper than the functions walking a reply can recurse (at most 1000 levels). */
    CHECK(redcore_reader_new(0, 0, SIZE_MAX, &reader, NULL) == INVALID && reader == NULL);
    CHECK(redcore_reader_new(0, 0, 1001, &reader, NULL) == INVALID && reader == NULL);
    CHECK(redcore_reader_new(0, 0, 1000, &reader, NULL) == REDCORE_OK && reader != NULL);
    redcore_reader_free(reader);
    reader = NULL;
    CHECK(redcore_reader_feed(NULL, (const uint8_t *)"+OK\r\n", 5) == INVALID);
    CHECK(redcore_reader_get_reply(NULL, &reply, NULL) == INVALID && reply == NULL);
    redcore_reader_free(NULL);

    CHECK(redcore_reader_new(0, 0, 0, &reader, NULL) == REDCORE_OK && reader != NULL);
    CHECK(redcore_reader_feed(reader, NULL, 5) == INVALID);
    CHECK(redcore_reader_feed(reader, NULL, 0) == REDCORE_OK);
    CHECK(redcore_reader_get_reply(reader, NULL, NULL) == INVALID);
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"*2\r\n:1\r\n+two\r\n", 14) ==
          REDCORE_OK);
    CHECK(redcore_reader_get_reply(reader, &reply, NULL) == REDCORE_OK && reply != NULL);
    /* Replies read out of range or as the wrong type. */
    CHECK(redcore_reply_element(reply, 2) == NULL);
    CHECK(redcore_reply_element(reply, SIZE_MAX) == NULL);
    CHECK(redcore_reply_map_key(reply, 0) == NULL);
    CHECK(redcore_reply_map_value(reply, 0) == NULL);
    CHECK(redcore_reply_string(reply, &len) == NULL && len == 99);
    CHECK(redcore_reply_integer(reply) == 0);
    CHECK(!redcore_reply_verbatim_format(reply, format) && format[0] == 'x');
    CHECK(!redcore_reply_verbatim_format(reply, NULL));
    const redcore_reply *first = redcore_reply_element(reply, 0);
    CHECK(redcore_reply_integer(first) == 1);
    CHECK(redcore_reply_element(first, 0) == NULL);
    CHECK(redcore_reply_len(first) == 0);
    CHECK(redcore_reply_string(redcore_reply_element(reply, 1), NULL) != NULL);
    redcore_reply_free(reply);
    /* A broken stream: PROTOCOL, and the reader stays broken. */
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"?\r\n", 3) == REDCORE_ERR_PROTOCOL);
    reply = NULL;
    CHECK(redcore_reader_get_reply(reader, &reply, &err) == REDCORE_ERR_PROTOCOL);
    CHECK(reply == NULL && err != NULL);
    redcore_error_free(err);
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"+OK\r\n", 5) == REDCORE_ERR_PROTOCOL);
    redcore_reader_free(reader);

    /* Every reply accessor with NULL. */
    CHECK(redcore_reply_get_type(NULL) == REDCORE_REPLY_NULL);
    CHECK(redcore_reply_integer(NULL) == 0);
    CHECK(redcore_reply_double(NULL) == 0.0);
    CHECK(!redcore_reply_bool(NULL));
    CHECK(redcore_reply_string(NULL, &len) == NULL && len == 99);
    CHECK(!redcore_reply_verbatim_format(NULL, format));
    CHECK(redcore_reply_error_code(NULL) == REDCORE_OK);
    CHECK(redcore_reply_len(NULL) == 0);
    CHECK(redcore_reply_element(NULL, 0) == NULL);
    CHECK(redcore_reply_map_key(NULL, 0) == NULL);
    CHECK(redcore_reply_map_value(NULL, 0) == NULL);
    CHECK(redcore_reply_attribute(NULL) == NULL);
    CHECK(redcore_reply_clone(NULL) == NULL);
    redcore_reply_free(NULL);
}

/* The flat and batch submissions, the completion queue, cluster settings and the lock, with
 * NULL for each pointer. */
static void test_newer_classes_with_null(void) {
    const size_t tokens[] = {1};
    const uint32_t argcs[] = {1};
    const size_t arglens[] = {4};
    const uint8_t args[] = {'P', 'I', 'N', 'G'};
    redcore_reply *reply = NULL;
    redcore_pipeline_result *result = NULL;
    redcore_dedicated *dedicated = NULL;
    redcore_completion_queue *queue = NULL;
    redcore_completion completions[2];
    redcore_item items[2];
    redcore_lock_options *options = NULL;
    redcore_lock *lock = NULL;
    uint64_t counter = 5;
    bool flag = true;
    uint64_t fence = 9;
    const char *key = "unchanged";
    size_t key_len = 3;

    CHECK(redcore_completion_queue_new(NULL) == INVALID);
    CHECK(redcore_completion_queue_poll(NULL, completions, 2) == 0);
    CHECK(redcore_completion_queue_wait(NULL, 10, completions, 2) == 0);
    CHECK(redcore_completion_queue_fd(NULL) == -1);
    redcore_completion_queue_close(NULL);
    redcore_completion_queue_free(NULL);
    CHECK(redcore_completion_queue_new(&queue) == REDCORE_OK && queue != NULL);
    CHECK(redcore_completion_queue_poll(queue, NULL, 2) == 0);
    CHECK(redcore_completion_queue_poll(queue, completions, 0) == 0);
    CHECK(redcore_completion_queue_wait(queue, 0, completions, 2) == 0);

    CHECK(redcore_client_submit_batch(NULL, queue, 1, tokens, argcs, arglens, args, 4, NULL) ==
          INVALID);
    CHECK(redcore_dedicated_submit_batch(NULL, queue, 1, tokens, argcs, arglens, args, 4,
                                         NULL) == INVALID);
    CHECK(redcore_client_submit_pipeline(NULL, queue, 1, false, 1, argcs, arglens, args, 4,
                                         NULL) == INVALID);
    CHECK(redcore_client_command_flat_blocking(NULL, 1, arglens, args, 4, &reply, NULL) ==
          INVALID);
    CHECK(reply == NULL);
    CHECK(redcore_client_pipeline_flat_blocking(NULL, false, 1, argcs, arglens, args, 4, &result,
                                                NULL) == INVALID);
    CHECK(result == NULL);
    CHECK(redcore_client_dedicated_for_key(NULL, "k", 1, &dedicated, NULL) == INVALID);
    CHECK(dedicated == NULL);
    CHECK(redcore_client_cluster_counter(NULL, 0, &counter, NULL) == INVALID && counter == 5);

    CHECK(redcore_config_set_cluster(NULL, true, NULL) == INVALID);
    CHECK(redcore_config_add_cluster_node(NULL, "h", 1, NULL) == INVALID);
    CHECK(redcore_config_set_read_from(NULL, 0, NULL) == INVALID);
    CHECK(redcore_config_set_cluster_refresh_interval_ms(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_cluster_max_redirects(NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_address_remap(NULL, on_remap, NULL, NULL, NULL) == INVALID);

    CHECK(redcore_reply_items(NULL, items, 2) == 0);
    CHECK(redcore_pipeline_result_items(NULL, items, 2) == 0);

    CHECK(redcore_lock_options_new(NULL) == INVALID);
    redcore_lock_options_free(NULL);
    CHECK(redcore_lock_options_set_timeout_ms(NULL, 1) == INVALID);
    CHECK(redcore_lock_options_set_sleep_ms(NULL, 1) == INVALID);
    CHECK(redcore_lock_options_set_blocking(NULL, true, 1) == INVALID);
    CHECK(redcore_lock_options_set_auto_extend(NULL, 50, on_lock_lost, NULL, NULL, NULL) ==
          INVALID);
    CHECK(redcore_lock_new(NULL, "l", 1, NULL, &lock, NULL) == INVALID && lock == NULL);
    redcore_lock_free(NULL);
    CHECK(redcore_lock_fence_key(NULL, &key, &key_len) == INVALID);
    CHECK(key_len == 3 && strcmp(key, "unchanged") == 0);
    CHECK(redcore_lock_fence(NULL) == 0);
    CHECK(redcore_lock_acquire_blocking(NULL, NULL, 0, &flag, &fence, NULL) == INVALID);
    CHECK(flag && fence == 9);
    CHECK(redcore_lock_release_blocking(NULL, NULL) == INVALID);
    CHECK(redcore_lock_extend_blocking(NULL, 1, false, NULL) == INVALID);
    CHECK(redcore_lock_reacquire_blocking(NULL, NULL) == INVALID);
    CHECK(redcore_lock_locked_blocking(NULL, &flag, NULL) == INVALID);
    CHECK(redcore_lock_owned_blocking(NULL, &flag, NULL) == INVALID);
    CHECK(redcore_lock_acquire(NULL, NULL, 0, on_lock, NULL, NULL) == INVALID);
    CHECK(redcore_lock_release(NULL, on_lock, NULL, NULL) == INVALID);
    CHECK(redcore_lock_extend(NULL, 1, false, on_lock, NULL, NULL) == INVALID);
    CHECK(redcore_lock_reacquire(NULL, on_lock, NULL, NULL) == INVALID);
    CHECK(redcore_lock_locked(NULL, on_lock, NULL, NULL) == INVALID);
    CHECK(redcore_lock_owned(NULL, on_lock, NULL, NULL) == INVALID);

    /* Options out of range. */
    CHECK(redcore_lock_options_new(&options) == REDCORE_OK && options != NULL);
    CHECK(redcore_lock_options_set_auto_extend(options, 500, on_lock_lost, NULL, NULL, NULL) ==
          INVALID);
    redcore_lock_options_free(options);
    redcore_config *cfg = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_add_cluster_node(cfg, NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_add_cluster_node(cfg, "h", 0, NULL) == INVALID);
    CHECK(redcore_config_set_read_from(cfg, 99, NULL) == INVALID);
    CHECK(redcore_config_set_read_from(cfg, -1, NULL) == INVALID);
    redcore_config_free(cfg);
    redcore_completion_queue_close(queue);
    redcore_completion_queue_free(queue);
}

/* Sentinel mode's settings and counter: NULL, out of range, and used while it is off. */
static void test_sentinel(const char *host, uint16_t port) {
    uint64_t counter = 5;
    CHECK(redcore_config_set_sentinel(NULL, "m", "h", 1, NULL) == INVALID);
    CHECK(redcore_config_add_sentinel(NULL, "h", 1, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_role(NULL, 0, false, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_quorum(NULL, 1, 0, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_credentials(NULL, NULL, NULL, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_tls(NULL, -1, NULL, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_timing(NULL, 0, 1, NULL) == INVALID);
    CHECK(redcore_client_sentinel_counter(NULL, 0, &counter, NULL) == INVALID && counter == 5);

    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    /* Off: the setters of its details say to turn it on first. */
    CHECK(redcore_config_add_sentinel(cfg, "h", 1, &err) == INVALID);
    CHECK(err != NULL && strstr(redcore_error_message(err), "sentinel mode is off") != NULL);
    redcore_error_free(err);
    CHECK(redcore_config_set_sentinel_role(cfg, 1, false, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel(cfg, "m", NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel(cfg, "m", "h", 0, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel(cfg, "", "h", 1, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel(cfg, "m", "h", 1, NULL) == REDCORE_OK);
    CHECK(redcore_config_add_sentinel(cfg, NULL, 1, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_role(cfg, 2, false, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_role(cfg, -1, false, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_quorum(cfg, 0, 0, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_tls(cfg, 2, NULL, NULL) == INVALID);
    CHECK(redcore_config_set_sentinel_timing(cfg, 0, 0, NULL) == INVALID);
    redcore_config_free(cfg);

    /* A client of one server has no sentinel counters. */
    redcore_client *client = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, host, port, NULL) == REDCORE_OK);
    CHECK(redcore_client_new(cfg, &client, NULL) == REDCORE_OK);
    redcore_config_free(cfg);
    CHECK(redcore_client_sentinel_counter(client, 0, &counter, NULL) == INVALID && counter == 5);
    redcore_client_free(client);
}

int main(void) {
    const char *host = getenv("REDCORE_TEST_HOST");
    const char *port = getenv("REDCORE_TEST_PORT");
    if (host == NULL || port == NULL) {
        fprintf(stderr, "misuse_test: REDCORE_TEST_HOST and REDCORE_TEST_PORT are not set; "
                        "run it under tests/tools/with-redis.sh\n");
        return 2;
    }
    test_config_with_null();
    test_config_out_of_range();
    test_client_with_null();
    test_newer_classes_with_null();
    test_client_out_of_range(host, (uint16_t)atoi(port));
    test_sentinel(host, (uint16_t)atoi(port));
    test_errors_and_codes();
    test_reader_and_replies();
    if (failures != 0) {
        fprintf(stderr, "misuse_test: %d check(s) failed\n", failures);
        return 1;
    }
    puts("misuse_test: ok");
    return 0;
}
