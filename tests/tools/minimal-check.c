/* The build without TLS (`make minimal`), as a program that links it statically sees it: the
 * README's quick start (SET and GET against REDCORE_TEST_URL), redcore_has_tls() false, then a
 * rediss:// client, which must fail with REDCORE_ERR_TLS saying that this build has no TLS.
 * `make test-minimal` links it with --gc-sections, strips it and checks its size. Exit status
 * 0 when all holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <redcore.h>

int main(void) {
    const char *url = getenv("REDCORE_TEST_URL");
    redcore_config *cfg = NULL;
    redcore_client *client = NULL;
    redcore_reply *reply = NULL;
    redcore_error *err = NULL;

    if (url == NULL || redcore_config_from_url(url, &cfg, &err) != REDCORE_OK ||
        redcore_client_new(cfg, &client, &err) != REDCORE_OK) {
        fprintf(stderr, "minimal-check: cannot connect: %s\n",
                url == NULL ? "no REDCORE_TEST_URL" : redcore_error_message(err));
        redcore_error_free(err);
        redcore_config_free(cfg);
        return 1;
    }
    redcore_config_free(cfg);
    cfg = NULL;

    const char *set[] = {"SET", "greeting", "hello"};
    const char *get[] = {"GET", "greeting"};
    int ok = redcore_client_command_blocking(client, 3, set, NULL, &reply, &err) == REDCORE_OK;
    redcore_reply_free(reply);
    reply = NULL;
    if (ok && redcore_client_command_blocking(client, 2, get, NULL, &reply, &err) == REDCORE_OK) {
        const char *got = redcore_reply_string(reply, NULL);
        ok = got != NULL && strcmp(got, "hello") == 0;
        redcore_reply_free(reply);
    } else {
        ok = 0;
    }
    redcore_client_free(client);
    client = NULL;
    if (!ok) {
        fprintf(stderr, "minimal-check: SET/GET failed: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    if (redcore_has_tls()) {
        fprintf(stderr, "minimal-check: redcore_has_tls() is true in the build without TLS\n");
        return 1;
    }

    /* TLS: refused with an error that says why. */
    if (redcore_config_from_url("rediss://127.0.0.1:6379", &cfg, &err) != REDCORE_OK) {
        fprintf(stderr, "minimal-check: rediss:// URL refused: %s\n", redcore_error_message(err));
        redcore_error_free(err);
        return 1;
    }
    int code = redcore_client_new(cfg, &client, &err);
    redcore_config_free(cfg);
    if (code != REDCORE_ERR_TLS || strstr(redcore_error_message(err), "has no TLS") == NULL) {
        fprintf(stderr, "minimal-check: a rediss:// client gave %s (%s), not the no-TLS error\n",
                redcore_error_code_name(code), err ? redcore_error_message(err) : "");
        redcore_error_free(err);
        redcore_client_free(client);
        return 1;
    }
    printf("minimal-check: SET/GET ok; rediss:// refused: %s\n", redcore_error_message(err));
    redcore_error_free(err);
    return 0;
}
