/* The reply reader on its own, as a proxy or a protocol tool uses it: feeding in any split,
 * RESP2 and RESP3 reply shapes, protocol errors (sticky), limits, and custom reply object
 * functions (here building a tiny tree of our own) and NULL functions. No server needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "common.h"

static redisReply *parse(const char *wire, size_t len, int bytewise) {
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    size_t i;
    if (bytewise) {
        for (i = 0; i < len; i++) {
            CHECK(redisReaderFeed(r, wire + i, 1) == REDIS_OK);
            CHECK(redisReaderGetReply(r, &reply) == REDIS_OK);
            if (reply != NULL && i + 1 != len)
                CHECK(!"reply before its last byte");
        }
    } else {
        CHECK(redisReaderFeed(r, wire, len) == REDIS_OK);
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK);
    }
    redisReaderFree(r);
    return reply;
}

#define PARSE(lit, bytewise) parse(lit, sizeof(lit) - 1, bytewise)

static void test_shapes(int bytewise) {
    redisReply *r = PARSE("*3\r\n$3\r\nfoo\r\n:-42\r\n*-1\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
    CHECK(r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 3 &&
          strcmp(r->element[0]->str, "foo") == 0);
    CHECK(r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == -42);
    CHECK(r->element[2]->type == REDIS_REPLY_NIL);
    freeReplyObject(r);

    r = PARSE("%2\r\n+a\r\n,1.25\r\n$1\r\nb\r\n#f\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_MAP && r->elements == 4);
    CHECK(r->element[1]->type == REDIS_REPLY_DOUBLE && r->element[1]->dval == 1.25 &&
          strcmp(r->element[1]->str, "1.25") == 0);
    CHECK(r->element[3]->type == REDIS_REPLY_BOOL && r->element[3]->integer == 0);
    freeReplyObject(r);

    r = PARSE("=13\r\nmkd:# a title\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_VERB && strcmp(r->vtype, "mkd") == 0 && r->len == 9 &&
          strcmp(r->str, "# a title") == 0);
    freeReplyObject(r);

    r = PARSE(">3\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n_\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_PUSH && r->elements == 3 &&
          r->element[1]->type == REDIS_REPLY_ARRAY && r->element[2]->type == REDIS_REPLY_NIL);
    freeReplyObject(r);

    r = PARSE("~0\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_SET && r->elements == 0 && r->element == NULL);
    freeReplyObject(r);

    r = PARSE("(-12345678901234567890\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_BIGNUM && strcmp(r->str, "-12345678901234567890") == 0);
    freeReplyObject(r);

    r = PARSE(",-inf\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_DOUBLE && isinf(r->dval) && r->dval < 0);
    freeReplyObject(r);

    r = PARSE("-ERR wrong\r\n", bytewise);
    CHECK(r && r->type == REDIS_REPLY_ERROR && strcmp(r->str, "ERR wrong") == 0);
    freeReplyObject(r);

    /* An attribute is its own reply, before the one it annotates. */
    redisReader *reader = redisReaderCreate();
    void *a = NULL, *b = NULL;
    redisReaderFeed(reader, "|1\r\n+ttl\r\n:3\r\n+OK\r\n", 19);
    CHECK(redisReaderGetReply(reader, &a) == REDIS_OK && a != NULL &&
          ((redisReply *)a)->type == REDIS_REPLY_ATTR && ((redisReply *)a)->elements == 2);
    CHECK(redisReaderGetReply(reader, &b) == REDIS_OK && b != NULL &&
          ((redisReply *)b)->type == REDIS_REPLY_STATUS);
    freeReplyObject(a);
    freeReplyObject(b);
    redisReaderFree(reader);
}

/* Arrays whose elements the reader builds in one loop (bulk strings and integers) mixed with
 * what it builds a step at a time (nil, nested arrays, statuses), fed in every chunk size from
 * 1 to 19 bytes, followed by a second reply in the same input. */
