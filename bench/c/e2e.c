/* The end-to-end driver shared by every C client under test (see e2e.h).
 *
 *   e2e-<client> --port P --mode MODE [options]     prints one JSON object on stdout
 *
 * Modes (every one checks each reply's shape and exits 1 if any is wrong):
 *   seq       one caller, --n blocking calls of --op (set|get) with --size byte values
 *   pipeline  one caller, --n commands sent in explicit pipelines of --depth
 *   window    one caller, --n commands with callbacks, --depth in flight (async clients)
 *   chains    --depth independent chains on one connection, --n commands in all: each
 *             completion issues its chain's next command (async clients). --op mix: the
 *             80/20 GET/SET of `mix` over --keys filled beforehand; --op get|set: the keys
 *             of `seq`, chain c taking commands c, c + depth, ...
 *   mix       --threads callers, --n blocking calls in all, 80% GET / 20% SET on random keys
 *             among --keys (filled beforehand with `fill`), with per-call latency
 *   fill      sets keys 0..--keys with --size byte values, in pipelines
 *   soak      --threads callers running `mix` (and a callback window when the client has
 *             one) for --seconds, sampling the process's RSS every second
 *   calls     --threads callers, --n blocking calls of --op in all, on random keys among --keys
 *   pipelines --threads callers, --n commands of --op in all, each caller sending pipelines of
 *             --depth one after another; `--span nodes` (default) draws every key at random,
 *             `--span slot` gives each pipeline the keys of one group (see --grouped)
 *
 * --tls --tls-ca FILE: connect with TLS, trusting the CA in FILE (PEM); every mode works.
 * --url URL: a URL instead of --host/--port (`redis+cluster://h:p,...` for a cluster).
 * --grouped: key i is named "{g}:i" with g = i / 128 (128 consecutive keys share a hash
 *   slot, and the groups spread over all slots); --keys must be a multiple of 128. The cluster
 *   runs use it, for fill and measure alike, and so does benches/redis_rs.rs --conn cluster.
 *
 * Latencies (p50 and up) are per call, and per pipeline round trip in `pipelines`.
 *
 * Throughput is ops / wall time between a barrier that releases every caller and the last
 * caller's end; CPU is the whole process's user + sys time (getrusage) over the same span,
 * so a client's own threads (event loops) are counted. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"

typedef struct args {
    const char *mode;
    const char *op;
    size_t size;
    long n;
    int depth;
    int threads;
    long keys;
    int seconds;
    int grouped;   /* --grouped */
    int span_slot; /* --span slot */
    e2e_opts opts;
} args;

static args A;
static char VALUE[1 << 20];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void die(const char *what) {
    fprintf(stderr, "e2e-%s: %s\n", backend_name(), what);
    exit(2);
}

/* ---- commands ------------------------------------------------------------------------ */

/* Keys of a group share a hash tag (--grouped). */
enum { GROUP = 128 };

/* How command i picks its key (and its op, for PICK_MIX). */
enum pick {
    PICK_SEQ,    /* `set` on key i % keys */
    PICK_MIX,    /* 80/20 GET/SET on random keys */
    PICK_RANDOM, /* `set` on random keys */
    PICK_GROUP,  /* `set` on the keys of a random group, drawn anew every `depth` commands */
};

typedef struct gen_ctx {
    const char *prefix; /* of the keys: one key space per value size */
    int set;            /* SET or GET */
    long keys;   /* key space */
    size_t size; /* value size */
    uint64_t rng;
    int pick;    /* enum pick */
    int depth;   /* PICK_GROUP: commands per group (at most GROUP) */
    long group;  /* PICK_GROUP: the current one */
} gen_ctx;

static uint64_t next_rand(uint64_t *s) {
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Writes `v` in decimal with at least `width` digits (zero-padded) at `p`; returns the end.
 * Grouped keys are written with this rather than snprintf, which costs about 1,200
 * instructions for the two numbers of such a key: the client under test would be charged
 * for it, and the cluster runs' ceiling, redis-benchmark, formats nothing. */
static char *put_decimal(char *p, long v, int width) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (n < width) digits[n++] = '0';
    while (n > 0) *p++ = digits[--n];
    return p;
}

