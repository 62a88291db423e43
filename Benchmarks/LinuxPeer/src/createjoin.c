/*
 * createjoin: the cost of starting a thread that does nothing and waiting for it to end.
 *
 * Each iteration is pthread_create (default attributes: glibc reuses the stack of a joined thread
 * from its cache, so this is not an mmap per thread after the first) followed at once by pthread_join.
 *
 * Result: BENCH thread_create_join_ns <median ns per create+join> ns
 * (median over the batches; each batch is -n iterations; a warm-up precedes them).
 *
 * Usage: createjoin [-n ITERATIONS] [-b BATCHES] [-w WARMUP]
 */
#include "bench.h"

#include <pthread.h>
#include <unistd.h>

static void *nothing(void *arg)
{
    return arg;
}

static void create_and_join(void)
{
    pthread_t thread;
    int err = pthread_create(&thread, NULL, nothing, NULL);
    if (err) {
        errno = err;
        bench_fail("pthread_create");
    }
    err = pthread_join(thread, NULL);
    if (err) {
        errno = err;
        bench_fail("pthread_join");
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: createjoin [-n ITERATIONS] [-b BATCHES] [-w WARMUP]\n"
                    "  -n  create+join pairs per batch (default 2000)\n"
                    "  -b  batches; the median is reported (default 7)\n"
                    "  -w  warm-up pairs before the first batch (default 200)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long long iterations = 2000, batches = 7, warmup = 200;
    int c;
    while ((c = getopt(argc, argv, "n:b:w:h")) != -1) {
        switch (c) {
        case 'n': iterations = bench_size_option('n', optarg, 1, 1000000000); break;
        case 'b': batches = bench_size_option('b', optarg, 1, 1000); break;
        case 'w': warmup = bench_size_option('w', optarg, 0, 1000000000); break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();

    for (long long i = 0; i < warmup; i++)
        create_and_join();
    double *per_pair = calloc((size_t)batches, sizeof(double));
    if (!per_pair)
        bench_fail("calloc");
    for (long long b = 0; b < batches; b++) {
        uint64_t start = bench_now_ns();
        for (long long i = 0; i < iterations; i++)
            create_and_join();
        per_pair[b] = (double)(bench_now_ns() - start) / (double)iterations;
    }
    printf("# createjoin: pthread_create+pthread_join of an empty thread, %lld x %lld batches, %ld CPUs online\n",
           iterations, batches, sysconf(_SC_NPROCESSORS_ONLN));
    bench_report_batches("thread_create_join_ns", per_pair, (int)batches, 0, "ns");
    free(per_pair);
    return 0;
}
