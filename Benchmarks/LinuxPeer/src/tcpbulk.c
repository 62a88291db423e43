/*
 * tcpbulk: bulk TCP throughput, one connection at a time.
 *
 * Server (default): listens on 0.0.0.0:PORT, prints "READY" once listening, and serves connections one
 * after another. The direction is fixed for the server's lifetime by -m:
 *   -m send  writes BYTES of the stream pattern, shuts down its sending side and waits for the peer to
 *            close; the time runs from accept() to that close, so it includes delivery of the last byte.
 *   -m recv  reads and discards until end of stream, then answers one line "RECEIVED <bytes> <ns>\n" and
 *            closes; the time runs from accept() to end of stream.
 * After each connection it prints BENCH tcpbulk_send_MBps or BENCH tcpbulk_recv_MBps (MB = 10^6 bytes).
 * With -k N it exits after N connections (status 0 if all of them succeeded).
 *
 * Client (-c HOST): the other end, for host-side runs and for checking a guest. -m names the client's own
 * direction: "-m recv" reads until end of stream and checks the pattern (pairs with a server in send
 * mode); "-m send" writes BYTES of the pattern and reads the server's RECEIVED line (pairs with a server
 * in recv mode). Prints BENCH tcpbulk_client_recv_MBps or tcpbulk_client_send_MBps and exits 1 if the
 * pattern or the byte count is wrong.
 *
 * Stream pattern: the byte at stream offset i is i mod 251 (a prime, so it lines up with no segment or
 * buffer size).
 *
 * Usage: tcpbulk [-p PORT] [-m send|recv] [-n BYTES] [-k CONNECTIONS]
 *        tcpbulk -c IPV4 [-p PORT] [-m recv|send] [-n BYTES]
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define PERIOD 251
#define CHUNK (PERIOD * 256) /* 64,256 bytes per write() */

/* pattern[k] = k mod PERIOD; any read or write of at most CHUNK bytes starting at stream offset i uses
 * pattern[i mod PERIOD ...], which stays inside the array. */
static unsigned char pattern[CHUNK + PERIOD];
static unsigned char scratch[CHUNK];

/* Writes `total` pattern bytes; returns 0, or -1 with errno set. */
static int send_pattern(int fd, long long total)
{
    long long sent = 0;
    while (sent < total) {
        long long want = total - sent < CHUNK ? total - sent : CHUNK;
        ssize_t n = write(fd, pattern + sent % PERIOD, (size_t)want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        sent += n;
    }
    return 0;
}

/* Reads until end of stream; returns the byte count, or -1 with errno set. When `check` is set, stops
 * with -2 at the first byte that breaks the pattern and stores its offset in *bad. */
static long long drain(int fd, int check, long long *bad)
{
    long long received = 0;
    for (;;) {
        ssize_t n = read(fd, scratch, sizeof scratch);
        if (n == 0)
            return received;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (check && memcmp(scratch, pattern + received % PERIOD, (size_t)n) != 0) {
            for (ssize_t i = 0; i < n; i++)
                if (scratch[i] != pattern[(received + i) % PERIOD]) {
                    *bad = received + i;
                    break;
                }
            return -2;
        }
        received += n;
    }
}

static double rate(long long bytes, uint64_t ns)
{
    return ns ? (double)bytes * 1000.0 / (double)ns : 0;
}

static int serve(int port, int sending, long long total, long long connections)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0)
        bench_fail("socket");
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0)
        bench_fail("bind");
    if (listen(listener, 16) != 0)
        bench_fail("listen");
    printf("# tcpbulk: server on port %d, %s", port, sending ? "sending " : "receiving until end of stream");
    if (sending)
        printf("%lld bytes per connection", total);
    printf("\nREADY\n");
    fflush(stdout);

    int failures = 0;
    for (long long served = 0; connections == 0 || served < connections; served++) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                served--;
                continue;
            }
            bench_fail("accept");
        }
        uint64_t start = bench_now_ns();
        long long bytes = total, unused = 0;
        int ok;
        if (sending) {
            ok = send_pattern(fd, total) == 0 && shutdown(fd, SHUT_WR) == 0 && drain(fd, 0, &unused) >= 0;
        } else {
            bytes = drain(fd, 0, &unused);
            ok = bytes >= 0;
        }
        uint64_t elapsed = bench_now_ns() - start;
        if (ok && !sending) {
            char line[80];
            int length = snprintf(line, sizeof line, "RECEIVED %lld %llu\n", bytes, (unsigned long long)elapsed);
            ok = write(fd, line, (size_t)length) == length;
        }
        close(fd);
        if (!ok) {
            printf("# tcpbulk: connection %lld failed: %s\n", served + 1, strerror(errno));
            fflush(stdout);
            failures++;
            continue;
        }
        printf("# tcpbulk: connection %lld: %lld bytes in %llu ns\n", served + 1, bytes,
               (unsigned long long)elapsed);
        bench_report(sending ? "tcpbulk_send_MBps" : "tcpbulk_recv_MBps", rate(bytes, elapsed), 1, "MB/s");
    }
    close(listener);
    return failures ? 1 : 0;
}

