/* The hiredis functions that take `...` or a va_list, which stable Rust cannot define.
 *
 * Written for redcore. Each is defined here under a hidden name (redcore_hi_*); the public
 * symbol (redisCommand, ...) is a one-instruction jump to it defined in variadic.rs, so that
 * it is exported from the Rust-built shared library like every other entry point. Everything
 * else is in Rust: these functions only walk the format string and call the exported API. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "async.h"
#include "hiredis.h"
#include "sds.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* Exported by the Rust side, as in hiredis. */
void __redisSetError(redisContext *c, int type, const char *str);

/* A growable byte string from the hiredis allocator. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} piece;

static int piece_add(piece *p, const char *bytes, size_t n) {
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 16;
        char *grown;
        while (cap < p->len + n + 1)
            cap *= 2;
        grown = hi_realloc(p->data, cap);
        if (grown == NULL)
            return -1;
        p->data = grown;
        p->cap = cap;
    }
    if (n)
        memcpy(p->data + p->len, bytes, n);
    p->len += n;
    return 0;
}

/* The arguments of the command being formatted. */
typedef struct {
    piece *items;
    size_t count;
    size_t cap;
} argument_list;

static int arguments_push(argument_list *args, piece *cur) {
    if (args->count == args->cap) {
        size_t cap = args->cap ? args->cap * 2 : 8;
        piece *grown = hi_realloc(args->items, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        args->items = grown;
        args->cap = cap;
    }
    args->items[args->count++] = *cur;
    memset(cur, 0, sizeof(*cur));
    return 0;
}

static void arguments_free(argument_list *args, piece *cur) {
    size_t i;
    for (i = 0; i < args->count; i++)
        hi_free(args->items[i].data);
    hi_free(args->items);
    hi_free(cur->data);
}

enum vararg_kind { VA_INT, VA_LONG, VA_LLONG, VA_DOUBLE };

/* Reads a printf conversion of an integer or a double starting at `spec` (on its '%'):
 * flags, width, precision, then d i o u x X with an optional hh h l ll, or e E f F g G a A.
 * Returns the address of its conversion character, or NULL when it is not one of those. */
static const char *printf_conversion(const char *spec, enum vararg_kind *kind) {
    const char *q = spec + 1;
    while (*q != '\0' && strchr("#0-+ ", *q) != NULL)
        q++;
    while (isdigit((unsigned char)*q))
        q++;
    if (*q == '.') {
        q++;
        while (isdigit((unsigned char)*q))
            q++;
    }
    if (*q == '\0')
        return NULL;
    if (strchr("eEfFgGaA", *q) != NULL) {
        *kind = VA_DOUBLE;
        return q;
    }
    *kind = VA_INT; /* char and short arrive promoted to int */
    if (q[0] == 'h') {
        q += (q[1] == 'h') ? 2 : 1;
    } else if (q[0] == 'l' && q[1] == 'l') {
        *kind = VA_LLONG;
        q += 2;
    } else if (q[0] == 'l') {
        *kind = VA_LONG;
        q += 1;
    }
    if (*q == '\0' || strchr("diouxX", *q) == NULL)
        return NULL;
    return q;
}

/* Formats one printf conversion (spec[0..n]) of the next argument of `ap`. */
static int piece_add_printf(piece *cur, const char *spec, size_t n, va_list ap) {
    char small[64], fmt[64];
    char *out = small;
    int len;
    if (n >= sizeof(fmt))
        return -2;
    memcpy(fmt, spec, n);
    fmt[n] = '\0';
    {
        va_list probe;
        va_copy(probe, ap);
        len = vsnprintf(small, sizeof(small), fmt, probe);
        va_end(probe);
    }
    if (len < 0)
        return -2;
    if ((size_t)len >= sizeof(small)) {
        out = hi_malloc((size_t)len + 1);
        if (out == NULL)
            return -1;
        vsnprintf(out, (size_t)len + 1, fmt, ap);
    }
    if (piece_add(cur, out, (size_t)len) != 0) {
        if (out != small)
            hi_free(out);
        return -1;
    }
    if (out != small)
        hi_free(out);
    return 0;
}

/* hiredis's command formatting: split at spaces; %s, %b, %% and printf conversions insert
 * text into the current argument, and an argument that had an insertion exists even when
 * empty. Returns the length, -1 when out of memory, -2 for a bad format string. */
HIDDEN int redcore_hi_redisvFormatCommand(char **target, const char *format, va_list ap) {
    argument_list args = {NULL, 0, 0};
    piece cur = {NULL, 0, 0};
    const char **argv = NULL;
    size_t *argvlen = NULL;
    int touched = 0, rc = -1;
    long long total;
    const char *p = format;
    size_t i;

    if (target == NULL || format == NULL)
        return -1;

    while (*p != '\0') {
        if (*p == '%' && p[1] != '\0') {
            int err = 0;
            switch (p[1]) {
            case 's': {
                const char *s = va_arg(ap, const char *);
                err = piece_add(&cur, s, strlen(s));
                p += 2;
                break;
            }
            case 'b': {
                const char *s = va_arg(ap, const char *);
                size_t n = va_arg(ap, size_t);
                err = piece_add(&cur, s, n);
                p += 2;
                break;
            }
            case '%':
                err = piece_add(&cur, "%", 1);
                p += 2;
                break;
            default: {
                enum vararg_kind kind;
                const char *conv = printf_conversion(p, &kind);
                va_list here;
                if (conv == NULL) {
                    rc = -2;
                    goto done;
                }
                va_copy(here, ap);
                err = piece_add_printf(&cur, p, (size_t)(conv + 1 - p), here);
                va_end(here);
                /* Step over the argument the conversion used. */
                switch (kind) {
                case VA_INT: (void)va_arg(ap, int); break;
                case VA_LONG: (void)va_arg(ap, long); break;
                case VA_LLONG: (void)va_arg(ap, long long); break;
                case VA_DOUBLE: (void)va_arg(ap, double); break;
                }
                p = conv + 1;
                break;
            }
            }
            if (err != 0) {
                rc = err;
                goto done;
            }
            touched = 1;
        } else if (*p == ' ') {
            if (touched && arguments_push(&args, &cur) != 0)
                goto done;
            touched = 0;
            p++;
        } else {
            if (piece_add(&cur, p, 1) != 0)
                goto done;
            touched = 1;
            p++;
        }
    }
    if (touched && arguments_push(&args, &cur) != 0)
        goto done;

    argv = hi_malloc(sizeof(*argv) * (args.count ? args.count : 1));
    argvlen = hi_malloc(sizeof(*argvlen) * (args.count ? args.count : 1));
    if (argv == NULL || argvlen == NULL)
        goto done;
    for (i = 0; i < args.count; i++) {
        argv[i] = args.items[i].data ? args.items[i].data : "";
        argvlen[i] = args.items[i].len;
    }
    total = redisFormatCommandArgv(target, (int)args.count, argv, argvlen);
    rc = total < 0 ? -1 : (int)total;

done:
    hi_free((void *)argv);
    hi_free(argvlen);
    arguments_free(&args, &cur);
    return rc;
}

HIDDEN int redcore_hi_redisFormatCommand(char **target, const char *format, ...) {
    va_list ap;
    int len;
    va_start(ap, format);
    len = redcore_hi_redisvFormatCommand(target, format, ap);
    va_end(ap);
    return len < 0 ? -1 : len;
}

HIDDEN int redcore_hi_redisvAppendCommand(redisContext *c, const char *format, va_list ap) {
    char *cmd;
    int len, rc;
    if (c == NULL)
        return REDIS_ERR;
    len = redcore_hi_redisvFormatCommand(&cmd, format, ap);
    if (len == -1) {
        __redisSetError(c, REDIS_ERR_OOM, "Out of memory");
        return REDIS_ERR;
    }
    if (len == -2) {
        __redisSetError(c, REDIS_ERR_OTHER, "Invalid format string");
        return REDIS_ERR;
    }
    /* The count of arguments comes first: "*0" is an empty format (or one of spaces), which
     * the argv path refuses, saying why. */
    if (len == 4 && memcmp(cmd, "*0\r\n", 4) == 0)
        rc = redisAppendCommandArgv(c, 0, NULL, NULL);
    else
        rc = redisAppendFormattedCommand(c, cmd, (size_t)len);
    hi_free(cmd);
    return rc;
}

HIDDEN int redcore_hi_redisAppendCommand(redisContext *c, const char *format, ...) {
    va_list ap;
    int rc;
    va_start(ap, format);
    rc = redcore_hi_redisvAppendCommand(c, format, ap);
    va_end(ap);
    return rc;
}

HIDDEN void *redcore_hi_redisvCommand(redisContext *c, const char *format, va_list ap) {
    void *reply = NULL;
    if (redcore_hi_redisvAppendCommand(c, format, ap) != REDIS_OK)
        return NULL;
    /* A non-blocking context only queues the command. */
    if (!(c->flags & REDIS_BLOCK) || redisGetReply(c, &reply) != REDIS_OK)
        return NULL;
    return reply;
}

HIDDEN void *redcore_hi_redisCommand(redisContext *c, const char *format, ...) {
    va_list ap;
    void *reply;
    va_start(ap, format);
    reply = redcore_hi_redisvCommand(c, format, ap);
    va_end(ap);
    return reply;
}

HIDDEN int redcore_hi_redisvAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn,
                                         void *privdata, const char *format, va_list ap) {
    char *cmd;
    int len, rc;
    len = redcore_hi_redisvFormatCommand(&cmd, format, ap);
    if (len < 0)
        return REDIS_ERR;
    rc = redisAsyncFormattedCommand(ac, fn, privdata, cmd, (size_t)len);
    hi_free(cmd);
    return rc;
}

