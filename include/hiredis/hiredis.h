/* redcore's hiredis-compatible API: connections, commands and replies.
 *
 * Written for redcore (not taken from hiredis). It declares hiredis 1.5.0's names, constants,
 * macros and struct layouts (which are also those of hiredis 1.2 to 1.4 as far as callers are
 * concerned), so that a program written for hiredis builds against these headers and runs on
 * libhiredis built from redcore without changes. Link with `pkg-config --libs hiredis`.
 *
 * As in hiredis, a redisContext is used by one thread at a time, and a blocking context does
 * its own I/O on `fd`, a socket it owns. */
#ifndef __HIREDIS_H
#define __HIREDIS_H

#include "read.h"
#include <stdarg.h>   /* va_list */
#include <stdint.h>
#include <sys/time.h> /* struct timeval */
#include <sys/types.h> /* ssize_t */
#include "sds.h"
#include "alloc.h"

#define HIREDIS_MAJOR 1
#define HIREDIS_MINOR 5
#define HIREDIS_PATCH 0
#define HIREDIS_SONAME 1.5.0

/* Set in libhiredis built from redcore (not in hiredis): lets a program tell the two apart at
 * build time. */
#define HIREDIS_REDCORE 1

/* Bits of redisContext.flags. */
#define REDIS_BLOCK 0x1                 /* blocking I/O */
#define REDIS_CONNECTED 0x2             /* the socket is connected */
#define REDIS_DISCONNECTING 0x4         /* async: closing once pending replies are in */
#define REDIS_FREEING 0x8               /* async: being freed */
#define REDIS_IN_CALLBACK 0x10          /* async: a callback is running */
#define REDIS_SUBSCRIBED 0x20           /* async: has subscriptions */
#define REDIS_MONITORING 0x40           /* async: MONITOR is on */
#define REDIS_REUSEADDR 0x80            /* set SO_REUSEADDR before bind() */
#define REDIS_SUPPORTS_PUSH 0x100       /* async: the server sent a RESP3 push */
#define REDIS_NO_AUTO_FREE 0x200        /* async: no implicit free on errors */
#define REDIS_NO_AUTO_FREE_REPLIES 0x400 /* async: callbacks free their replies */
#define REDIS_PREFER_IPV4 0x800         /* resolve IPv4 first */
#define REDIS_PREFER_IPV6 0x1000        /* resolve IPv6 first (both: either) */

#define REDIS_KEEPALIVE_INTERVAL 15 /* seconds, for redisEnableKeepAlive */

/* How often a connect is retried after EADDRNOTAVAIL with REDIS_REUSEADDR. */
#define REDIS_CONNECT_RETRIES 10

struct redisAsyncContext;
struct redisContext;

/* RESP3 push handling. A sync handler is called as fn(c->privdata, reply) and owns the reply;
 * an async handler as fn(ac, reply), and the reply is freed after it returns. */
#define redisIsPushReply(r) (((redisReply *)(r))->type == REDIS_REPLY_PUSH)
typedef void(redisPushFn)(void *, void *);
typedef void(redisAsyncPushFn)(struct redisAsyncContext *, void *);