static int client(const char *host, int port, int sending, long long total)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
        fprintf(stderr, "error: -c expects an IPv4 address, not '%s'\n", host);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        bench_fail("socket");
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        bench_fail("connect");
    uint64_t start = bench_now_ns();
    if (sending) {
        if (send_pattern(fd, total) != 0 || shutdown(fd, SHUT_WR) != 0)
            bench_fail("send");
        char reply[128];
        size_t have = 0;
        for (;;) {
            ssize_t n = read(fd, reply + have, sizeof reply - 1 - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                bench_fail("read reply");
            if (n == 0 || (have += (size_t)n) == sizeof reply - 1)
                break;
        }
        uint64_t elapsed = bench_now_ns() - start;
        reply[have] = '\0';
        long long counted = -1;
        unsigned long long server_ns = 0;
        if (sscanf(reply, "RECEIVED %lld %llu", &counted, &server_ns) != 2 || counted != total) {
            fprintf(stderr, "error: sent %lld bytes, server answered '%s'\n", total, reply);
            return 1;
        }
        printf("# tcpbulk client: sent %lld bytes in %llu ns; server counted them in %llu ns\n", total,
               (unsigned long long)elapsed, server_ns);
        bench_report("tcpbulk_client_send_MBps", rate(total, elapsed), 1, "MB/s");
    } else {
        long long bad = -1;
        long long received = drain(fd, 1, &bad);
        uint64_t elapsed = bench_now_ns() - start;
        if (received == -2) {
            fprintf(stderr, "error: stream byte %lld breaks the pattern\n", bad);
            return 1;
        }
        if (received < 0)
            bench_fail("read");
        if (total > 0 && received != total) {
            fprintf(stderr, "error: expected %lld bytes, received %lld\n", total, received);
            return 1;
        }
        printf("# tcpbulk client: received %lld bytes (pattern checked) in %llu ns\n", received,
               (unsigned long long)elapsed);
        bench_report("tcpbulk_client_recv_MBps", rate(received, elapsed), 1, "MB/s");
    }
    close(fd);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: tcpbulk [-p PORT] [-m send|recv] [-n BYTES] [-k CONNECTIONS]   (server)\n"
                    "       tcpbulk -c IPV4 [-p PORT] [-m recv|send] [-n BYTES]            (client)\n"
                    "  -p  TCP port (default 5001)\n"
                    "  -m  direction of this end: send (server default) or recv (client default)\n"
                    "  -n  bytes to send per connection (default 64m); a receiving client checks the count\n"
                    "      only when -n is given\n"
                    "  -k  server: exit after this many connections (default 0: serve forever)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    long long port = 5001, total = 64ll << 20, connections = 0;
    int sending = -1, total_given = 0, c;
    while ((c = getopt(argc, argv, "c:p:m:n:k:h")) != -1) {
        switch (c) {
        case 'c': host = optarg; break;
        case 'p': port = bench_size_option('p', optarg, 1, 65535); break;
        case 'n': total = bench_size_option('n', optarg, 0, 1ll << 50); total_given = 1; break;
        case 'k': connections = bench_size_option('k', optarg, 0, 1ll << 40); break;
        case 'm':
            if (strcmp(optarg, "send") == 0) sending = 1;
            else if (strcmp(optarg, "recv") == 0) sending = 0;
            else usage();
            break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    for (int i = 0; i < (int)sizeof pattern; i++)
        pattern[i] = (unsigned char)(i % PERIOD);
    signal(SIGPIPE, SIG_IGN); /* a peer that goes away is an error result, not a crash */
    if (host) {
        if (sending == -1)
            sending = 0;
        return client(host, (int)port, sending, sending || total_given ? total : 0);
    }
    if (sending == -1)
        sending = 1;
    return serve((int)port, sending, total, connections);
}