HIDDEN int redcore_hi_redisAsyncCommand(redisAsyncContext *ac, redisCallbackFn *fn,
                                        void *privdata, const char *format, ...) {
    va_list ap;
    int rc;
    va_start(ap, format);
    rc = redcore_hi_redisvAsyncCommand(ac, fn, privdata, format, ap);
    va_end(ap);
    return rc;
}

HIDDEN sds redcore_hi_sdscatvprintf(sds s, const char *fmt, va_list ap) {
    char small[256];
    char *out = small;
    int len;
    sds grown;
    va_list probe;

    va_copy(probe, ap);
    len = vsnprintf(small, sizeof(small), fmt, probe);
    va_end(probe);
    if (len < 0)
        return NULL;
    if ((size_t)len >= sizeof(small)) {
        out = hi_malloc((size_t)len + 1);
        if (out == NULL)
            return NULL;
        vsnprintf(out, (size_t)len + 1, fmt, ap);
    }
    grown = sdscatlen(s, out, (size_t)len);
    if (out != small)
        hi_free(out);
    return grown;
}

HIDDEN sds redcore_hi_sdscatprintf(sds s, const char *fmt, ...) {
    va_list ap;
    sds grown;
    va_start(ap, fmt);
    grown = redcore_hi_sdscatvprintf(s, fmt, ap);
    va_end(ap);
    return grown;
}

