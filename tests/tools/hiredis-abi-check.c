/* The ABI a libhiredis file promises, as a program built against one set of hiredis headers
 * sees it (tests/tools/hiredis-abi-test.sh builds this once with include/hiredis, hiredis 1.5's
 * layouts, and once with tests/tools/hiredis-1.2, 1.2 to 1.4's).
 *
 *   hiredis-abi-check LIBRARY     LIBRARY: an installed file name, opened with dlopen
 *
 * Builds redisSSLOptions as such a program does, in a block whose bytes after the struct are
 * poisoned (0xA5; with ABI_CHECK_EXACT=1 the block is exactly the struct's size instead, for
 * valgrind to see any read past it), creates an SSL context from it and talks to the TLS port
 * of tests/tools/with-redis.sh. With 1.5's headers, verify_name is set and must be honoured:
 * a context naming another host must fail its handshake (the build defines
 * ABI_CHECK_VERIFY_NAME, as the struct is the same type in both). Exit 0 when all held. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>
#include <hiredis_ssl.h>

#define POISON 0xA5
#define POISON_BYTES 64

typedef redisContext *(*connect_fn)(const char *, int);
typedef redisSSLContext *(*create_fn)(redisSSLOptions *, redisSSLContextError *);
typedef const char *(*ssl_error_fn)(redisSSLContextError);
typedef int (*initiate_fn)(redisContext *, redisSSLContext *);
typedef void *(*command_fn)(redisContext *, const char *, ...);
typedef void (*free_reply_fn)(void *);
typedef void (*free_fn)(redisContext *);
typedef void (*free_ssl_fn)(redisSSLContext *);

static connect_fn p_connect;
static create_fn p_create;
static ssl_error_fn p_ssl_error;
static initiate_fn p_initiate;
static command_fn p_command;
static free_reply_fn p_free_reply;
static free_fn p_free;
static free_ssl_fn p_free_ssl;

static void *need(void *lib, const char *name) {
    void *f = dlsym(lib, name);
    if (f == NULL) {
        fprintf(stderr, "hiredis-abi-check: the library lacks %s\n", name);
        exit(2);
    }
    return f;
}

/* Options in a block as a program has them: the struct, then bytes it does not own. */
static redisSSLOptions *poisoned_options(void) {
    int exact = getenv("ABI_CHECK_EXACT") != NULL;
    size_t size = sizeof(redisSSLOptions) + (exact ? 0 : POISON_BYTES);
    unsigned char *block = malloc(size);
    if (block == NULL) exit(2);
    memset(block, POISON, size);
    redisSSLOptions *o = (redisSSLOptions *)block;
    memset(o, 0, sizeof *o);
    o->cacert_filename = getenv("REDCORE_TEST_TLS_CA");
    o->verify_mode = REDIS_SSL_VERIFY_PEER;
    return o;
}

/* PING over TLS with a context made from `o`; 1 when PONG came back. */
static int ping(redisSSLOptions *o, const char *what, int expect_failure) {
    redisSSLContextError err = REDIS_SSL_CTX_NONE;
    redisSSLContext *ssl = p_create(o, &err);
    if (ssl == NULL) {
        fprintf(stderr, "hiredis-abi-check: %s: context refused: %s\n", what, p_ssl_error(err));
        return 0;
    }
    int ok = 0;
    redisContext *c = p_connect("127.0.0.1", atoi(getenv("REDCORE_TEST_TLS_PORT")));
    if (c != NULL && c->err == 0 && p_initiate(c, ssl) == REDIS_OK) {
        redisReply *r = p_command(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        if (r != NULL) p_free_reply(r);
    } else if (c != NULL && !expect_failure) {
        fprintf(stderr, "hiredis-abi-check: %s: %s\n", what, c->errstr);
    }
    if (c != NULL) p_free(c);
    p_free_ssl(ssl);
    return ok;
}

/* dlsym's pointer into a function pointer, as POSIX's rationale for dlsym shows (ISO C has no
 * conversion between the two). */
#define LOAD(var, name) (*(void **)&(var) = need(lib, name))

int main(int argc, char **argv) {
    if (argc != 2 || getenv("REDCORE_TEST_TLS_PORT") == NULL) {
        fprintf(stderr, "usage: hiredis-abi-check LIBRARY (under tests/tools/with-redis.sh, with TLS)\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "hiredis-abi-check: %s\n", dlerror());
        return 2;
    }
    LOAD(p_connect, "redisConnect");
    LOAD(p_create, "redisCreateSSLContextWithOptions");
    LOAD(p_ssl_error, "redisSSLContextGetError");
    LOAD(p_initiate, "redisInitiateSSLWithContext");
    LOAD(p_command, "redisCommand");
    LOAD(p_free_reply, "freeReplyObject");
    LOAD(p_free, "redisFree");
    LOAD(p_free_ssl, "redisFreeSSLContext");

    int failed = 0;
    redisSSLOptions *o = poisoned_options();
    if (!ping(o, "chain only", 0)) failed++;
#ifdef ABI_CHECK_VERIFY_NAME
    /* 1.5's layout: verify_name is read, and enforced. */
    o->verify_name = "localhost";
    if (!ping(o, "verify_name localhost", 0)) failed++;
    o->verify_name = "elsewhere.example";
    if (ping(o, "verify_name elsewhere.example", 1)) {
        fprintf(stderr, "hiredis-abi-check: a verify_name the certificate lacks was accepted\n");
        failed++;
    }
    const char *layout = "hiredis 1.5";
#else
    const char *layout = "hiredis 1.2 to 1.4";
#endif
    free(o);
    if (failed) {
        fprintf(stderr, "hiredis-abi-check: %s with %s's redisSSLOptions (%zu bytes): %d check(s) failed\n",
                argv[1], layout, sizeof(redisSSLOptions), failed);
        return 1;
    }
    printf("hiredis-abi-check: %s reads %s's redisSSLOptions (%zu bytes)\n", argv[1], layout,
           sizeof(redisSSLOptions));
    return 0;
}