static void test_arrays_in_pieces(void) {
    static const char wire[] =
        "*9\r\n$3\r\nfoo\r\n$0\r\n\r\n:7\r\n$4\r\na\r\nb\r\n$-1\r\n"
        "*2\r\n:-1\r\n$2\r\nxy\r\n+ok\r\n:9223372036854775807\r\n$5\r\nlast.\r\n"
        "*0\r\n";
    size_t len = sizeof wire - 1;
    for (size_t chunk = 1; chunk <= 19; chunk++) {
        redisReader *r = redisReaderCreate();
        void *replies[2] = {NULL, NULL};
        int got = 0;
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            CHECK(redisReaderFeed(r, wire + off, n) == REDIS_OK);
            void *reply = NULL;
            while (redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL && got < 2) {
                replies[got++] = reply;
                reply = NULL;
            }
        }
        CHECK(got == 2);
        redisReply *a = replies[0];
        CHECK(a && a->type == REDIS_REPLY_ARRAY && a->elements == 9);
        if (a && a->elements == 9) {
            CHECK(a->element[0]->len == 3 && strcmp(a->element[0]->str, "foo") == 0);
            CHECK(a->element[1]->type == REDIS_REPLY_STRING && a->element[1]->len == 0);
            CHECK(a->element[2]->type == REDIS_REPLY_INTEGER && a->element[2]->integer == 7);
            CHECK(a->element[3]->len == 4 && memcmp(a->element[3]->str, "a\r\nb", 5) == 0);
            CHECK(a->element[4]->type == REDIS_REPLY_NIL);
            CHECK(a->element[5]->type == REDIS_REPLY_ARRAY && a->element[5]->elements == 2 &&
                  a->element[5]->element[0]->integer == -1 &&
                  strcmp(a->element[5]->element[1]->str, "xy") == 0);
            CHECK(a->element[6]->type == REDIS_REPLY_STATUS && strcmp(a->element[6]->str, "ok") == 0);
            CHECK(a->element[7]->integer == 9223372036854775807LL);
            CHECK(strcmp(a->element[8]->str, "last.") == 0);
        }
        redisReply *b = replies[1];
        CHECK(b && b->type == REDIS_REPLY_ARRAY && b->elements == 0);
        freeReplyObject(a);
        freeReplyObject(b);
        redisReaderFree(r);
    }

    /* RESP3 leaves the loop builds too (doubles, booleans, nulls, errors, statuses) beside
     * those it leaves to a step (a big number, a verbatim string, a 19-digit integer). */
    static const char wire3[] =
        "~10\r\n,1.5\r\n#t\r\n_\r\n-ERR x\r\n,-inf\r\n#F\r\n(123\r\n"
        "=7\r\ntxt:abc\r\n:1000000000000000000\r\n+ok\r\n";
    len = sizeof wire3 - 1;
    for (size_t chunk = 1; chunk <= 19; chunk++) {
        redisReader *r = redisReaderCreate();
        void *reply = NULL;
        for (size_t off = 0; off < len && reply == NULL; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            CHECK(redisReaderFeed(r, wire3 + off, n) == REDIS_OK);
            CHECK(redisReaderGetReply(r, &reply) == REDIS_OK);
        }
        redisReply *a = reply;
        CHECK(a && a->type == REDIS_REPLY_SET && a->elements == 10);
        if (a && a->elements == 10) {
            CHECK(a->element[0]->type == REDIS_REPLY_DOUBLE && a->element[0]->dval == 1.5 &&
                  a->element[0]->len == 3 && strcmp(a->element[0]->str, "1.5") == 0);
            CHECK(a->element[1]->type == REDIS_REPLY_BOOL && a->element[1]->integer == 1);
            CHECK(a->element[2]->type == REDIS_REPLY_NIL);
            CHECK(a->element[3]->type == REDIS_REPLY_ERROR && strcmp(a->element[3]->str, "ERR x") == 0);
            CHECK(a->element[4]->type == REDIS_REPLY_DOUBLE && isinf(a->element[4]->dval));
            CHECK(a->element[5]->type == REDIS_REPLY_BOOL && a->element[5]->integer == 0);
            CHECK(a->element[6]->type == REDIS_REPLY_BIGNUM && strcmp(a->element[6]->str, "123") == 0);
            CHECK(a->element[7]->type == REDIS_REPLY_VERB && strcmp(a->element[7]->vtype, "txt") == 0 &&
                  strcmp(a->element[7]->str, "abc") == 0);
            CHECK(a->element[8]->type == REDIS_REPLY_INTEGER &&
                  a->element[8]->integer == 1000000000000000000LL);
            CHECK(a->element[9]->type == REDIS_REPLY_STATUS && a->element[9]->len == 2);
        }
        freeReplyObject(a);
        redisReaderFree(r);
    }

    /* Nesting deeper than freeReplyObject keeps on its stack (32). */
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 60; i++) n += (size_t)snprintf(deep + n, sizeof deep - n, "*1\r\n");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "$1\r\nz\r\n");
    redisReply *d = parse(deep, n, 0);
    CHECK(d != NULL);
    redisReply *leaf = d;
    for (int i = 0; leaf && i < 60; i++) leaf = leaf->elements == 1 ? leaf->element[0] : NULL;
    CHECK(leaf && leaf->type == REDIS_REPLY_STRING && strcmp(leaf->str, "z") == 0);
    freeReplyObject(d);
}

