/* redcore's hiredis-compatible API: TLS.
 *
 * Written for redcore (not taken from hiredis), with hiredis 1.5.0's names. In hiredis these
 * live in a separate library, libhiredis_ssl, over OpenSSL; in redcore they are part of
 * libhiredis and use rustls, so there is no OpenSSL underneath: redisInitiateSSL, which takes
 * an OpenSSL `SSL *`, links but always fails. */
#ifndef __HIREDIS_SSL_H
#define __HIREDIS_SSL_H

#ifdef __cplusplus
extern "C" {
#endif

struct ssl_st;

/* A TLS configuration (trusted roots, client certificate, server name), shared by any number
 * of connections. */
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
    REDIS_SSL_CTX_OS_CERT_ADD_FAILED,
    REDIS_SSL_CTX_VERIFY_NAME_FAILED
} redisSSLContextError;

/* Values of redisSSLOptions.verify_mode (OpenSSL's SSL_VERIFY_* numbers). */
#define REDIS_SSL_VERIFY_NONE 0x00
#define REDIS_SSL_VERIFY_PEER 0x01
#define REDIS_SSL_VERIFY_FAIL_IF_NO_PEER_CERT 0x02
#define REDIS_SSL_VERIFY_CLIENT_ONCE 0x04
#define REDIS_SSL_VERIFY_POST_HANDSHAKE 0x08

typedef struct {
    const char *cacert_filename;      /* PEM file of trusted roots, or NULL */
    const char *capath;               /* directory of PEM roots, or NULL */
    const char *cert_filename;        /* client certificate chain (PEM), or NULL */
    const char *private_key_filename; /* its key (PEM), or NULL */
    const char *server_name;          /* SNI to send, or NULL */
    int verify_mode;                  /* REDIS_SSL_VERIFY_* */
    const char *verify_name;          /* DNS name or IP address the server certificate must
                                         carry, or NULL to check the chain only */
} redisSSLOptions;

const char *redisSSLContextGetError(redisSSLContextError error);

/* Nothing to initialise with rustls; kept for source compatibility. Returns REDIS_OK. */
int redisInitOpenSSL(void);

redisSSLContext *redisCreateSSLContext(const char *cacert_filename, const char *capath,
                                       const char *cert_filename,
                                       const char *private_key_filename,
                                       const char *server_name, redisSSLContextError *error);
redisSSLContext *redisCreateSSLContextWithOptions(redisSSLOptions *options,
                                                  redisSSLContextError *error);
void redisFreeSSLContext(redisSSLContext *redis_ssl_ctx);

/* Runs the TLS handshake on a connected context (blocking contexts complete it here). */
int redisInitiateSSLWithContext(struct redisContext *c, redisSSLContext *redis_ssl_ctx);

/* Needs an OpenSSL connection object, which redcore does not use: sets REDIS_ERR_OTHER on the
 * context and returns REDIS_ERR. */
int redisInitiateSSL(struct redisContext *c, struct ssl_st *ssl);

#ifdef __cplusplus
}
#endif

#endif /* __HIREDIS_SSL_H */
