/*
 * blockio: sequential write and read throughput of a block device, bypassing the page cache.
 *
 * The device is opened with O_DIRECT, so every pwrite/pread becomes one request to the device driver
 * (here virtio-blk) with no page-cache copy or read-ahead; one request is in flight at a time (queue
 * depth 1). For each request size (default 4 KiB and 64 KiB) the program writes the first SPAN bytes of
 * the device in order, then reads them back in order, and repeats that REPEATS times.
 *
 * THE WRITE PASS OVERWRITES THE DEVICE. Use a scratch disk, or -m r for a read-only run.
 *
 * Results (median of the repeats, MB = 10^6 bytes, as dd prints):
 *   BENCH blockio_write_<size>k_MBps <value> MB/s
 *   BENCH blockio_read_<size>k_MBps <value> MB/s
 * Without -f the write pass ends when the last write has completed, not after a cache flush; with -f
 * it includes an fdatasync (a FLUSH request) at the end of each pass.
 *
 * Usage: blockio [-d DEVICE] [-s SPAN] [-b SIZE,SIZE...] [-r REPEATS] [-m rw|r|w] [-f]
 */
#include "bench.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIZES 8
#define ALIGNMENT 4096

static void usage(void)
{
    fprintf(stderr, "usage: blockio [-d DEVICE] [-s SPAN] [-b SIZE,SIZE...] [-r REPEATS] [-m rw|r|w] [-f]\n"
                    "  -d  block device (default /dev/vda); its contents are overwritten unless -m r\n"
                    "  -s  bytes covered by each pass (default 64m, at most the device size)\n"
                    "  -b  request sizes, multiples of 4k (default 4k,64k)\n"
                    "  -r  passes per size and direction; the median is reported (default 3)\n"
                    "  -m  rw (write then read, default), r (read only) or w (write only)\n"
                    "  -f  end every write pass with fdatasync (a device cache flush), inside the timing\n");
    exit(2);
}

/* One sequential pass over [0, span) in requests of `size` bytes; returns nanoseconds. */
static uint64_t pass(int fd, int writing, unsigned char *buffer, long long size, long long span, int flush)
{
    uint64_t start = bench_now_ns();
    for (long long offset = 0; offset < span; offset += size) {
        ssize_t done = writing ? pwrite(fd, buffer, (size_t)size, offset) : pread(fd, buffer, (size_t)size, offset);
        if (done != size) {
            if (done >= 0)
                errno = EIO;
            fprintf(stderr, "error: %s of %lld bytes at offset %lld returned %zd\n", writing ? "pwrite" : "pread",
                    size, offset, done);
            bench_fail(writing ? "pwrite" : "pread");
        }
    }
    if (writing && flush && fdatasync(fd) != 0)
        bench_fail("fdatasync");
    return bench_now_ns() - start;
}

int main(int argc, char **argv)
{
    const char *device = "/dev/vda";
    long long span = 64ll << 20, repeats = 3;
    long long sizes[MAX_SIZES] = {4096, 65536};
    int size_count = 2, do_read = 1, do_write = 1, flush = 0, c;

    while ((c = getopt(argc, argv, "d:s:b:r:m:fh")) != -1) {
        switch (c) {
        case 'd': device = optarg; break;
        case 's': span = bench_size_option('s', optarg, ALIGNMENT, 1ll << 50); break;
        case 'r': repeats = bench_size_option('r', optarg, 1, 1000); break;
        case 'f': flush = 1; break;
        case 'm':
            if (strcmp(optarg, "rw") == 0) { do_read = 1; do_write = 1; }
            else if (strcmp(optarg, "r") == 0) { do_read = 1; do_write = 0; }
            else if (strcmp(optarg, "w") == 0) { do_read = 0; do_write = 1; }
            else usage();
            break;
        case 'b': {
            size_count = 0;
            char *list = strdup(optarg);
            for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
                if (size_count == MAX_SIZES)
                    usage();
                long long s = bench_size_option('b', item, ALIGNMENT, 64ll << 20);
                if (s % ALIGNMENT) {
                    fprintf(stderr, "error: -b sizes must be multiples of 4096, not %lld\n", s);
                    exit(2);
                }
                sizes[size_count++] = s;
            }
            free(list);
            if (size_count == 0)
                usage();
            break;
        }
        default: usage();
        }
    }
    if (optind != argc)
        usage();

    int fd = open(device, (do_write ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0)
        bench_fail(device);
    unsigned long long capacity = 0;
    struct stat st;
    if (ioctl(fd, BLKGETSIZE64, &capacity) != 0) {
        if (fstat(fd, &st) != 0)
            bench_fail("fstat");
        capacity = (unsigned long long)st.st_size; /* a regular file (host runs) */
    }
    long long largest = 0;
    for (int i = 0; i < size_count; i++)
        if (sizes[i] > largest)
            largest = sizes[i];
    if ((unsigned long long)span > capacity)
        span = (long long)capacity;
    span -= span % largest; /* every pass covers the same bytes with whole requests */
    if (span <= 0) {
        fprintf(stderr, "error: %s holds %llu bytes, less than one %lld-byte request\n", device, capacity, largest);
        return 1;
    }

    unsigned char *buffer = NULL;
    if (posix_memalign((void **)&buffer, ALIGNMENT, (size_t)largest) != 0)
        bench_fail("posix_memalign");
    for (long long i = 0; i < largest; i++)
        buffer[i] = (unsigned char)(i * 131 + 7);

    printf("# blockio: %s (%llu bytes), O_DIRECT, queue depth 1, span %lld bytes, %lld passes per size%s\n",
           device, capacity, span, repeats, flush ? ", fdatasync ends each write pass" : "");
    double *rates = calloc((size_t)repeats, sizeof(double));
    if (!rates)
        bench_fail("calloc");
    for (int i = 0; i < size_count; i++) {
        char name[64];
        for (int direction = 0; direction < 2; direction++) {
            int writing = direction == 0;
            if ((writing && !do_write) || (!writing && !do_read))
                continue;
            for (long long r = 0; r < repeats; r++) {
                uint64_t ns = pass(fd, writing, buffer, sizes[i], span, flush);
                rates[r] = (double)span * 1000.0 / (double)ns; /* bytes per ns * 1000 = 10^6 bytes per s */
            }
            snprintf(name, sizeof name, "blockio_%s_%lldk_MBps", writing ? "write" : "read", sizes[i] / 1024);
            bench_report_batches(name, rates, (int)repeats, 1, "MB/s");
        }
    }
    free(rates);
    free(buffer);
    close(fd);
    return 0;
}
