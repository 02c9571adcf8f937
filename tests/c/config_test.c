/* The config class of redcore.h, checked from C.
 * Built with -Wall -Wextra -Wpedantic -Werror; clean under valgrind (no leak, no error). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "redcore.h"

/* True when `err` holds an INVALID_ARGUMENT error whose message contains `fragment`; frees
 * the error either way. */
static int invalid_with(redcore_error *err, const char *fragment) {
    int ok = err != NULL && redcore_error_get_code(err) == REDCORE_ERR_INVALID_ARGUMENT &&
             strstr(redcore_error_message(err), fragment) != NULL;
    if (!ok && err != NULL) {
        fprintf(stderr, "unexpected error message: %s\n", redcore_error_message(err));
    }
    redcore_error_free(err);
    return ok;
}

static void test_defaults_and_setters(void) {
    redcore_config *cfg = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(cfg != NULL);
    CHECK(redcore_config_set_host(cfg, "cache.local", 6380, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_db(cfg, 2, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_username(cfg, "alice", NULL) == REDCORE_OK);
    CHECK(redcore_config_set_password(cfg, "s3cret", NULL) == REDCORE_OK);
    CHECK(redcore_config_set_password(cfg, "replaced", NULL) == REDCORE_OK);
    CHECK(redcore_config_set_client_name(cfg, "worker-1", NULL) == REDCORE_OK);
    CHECK(redcore_config_set_protocol(cfg, 2, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_connect_timeout_ms(cfg, 0, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_command_timeout_ms(cfg, 250, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tcp_nodelay(cfg, false, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tcp_keepalive(cfg, true, 60, 10, 5, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_connections_per_node(cfg, 4, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_max_in_flight(cfg, 0, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_max_direct_connections_per_node(cfg, 4, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_max_dedicated_connections(cfg, 8, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_dedicated_wait_timeout_ms(cfg, 100, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_retry(cfg, 5, REDCORE_BACKOFF_FULL_JITTER, 5, 2000, NULL) ==
          REDCORE_OK);
    CHECK(redcore_config_set_retry_written_commands(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_health_check_interval_ms(cfg, 30000, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_reactor_threads(cfg, 2, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_lazy_connect(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_reader_limits(cfg, 1 << 20, 0, 64, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_lib_info(cfg, "redcore-c", "0.1.0", NULL) == REDCORE_OK);
    CHECK(redcore_config_set_unix_path(cfg, "/tmp/redis.sock", NULL) == REDCORE_OK);

    redcore_config *copy = NULL;
    CHECK(redcore_config_clone(cfg, &copy) == REDCORE_OK);
    redcore_config_free(cfg);
    CHECK(redcore_config_set_db(copy, 3, NULL) == REDCORE_OK);
    redcore_config_free(copy);
    redcore_config_free(NULL);
}

static void test_errors(void) {
    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);

    CHECK(redcore_config_set_db(NULL, 1, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "cfg is NULL"));
    err = NULL;
    CHECK(redcore_config_set_host(cfg, NULL, 1, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "host is NULL"));
    err = NULL;
    CHECK(redcore_config_set_protocol(cfg, 4, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "protocol"));
    err = NULL;
    CHECK(redcore_config_set_connections_per_node(cfg, 0, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "connections_per_node"));
    err = NULL;
    /* Each is a socket per node: absurd counts are refused here, not by an abort later. */
    CHECK(redcore_config_set_connections_per_node(cfg, SIZE_MAX, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "connections_per_node must be 1 to 1024"));
    err = NULL;
    CHECK(redcore_config_set_max_direct_connections_per_node(cfg, (size_t)1 << 40, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "max_direct_connections_per_node must be at most 1024"));
    err = NULL;
    CHECK(redcore_config_set_retry(cfg, 3, 42, 10, 1000, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "backoff 42"));
    err = NULL;
    CHECK(redcore_config_set_reactor_threads(cfg, 0, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_set_client_name(cfg, "\xff", &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "not valid UTF-8"));
    redcore_config_free(cfg);
}

static void test_urls(void) {
    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_from_url("rediss://:pw@[::1]:6380/2?protocol=2&retries=1", &cfg,
                                  &err) == REDCORE_OK);
    CHECK(cfg != NULL && err == NULL);
    redcore_config_free(cfg);
    cfg = NULL;

    CHECK(redcore_config_from_url("redis://u:hunter2@h:70000", &cfg, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(cfg == NULL);
    CHECK(err != NULL && strstr(redcore_error_message(err), "hunter2") == NULL);
    CHECK(invalid_with(err, "70000"));
    err = NULL;
    CHECK(redcore_config_from_url("redis://h?colour=blue", &cfg, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "unknown URL parameter 'colour'"));
    err = NULL;
    CHECK(redcore_config_from_url("redis+sentinel://h:26379", &cfg, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "names no service"));
    err = NULL;
    CHECK(redcore_config_from_url("redis+cluster://h/1", &cfg, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "db must be 0 in cluster mode"));
    CHECK(redcore_config_from_url(NULL, &cfg, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
}

/* Maps every announced port P to P + 1000 on localhost; counts its calls. */
static int remap(void *userdata, const char *host, uint16_t port, char *host_out,
                 size_t host_out_len, uint16_t *port_out) {
    (void)host;
    ++*(int *)userdata;
    snprintf(host_out, host_out_len, "%s", "localhost");
    *port_out = (uint16_t)(port + 1000);
    return 1;
}

static int remap_freed = 0;
static void free_remap_userdata(void *userdata) {
    (void)userdata;
    remap_freed++;
}

static void test_cluster_settings(void) {
    redcore_config *cfg = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    /* Cluster settings need cluster mode. */
    CHECK(redcore_config_set_read_from(cfg, REDCORE_READ_FROM_REPLICAS, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "cluster mode is off"));
    err = NULL;
    CHECK(redcore_config_set_cluster(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_add_cluster_node(cfg, "[::1]", 7001, NULL) == REDCORE_OK);
    CHECK(redcore_config_add_cluster_node(cfg, "10.0.0.2", 7002, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_read_from(cfg, REDCORE_READ_FROM_ROUND_ROBIN, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_read_from(cfg, 9, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "not a redcore_read_from"));
    err = NULL;
    CHECK(redcore_config_set_cluster_refresh_interval_ms(cfg, 0, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_cluster_max_redirects(cfg, 5, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_cluster_max_redirects(cfg, 256, &err) ==
          REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "cluster.max_redirects"));
    err = NULL;
    /* A cluster has only database 0. */
    CHECK(redcore_config_set_db(cfg, 3, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "db must be 0 in cluster mode"));
    err = NULL;
    int calls = 0;
    CHECK(redcore_config_set_address_remap(cfg, remap, &calls, free_remap_userdata, NULL) ==
          REDCORE_OK);
    /* The clone shares the hook; its userdata is freed once, after both are gone. */
    redcore_config *copy = NULL;
    CHECK(redcore_config_clone(cfg, &copy) == REDCORE_OK);
    redcore_config_free(copy);
    CHECK(remap_freed == 0);
    CHECK(redcore_config_set_address_remap(cfg, NULL, NULL, NULL, NULL) == REDCORE_OK);
    CHECK(remap_freed == 1);
    /* NULL arguments. */
    CHECK(redcore_config_set_cluster(NULL, true, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_add_cluster_node(cfg, NULL, 7000, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_config_add_cluster_node(cfg, "h", 0, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(invalid_with(err, "startup node"));
    err = NULL;
    CHECK(redcore_config_set_read_from(NULL, 0, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    /* Off again: the cluster settings are gone with it. */
    CHECK(redcore_config_set_cluster(cfg, false, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_cluster_max_redirects(cfg, 5, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    redcore_config_free(cfg);
    /* A cluster URL. */
    CHECK(redcore_config_from_url("redis+cluster://a:1,b:2?read_from=replicas", &cfg, NULL) ==
          REDCORE_OK);
    redcore_config_free(cfg);
}

int main(void) {
    test_defaults_and_setters();
    test_errors();
    test_urls();
    test_cluster_settings();
    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("config_test: ok");
    return 0;
}
