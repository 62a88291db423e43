/*
 * bench.h: small helpers shared by the Linux-peer benchmark programs.
 *
 * Every program prints its results as lines of the form
 *
 *     BENCH <name> <value> <unit>
 *
 * on standard output (one result per line, flushed at once), so a harness can grep them from a serial
 * console. Any other line is commentary for people; parsers ignore it. Lines starting with "# " carry
 * details such as the minimum and maximum of the batches.
 *
 * Time is read with clock_gettime(CLOCK_MONOTONIC) only.
 */
#ifndef LINUX_PEER_BENCH_H
#define LINUX_PEER_BENCH_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Nanoseconds on the monotonic clock. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) in place and returns its median (the mean of the two middle values when n is even). */
static inline double bench_median(double *v, int n)
{
    if (n <= 0)
        return 0;
    qsort(v, (size_t)n, sizeof v[0], bench_compare_doubles);
    return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints one machine-readable result line. */
static inline void bench_report(const char *name, double value, int decimals, const char *unit)
{
    printf("BENCH %s %.*f %s\n", name, decimals, value, unit);
    fflush(stdout);
}

/* Prints the median (as a BENCH line) and a "# " line with the batch count, minimum and maximum.
 * Sorts v. */
static inline void bench_report_batches(const char *name, double *v, int n, int decimals, const char *unit)
{
    double median = bench_median(v, n);
    bench_report(name, median, decimals, unit);
    printf("# %s: median of %d batches, min %.*f max %.*f %s\n", name, n, decimals, v[0], decimals,
           v[n - 1], unit);
    fflush(stdout);
}

/* Stops the program with a message on standard error and exit status 1. */
static inline void bench_fail(const char *what)
{
    fprintf(stderr, "error: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* Parses a non-negative count or byte size: decimal digits with an optional suffix
 * k/K (2^10), m/M (2^20) or g/G (2^30). Returns -1 for anything else (or on overflow). */
static inline long long bench_parse_size(const char *text)
{
    char *end = NULL;
    errno = 0;
    if (text == NULL || *text < '0' || *text > '9')
        return -1;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v > (0x7fffffffffffffffull >> shift))
        return -1;
    return (long long)(v << shift);
}

/* Parses option text as a size in [min, max]; exits with a usage message otherwise. */
static inline long long bench_size_option(char option, const char *text, long long min, long long max)
{
    long long v = bench_parse_size(text);
    if (v < min || v > max) {
        fprintf(stderr, "error: -%c expects a number from %lld to %lld (suffix k, m or g allowed), not '%s'\n",
                option, min, max, text ? text : "");
        exit(2);
    }
    return v;
}

#endif
