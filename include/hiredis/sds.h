/* redcore's hiredis-compatible API: sds, the dynamic strings hiredis uses and exposes.
 *
 * Written for redcore (not taken from hiredis or Redis). An sds is a `char *` to NUL-terminated
 * bytes (which may also contain NULs) preceded by a packed header holding the length and the
 * capacity; the byte right before the string is the header's flags, whose 3 low bits say which
 * header it is. The layout is hiredis's, so code that inlines sdslen() and friends, or that
 * receives sds strings from the library (formatted commands, redisContext.obuf,
 * redisReader.buf), works unchanged. All memory comes from hiredisAllocFns (alloc.h). */
#ifndef __SDS_H
#define __SDS_H

#define SDS_MAX_PREALLOC (1024 * 1024)

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef char *sds;

/* The five headers. Type 5 keeps the length in the 5 high bits of its flags and has no
 * capacity; it is only used for short strings that are never grown in place. */
struct __attribute__((__packed__)) sdshdr5 {
    unsigned char flags; /* type in the 3 low bits, length in the 5 high bits */
    char buf[];
};
struct __attribute__((__packed__)) sdshdr8 {
    uint8_t len;         /* bytes used */
    uint8_t alloc;       /* bytes available, without header and final NUL */
    unsigned char flags; /* type in the 3 low bits */
    char buf[];
};
struct __attribute__((__packed__)) sdshdr16 {
    uint16_t len;
    uint16_t alloc;
    unsigned char flags;
    char buf[];
};
struct __attribute__((__packed__)) sdshdr32 {
    uint32_t len;
    uint32_t alloc;
    unsigned char flags;
    char buf[];
};
struct __attribute__((__packed__)) sdshdr64 {
    uint64_t len;
    uint64_t alloc;
    unsigned char flags;
    char buf[];
};

#define SDS_TYPE_5 0
#define SDS_TYPE_8 1
#define SDS_TYPE_16 2
#define SDS_TYPE_32 3
#define SDS_TYPE_64 4
#define SDS_TYPE_MASK 7
#define SDS_TYPE_BITS 3
#define SDS_HDR(T, s) ((struct sdshdr##T *)((s) - (sizeof(struct sdshdr##T))))
#define SDS_HDR_VAR(T, s) struct sdshdr##T *sh = SDS_HDR(T, s);
#define SDS_TYPE_5_LEN(f) ((f) >> SDS_TYPE_BITS)

/* Length in bytes. */
static inline size_t sdslen(const sds s) {
    unsigned char flags = (unsigned char)s[-1];
    switch (flags & SDS_TYPE_MASK) {
    case SDS_TYPE_5: return SDS_TYPE_5_LEN(flags);
    case SDS_TYPE_8: return SDS_HDR(8, s)->len;
    case SDS_TYPE_16: return SDS_HDR(16, s)->len;
    case SDS_TYPE_32: return SDS_HDR(32, s)->len;
    case SDS_TYPE_64: return (size_t)SDS_HDR(64, s)->len;
    default: return 0;
    }
}

/* Capacity in bytes, not counting the final NUL. */
static inline size_t sdsalloc(const sds s) {
    unsigned char flags = (unsigned char)s[-1];
    switch (flags & SDS_TYPE_MASK) {
    case SDS_TYPE_5: return SDS_TYPE_5_LEN(flags);
    case SDS_TYPE_8: return SDS_HDR(8, s)->alloc;
    case SDS_TYPE_16: return SDS_HDR(16, s)->alloc;
    case SDS_TYPE_32: return SDS_HDR(32, s)->alloc;
    case SDS_TYPE_64: return (size_t)SDS_HDR(64, s)->alloc;
    default: return 0;
    }
}

/* Spare room after the string. */
static inline size_t sdsavail(const sds s) {
    if (((unsigned char)s[-1] & SDS_TYPE_MASK) == SDS_TYPE_5)
        return 0;
    return sdsalloc(s) - sdslen(s);
}

