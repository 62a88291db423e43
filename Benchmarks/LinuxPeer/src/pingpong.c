/*
 * pingpong: the cost of one thread-to-thread switch, through the kernel's scheduler.
 *
 * Two threads take turns through a pair of POSIX semaphores (glibc implements sem_post/sem_wait with
 * futexes: a waiter sleeps in FUTEX_WAIT, a post that finds a waiter issues FUTEX_WAKE). The main thread
 * posts "ping" and waits for "pong"; the partner waits for "ping" and posts "pong". One round trip is two
 * one-way hand-offs. By default both threads are pinned to the CPU the program starts on, so every
 * hand-off is a real context switch (on a one-CPU guest they are anyway).
 *
 * Result: BENCH context_switch_ns <median ns per one-way hand-off> ns
 * (median over the batches; each batch is -n round trips; a warm-up precedes them).
 *
 * Usage: pingpong [-n ROUNDS] [-b BATCHES] [-w WARMUP] [-u]
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <unistd.h>

static sem_t ping, pong;

static void wait_on(sem_t *s)
{
    while (sem_wait(s) != 0) {
        if (errno != EINTR)
            bench_fail("sem_wait");
    }
}

static void post_to(sem_t *s)
{
    if (sem_post(s) != 0)
        bench_fail("sem_post");
}

/* The partner answers every ping with a pong, `arg` times. */
static void *partner(void *arg)
{
    long long total = *(const long long *)arg;
    for (long long i = 0; i < total; i++) {
        wait_on(&ping);
        post_to(&pong);
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: pingpong [-n ROUNDS] [-b BATCHES] [-w WARMUP] [-u]\n"
                    "  -n  round trips per batch (default 20000)\n"
                    "  -b  batches; the median is reported (default 7)\n"
                    "  -w  warm-up round trips before the first batch (default 2000)\n"
                    "  -u  do not pin both threads to one CPU\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long long rounds = 20000, batches = 7, warmup = 2000;
    int pin = 1, c;
    while ((c = getopt(argc, argv, "n:b:w:uh")) != -1) {
        switch (c) {
        case 'n': rounds = bench_size_option('n', optarg, 1, 1000000000); break;
        case 'b': batches = bench_size_option('b', optarg, 1, 1000); break;
        case 'w': warmup = bench_size_option('w', optarg, 0, 1000000000); break;
        case 'u': pin = 0; break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();

    int cpu = sched_getcpu();
    if (pin && cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        /* The partner thread inherits this affinity. */
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            bench_fail("sched_setaffinity");
    }
    if (sem_init(&ping, 0, 0) != 0 || sem_init(&pong, 0, 0) != 0)
        bench_fail("sem_init");

    long long total = warmup + rounds * batches;
    pthread_t thread;
    int err = pthread_create(&thread, NULL, partner, &total);
    if (err) {
        errno = err;
        bench_fail("pthread_create");
    }
    for (long long i = 0; i < warmup; i++) {
        post_to(&ping);
        wait_on(&pong);
    }
    double *per_switch = calloc((size_t)batches, sizeof(double));
    if (!per_switch)
        bench_fail("calloc");
    for (long long b = 0; b < batches; b++) {
        uint64_t start = bench_now_ns();
        for (long long i = 0; i < rounds; i++) {
            post_to(&ping);
            wait_on(&pong);
        }
        uint64_t elapsed = bench_now_ns() - start;
        per_switch[b] = (double)elapsed / (2.0 * (double)rounds);
    }
    pthread_join(thread, NULL);

    printf("# pingpong: POSIX semaphores (futex), %lld round trips x %lld batches, %s, %ld CPUs online\n",
           rounds, batches, pin ? "both threads pinned to one CPU" : "unpinned", sysconf(_SC_NPROCESSORS_ONLN));
    bench_report_batches("context_switch_ns", per_switch, (int)batches, 0, "ns");
    free(per_switch);
    return 0;
}