static void make_cmd(const char *prefix, int set, long key, size_t size, e2e_cmd *cmd,
                     char *keybuf) {
    int klen;
    if (A.grouped) {
        char *p = keybuf;
        *p++ = '{';
        p = put_decimal(p, key / GROUP, 1);
        *p++ = '}';
        *p++ = ':';
        p = put_decimal(p, key, 7);
        klen = (int)(p - keybuf);
    } else {
        klen = snprintf(keybuf, 32, "%s:%07ld", prefix, key);
    }
    cmd->argv[1] = keybuf;
    cmd->lens[1] = (size_t)klen;
    if (set) {
        cmd->argc = 3;
        cmd->argv[0] = "SET";
        cmd->lens[0] = 3;
        cmd->argv[2] = VALUE;
        cmd->lens[2] = size;
    } else {
        cmd->argc = 2;
        cmd->argv[0] = "GET";
        cmd->lens[0] = 3;
    }
}

static void gen(void *p, long i, e2e_cmd *cmd, char *keybuf) {
    gen_ctx *g = p;
    uint64_t r;
    switch (g->pick) {
    case PICK_MIX:
        r = next_rand(&g->rng);
        make_cmd(g->prefix, r % 10 < 2, (long)((r >> 8) % (uint64_t)g->keys), g->size, cmd,
                 keybuf);
        break;
    case PICK_RANDOM:
        r = next_rand(&g->rng);
        make_cmd(g->prefix, g->set, (long)((r >> 8) % (uint64_t)g->keys), g->size, cmd, keybuf);
        break;
    case PICK_GROUP:
        if (i % g->depth == 0)
            g->group = (long)((next_rand(&g->rng) >> 8) % (uint64_t)(g->keys / GROUP));
        make_cmd(g->prefix, g->set, g->group * GROUP + i % g->depth, g->size, cmd, keybuf);
        break;
    default:
        make_cmd(g->prefix, g->set, i % g->keys, g->size, cmd, keybuf);
    }
}

/* Whether a reply is what the command returns here: OK for SET, the value for GET (every
 * key was set beforehand with a value of `size` bytes). */
static int reply_ok(const e2e_cmd *cmd, const e2e_reply *r, size_t size) {
    if (cmd->argc == 3) return r->kind == E2E_STATUS && r->len == 2;
    return r->kind == E2E_BULK && r->len == size;
}

/* ---- latency records ------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

typedef struct lat {
    double p50, p99, p999, max;
} lat;

static lat percentiles(uint32_t *ns, size_t n) {
    lat l = {0, 0, 0, 0};
    if (n == 0) return l;
    qsort(ns, n, sizeof *ns, cmp_u32);
    l.p50 = ns[(size_t)((double)(n - 1) * 0.50)] / 1e3;
    l.p99 = ns[(size_t)((double)(n - 1) * 0.99)] / 1e3;
    l.p999 = ns[(size_t)((double)(n - 1) * 0.999)] / 1e3;
    l.max = ns[n - 1] / 1e3;
    return l;
}

static uint32_t clamp_ns(uint64_t d) { return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d; }

/* ---- callers ---------------------------------------------------------------------------- */

typedef struct caller {
    pthread_t thread;
    int index;
    e2e_conn *conn;
    long ops;
    uint32_t *lat; /* one per call or pipeline, when recorded */
    long nlat;
    long bad;
    long failed;
    volatile int *stop; /* soak: run until set */
    long done;
} caller;

static pthread_barrier_t START;

