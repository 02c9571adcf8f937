/* redcore's hiredis-compatible API: the RESP reply reader.
 *
 * Written for redcore (not taken from hiredis); it declares the names, constants and struct
 * layouts of hiredis 1.5.0's read.h so that programs written for hiredis compile and run
 * unchanged against libhiredis built from redcore. See include/hiredis/hiredis.h. */
#ifndef __HIREDIS_READ_H
#define __HIREDIS_READ_H

#include <stddef.h>
#include <stdio.h> /* hiredis's read.h brings in stdio.h; some callers rely on it */

/* Return values of most functions. */
#define REDIS_OK 0
#define REDIS_ERR -1

/* Values of the `err` field of readers and contexts. With REDIS_ERR_IO, errno tells what went
 * wrong; the others come with a text in `errstr`. */
#define REDIS_ERR_IO 1       /* a read or write on the socket failed */
#define REDIS_ERR_OTHER 2    /* anything else (resolution, bad format string, ...) */
#define REDIS_ERR_EOF 3      /* the server closed the connection */
#define REDIS_ERR_PROTOCOL 4 /* the server sent something that is not RESP */
#define REDIS_ERR_OOM 5      /* an allocation failed */
#define REDIS_ERR_TIMEOUT 6  /* an operation timed out */

/* Reply types (redisReply.type, redisReadTask.type). */
#define REDIS_REPLY_STRING 1  /* $ bulk string */
#define REDIS_REPLY_ARRAY 2   /* * array */
#define REDIS_REPLY_INTEGER 3 /* : integer */
#define REDIS_REPLY_NIL 4     /* _ null, and RESP2's $-1 / *-1 */
#define REDIS_REPLY_STATUS 5  /* + simple string */
#define REDIS_REPLY_ERROR 6   /* - simple error */
#define REDIS_REPLY_DOUBLE 7  /* , double (value in dval, text in str) */
#define REDIS_REPLY_BOOL 8    /* # boolean (in integer) */
#define REDIS_REPLY_MAP 9     /* % map, flattened to key, value, key, value ... */
#define REDIS_REPLY_SET 10    /* ~ set */
#define REDIS_REPLY_ATTR 11   /* | attribute map, flattened like a map */
#define REDIS_REPLY_PUSH 12   /* > push */
#define REDIS_REPLY_BIGNUM 13 /* ( big number, as decimal text */
#define REDIS_REPLY_VERB 14   /* = verbatim string (format in vtype) */

/* Default for redisReader.maxbuf: an idle input buffer with more spare room than this is
 * released (0 keeps it whatever its size). */
#define REDIS_READER_MAX_BUF (1024 * 16)

/* Default for redisReader.maxelements: the most elements an aggregate may announce (0 means no
 * limit). */
#define REDIS_READER_MAX_ARRAY_ELEMENTS ((1LL << 32) - 1)

/* Default for redisReader.maxdepth: the deepest nesting of aggregates (0 means no limit). */
#define REDIS_READER_MAX_REPLY_DEPTH 1024

#ifdef __cplusplus
extern "C" {
#endif

/* What the reader is building, handed to the reply object functions. */
typedef struct redisReadTask {
    int type;                     /* REDIS_REPLY_* of the value being built */
    long long elements;           /* for aggregates: how many elements it holds */
    int idx;                      /* position in the parent aggregate (-1 for a root) */
    void *obj;                    /* the object built for this task, if any */
    struct redisReadTask *parent; /* the aggregate this value belongs to, or NULL */
    void *privdata;               /* the reader's privdata */
} redisReadTask;

/* Builders of reply objects. Each returns the new object, or NULL when out of memory. A builder
 * puts the object into its parent (task->parent->obj) at task->idx itself. createString is used
 * for strings, statuses, errors, verbatim strings and big numbers (task->type tells which);
 * createArray for arrays, maps, sets, attributes and pushes (maps and attributes count keys and
 * values). freeObject frees a root object with everything under it. */
typedef struct redisReplyObjectFunctions {
    void *(*createString)(const redisReadTask *, char *, size_t);
    void *(*createArray)(const redisReadTask *, size_t);
    void *(*createInteger)(const redisReadTask *, long long);
    void *(*createDouble)(const redisReadTask *, double, char *, size_t);
    void *(*createNil)(const redisReadTask *);
    void *(*createBool)(const redisReadTask *, int);
    void (*freeObject)(void *);
} redisReplyObjectFunctions;

/* An incremental reply parser. Feed it bytes in any split and take replies out in order.
 * When `fn` is NULL no objects are built and each reply is handed back as its type number cast
 * to a pointer. After a protocol error the reader stays failed. */
typedef struct redisReader {
    int err;          /* 0, or a REDIS_ERR_* code once the reader failed */
    char errstr[128]; /* what went wrong, NUL-terminated */

    char *buf;             /* unparsed input (an sds) */
    size_t pos;            /* how much of buf is consumed */
    size_t len;            /* how much of buf is filled */
    size_t maxbuf;         /* see REDIS_READER_MAX_BUF */
    long long maxelements; /* see REDIS_READER_MAX_ARRAY_ELEMENTS */

    redisReadTask **task; /* the stack of values being built */
    int tasks;            /* how many task slots are allocated */

    int ridx;    /* index of the current task, -1 between replies */
    void *reply; /* the root object of the reply being built */

    redisReplyObjectFunctions *fn;
    void *privdata;

    int maxdepth; /* see REDIS_READER_MAX_REPLY_DEPTH */
} redisReader;

redisReader *redisReaderCreateWithFunctions(redisReplyObjectFunctions *fn);
void redisReaderFree(redisReader *r);
int redisReaderFeed(redisReader *r, const char *buf, size_t len);
int redisReaderGetReply(redisReader *r, void **reply);

/* hiredis casts this assignment to int, which truncates the pointer on 64-bit targets and
 * warns (-Wpointer-to-int-cast); here it is a plain assignment. */
#define redisReaderSetPrivdata(_r, _p) (((redisReader *)(_r))->privdata = (_p))
#define redisReaderGetObject(_r) (((redisReader *)(_r))->reply)
#define redisReaderGetError(_r) (((redisReader *)(_r))->errstr)

#ifdef __cplusplus
}
#endif

#endif /* __HIREDIS_READ_H */
