/* redcore's hiredis-compatible API: the socket headers, as hiredis's installed sockcompat.h
 * provides them.
 *
 * Written for redcore (not taken from hiredis). hiredis uses this header to hide the
 * differences between POSIX sockets and Winsock; redcore's libhiredis is built for POSIX
 * systems only, where those differences do not exist, so this only includes the POSIX
 * headers a program using hiredis's socket-level calls (redisContext's fd, keepalive,
 * timeouts) expects to get from it. */
#ifndef __SOCKCOMPAT_H
#define __SOCKCOMPAT_H

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#endif /* __SOCKCOMPAT_H */