/* Blocking calls made by `gen` from `g`, `c->ops` of them (or until *stop). */
static void run_calls(caller *c, gen_ctx *g) {
    char keybuf[32];
    e2e_cmd cmd;
    e2e_reply r;
    for (long i = 0; c->stop ? !*c->stop : i < c->ops; i++) {
        gen(g, i, &cmd, keybuf);
        uint64_t t0 = c->lat ? now_ns() : 0;
        if (backend_call(c->conn, &cmd, &r) != 0) {
            c->failed++;
            continue;
        }
        if (c->lat) c->lat[c->nlat++] = clamp_ns(now_ns() - t0);
        if (!reply_ok(&cmd, &r, g->size)) c->bad++;
        c->done++;
    }
}

/* `total` commands made by `g` in pipelines of `depth`, one after another. */
static void run_pipelines(caller *c, gen_ctx *g, long total, int depth) {
    char(*keybufs)[32] = malloc((size_t)depth * 32);
    e2e_cmd *cmds = malloc((size_t)depth * sizeof *cmds);
    e2e_reply *replies = malloc((size_t)depth * sizeof *replies);
    if (!keybufs || !cmds || !replies) die("out of memory");
    for (long done = 0; done < total; done += depth) {
        int n = (int)(total - done < depth ? total - done : depth);
        for (int j = 0; j < n; j++) gen(g, done + j, &cmds[j], keybufs[j]);
        uint64_t t0 = c->lat ? now_ns() : 0;
        if (backend_pipeline(c->conn, n, cmds, replies) != 0) {
            c->failed++;
            continue;
        }
        if (c->lat) c->lat[c->nlat++] = clamp_ns(now_ns() - t0);
        for (int j = 0; j < n; j++) c->bad += !reply_ok(&cmds[j], &replies[j], g->size);
        c->done += n;
    }
    free(keybufs);
    free(cmds);
    free(replies);
}

/* One caller of the threaded modes: mix and soak (80/20 GET/SET), calls, pipelines. */
static void *caller_thread(void *p) {
    caller *c = p;
    int pipelines = strcmp(A.mode, "pipelines") == 0;
    gen_ctx g = {"key", strcmp(A.op, "set") == 0, A.keys, A.size,
                 0x9E3779B97F4A7C15ULL * (uint64_t)(c->index + 1), PICK_MIX, A.depth, 0};
    if (strcmp(A.mode, "calls") == 0) g.pick = PICK_RANDOM;
    if (pipelines) g.pick = A.span_slot ? PICK_GROUP : PICK_RANDOM;
    /* A short warm-up on the caller's own connection, outside the measured span. */
    caller warm = *c;
    warm.ops = 100;
    warm.lat = NULL;
    warm.stop = NULL;
    if (pipelines)
        run_pipelines(&warm, &g, 4L * A.depth, A.depth);
    else
        run_calls(&warm, &g);
    c->bad += warm.bad;
    c->failed += warm.failed;
    pthread_barrier_wait(&START);
    if (pipelines)
        run_pipelines(c, &g, c->ops, A.depth);
    else
        run_calls(c, &g);
    return NULL;
}

/* Sets keys [0, keys) of `prefix` to `size` bytes, in pipelines of 256 (not measured). */
static void fill(e2e_conn *conn, const char *prefix, long keys, size_t size) {
    enum { BATCH = 256 };
    static char keybufs[BATCH][32];
    e2e_cmd cmds[BATCH];
    e2e_reply replies[BATCH];
    for (long base = 0; base < keys; base += BATCH) {
        int n = (int)(keys - base < BATCH ? keys - base : BATCH);
        for (int j = 0; j < n; j++) make_cmd(prefix, 1, base + j, size, &cmds[j], keybufs[j]);
        if (backend_pipeline(conn, n, cmds, replies) != 0) die("fill: pipeline failed");
        for (int j = 0; j < n; j++)
            if (!reply_ok(&cmds[j], &replies[j], size)) die("fill: unexpected reply");
    }
}

/* ---- output ----------------------------------------------------------------------------- */

