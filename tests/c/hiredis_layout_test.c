/* The structs of redcore's hiredis-compatible headers have hiredis 1.5.0's layout on LP64
 * targets (x86_64, aarch64): every offset and size below is the documented hiredis value, so
 * programs and adapters compiled against hiredis's own headers read the same fields. Checked at
 * compile time; the program itself only prints what it checked. */
#include <stddef.h>
#include <stdio.h>

#include "hiredis/async.h"
#include "hiredis/hiredis.h"
#include "hiredis/hiredis_ssl.h"
#include "hiredis/read.h"
#include "hiredis/sds.h"

#if !defined(__LP64__) && !defined(_LP64)
#error "the layout assertions below are for LP64 targets"
#endif

#define AT(type, field, off) \
    _Static_assert(offsetof(type, field) == (off), #type "." #field " at " #off)
#define SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof " #type " is " #n)

/* redisReply */
SIZE(redisReply, 64);
AT(redisReply, type, 0);
AT(redisReply, integer, 8);
AT(redisReply, dval, 16);
AT(redisReply, len, 24);
AT(redisReply, str, 32);
AT(redisReply, vtype, 40);
AT(redisReply, elements, 48);
AT(redisReply, element, 56);

/* redisReadTask and redisReplyObjectFunctions */
SIZE(redisReadTask, 48);
AT(redisReadTask, type, 0);
AT(redisReadTask, elements, 8);
AT(redisReadTask, idx, 16);
AT(redisReadTask, obj, 24);
AT(redisReadTask, parent, 32);
AT(redisReadTask, privdata, 40);

SIZE(redisReplyObjectFunctions, 56);
AT(redisReplyObjectFunctions, createString, 0);
AT(redisReplyObjectFunctions, createArray, 8);
AT(redisReplyObjectFunctions, createInteger, 16);
AT(redisReplyObjectFunctions, createDouble, 24);
AT(redisReplyObjectFunctions, createNil, 32);
AT(redisReplyObjectFunctions, createBool, 40);
AT(redisReplyObjectFunctions, freeObject, 48);

/* redisReader (1.5.0 appends maxdepth; everything before it is as in 1.2 to 1.4) */
SIZE(redisReader, 224);
AT(redisReader, err, 0);
AT(redisReader, errstr, 4);
AT(redisReader, buf, 136);
AT(redisReader, pos, 144);
AT(redisReader, len, 152);
AT(redisReader, maxbuf, 160);
AT(redisReader, maxelements, 168);
AT(redisReader, task, 176);
AT(redisReader, tasks, 184);
AT(redisReader, ridx, 188);
AT(redisReader, reply, 192);
AT(redisReader, fn, 200);
AT(redisReader, privdata, 208);
AT(redisReader, maxdepth, 216);

/* redisContextFuncs and redisContext */
SIZE(redisContextFuncs, 48);
AT(redisContextFuncs, close, 0);
AT(redisContextFuncs, free_privctx, 8);
AT(redisContextFuncs, async_read, 16);
AT(redisContextFuncs, async_write, 24);
AT(redisContextFuncs, read, 32);
AT(redisContextFuncs, write, 40);

SIZE(redisContext, 272);
AT(redisContext, funcs, 0);
AT(redisContext, err, 8);
AT(redisContext, errstr, 12);
AT(redisContext, fd, 140);
AT(redisContext, flags, 144);
AT(redisContext, obuf, 152);
AT(redisContext, reader, 160);
AT(redisContext, connection_type, 168);
AT(redisContext, connect_timeout, 176);
AT(redisContext, command_timeout, 184);
AT(redisContext, tcp.host, 192);
AT(redisContext, tcp.source_addr, 200);
AT(redisContext, tcp.port, 208);
AT(redisContext, unix_sock.path, 216);
AT(redisContext, saddr, 224);
AT(redisContext, addrlen, 232);
AT(redisContext, privdata, 240);
AT(redisContext, free_privdata, 248);
AT(redisContext, privctx, 256);
AT(redisContext, push_cb, 264);

/* redisOptions */
SIZE(redisOptions, 80);
AT(redisOptions, type, 0);
AT(redisOptions, options, 4);
AT(redisOptions, connect_timeout, 8);
AT(redisOptions, command_timeout, 16);
AT(redisOptions, endpoint, 24);
AT(redisOptions, endpoint.tcp.source_addr, 24);
AT(redisOptions, endpoint.tcp.ip, 32);
AT(redisOptions, endpoint.tcp.port, 40);
AT(redisOptions, endpoint.unix_socket, 24);
AT(redisOptions, endpoint.fd, 24);
AT(redisOptions, privdata, 48);
AT(redisOptions, free_privdata, 56);
AT(redisOptions, push_cb, 64);
AT(redisOptions, async_push_cb, 72);

/* redisCallback, redisCallbackList and redisAsyncContext (with its ev block) */
SIZE(redisCallback, 32);
AT(redisCallback, next, 0);
AT(redisCallback, fn, 8);
AT(redisCallback, pending_subs, 16);
AT(redisCallback, unsubscribe_sent, 20);
AT(redisCallback, privdata, 24);
SIZE(redisCallbackList, 16);

SIZE(redisAsyncContext, 464);
AT(redisAsyncContext, c, 0);
AT(redisAsyncContext, err, 272);
AT(redisAsyncContext, errstr, 280);
AT(redisAsyncContext, data, 288);
AT(redisAsyncContext, dataCleanup, 296);
AT(redisAsyncContext, ev, 304);
AT(redisAsyncContext, ev.data, 304);
AT(redisAsyncContext, ev.addRead, 312);
AT(redisAsyncContext, ev.delRead, 320);
AT(redisAsyncContext, ev.addWrite, 328);
AT(redisAsyncContext, ev.delWrite, 336);
AT(redisAsyncContext, ev.cleanup, 344);
AT(redisAsyncContext, ev.scheduleTimer, 352);
AT(redisAsyncContext, onDisconnect, 360);
AT(redisAsyncContext, onConnect, 368);
AT(redisAsyncContext, onConnectNC, 376);
AT(redisAsyncContext, replies, 384);
AT(redisAsyncContext, saddr, 400);
AT(redisAsyncContext, addrlen, 408);
AT(redisAsyncContext, sub.replies, 416);
AT(redisAsyncContext, sub.channels, 432);
AT(redisAsyncContext, sub.patterns, 440);
AT(redisAsyncContext, sub.pending_unsubs, 448);
AT(redisAsyncContext, push_cb, 456);

/* hiredisAllocFuncs */
SIZE(hiredisAllocFuncs, 40);
AT(hiredisAllocFuncs, mallocFn, 0);
AT(hiredisAllocFuncs, callocFn, 8);
AT(hiredisAllocFuncs, reallocFn, 16);
AT(hiredisAllocFuncs, strdupFn, 24);
AT(hiredisAllocFuncs, freeFn, 32);

/* redisSSLOptions (1.5.0 appends verify_name) */
SIZE(redisSSLOptions, 56);
AT(redisSSLOptions, cacert_filename, 0);
AT(redisSSLOptions, capath, 8);
AT(redisSSLOptions, cert_filename, 16);
AT(redisSSLOptions, private_key_filename, 24);
AT(redisSSLOptions, server_name, 32);
AT(redisSSLOptions, verify_mode, 40);
AT(redisSSLOptions, verify_name, 48);

/* sds headers: packed, with the flags byte right before the string */
SIZE(struct sdshdr5, 1);
SIZE(struct sdshdr8, 3);
SIZE(struct sdshdr16, 5);
SIZE(struct sdshdr32, 9);
SIZE(struct sdshdr64, 17);
AT(struct sdshdr64, flags, 16);

/* Constants programs compile in. */
_Static_assert(REDIS_OK == 0 && REDIS_ERR == -1, "return codes");
_Static_assert(REDIS_ERR_IO == 1 && REDIS_ERR_OTHER == 2 && REDIS_ERR_EOF == 3 &&
                   REDIS_ERR_PROTOCOL == 4 && REDIS_ERR_OOM == 5 && REDIS_ERR_TIMEOUT == 6,
               "error codes");
_Static_assert(REDIS_REPLY_STRING == 1 && REDIS_REPLY_ARRAY == 2 && REDIS_REPLY_INTEGER == 3 &&
                   REDIS_REPLY_NIL == 4 && REDIS_REPLY_STATUS == 5 && REDIS_REPLY_ERROR == 6 &&
                   REDIS_REPLY_DOUBLE == 7 && REDIS_REPLY_BOOL == 8 && REDIS_REPLY_MAP == 9 &&
                   REDIS_REPLY_SET == 10 && REDIS_REPLY_ATTR == 11 && REDIS_REPLY_PUSH == 12 &&
                   REDIS_REPLY_BIGNUM == 13 && REDIS_REPLY_VERB == 14,
               "reply types");
_Static_assert(REDIS_BLOCK == 0x1 && REDIS_CONNECTED == 0x2 && REDIS_DISCONNECTING == 0x4 &&
                   REDIS_FREEING == 0x8 && REDIS_IN_CALLBACK == 0x10 &&
                   REDIS_SUBSCRIBED == 0x20 && REDIS_MONITORING == 0x40 &&
                   REDIS_REUSEADDR == 0x80 && REDIS_SUPPORTS_PUSH == 0x100 &&
                   REDIS_NO_AUTO_FREE == 0x200 && REDIS_NO_AUTO_FREE_REPLIES == 0x400 &&
                   REDIS_PREFER_IPV4 == 0x800 && REDIS_PREFER_IPV6 == 0x1000,
               "context flags");
_Static_assert(REDIS_OPT_NONBLOCK == 0x01 && REDIS_OPT_REUSEADDR == 0x02 &&
                   REDIS_OPT_NOAUTOFREE == 0x04 && REDIS_OPT_NO_PUSH_AUTOFREE == 0x08 &&
                   REDIS_OPT_NOAUTOFREEREPLIES == 0x10 && REDIS_OPT_PREFER_IPV4 == 0x20 &&
                   REDIS_OPT_PREFER_IPV6 == 0x40 && REDIS_OPT_PREFER_IP_UNSPEC == 0x60 &&
                   REDIS_OPT_SET_SOCK_CLOEXEC == 0x80,
               "option flags");
_Static_assert(REDIS_CONN_TCP == 0 && REDIS_CONN_UNIX == 1 && REDIS_CONN_USERFD == 2,
               "connection types");
_Static_assert(REDIS_READER_MAX_BUF == 16384 && REDIS_READER_MAX_ARRAY_ELEMENTS == 4294967295LL &&
                   REDIS_READER_MAX_REPLY_DEPTH == 1024,
               "reader defaults");
_Static_assert(SDS_TYPE_5 == 0 && SDS_TYPE_8 == 1 && SDS_TYPE_16 == 2 && SDS_TYPE_32 == 3 &&
                   SDS_TYPE_64 == 4 && SDS_TYPE_MASK == 7 && SDS_TYPE_BITS == 3,
               "sds types");
_Static_assert(REDIS_SSL_CTX_NONE == 0 && REDIS_SSL_CTX_OS_CERT_ADD_FAILED == 8 &&
                   REDIS_SSL_CTX_VERIFY_NAME_FAILED == 9,
               "ssl context errors");

int main(void) {
    printf("hiredis layout: redisReply %zu, redisReader %zu, redisContext %zu, "
           "redisAsyncContext %zu, redisOptions %zu bytes, as in hiredis %d.%d.%d\n",
           sizeof(redisReply), sizeof(redisReader), sizeof(redisContext),
           sizeof(redisAsyncContext), sizeof(redisOptions), HIREDIS_MAJOR, HIREDIS_MINOR,
           HIREDIS_PATCH);
    return 0;
}
