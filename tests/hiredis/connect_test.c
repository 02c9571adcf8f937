/* Connecting, where hiredis 1.5.0 does something one might not guess, checked as it does it:
 *  - TCP options with a NULL host connect to the loopback address (getaddrinfo(NULL, ...)),
 *    and redisReconnect does so again;
 *  - a TCP connect that fails once its socket exists (refused, a source address that cannot
 *    be resolved or bound) leaves that socket in c->fd, open until redisFree or
 *    redisReconnect closes it; a failed Unix connect closes it;
 *  - redisConnectFd leaves connection_type at REDIS_CONN_TCP.
 * Written against hiredis's documented API; built with include/hiredis only. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "../c/refusing_port.h"
#include "common.h"

static int fd_open(int fd) {
    return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

static int fd_closed(int fd) {
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static void ping(redisContext *c) {
    redisReply *reply = redisCommand(c, "PING");
    CHECK(reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0);
    freeReplyObject(reply);
}

static void test_null_host(void) {
    /* NULL stands for the loopback address, IPv4 first: only where the tests' server is. */
    if (strcmp(test_host(), "127.0.0.1") != 0)
        return;
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, NULL, test_port());
    redisContext *c = redisConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == 0 && c->tcp.host == NULL && c->tcp.port == test_port());
    ping(c);
    CHECK(redisReconnect(c) == REDIS_OK && c->err == 0);
    ping(c);
    redisFree(c);
}

static void check_refused(redisContext *c) {
    CHECK(c != NULL && c->err == REDIS_ERR_IO && strcmp(c->errstr, "Connection refused") == 0);
    CHECK(!(c->flags & REDIS_CONNECTED) && fd_open(c->fd));
    int fd = c->fd;
    redisFree(c);
    CHECK(fd_closed(fd));
}

static void test_failed_tcp_keeps_socket(int port) {
    struct timeval tv = {1, 0};
    check_refused(redisConnectWithTimeout("127.0.0.1", port, tv));
    check_refused(redisConnect("127.0.0.1", port));

    /* redisReconnect closes the old socket before making the next one. */
    redisContext *c = redisConnect("127.0.0.1", port);
    CHECK(c != NULL && fd_open(c->fd));
    CHECK(redisReconnect(c) == REDIS_ERR);
    check_refused(c);

    /* Not an address of this host: bind fails. */
    redisOptions opt = {0};
    REDIS_OPTIONS_SET_TCP(&opt, test_host(), test_port());
    opt.endpoint.tcp.source_addr = "192.0.2.1";
    c = redisConnectWithOptions(&opt);
    CHECK(c != NULL && c->err == REDIS_ERR_OTHER &&
          strncmp(c->errstr, "Can't bind socket: ", 19) == 0 && fd_open(c->fd));
    redisFree(c);
    c = redisConnectBindNonBlock(test_host(), test_port(), "192.0.2.1");
    CHECK(c != NULL && c->err == REDIS_ERR_OTHER && fd_open(c->fd));
    redisFree(c);

    /* An IPv6 source for an IPv4 connection: resolving it fails (without asking DNS). */
    if (strcmp(test_host(), "127.0.0.1") == 0) {
        opt.endpoint.tcp.source_addr = "::1";
        c = redisConnectWithOptions(&opt);
        CHECK(c != NULL && c->err == REDIS_ERR_OTHER &&
              strncmp(c->errstr, "Can't get addr: ", 16) == 0 && fd_open(c->fd));
        redisFree(c);
    }
}

/* redisConnectFd leaves connection_type at REDIS_CONN_TCP, with no host and port 0: so
 * redisReconnect closes the socket and connects to the loopback address's port 0, which is
 * refused (rather than saying it cannot reconnect). */
static void test_user_fd(void) {
    redisContext *c = redisConnect(test_host(), test_port());
    CHECK(c != NULL && c->err == 0);
    int fd = redisFreeKeepFd(c);
    c = redisConnectFd(fd);
    CHECK(c != NULL && c->err == 0 && c->fd == fd && (c->flags & REDIS_CONNECTED) &&
          c->connection_type == REDIS_CONN_TCP && c->tcp.host == NULL && c->tcp.port == 0);
    ping(c);
    CHECK(redisReconnect(c) == REDIS_ERR && c->err == REDIS_ERR_IO &&
          strcmp(c->errstr, "Connection refused") == 0 && fd_open(c->fd));
    redisFree(c);

    c = redisConnectFd(REDIS_INVALID_FD);
    CHECK(c != NULL && c->err == 0 && c->connection_type == REDIS_CONN_TCP);
    redisFree(c);
}

static void test_failed_unix_closes_socket(void) {
    redisContext *c = redisConnectUnix("/nonexistent/redcore.sock");
    CHECK(c != NULL && c->err == REDIS_ERR_IO && c->fd == REDIS_INVALID_FD);
    redisFree(c);
}

int main(void) {
    int holder;
    int port = refusing_port(&holder);
    test_null_host();
    test_failed_tcp_keeps_socket(port);
    test_failed_unix_closes_socket();
    test_user_fd();
    close(holder);
    return finish("hiredis connect_test");
}