/* Long bulk strings (read straight into their reply once their header is in) at the top level
 * and inside an array, with CRLFs in their text, fed in pieces of many sizes, then the next
 * reply; and readers freed while such a string is half read. */
static void test_long_bulks(void) {
    static const size_t sizes[] = {4095, 4096, 5000, 20000};
    size_t cap = 4095 + 4096 + 5000 + 20000 + 20000 + 256;
    char *wire = malloc(cap);
    CHECK(wire != NULL);
    if (wire == NULL) return;
    size_t len = (size_t)snprintf(wire, cap, "*4\r\n");
    for (size_t i = 0; i < 4; i++) {
        len += (size_t)snprintf(wire + len, cap - len, "$%zu\r\n", sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++) wire[len + j] = j % 100 == 7 ? '\r' : (char)('a' + (i + j) % 26);
        len += sizes[i];
        len += (size_t)snprintf(wire + len, cap - len, "\r\n");
    }
    size_t array_len = len;
    len += (size_t)snprintf(wire + len, cap - len, "$20000\r\n");
    memcpy(wire + len, wire + array_len - 20002, 20000);
    len += 20000;
    len += (size_t)snprintf(wire + len, cap - len, "\r\n+OK\r\n");

    static const size_t chunks[] = {1, 2, 7, 1000, 4096, 4100, 16384, 65536};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        redisReader *r = redisReaderCreate();
        void *replies[3] = {NULL, NULL, NULL};
        int got = 0;
        for (size_t off = 0; off < len; off += chunks[c]) {
            size_t n = len - off < chunks[c] ? len - off : chunks[c];
            CHECK(redisReaderFeed(r, wire + off, n) == REDIS_OK);
            void *reply = NULL;
            while (got < 3 && redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL) {
                replies[got++] = reply;
                reply = NULL;
            }
        }
        CHECK(got == 3);
        redisReply *a = replies[0], *b = replies[1], *ok = replies[2];
        CHECK(a && a->type == REDIS_REPLY_ARRAY && a->elements == 4);
        size_t at = 4;
        for (size_t i = 0; a && i < a->elements && i < 4; i++) {
            at += (size_t)snprintf(NULL, 0, "$%zu\r\n", sizes[i]);
            redisReply *e = a->element[i];
            CHECK(e->type == REDIS_REPLY_STRING && e->len == sizes[i] &&
                  memcmp(e->str, wire + at, sizes[i]) == 0 && e->str[e->len] == '\0');
            at += sizes[i] + 2;
        }
        CHECK(b && b->type == REDIS_REPLY_STRING && b->len == 20000 &&
              memcmp(b->str, wire + array_len - 20002, 20000) == 0 && b->str[20000] == '\0');
        CHECK(ok && ok->type == REDIS_REPLY_STATUS && strcmp(ok->str, "OK") == 0);
        for (int i = 0; i < got; i++) freeReplyObject(replies[i]);
        redisReaderFree(r);
    }

    /* Freed half-way through a long string: inside the array, and at the top (after the
     * array, which is freed by the caller). */
    for (size_t cut = 100; cut + 100 < len; cut += 3000) {
        redisReader *r = redisReaderCreate();
        void *reply = NULL;
        CHECK(redisReaderFeed(r, wire, cut) == REDIS_OK);
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK);
        CHECK((reply != NULL) == (cut >= array_len));
        freeReplyObject(reply);
        CHECK(redisReaderFeed(r, wire + cut, 50) == REDIS_OK);
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == NULL);
        redisReaderFree(r);
    }

    /* The text of a long string does not go through the buffer once its header is in. */
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    size_t at = 4 + 7 + 4095 + 2; /* the array's second string, "$4096\r\n..." */
    CHECK(redisReaderFeed(r, wire + at, 7 + 100) == REDIS_OK);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == NULL && r->len == 0);
    CHECK(redisReaderFeed(r, wire + at + 7 + 100, 4096 - 100) == REDIS_OK && r->len == 0);
    CHECK(redisReaderFeed(r, "\r\n", 2) == REDIS_OK && r->len == 2);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL);
    redisReply *s = reply;
    CHECK(s && s->len == 4096 && memcmp(s->str, wire + at + 7, 4096) == 0);
    freeReplyObject(reply);
    redisReaderFree(r);
    free(wire);
}

