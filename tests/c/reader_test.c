/* The reader, reply and error classes of redcore.h, checked from C.
 * Run by `make test`, plainly and under valgrind (no leak, no error). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redcore.h"

static int str_is(const redcore_reply *r, const char *expected) {
    size_t len = 0;
    const char *s = redcore_reply_string(r, &len);
    return s != NULL && len == strlen(expected) && memcmp(s, expected, len) == 0 &&
           s[len] == '\0';
}

/* Feeds `wire` one byte at a time and returns the one reply it holds. */
static redcore_reply *parse_bytewise(const char *wire, size_t len) {
    redcore_reader *reader = NULL;
    redcore_reply *reply = NULL;
    CHECK(redcore_reader_new(0, 0, 0, &reader, NULL) == REDCORE_OK);
    for (size_t i = 0; i < len; i++) {
        CHECK(reply == NULL);
        CHECK(redcore_reader_feed(reader, (const uint8_t *)wire + i, 1) == REDCORE_OK);
        CHECK(redcore_reader_get_reply(reader, &reply, NULL) == REDCORE_OK);
    }
    redcore_reply *none = (redcore_reply *)1;
    CHECK(redcore_reader_get_reply(reader, &none, NULL) == REDCORE_OK);
    CHECK(none == NULL);
    redcore_reader_free(reader);
    return reply;
}

#define PARSE(lit) parse_bytewise(lit, sizeof(lit) - 1)

static void test_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", REDCORE_VERSION_MAJOR,
             REDCORE_VERSION_MINOR, REDCORE_VERSION_PATCH);
    CHECK(strcmp(redcore_version(), expected) == 0);
}

static void test_taxonomy(void) {
    CHECK(strcmp(redcore_error_code_name(REDCORE_ERR_CONNECTION), "CONNECTION") == 0);
    CHECK(strcmp(redcore_error_code_name(REDCORE_OK), "OK") == 0);
    CHECK(strcmp(redcore_error_code_name(12345), "UNKNOWN") == 0);
    CHECK(redcore_error_code_parent(REDCORE_ERR_AUTHENTICATION) == REDCORE_ERR_CONNECTION);
    CHECK(redcore_error_code_parent(REDCORE_ERR_MOVED) == REDCORE_ERR_ASK);
    CHECK(redcore_error_code_parent(REDCORE_ERR_REDIS) == REDCORE_OK);
    redcore_error_code parents[2];
    CHECK(redcore_error_code_parents(REDCORE_ERR_CLUSTER_DOWN, parents, 2) == 2);
    CHECK(parents[0] == REDCORE_ERR_CLUSTER && parents[1] == REDCORE_ERR_RESPONSE);
    CHECK(redcore_error_code_parents(REDCORE_ERR_REDIS, NULL, 0) == 0);
    CHECK(redcore_error_code_is(REDCORE_ERR_TLS, REDCORE_ERR_CONNECTION));
    CHECK(redcore_error_code_is(REDCORE_ERR_MASTER_DOWN, REDCORE_ERR_RESPONSE));
    CHECK(!redcore_error_code_is(REDCORE_ERR_TIMEOUT, REDCORE_ERR_CONNECTION));
    CHECK(!redcore_error_code_is(REDCORE_ERR_SLOT_NOT_COVERED, REDCORE_ERR_REDIS));
    /* Every code from OK to INTERNAL has a name and reaches a root. */
    for (int code = REDCORE_OK; code <= REDCORE_ERR_INTERNAL; code++) {
        CHECK(strcmp(redcore_error_code_name(code), "UNKNOWN") != 0);
        CHECK(code == REDCORE_OK || redcore_error_code_is(code, REDCORE_ERR_REDIS) ||
              redcore_error_code_is(code, REDCORE_ERR_CLUSTER_EXCEPTION));
    }
}

