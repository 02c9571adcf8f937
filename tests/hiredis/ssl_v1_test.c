/* X.509 v1 certificates, which rustls (redcore's TLS library) refuses and OpenSSL accepts: the
 * error says so, in the hiredis API and in the native one, for a client certificate (hiredis
 * used to say "Failed to load private key" of a key that is fine) and for a server's.
 *
 * Makes its own certificates with the openssl command (`openssl x509 -req` without extensions
 * signs a v1 certificate) and its own TLS server with `openssl s_server` on a free loopback
 * port presenting the v1 certificate; the client-certificate cases need no server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>
#include <hiredis_ssl.h>
#include <redcore.h>

#include "common.h"

static char dir[] = "/tmp/redcore-v1-test.XXXXXX";
static char path_buf[4][256];

static const char *path(int slot, const char *name) {
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

static int sh(const char *fmt, const char *arg) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg, arg, arg, arg);
    return system(cmd);
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);
    return ntohs(a.sin_port);
}

static int accepts(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* The native client's error for a TLS config (and a server on `port`), or NULL if it worked. */
static redcore_error *native_error(int port, const char *cert, const char *key) {
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_error *err = NULL;
    CHECK(redcore_config_new(&cfg) == REDCORE_OK);
    CHECK(redcore_config_set_host(cfg, "127.0.0.1", (uint16_t)port, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls(cfg, true, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_tls_ca_file(cfg, path(0, "ca.crt"), NULL) == REDCORE_OK);
    CHECK(redcore_config_set_connect_timeout_ms(cfg, 5000, NULL) == REDCORE_OK);
    CHECK(redcore_config_set_retry(cfg, 0, REDCORE_BACKOFF_NONE, 0, 0, NULL) == REDCORE_OK);
    if (cert != NULL)
        CHECK(redcore_config_set_tls_client_cert(cfg, cert, key, NULL) == REDCORE_OK);
    if (redcore_client_new(cfg, &client, &err) == REDCORE_OK) redcore_client_free(client);
    redcore_config_free(cfg);
    return err;
}

static void test_client_certificate(void) {
    /* hiredis API: the code is the certificate's, and its text says why. */
    redisSSLOptions o;
    memset(&o, 0, sizeof o);
    o.cacert_filename = path(0, "ca.crt");
    o.cert_filename = path(1, "v1.crt");
    o.private_key_filename = path(2, "v1.key");
    o.verify_mode = REDIS_SSL_VERIFY_PEER;
    redisSSLContextError err = REDIS_SSL_CTX_NONE;
    redisSSLContext *ssl = redisCreateSSLContextWithOptions(&o, &err);
    CHECK(ssl == NULL && err == REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED);
    CHECK(strstr(redisSSLContextGetError(err), "X.509 v1") != NULL);
    CHECK(strstr(redisSSLContextGetError(err), "private key") == NULL);
    /* The text is hiredis's again for a later failure that is not about the version. */
    o.cert_filename = path(1, "missing.crt");
    CHECK(redisCreateSSLContextWithOptions(&o, &err) == NULL &&
          err == REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED &&
          strcmp(redisSSLContextGetError(err), "Failed to load client certificate") == 0);
    /* The same key with a v3 certificate is accepted: it was never the key. */
    o.cert_filename = path(1, "v3.crt");
    ssl = redisCreateSSLContextWithOptions(&o, &err);
    CHECK(ssl != NULL && err == REDIS_SSL_CTX_NONE);
    redisFreeSSLContext(ssl);

    /* Native API: a TLS error naming the file and the version. */
    const char *tls_port = getenv("REDCORE_TEST_TLS_PORT");
    redcore_error *e = native_error(tls_port ? atoi(tls_port) : free_port(), path(1, "v1.crt"),
                                    path(2, "v1.key"));
    CHECK(e != NULL);
    if (e != NULL) {
        CHECK(redcore_error_is(e, REDCORE_ERR_TLS));
        CHECK(strstr(redcore_error_message(e), "X.509 v1") != NULL);
        CHECK(strstr(redcore_error_message(e), "v1.crt") != NULL);
        redcore_error_free(e);
    }
}

/* An openssl s_server with the v1 certificate on a free port, accepting; returns the port. One
 * per client: under valgrind a server was seen gone after the readiness probe alone (why is
 * not known), so the callers start a new one when their connection is refused. */
static int start_v1_server(void) {
    int port = free_port();
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl s_server -quiet -accept 127.0.0.1:%d -cert %s/v1.crt -key %s/v1.key "
             "-naccept 4 </dev/null >/dev/null 2>&1 & echo $! > %s/server.pid",
             port, dir, dir, dir);
    CHECK(system(cmd) == 0);
    int up = 0;
    for (int i = 0; i < 200 && !(up = accepts(port)); i++) nanosleep(&(struct timespec){0, 25000000}, NULL);
    CHECK(up);
    return port;
}

static void test_server_certificate(void) {
    int port = start_v1_server();

    /* hiredis API: the handshake fails, and says why. */
    redisSSLContextError err;
    redisSSLContext *ssl = redisCreateSSLContext(path(0, "ca.crt"), NULL, NULL, NULL, NULL, &err);
    CHECK(ssl != NULL);
    redisContext *c = redisConnect("127.0.0.1", port);
    for (int attempt = 1; attempt < 3 && c != NULL && c->err != 0; attempt++) {
        /* s_server gone after the probe (see the native part below): a new one. */
        redisFree(c);
        sh("kill $(cat %s/server.pid) 2>/dev/null", dir);
        port = start_v1_server();
        c = redisConnect("127.0.0.1", port);
    }
    CHECK(c != NULL && c->err == 0);
    CHECK(redisInitiateSSLWithContext(c, ssl) == REDIS_ERR);
    CHECK(strstr(c->errstr, "X.509 v1") != NULL);
    if (strstr(c->errstr, "X.509 v1") == NULL) fprintf(stderr, "errstr: %s\n", c->errstr);
    redisFree(c);
    redisFreeSSLContext(ssl);

    sh("kill $(cat %s/server.pid) 2>/dev/null", dir);

    /* Native API. Under valgrind the client can come after s_server has gone (it does not
     * always outlive the readiness probe's bare connection): a refused connection starts a
     * new server, at most 3 times. */
    redcore_error *e = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        port = start_v1_server();
        redcore_error_free(e);
        e = native_error(port, NULL, NULL);
        if (e == NULL || redcore_error_is(e, REDCORE_ERR_TLS) ||
            strstr(redcore_error_message(e), "refused") == NULL)
            break;
        sh("kill $(cat %s/server.pid) 2>/dev/null", dir);
    }
    CHECK(e != NULL);
    if (e != NULL) {
        CHECK(redcore_error_is(e, REDCORE_ERR_TLS));
        CHECK(strstr(redcore_error_message(e), "X.509 v1") != NULL);
        if (strstr(redcore_error_message(e), "X.509 v1") == NULL)
            fprintf(stderr, "native: %s\n", redcore_error_message(e));
        redcore_error_free(e);
    }
    sh("kill $(cat %s/server.pid) 2>/dev/null", dir);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    /* A v3 CA (req -x509 adds extensions), a v1 leaf it signed (no -extfile), and a v3 leaf of
     * the same key (with one). */
    CHECK(sh("(cd %s && openssl ecparam -name prime256v1 -genkey -noout -out ca.key && "
             "openssl req -x509 -new -key ca.key -days 2 -subj /CN=redcore-v1-ca -out ca.crt && "
             "openssl ecparam -name prime256v1 -genkey -noout -out v1.key && "
             "openssl req -new -key v1.key -subj /CN=127.0.0.1 -out v1.csr && "
             "openssl x509 -req -in v1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out v1.crt && "
             "printf 'subjectAltName=IP:127.0.0.1\\n' > v3.ext && "
             "openssl x509 -req -in v1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
             "-extfile v3.ext -out v3.crt && "
             "openssl x509 -in v1.crt -noout -text | grep -q 'Version: 1 ') "
             ">/dev/null 2>&1",
             dir) == 0);
    test_client_certificate();
    test_server_certificate();
    sh("rm -rf %s", dir);
    return finish("hiredis ssl_v1_test");
}