/* Allocations through hiredis's allocator hooks, counted. */
static size_t mallocs;
static void *counting_malloc(size_t n) { mallocs++; return malloc(n); }
static void *counting_calloc(size_t n, size_t size) { mallocs++; return calloc(n, size); }
static void *counting_realloc(void *p, size_t n) { mallocs++; return realloc(p, n); }
static char *counting_strdup(const char *s) { mallocs++; return strdup(s); }

/* An idle buffer larger than maxbuf is given back between replies, not inside one: in an
 * array of long strings the buffer empties after each string's text went straight to its
 * reply, and giving it back there would cost allocations on every read. */
static void test_buffer_given_back_between_replies(void) {
    const size_t n = 40000;
    size_t cap = 2 * n + 64;
    char *wire = malloc(cap);
    CHECK(wire != NULL);
    if (wire == NULL) return;
    size_t len = (size_t)snprintf(wire, cap, "*2\r\n$%zu\r\n", n);
    memset(wire + len, 'x', n);
    len += n;
    len += (size_t)snprintf(wire + len, cap - len, "\r\n$%zu\r\n", n);
    size_t second = len;
    memset(wire + len, 'y', n);
    len += n;
    len += (size_t)snprintf(wire + len, cap - len, "\r\n");

    redisReader *r = redisReaderCreate();
    CHECK(r != NULL);
    if (r == NULL) {
        free(wire);
        return;
    }
    void *reply = NULL;
    /* The first string and 100 bytes of the second: the buffer grows past maxbuf. */
    CHECK(redisReaderFeed(r, wire, second + 100) == REDIS_OK);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == NULL);
    CHECK(r->len == 0 && r->maxbuf != 0);

    hiredisAllocFuncs counting = {counting_malloc, counting_calloc, counting_realloc,
                                  counting_strdup, free};
    hiredisSetAllocators(&counting);
    mallocs = 0;
    /* The rest: the text goes to the reply, the "\r\n" to the kept buffer. */
    CHECK(redisReaderFeed(r, wire + second + 100, len - second - 100) == REDIS_OK);
    CHECK(mallocs == 0);
    hiredisResetAllocators();
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL);
    redisReply *a = reply;
    CHECK(a && a->type == REDIS_REPLY_ARRAY && a->elements == 2 && a->element[1]->len == n &&
          a->element[1]->str[0] == 'y' && a->element[1]->str[n - 1] == 'y');
    freeReplyObject(reply);

    /* Between replies the idle buffer is replaced by a small one (a new allocation). */
    hiredisSetAllocators(&counting);
    mallocs = 0;
    CHECK(redisReaderFeed(r, "+OK\r\n", 5) == REDIS_OK);
    CHECK(mallocs >= 1);
    hiredisResetAllocators();
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL);
    CHECK(reply && ((redisReply *)reply)->type == REDIS_REPLY_STATUS);
    freeReplyObject(reply);
    redisReaderFree(r);
    free(wire);
}

static void expect_error(const char *wire, const char *text) {
    redisReader *r = redisReaderCreate();
    void *reply = (void *)1;
    redisReaderFeed(r, wire, strlen(wire));
    CHECK(redisReaderGetReply(r, &reply) == REDIS_ERR && reply == NULL);
    CHECK(r->err == REDIS_ERR_PROTOCOL && strcmp(r->errstr, text) == 0);
    if (strcmp(r->errstr, text) != 0)
        fprintf(stderr, "  for %s got '%s'\n", wire, r->errstr);
    /* Sticky. */
    CHECK(redisReaderFeed(r, "+OK\r\n", 5) == REDIS_ERR);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_ERR);
    redisReaderFree(r);
}

