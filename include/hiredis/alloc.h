/* redcore's hiredis-compatible API: pluggable allocators.
 *
 * Written for redcore (not taken from hiredis). Every block the library hands to the caller,
 * or takes back from the caller, comes from the functions in hiredisAllocFns: replies,
 * formatted commands, sds strings, contexts. As in hiredis on POSIX systems, the hi_* helpers
 * are inline and read the exported hiredisAllocFns table directly. */
#ifndef HIREDIS_ALLOC_H
#define HIREDIS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hiredisAllocFuncs {
    void *(*mallocFn)(size_t);
    void *(*callocFn)(size_t, size_t);
    void *(*reallocFn)(void *, size_t);
    char *(*strdupFn)(const char *);
    void (*freeFn)(void *);
} hiredisAllocFuncs;

/* Installs *ha as the allocators and returns the previous ones. Call it before creating any
 * context, reader or string: memory must be freed by the allocator that allocated it. */
hiredisAllocFuncs hiredisSetAllocators(hiredisAllocFuncs *ha);

/* Goes back to the C library's malloc, calloc, realloc, strdup and free. */
void hiredisResetAllocators(void);

/* The allocators in force (a data symbol exported by the library). */
extern hiredisAllocFuncs hiredisAllocFns;

static inline void *hi_malloc(size_t size) {
    return hiredisAllocFns.mallocFn(size);
}

static inline void *hi_calloc(size_t nmemb, size_t size) {
    /* The installed callocFn may not check nmemb * size for overflow: do it here. */
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    return hiredisAllocFns.callocFn(nmemb, size);
}

static inline void *hi_realloc(void *ptr, size_t size) {
    return hiredisAllocFns.reallocFn(ptr, size);
}

static inline char *hi_strdup(const char *str) {
    return hiredisAllocFns.strdupFn(str);
}

static inline void hi_free(void *ptr) {
    hiredisAllocFns.freeFn(ptr);
}

#ifdef __cplusplus
}
#endif

#endif /* HIREDIS_ALLOC_H */