static void print_result(long ops, double secs, double cpu, const lat *l, long bad, long failed) {
    printf("{\"client\":\"%s\",\"mode\":\"%s\",\"op\":\"%s\",\"size\":%zu,\"threads\":%d,"
           "\"depth\":%d,\"connections\":%d,\"ops\":%ld,\"secs\":%.6f,\"ops_per_sec\":%.1f,"
           "\"cpu_s\":%.6f,\"cpu_us_per_op\":%.4f",
           backend_name(), A.mode, A.op, A.size, A.threads, A.depth,
           backend_connections(A.threads), ops, secs, ops / secs, cpu,
           ops > 0 ? cpu * 1e6 / (double)ops : 0.0);
    if (l != NULL)
        printf(",\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f", l->p50,
               l->p99, l->p999, l->max);
    printf(",\"bad_replies\":%ld,\"failed_calls\":%ld}\n", bad, failed);
}

/* ---- modes ------------------------------------------------------------------------------ */

static int mode_single(e2e_conn *conn) {
    int set = strcmp(A.op, "set") == 0;
    long keys = A.keys;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "s%zu", A.size);
    if (!set) fill(conn, prefix, keys, A.size);
    gen_ctx g = {prefix, set, keys, A.size, 1, PICK_SEQ, A.depth, 0};
    int expect = set ? E2E_STATUS : E2E_BULK;
    long warm = A.n / 10 < 1000 ? A.n / 10 : 1000;
    long bad = 0;
    lat l;
    double t0, c0, t1, c1;

    if (strcmp(A.mode, "seq") == 0) {
        caller c = {0};
        c.conn = conn;
        c.ops = warm;
        run_calls(&c, &g);
        c.ops = A.n;
        c.done = 0;
        c.lat = malloc((size_t)A.n * sizeof *c.lat);
        if (c.lat == NULL) die("out of memory");
        t0 = now_s();
        c0 = cpu_s();
        run_calls(&c, &g);
        c1 = cpu_s();
        t1 = now_s();
        l = percentiles(c.lat, (size_t)c.nlat);
        free(c.lat);
        print_result(c.done, t1 - t0, c1 - c0, &l, c.bad, c.failed);
        return c.bad || c.failed;
    }
    if (strcmp(A.mode, "window") == 0) {
        int rc = backend_window(conn, warm, A.depth, gen, &g, expect, &bad);
        if (rc == -2) die("this client has no callback API");
        t0 = now_s();
        c0 = cpu_s();
        rc |= backend_window(conn, A.n, A.depth, gen, &g, expect, &bad);
        c1 = cpu_s();
        t1 = now_s();
        print_result(A.n, t1 - t0, c1 - c0, NULL, bad, rc != 0);
        return bad || rc;
    }
    /* pipeline */
    caller c = {0};
    c.conn = conn;
    run_pipelines(&c, &g, warm, A.depth);
    c.done = 0;
    t0 = now_s();
    c0 = cpu_s();
    run_pipelines(&c, &g, A.n, A.depth);
    c1 = cpu_s();
    t1 = now_s();
    print_result(c.done, t1 - t0, c1 - c0, NULL, c.bad, c.failed);
    return c.bad || c.failed;
}

/* ---- chains ----------------------------------------------------------------------------- */

struct e2e_chain {
    gen_ctx g;
    long next;   /* index of its next command */
    long stride; /* chains in the run */
    long left;   /* commands still to issue in this pass */
    e2e_cmd cmd; /* the one in flight */
    char keybuf[32];
    uint64_t t0;   /* when it was issued */
    uint32_t *lat; /* this chain's part of the run's latency records */
    long nlat;
    long done;
    long bad;
};

/* Called by a backend from its completions; touches only this chain, whose steps follow
 * one another (each is issued from the one before), so it needs no lock. */
const e2e_cmd *e2e_chain_step(e2e_chain *c, const e2e_reply *reply) {
    /* One clock read per step: a reply's arrival is its successor's start. */
    uint64_t t = c->lat ? now_ns() : 0;
    if (reply != NULL) {
        if (c->lat) c->lat[c->nlat++] = clamp_ns(t - c->t0);
        c->bad += !reply_ok(&c->cmd, reply, c->g.size);
        c->done++;
    }
    if (c->left == 0) return NULL;
    c->left--;
    gen(&c->g, c->next, &c->cmd, c->keybuf);
    c->next += c->stride;
    c->t0 = t;
    return &c->cmd;
}

