/* What the C parser benchmarks share (parse_hiredis.c, parse_redcore.c): the command line,
 * the file, the timed passes and the JSON line, so that both readers are measured the same way.
 *
 *   parse-X FILE WORKLOAD MIN_SECONDS [CHUNK]      prints one JSON object on stdout
 *
 * One warm-up pass, then passes until MIN_SECONDS have gone by (at least one); then one more
 * pass with the reader's heap calls counted, so that counting does not slow the timed passes.
 * Each pass feeds the file in reads of CHUNK bytes (default 64 KiB). The checksum is computed
 * the same way by every parser benchmark (benches/parser.rs too), to prove they all read the
 * same values. */
#ifndef PARSE_BENCH_H
#define PARSE_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tally {
    uint64_t replies, leaves, checksum;
} tally;

/* One pass over the buffer, fed in reads of `chunk` bytes: each reply walked into `t`, then
 * freed. Returns 0, or -1 after printing why. */
typedef int (*parse_pass)(const char *buf, size_t len, size_t chunk, tally *t);

/* Switches the counting of the reader's heap calls on or off, and reads the counts. */
typedef struct heap_counter {
    void (*set)(bool on);
    uint64_t *allocs, *reallocs;
} heap_counter;

/* The whole program: returns its exit status. */
int parse_bench_main(const char *parser, int argc, char **argv, parse_pass pass,
                     heap_counter counter);

#endif