#ifdef __cplusplus
extern "C" {
#endif

/* A reply, as built by the default reader functions. Free a root reply with freeReplyObject;
 * elements are freed with it. */
typedef struct redisReply {
    int type;          /* REDIS_REPLY_* */
    long long integer; /* INTEGER; BOOL as 1 or 0 */
    double dval;       /* DOUBLE */
    size_t len;        /* length of str */
    char *str;         /* STRING, STATUS, ERROR, VERB (without its "txt:" prefix),
                          BIGNUM, and DOUBLE (its text as received); NUL-terminated */
    char vtype[4];     /* VERB: the 3-letter format, NUL-terminated, e.g. "txt" */
    size_t elements;   /* ARRAY, MAP, SET, ATTR, PUSH: number of elements (a map counts
                          keys and values) */
    struct redisReply **element; /* the elements (NULL when there are none) */
} redisReply;

redisReader *redisReaderCreate(void);

/* Frees a reply built by the default functions, and everything under it. NULL is ignored. */
void freeReplyObject(void *reply);

/* Command formatting. A format string is split into arguments at spaces; %s inserts a C
 * string, %b a buffer and its length (a size_t), %% a percent sign, and printf conversions of
 * integers and doubles format their argument. The result is a RESP array of bulk strings,
 * allocated with hi_malloc (free it with redisFreeCommand or hi_free), NUL-terminated; the
 * functions return its length, or -1 (out of memory, or a bad format string for
 * redisFormatCommand), and redisvFormatCommand returns -2 for a bad format string. */
int redisvFormatCommand(char **target, const char *format, va_list ap);
int redisFormatCommand(char **target, const char *format, ...);
long long redisFormatCommandArgv(char **target, int argc, const char **argv,
                                 const size_t *argvlen);
long long redisFormatSdsCommandArgv(sds *target, int argc, const char **argv,
                                    const size_t *argvlen);
void redisFreeCommand(char *cmd);
void redisFreeSdsCommand(sds cmd);

enum redisConnectionType {
    REDIS_CONN_TCP,
    REDIS_CONN_UNIX,
    REDIS_CONN_USERFD
};

struct redisSsl;

/* Bits of redisOptions.options. */
#define REDIS_OPT_NONBLOCK 0x01         /* non-blocking connect and I/O */
#define REDIS_OPT_REUSEADDR 0x02        /* SO_REUSEADDR on the bound source address */
#define REDIS_OPT_NOAUTOFREE 0x04       /* async: free only on redisAsyncFree/Disconnect */
#define REDIS_OPT_NO_PUSH_AUTOFREE 0x08 /* sync: no default push handler (pushes in-band) */
#define REDIS_OPT_NOAUTOFREEREPLIES 0x10 /* async: callbacks own their replies */
#define REDIS_OPT_PREFER_IPV4 0x20
#define REDIS_OPT_PREFER_IPV6 0x40
#define REDIS_OPT_PREFER_IP_UNSPEC (REDIS_OPT_PREFER_IPV4 | REDIS_OPT_PREFER_IPV6)
#define REDIS_OPT_SET_SOCK_CLOEXEC 0x80 /* open sockets with SOCK_CLOEXEC */

typedef int redisFD;
#define REDIS_INVALID_FD -1

/* Everything a connect takes. Zero-initialise it and set what you need: zero means "off". */
typedef struct {
    int type;    /* REDIS_CONN_*: which member of `endpoint` is used */
    int options; /* REDIS_OPT_* bits */
    const struct timeval *connect_timeout; /* NULL: no timeout */
    const struct timeval *command_timeout; /* NULL: no timeout */
    union {
        struct {
            const char *source_addr; /* address to bind before connecting, or NULL */
            const char *ip;          /* host name or address */
            int port;
        } tcp;
        const char *unix_socket; /* path */
        redisFD fd;              /* an already connected socket, owned from now on */
    } endpoint;

    void *privdata;               /* stored in the context's privdata */
    void (*free_privdata)(void *); /* called on privdata when the context is freed */

    redisPushFn *push_cb;           /* sync contexts */
    redisAsyncPushFn *async_push_cb; /* async contexts */
} redisOptions;

#define REDIS_OPTIONS_SET_TCP(opts, ip_, port_) \
    do {                                        \
        (opts)->type = REDIS_CONN_TCP;          \
        (opts)->endpoint.tcp.ip = ip_;          \
        (opts)->endpoint.tcp.port = port_;      \
    } while (0)

#define REDIS_OPTIONS_SET_UNIX(opts, path)       \
    do {                                         \
        (opts)->type = REDIS_CONN_UNIX;          \
        (opts)->endpoint.unix_socket = path;     \
    } while (0)

#define REDIS_OPTIONS_SET_PRIVDATA(opts, data, dtor) \
    do {                                             \
        (opts)->privdata = data;                     \
        (opts)->free_privdata = dtor;                \
    } while (0)

/* The transport of a context. read and write return the bytes moved, 0 for "try again
 * later", or a negative number after setting the context's error. */
typedef struct redisContextFuncs {
    void (*close)(struct redisContext *);
    void (*free_privctx)(void *);
    void (*async_read)(struct redisAsyncContext *);
    void (*async_write)(struct redisAsyncContext *);
    ssize_t (*read)(struct redisContext *, char *, size_t);
    ssize_t (*write)(struct redisContext *);
} redisContextFuncs;

/* A connection. Check `err` after every call: once it is set the context is unusable (except
 * for redisReconnect and redisFree). */
typedef struct redisContext {
    const redisContextFuncs *funcs;

    int err;          /* 0, or a REDIS_ERR_* code */
    char errstr[128]; /* what went wrong, NUL-terminated */
    redisFD fd;       /* the socket */
    int flags;        /* REDIS_BLOCK, REDIS_CONNECTED, ... */
    char *obuf;       /* commands not written yet (an sds) */
    redisReader *reader;

    enum redisConnectionType connection_type;
    struct timeval *connect_timeout;
    struct timeval *command_timeout;

    struct {
        char *host;
        char *source_addr;
        int port;
    } tcp;

    struct {
        char *path;
    } unix_sock;

    /* The address connect() was given, to check a non-blocking connect. */
    struct sockaddr *saddr;
    size_t addrlen;

    /* The caller's data, and what frees it when the context is freed. */
    void *privdata;
    void (*free_privdata)(void *);

    /* The transport's own state (TLS). */
    void *privctx;

    /* RESP3 push handler, called as push_cb(privdata, reply). */
    redisPushFn *push_cb;
} redisContext;

redisContext *redisConnectWithOptions(const redisOptions *options);
redisContext *redisConnect(const char *ip, int port);
redisContext *redisConnectWithTimeout(const char *ip, int port, const struct timeval tv);
redisContext *redisConnectNonBlock(const char *ip, int port);
redisContext *redisConnectBindNonBlock(const char *ip, int port, const char *source_addr);
redisContext *redisConnectBindNonBlockWithReuse(const char *ip, int port,
                                                const char *source_addr);
redisContext *redisConnectUnix(const char *path);
redisContext *redisConnectUnixWithTimeout(const char *path, const struct timeval tv);
redisContext *redisConnectUnixNonBlock(const char *path);
redisContext *redisConnectFd(redisFD fd);

/* Connects again with what the context was connected with (host and port or path, timeouts,
 * source address, flags). Pending output and input are dropped. */
int redisReconnect(redisContext *c);

redisPushFn *redisSetPushCallback(redisContext *c, redisPushFn *fn); /* returns the old one */
int redisSetTimeout(redisContext *c, const struct timeval tv);       /* blocking contexts */
int redisEnableKeepAlive(redisContext *c);
int redisEnableKeepAliveWithInterval(redisContext *c, int interval);
int redisSetTcpUserTimeout(redisContext *c, unsigned int timeout); /* milliseconds */
void redisFree(redisContext *c);            /* NULL is ignored */
redisFD redisFreeKeepFd(redisContext *c);   /* frees the context, returns its open socket */
int redisBufferRead(redisContext *c);
int redisBufferWrite(redisContext *c, int *done);

/* Takes the next reply. A blocking context writes its pending commands and reads until a
 * reply is complete; a non-blocking one only hands out what was already read (*reply NULL
 * when there is none). With a push handler set, pushes go to it instead. */
int redisGetReply(redisContext *c, void **reply);
int redisGetReplyFromReader(redisContext *c, void **reply);

/* Queue commands (pipelining); take the replies with redisGetReply. A command without
 * arguments, which the server would never answer, is refused (REDIS_ERR_OTHER, "Empty
 * command"); redisAppendFormattedCommand appends the caller's bytes as they are. */
int redisAppendFormattedCommand(redisContext *c, const char *cmd, size_t len);
int redisvAppendCommand(redisContext *c, const char *format, va_list ap);
int redisAppendCommand(redisContext *c, const char *format, ...);
int redisAppendCommandArgv(redisContext *c, int argc, const char **argv, const size_t *argvlen);

/* Send a command and, on a blocking context, return its reply (NULL on error: see c->err).
 * On a non-blocking context the command is only queued and NULL is returned. */
void *redisvCommand(redisContext *c, const char *format, va_list ap);
void *redisCommand(redisContext *c, const char *format, ...);
void *redisCommandArgv(redisContext *c, int argc, const char **argv, const size_t *argvlen);

#ifdef __cplusplus
}
#endif

#endif /* __HIREDIS_H */