/* One pass of `total` commands shared out over the chains; latencies go to `lat` (room for
 * `total`) when it is given. Returns the backend's result. */
static int chains_pass(e2e_conn *conn, int n, e2e_chain *chains, e2e_chain **ptrs, long total,
                       uint32_t *lat) {
    long off = 0;
    for (int c = 0; c < n; c++) {
        chains[c].left = total / n + (c < total % n);
        chains[c].lat = lat ? lat + off : NULL;
        chains[c].nlat = 0;
        off += chains[c].left;
    }
    return backend_chains(conn, n, ptrs);
}

static int mode_chains(e2e_conn *conn) {
    int mix = strcmp(A.op, "mix") == 0, set = strcmp(A.op, "set") == 0;
    int n = A.depth;
    char prefix[32];
    if (mix) {
        snprintf(prefix, sizeof prefix, "key");
    } else {
        snprintf(prefix, sizeof prefix, "s%zu", A.size);
        if (!set) fill(conn, prefix, A.keys, A.size);
    }
    e2e_chain *chains = calloc((size_t)n, sizeof *chains);
    e2e_chain **ptrs = calloc((size_t)n, sizeof *ptrs);
    uint32_t *records = malloc((size_t)A.n * sizeof *records);
    if (chains == NULL || ptrs == NULL || records == NULL) die("out of memory");
    for (int c = 0; c < n; c++) {
        gen_ctx g = {prefix, set, A.keys, A.size, 0x9E3779B97F4A7C15ULL * (uint64_t)(c + 1),
                     mix ? PICK_MIX : PICK_SEQ, 1, 0};
        chains[c].g = g;
        chains[c].next = c;
        chains[c].stride = n;
        ptrs[c] = &chains[c];
    }
    /* Warm-up: a tenth of the run, at least one command per chain. */
    int rc = chains_pass(conn, n, chains, ptrs, A.n / 10 < n ? n : A.n / 10, NULL);
    if (rc == -2) die("this client has no callback API");
    long bad = 0, done = 0;
    for (int c = 0; c < n; c++) {
        bad += chains[c].bad;
        chains[c].bad = chains[c].done = 0;
    }
    double t0 = now_s(), c0 = cpu_s();
    rc |= chains_pass(conn, n, chains, ptrs, A.n, records);
    double c1 = cpu_s(), t1 = now_s();
    size_t m = 0;
    for (int c = 0; c < n; c++) { /* the records, packed */
        memmove(records + m, chains[c].lat, (size_t)chains[c].nlat * sizeof *records);
        m += (size_t)chains[c].nlat;
        bad += chains[c].bad;
        done += chains[c].done;
    }
    lat l = percentiles(records, m);
    print_result(done, t1 - t0, c1 - c0, &l, bad, rc != 0 || done != A.n);
    free(records);
    free(ptrs);
    free(chains);
    return bad || rc || done != A.n;
}

typedef struct window_loop {
    e2e_conn *conn;
    volatile int *stop;
    long done;
    long bad;
} window_loop;

static void *window_thread(void *p) {
    window_loop *w = p;
    gen_ctx g = {"key", 0, A.keys, A.size, 42, PICK_MIX, 1, 0};
    while (!*w->stop) {
        long bad = 0;
        /* GETs and SETs mixed: any reply but an error will do. */
        if (backend_window(w->conn, 10000, 64, gen, &g, 0, &bad) != 0) break;
        w->done += 10000;
        w->bad += bad;
    }
    return NULL;
}