/* Sets the length (the caller keeps it within the capacity and writes the NUL). */
static inline void sdssetlen(sds s, size_t newlen) {
    unsigned char *flags = (unsigned char *)s - 1;
    switch (*flags & SDS_TYPE_MASK) {
    case SDS_TYPE_5: *flags = (unsigned char)(SDS_TYPE_5 | (newlen << SDS_TYPE_BITS)); break;
    case SDS_TYPE_8: SDS_HDR(8, s)->len = (uint8_t)newlen; break;
    case SDS_TYPE_16: SDS_HDR(16, s)->len = (uint16_t)newlen; break;
    case SDS_TYPE_32: SDS_HDR(32, s)->len = (uint32_t)newlen; break;
    case SDS_TYPE_64: SDS_HDR(64, s)->len = (uint64_t)newlen; break;
    default: break;
    }
}

/* Adds `inc` to the length. */
static inline void sdsinclen(sds s, size_t inc) {
    sdssetlen(s, sdslen(s) + inc);
}

/* Records a new capacity (type 5 has none). */
static inline void sdssetalloc(sds s, size_t newlen) {
    switch ((unsigned char)s[-1] & SDS_TYPE_MASK) {
    case SDS_TYPE_8: SDS_HDR(8, s)->alloc = (uint8_t)newlen; break;
    case SDS_TYPE_16: SDS_HDR(16, s)->alloc = (uint16_t)newlen; break;
    case SDS_TYPE_32: SDS_HDR(32, s)->alloc = (uint32_t)newlen; break;
    case SDS_TYPE_64: SDS_HDR(64, s)->alloc = (uint64_t)newlen; break;
    default: break;
    }
}

/* Creating and freeing. Functions returning sds return NULL when out of memory. */
sds sdsnewlen(const void *init, size_t initlen); /* init NULL: zero-filled */
sds sdsnew(const char *init);                    /* init NULL: empty */
sds sdsempty(void);
sds sdsdup(const sds s);
void sdsfree(sds s); /* NULL is ignored */

/* Growing and appending: each may move the string, so use the returned pointer. */
sds sdsgrowzero(sds s, size_t len);
sds sdscatlen(sds s, const void *t, size_t len);
sds sdscat(sds s, const char *t);
sds sdscatsds(sds s, const sds t);
sds sdscpylen(sds s, const char *t, size_t len);
sds sdscpy(sds s, const char *t);
sds sdscatvprintf(sds s, const char *fmt, va_list ap);
#ifdef __GNUC__
sds sdscatprintf(sds s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#else
sds sdscatprintf(sds s, const char *fmt, ...);
#endif
/* A small printf: %s (C string), %S (sds), %i (int), %I (long long), %u (unsigned int),
 * %U (unsigned long long), %% (a percent sign). */
sds sdscatfmt(sds s, char const *fmt, ...);

/* Editing in place. */
sds sdstrim(sds s, const char *cset);
int sdsrange(sds s, ssize_t start, ssize_t end); /* negative indexes count from the end */
void sdsupdatelen(sds s);                        /* length = strlen(s) */
void sdsclear(sds s);
int sdscmp(const sds s1, const sds s2);
sds *sdssplitlen(const char *s, int len, const char *sep, int seplen, int *count);
void sdsfreesplitres(sds *tokens, int count);
void sdstolower(sds s);
void sdstoupper(sds s);
sds sdsfromlonglong(long long value);
sds sdscatrepr(sds s, const char *p, size_t len);
sds *sdssplitargs(const char *line, int *argc);
sds sdsmapchars(sds s, const char *from, const char *to, size_t setlen);
sds sdsjoin(char **argv, int argc, char *sep);
sds sdsjoinsds(sds *argv, int argc, const char *sep, size_t seplen);

/* Low level. */
sds sdsMakeRoomFor(sds s, size_t addlen);
void sdsIncrLen(sds s, int incr);
sds sdsRemoveFreeSpace(sds s);
size_t sdsAllocSize(sds s);
void *sdsAllocPtr(sds s);

/* The allocator sds uses (hiredisAllocFns), for memory passed to or from sds functions. */
void *sds_malloc(size_t size);
void *sds_realloc(void *ptr, size_t size);
void sds_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* __SDS_H */