static void test_errors(void) {
    /* Inside arrays, where elements are built in one loop, the errors are the same. */
    expect_error("*2\r\n:1\r\n:x\r\n", "Bad integer value");
    expect_error("*2\r\n$1\r\na\r\n$-5\r\n", "Bulk string length out of range");
    expect_error("*2\r\n$1\r\na\r\n$1x\r\n", "Bad bulk string length");
    expect_error("*2\r\n#t\r\n#x\r\n", "Bad bool value");
    expect_error("*2\r\n_\r\n_x\r\n", "Bad nil value");
    expect_error("*2\r\n,1\r\n,1.5e\r\n", "Bad double value");
    expect_error("*2\r\n+a\r\n+a\rb\r\n", "Bad simple string value");
    expect_error("*2\r\n:1\r\n:01\r\n", "Bad integer value");
    expect_error("?x\r\n", "Protocol error, got \"?\" as reply type byte");
    expect_error("\x01", "Protocol error, got \"\\x01\" as reply type byte");
    expect_error(":12a\r\n", "Bad integer value");
    expect_error("$-5\r\n", "Bulk string length out of range");
    expect_error("$x\r\n", "Bad bulk string length");
    expect_error("*x\r\n", "Bad multi-bulk length");
    expect_error("#x\r\n", "Bad bool value");
    expect_error("_x\r\n", "Bad nil value");
    expect_error(",1.5e\r\n", "Bad double value");
    expect_error("(12x\r\n", "Bad bignum value");
    expect_error("=3\r\ntxt\r\n", "Verbatim string 4 bytes of content type are missing or incorrectly encoded.");
    expect_error("+a\rb\r\n", "Bad simple string value");

    redisReader *r = redisReaderCreate();
    r->maxelements = 2;
    redisReaderFeed(r, "*3\r\n", 4);
    CHECK(redisReaderGetReply(r, NULL) == REDIS_ERR &&
          strcmp(r->errstr, "Multi-bulk length out of range") == 0);
    redisReaderFree(r);

    r = redisReaderCreate();
    r->maxdepth = 2;
    redisReaderFeed(r, "*1\r\n*1\r\n*1\r\n:1\r\n", 16);
    CHECK(redisReaderGetReply(r, NULL) == REDIS_ERR &&
          strcmp(r->errstr, "Max nesting depth exceeded") == 0);
    redisReaderFree(r);
}

/* Custom object functions: build a flat list of "type:value" lines instead of redisReply. */
typedef struct node {
    char text[64];
    struct node *next;
} node;

static node *head, **tail = &head;
static int frees;

static void *add(const redisReadTask *task, const char *text) {
    node *n = calloc(1, sizeof(*n));
    snprintf(n->text, sizeof n->text, "%d@%d:%s", task->type, task->idx, text);
    *tail = n;
    tail = &n->next;
    return n;
}

static void *my_string(const redisReadTask *t, char *s, size_t len) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)len, s);
    return add(t, buf);
}
static void *my_array(const redisReadTask *t, size_t n) {
    char buf[32];
    snprintf(buf, sizeof buf, "[%zu]", n);
    return add(t, buf);
}
static void *my_integer(const redisReadTask *t, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return add(t, buf);
}
static void *my_double(const redisReadTask *t, double d, char *s, size_t len) {
    char buf[32];
    snprintf(buf, sizeof buf, "%g/%.*s", d, (int)len, s);
    return add(t, buf);
}
static void *my_nil(const redisReadTask *t) { return add(t, "nil"); }
static void *my_bool(const redisReadTask *t, int b) { return add(t, b ? "true" : "false"); }
static void my_free(void *obj) {
    (void)obj;
    frees++;
}

static void test_custom_functions(void) {
    redisReplyObjectFunctions fns = {my_string, my_array, my_integer, my_double,
                                     my_nil,    my_bool,  my_free};
    redisReader *r = redisReaderCreateWithFunctions(&fns);
    void *reply = NULL;
    int privdata = 7;
    redisReaderSetPrivdata(r, &privdata);
    const char *wire = "*4\r\n$2\r\nhi\r\n:5\r\n,2.5\r\n%1\r\n_\r\n#t\r\n";
    redisReaderFeed(r, wire, strlen(wire));
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == head);
    const char *expected[] = {"2@-1:[4]", "1@0:hi", "3@1:5", "7@2:2.5/2.5", "9@3:[2]",
                              "4@0:nil", "8@1:true"};
    node *n = head;
    size_t i;
    for (i = 0; i < sizeof expected / sizeof *expected; i++) {
        CHECK(n != NULL && strcmp(n->text, expected[i]) == 0);
        if (n && strcmp(n->text, expected[i]) != 0)
            fprintf(stderr, "  node %zu: %s\n", i, n->text);
        n = n ? n->next : NULL;
    }
    CHECK(n == NULL);
    /* On an error the reader frees the partial reply with freeObject. */
    redisReaderFeed(r, "*2\r\n:1\r\n!", 9);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_ERR && frees == 1);
    redisReaderFree(r);
    while (head) {
        n = head->next;
        free(head);
        head = n;
    }

    /* NULL functions: the reply is its type number. */
    r = redisReaderCreate();
    r->fn = NULL;
    redisReaderFeed(r, "*2\r\n:1\r\n:2\r\n", 12);
    CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == (void *)REDIS_REPLY_ARRAY);
    redisReaderFree(r);
}

int main(void) {
    test_shapes(0);
    test_shapes(1);
    test_arrays_in_pieces();
    test_long_bulks();
    test_buffer_given_back_between_replies();
    test_errors();
    test_custom_functions();
    return finish("hiredis reader_test");
}