static int mode_threads(void) {
    int soak = strcmp(A.mode, "soak") == 0;
    int t = A.threads;
    caller *callers = calloc((size_t)t, sizeof *callers);
    volatile int stop = 0;
    if (callers == NULL) die("out of memory");
    for (int i = 0; i < t; i++) {
        callers[i].index = i;
        callers[i].conn = backend_connect(&A.opts);
        if (callers[i].conn == NULL) die("cannot connect");
        if (soak) {
            callers[i].stop = &stop;
        } else {
            callers[i].ops = A.n / t + (i < A.n % t);
            callers[i].lat = malloc((size_t)(callers[i].ops + 1) * sizeof(uint32_t));
            if (callers[i].lat == NULL) die("out of memory");
        }
    }
    pthread_barrier_init(&START, NULL, (unsigned)t + 1);
    for (int i = 0; i < t; i++)
        if (pthread_create(&callers[i].thread, NULL, caller_thread, &callers[i]) != 0)
            die("pthread_create");
    pthread_barrier_wait(&START);
    double t0 = now_s(), c0 = cpu_s();
    long bad = 0, failed = 0, ops = 0;

    if (soak) {
        window_loop w = {callers[0].conn, &stop, 0, 0};
        pthread_t wt;
        int windowed = A.threads > 0 && pthread_create(&wt, NULL, window_thread, &w) == 0;
        long *rss = calloc((size_t)A.seconds + 1, sizeof *rss);
        if (rss == NULL) die("out of memory");
        rss[0] = rss_kib();
        for (int s = 1; s <= A.seconds; s++) {
            sleep(1);
            rss[s] = rss_kib();
        }
        stop = 1;
        for (int i = 0; i < t; i++) pthread_join(callers[i].thread, NULL);
        if (windowed) pthread_join(wt, NULL);
        double t1 = now_s(), c1 = cpu_s();
        for (int i = 0; i < t; i++) {
            ops += callers[i].done;
            bad += callers[i].bad;
            failed += callers[i].failed;
        }
        ops += w.done;
        bad += w.bad;
        printf("{\"client\":\"%s\",\"mode\":\"soak\",\"threads\":%d,\"seconds\":%d,"
               "\"ops\":%ld,\"ops_per_sec\":%.1f,\"cpu_us_per_op\":%.4f,\"rss_kib\":[",
               backend_name(), t, A.seconds, ops, ops / (t1 - t0),
               ops ? (c1 - c0) * 1e6 / (double)ops : 0.0);
        for (int s = 0; s <= A.seconds; s++) printf("%s%ld", s ? "," : "", rss[s]);
        printf("],\"bad_replies\":%ld,\"failed_calls\":%ld}\n", bad, failed);
        free(rss);
    } else {
        for (int i = 0; i < t; i++) pthread_join(callers[i].thread, NULL);
        double t1 = now_s(), c1 = cpu_s();
        uint32_t *all = malloc((size_t)(A.n + 1) * sizeof *all);
        size_t m = 0;
        if (all == NULL) die("out of memory");
        for (int i = 0; i < t; i++) {
            memcpy(all + m, callers[i].lat, (size_t)callers[i].nlat * sizeof *all);
            m += (size_t)callers[i].nlat;
            ops += callers[i].done;
            bad += callers[i].bad;
            failed += callers[i].failed;
        }
        lat l = percentiles(all, m);
        print_result(ops, t1 - t0, c1 - c0, &l, bad, failed);
        free(all);
    }
    for (int i = 0; i < t; i++) {
        backend_disconnect(callers[i].conn);
        free(callers[i].lat);
    }
    free(callers);
    return bad || failed;
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: e2e-%s (--port P [--host H] | --url URL)\n"
            "       --mode seq|pipeline|window|chains|mix|fill|soak|calls|pipelines\n"
            "       [--op set|get|mix] [--size BYTES] [--n OPS] [--depth D] [--threads T]\n"
            "       [--keys K] [--seconds S] [--tls --tls-ca FILE] [--grouped]\n"
            "       [--span nodes|slot]\n",
            backend_name());
    exit(2);
}