static void test_scalars(void) {
    redcore_reply *r = PARSE("+OK\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_SIMPLE);
    CHECK(str_is(r, "OK"));
    redcore_reply_free(r);

    r = PARSE(":-42\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_INTEGER);
    CHECK(redcore_reply_integer(r) == -42);
    CHECK(redcore_reply_string(r, NULL) == NULL);
    redcore_reply_free(r);

    r = PARSE("$7\r\nhe\0l\r\no\r\n");
    size_t len = 0;
    const char *s = redcore_reply_string(r, &len);
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_BULK);
    CHECK(len == 7 && memcmp(s, "he\0l\r\no", 7) == 0);
    redcore_reply_free(r);

    r = PARSE("$-1\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_NULL);
    redcore_reply_free(r);

    r = PARSE(",3.25\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_DOUBLE);
    CHECK(redcore_reply_double(r) == 3.25);
    redcore_reply_free(r);

    r = PARSE(",-inf\r\n");
    CHECK(isinf(redcore_reply_double(r)) && redcore_reply_double(r) < 0);
    redcore_reply_free(r);

    r = PARSE(",nan\r\n");
    CHECK(isnan(redcore_reply_double(r)));
    redcore_reply_free(r);

    r = PARSE("#t\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_BOOLEAN && redcore_reply_bool(r));
    redcore_reply_free(r);

    r = PARSE("(3492890328409238509324850943850943825024385\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_BIG_NUMBER);
    CHECK(str_is(r, "3492890328409238509324850943850943825024385"));
    redcore_reply_free(r);

    r = PARSE("=15\r\ntxt:Some string\r\n");
    char format[4] = {0};
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_VERBATIM);
    CHECK(redcore_reply_verbatim_format(r, format) && strcmp(format, "txt") == 0);
    CHECK(str_is(r, "Some string"));
    redcore_reply_free(r);

    r = PARSE("-MOVED 3999 127.0.0.1:6381\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_ERROR);
    CHECK(redcore_reply_error_code(r) == REDCORE_ERR_MOVED);
    CHECK(str_is(r, "MOVED 3999 127.0.0.1:6381"));
    redcore_reply_free(r);

    r = PARSE("!21\r\nSYNTAX invalid syntax\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_BLOB_ERROR);
    CHECK(redcore_reply_error_code(r) == REDCORE_ERR_RESPONSE);
    redcore_reply_free(r);
}

static void test_aggregates(void) {
    redcore_reply *r = PARSE("*3\r\n*2\r\n:1\r\n$5\r\nhello\r\n_\r\n~2\r\n+a\r\n+b\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_ARRAY);
    CHECK(redcore_reply_len(r) == 3);
    const redcore_reply *inner = redcore_reply_element(r, 0);
    CHECK(redcore_reply_len(inner) == 2);
    CHECK(redcore_reply_integer(redcore_reply_element(inner, 0)) == 1);
    CHECK(str_is(redcore_reply_element(inner, 1), "hello"));
    CHECK(redcore_reply_get_type(redcore_reply_element(r, 1)) == REDCORE_REPLY_NULL);
    const redcore_reply *set = redcore_reply_element(r, 2);
    CHECK(redcore_reply_get_type(set) == REDCORE_REPLY_SET);
    CHECK(str_is(redcore_reply_element(set, 1), "b"));
    CHECK(redcore_reply_element(r, 3) == NULL);
    CHECK(redcore_reply_element(redcore_reply_element(inner, 0), 0) == NULL);

    /* Elements are not the caller's to free: this must do nothing. */
    redcore_reply_free((redcore_reply *)inner);
    CHECK(redcore_reply_len(inner) == 2);

    /* A clone of an element outlives its reply. */
    redcore_reply *copy = redcore_reply_clone(inner);
    redcore_reply_free(r);
    CHECK(str_is(redcore_reply_element(copy, 1), "hello"));
    redcore_reply_free(copy);

    r = PARSE("%2\r\n+first\r\n:1\r\n+second\r\n,2.5\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_MAP);
    CHECK(redcore_reply_len(r) == 2);
    CHECK(str_is(redcore_reply_map_key(r, 1), "second"));
    CHECK(redcore_reply_double(redcore_reply_map_value(r, 1)) == 2.5);
    CHECK(redcore_reply_integer(redcore_reply_element(r, 1)) == 1);
    CHECK(redcore_reply_map_key(r, 2) == NULL);
    redcore_reply_free(r);

    r = PARSE(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
    CHECK(redcore_reply_get_type(r) == REDCORE_REPLY_PUSH);
    CHECK(str_is(redcore_reply_element(r, 2), "hi"));
    redcore_reply_free(r);

    /* Attributes stay reachable from the value they annotate. */
    r = PARSE("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n");
    const redcore_reply *v = redcore_reply_element(r, 0);
    CHECK(str_is(v, "v"));
    const redcore_reply *attr = redcore_reply_attribute(v);
    CHECK(attr != NULL && redcore_reply_get_type(attr) == REDCORE_REPLY_ATTRIBUTE);
    CHECK(str_is(redcore_reply_map_key(attr, 0), "ttl"));
    CHECK(redcore_reply_integer(redcore_reply_map_value(attr, 0)) == 3600);
    CHECK(redcore_reply_attribute(redcore_reply_element(r, 1)) == NULL);
    redcore_reply *vcopy = redcore_reply_clone(v);
    CHECK(redcore_reply_attribute(vcopy) != NULL);
    redcore_reply_free(vcopy);
    redcore_reply_free(r);
}

static void test_many_replies_in_one_feed(void) {
    redcore_reader *reader = NULL;
    CHECK(redcore_reader_new(0, 0, 0, &reader, NULL) == REDCORE_OK);
    char buf[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof buf, ":%d\r\n$3\r\nabc\r\n", i);
        CHECK(redcore_reader_feed(reader, (const uint8_t *)buf, (size_t)n) == REDCORE_OK);
    }
    for (int i = 0; i < 1000; i++) {
        redcore_reply *r = NULL;
        CHECK(redcore_reader_get_reply(reader, &r, NULL) == REDCORE_OK);
        CHECK(redcore_reply_integer(r) == i);
        redcore_reply_free(r);
        CHECK(redcore_reader_get_reply(reader, &r, NULL) == REDCORE_OK);
        CHECK(str_is(r, "abc"));
        redcore_reply_free(r);
    }
    /* Replies left in the reader are freed with it. */
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"+left\r\n", 7) == REDCORE_OK);
    redcore_reader_free(reader);
}

static void test_errors(void) {
    redcore_reader *reader = NULL;
    redcore_error *err = NULL;

    /* A broken stream: the reply before the error is still delivered, then the error. */
    CHECK(redcore_reader_new(0, 0, 0, &reader, NULL) == REDCORE_OK);
    CHECK(redcore_reader_feed(reader, (const uint8_t *)":1\r\n?x\r\n", 8) == REDCORE_ERR_PROTOCOL);
    redcore_reply *r = NULL;
    CHECK(redcore_reader_get_reply(reader, &r, &err) == REDCORE_OK);
    CHECK(redcore_reply_integer(r) == 1);
    redcore_reply_free(r);
    r = NULL;
    CHECK(redcore_reader_get_reply(reader, &r, &err) == REDCORE_ERR_PROTOCOL);
    CHECK(r == NULL);
    CHECK(err != NULL);
    CHECK(redcore_error_get_code(err) == REDCORE_ERR_PROTOCOL);
    CHECK(redcore_error_is(err, REDCORE_ERR_INVALID_RESPONSE));
    CHECK(strstr(redcore_error_message(err), "invalid type byte") != NULL);
    redcore_error_free(err);
    err = NULL;
    /* Sticky. */
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"+OK\r\n", 5) == REDCORE_ERR_PROTOCOL);
    redcore_reader_free(reader);

    /* Limits. */
    CHECK(redcore_reader_new(4, 2, 2, &reader, NULL) == REDCORE_OK);
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"*1\r\n*1\r\n*1\r\n", 12) ==
          REDCORE_ERR_PROTOCOL);
    CHECK(redcore_reader_get_reply(reader, &r, &err) == REDCORE_ERR_PROTOCOL);
    CHECK(strstr(redcore_error_message(err), "nested deeper than 2") != NULL);
    redcore_error_free(err);
    err = NULL;
    redcore_reader_free(reader);

    CHECK(redcore_reader_new(4, 2, 2, &reader, NULL) == REDCORE_OK);
    CHECK(redcore_reader_feed(reader, (const uint8_t *)"$5\r\n", 4) == REDCORE_ERR_PROTOCOL);
    redcore_reader_free(reader);

    /* NULL arguments. */
    CHECK(redcore_reader_new(0, 0, 0, NULL, &err) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(redcore_error_message(err), "reader_out") != NULL);
    CHECK(redcore_error_is(err, REDCORE_ERR_DATA));
    redcore_error_free(err);
    err = NULL;
    CHECK(redcore_reader_new(0, 0, 0, NULL, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_reader_feed(NULL, (const uint8_t *)"x", 1) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_reader_get_reply(NULL, &r, NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(redcore_reply_get_type(NULL) == REDCORE_REPLY_NULL);
    CHECK(redcore_reply_len(NULL) == 0);
    CHECK(redcore_reply_element(NULL, 0) == NULL);
    CHECK(redcore_reply_clone(NULL) == NULL);
    CHECK(redcore_error_get_code(NULL) == REDCORE_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(redcore_error_message(NULL), "") == 0);
    redcore_reply_free(NULL);
    redcore_reader_free(NULL);
    redcore_error_free(NULL);
}

int main(void) {
    test_version();
    test_taxonomy();
    test_scalars();
    test_aggregates();
    test_many_replies_in_one_feed();
    test_errors();
    if (failures) {
        fprintf(stderr, "reader_test: %d check(s) failed\n", failures);
        return 1;
    }
    printf("reader_test: all checks passed\n");
    return 0;
}
