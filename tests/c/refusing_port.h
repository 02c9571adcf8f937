/* A TCP port on 127.0.0.1 that refuses connections, for the C test programs: bound, never
 * listening. The socket stays open (so no one else takes the port) until the caller closes
 * `*fd`. Needs _POSIX_C_SOURCE 200809L before the first include. */
#ifndef REDCORE_TEST_REFUSING_PORT_H
#define REDCORE_TEST_REFUSING_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

static uint16_t refusing_port(int *fd) {
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*fd >= 0);
    CHECK(bind(*fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(*fd, (struct sockaddr *)&addr, &len) == 0);
    return ntohs(addr.sin_port);
}

#endif
