/* Built by `make test-install` with `pkg-config --cflags --libs hiredis` against an installed
 * tree, the way a program written for hiredis is: includes <hiredis.h> and calls the library
 * (command formatting and the reader, which need no server). Prints "hiredis X.Y.Z on redcore". */
#include <stdio.h>
#include <string.h>

#include <hiredis.h>

int main(void) {
    char *cmd = NULL;
    int len = redisFormatCommand(&cmd, "SET %s %d", "key", 42);
    if (len <= 0 || strncmp(cmd, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n", (size_t)len) != 0)
        return 1;
    redisFreeCommand(cmd);

    redisReader *reader = redisReaderCreate();
    void *reply = NULL;
    if (reader == NULL || redisReaderFeed(reader, "+OK\r\n", 5) != REDIS_OK ||
        redisReaderGetReply(reader, &reply) != REDIS_OK || reply == NULL ||
        ((redisReply *)reply)->type != REDIS_REPLY_STATUS)
        return 1;
    freeReplyObject(reply);
    redisReaderFree(reader);

#ifdef HIREDIS_REDCORE
    printf("hiredis %d.%d.%d on redcore\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
#else
    printf("hiredis %d.%d.%d, not redcore's headers\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
#endif
    return 0;
}