/* A small, fast printf: %s (C string), %S (sds), %i (int), %I (long long), %u (unsigned
 * int), %U (unsigned long long), %% (percent). Any other character after % stands for itself. */
HIDDEN sds redcore_hi_sdscatfmt(sds s, char const *fmt, ...) {
    va_list ap;
    const char *p = fmt;
    char num[32];
    va_start(ap, fmt);
    while (s != NULL && *p != '\0') {
        const char *text = p;
        size_t n = 1;
        if (*p == '%' && p[1] != '\0') {
            p++;
            switch (*p) {
            case 's':
                text = va_arg(ap, const char *);
                n = strlen(text);
                break;
            case 'S': {
                sds t = va_arg(ap, sds);
                text = t;
                n = sdslen(t);
                break;
            }
            case 'i':
                n = (size_t)snprintf(num, sizeof(num), "%d", va_arg(ap, int));
                text = num;
                break;
            case 'I':
                n = (size_t)snprintf(num, sizeof(num), "%lld", va_arg(ap, long long));
                text = num;
                break;
            case 'u':
                n = (size_t)snprintf(num, sizeof(num), "%u", va_arg(ap, unsigned int));
                text = num;
                break;
            case 'U':
                n = (size_t)snprintf(num, sizeof(num), "%llu", va_arg(ap, unsigned long long));
                text = num;
                break;
            default:
                text = p;
                break;
            }
        }
        s = sdscatlen(s, text, n);
        p++;
    }
    va_end(ap);
    return s;
}
