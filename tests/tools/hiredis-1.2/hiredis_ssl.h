/* hiredis_ssl.h as hiredis 1.2 to 1.4 declare it, for the ABI test (tests/tools/hiredis-abi-test.sh):
 * written for redcore from hiredis's documented API (not taken from hiredis). What matters is
 * redisSSLOptions: 1.2 to 1.4 have no `verify_name`, so the struct is 48 bytes on LP64, where
 * 1.5's (include/hiredis/hiredis_ssl.h) is 56. A program built with this header passes 48
 * bytes, and must run on the file its soname names. */
#ifndef __HIREDIS_SSL_H
#define __HIREDIS_SSL_H

#ifdef __cplusplus
extern "C" {
#endif

struct ssl_st;
typedef struct redisSSLContext redisSSLContext;

typedef enum {
    REDIS_SSL_CTX_NONE = 0,
    REDIS_SSL_CTX_CREATE_FAILED,
    REDIS_SSL_CTX_CERT_KEY_REQUIRED,
    REDIS_SSL_CTX_CA_CERT_LOAD_FAILED,
    REDIS_SSL_CTX_CLIENT_CERT_LOAD_FAILED,
    REDIS_SSL_CTX_CLIENT_DEFAULT_CERT_FAILED,
    REDIS_SSL_CTX_PRIVATE_KEY_LOAD_FAILED,
    REDIS_SSL_CTX_OS_CERTSTORE_OPEN_FAILED,
    REDIS_SSL_CTX_OS_CERT_ADD_FAILED
} redisSSLContextError;

#define REDIS_SSL_VERIFY_NONE 0x00
#define REDIS_SSL_VERIFY_PEER 0x01
#define REDIS_SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0x02
#define REDIS_SSL_VERIFY_CLIENT_ONCE 0x04
#define REDIS_SSL_VERIFY_POST_HANDSHAKE 0x08

typedef struct {
    const char *cacert_filename;
    const char *capath;
    const char *cert_filename;
    const char *private_key_filename;
    const char *server_name;
    int verify_mode;
} redisSSLOptions;

const char *redisSSLContextGetError(redisSSLContextError error);
int redisInitOpenSSL(void);
redisSSLContext *redisCreateSSLContext(const char *cacert_filename, const char *capath,
                                       const char *cert_filename,
                                       const char *private_key_filename,
                                       const char *server_name, redisSSLContextError *error);
redisSSLContext *redisCreateSSLContextWithOptions(redisSSLOptions *options,
                                                  redisSSLContextError *error);
void redisFreeSSLContext(redisSSLContext *redis_ssl_ctx);
int redisInitiateSSLWithContext(struct redisContext *c, redisSSLContext *redis_ssl_ctx);
int redisInitiateSSL(struct redisContext *c, struct ssl_st *ssl);

#ifdef __cplusplus
}
#endif

#endif /* __HIREDIS_SSL_H */