int main(int argc, char **argv) {
    A.mode = "seq";
    A.op = "get";
    A.size = 3;
    A.n = 10000;
    A.depth = 1;
    A.threads = 1;
    A.keys = 1000;
    A.seconds = 10;
    A.opts.host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--tls") == 0) {
            A.opts.tls = 1;
            continue;
        }
        if (strcmp(a, "--grouped") == 0) {
            A.grouped = 1;
            continue;
        }
        if (v == NULL) usage();
        i++;
        if (strcmp(a, "--host") == 0) A.opts.host = v;
        else if (strcmp(a, "--port") == 0) A.opts.port = atoi(v);
        else if (strcmp(a, "--mode") == 0) A.mode = v;
        else if (strcmp(a, "--op") == 0) A.op = v;
        else if (strcmp(a, "--size") == 0) A.size = (size_t)atol(v);
        else if (strcmp(a, "--n") == 0) A.n = atol(v);
        else if (strcmp(a, "--depth") == 0) A.depth = atoi(v);
        else if (strcmp(a, "--threads") == 0) A.threads = atoi(v);
        else if (strcmp(a, "--keys") == 0) A.keys = atol(v);
        else if (strcmp(a, "--seconds") == 0) A.seconds = atoi(v);
        else if (strcmp(a, "--tls-ca") == 0) A.opts.tls_ca = v;
        else if (strcmp(a, "--url") == 0) A.opts.url = v;
        else if (strcmp(a, "--span") == 0 && strcmp(v, "nodes") == 0) A.span_slot = 0;
        else if (strcmp(a, "--span") == 0 && strcmp(v, "slot") == 0) A.span_slot = 1;
        else usage();
    }
    if ((A.opts.port <= 0 && A.opts.url == NULL) || A.n <= 0 || A.depth <= 0 ||
        A.threads <= 0 || A.keys <= 0 || A.size >= sizeof VALUE || A.seconds <= 0 ||
        (A.opts.tls && A.opts.tls_ca == NULL) || (A.grouped && (A.keys % GROUP != 0 || A.keys > 100000000)) ||
        (A.span_slot && (!A.grouped || A.depth > GROUP)))
        usage();
    memset(VALUE, 'v', sizeof VALUE);
    int mixed = strcmp(A.mode, "mix") == 0 || strcmp(A.mode, "soak") == 0;
    int threaded =
        mixed || strcmp(A.mode, "calls") == 0 || strcmp(A.mode, "pipelines") == 0;
    A.opts.callers = threaded ? A.threads : 1;
    if (!threaded) A.threads = 1;
    if (strcmp(A.mode, "fill") == 0) A.op = "set";
    if (strcmp(A.op, "set") != 0 && strcmp(A.op, "get") != 0 &&
        (strcmp(A.op, "mix") != 0 || strcmp(A.mode, "chains") != 0) && !mixed)
        usage();
    if (mixed) A.op = "mix";

    char err[256] = "";
    if (backend_init(&A.opts, err, sizeof err) != 0) die(err);
    int rc;
    if (threaded) {
        rc = mode_threads();
    } else {
        e2e_conn *conn = backend_connect(&A.opts);
        if (conn == NULL) die("cannot connect");
        if (strcmp(A.mode, "fill") == 0) {
            double t0 = now_s();
            fill(conn, "key", A.keys, A.size);
            printf("{\"client\":\"%s\",\"mode\":\"fill\",\"keys\":%ld,\"secs\":%.3f}\n",
                   backend_name(), A.keys, now_s() - t0);
            rc = 0;
        } else if (strcmp(A.mode, "seq") == 0 || strcmp(A.mode, "pipeline") == 0 ||
                   strcmp(A.mode, "window") == 0) {
            rc = mode_single(conn);
        } else if (strcmp(A.mode, "chains") == 0) {
            rc = mode_chains(conn);
        } else {
            usage();
            rc = 2;
        }
        backend_disconnect(conn);
    }
    backend_shutdown();
    fflush(stdout);
    return rc ? 1 : 0;
}
