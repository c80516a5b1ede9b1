/*
 * Userspace WAN delay line for kernels without sch_netem (see docs/wan.md).
 *
 * Creates two TUN devices (IFF_TUN | IFF_NO_PI) and forwards IP packets between them. Per direction:
 * optional random loss on entry, a queue bounded in packets (tail drop) in front of a serialiser running at
 * the link rate, then a fixed propagation delay. link.sh moves each device into its namespace after this
 * program has created them; the file descriptors stay valid across the move.
 *
 * Counters are written to the stats file every second, on SIGUSR1 and on exit (atomically: temp + rename).
 * SIGTERM / SIGINT end it cleanly; the devices disappear with their descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define NSEC 1000000000ULL
#define MAX_SLOTS (1u << 20)

struct slot {
    uint64_t depart_ns;  /* serialisation finished: the packet has left the queue */
    uint64_t deliver_ns; /* depart + delay: written to the far device */
    uint32_t len;
    unsigned char *data;
};

struct direction {
    const char *name;
    int in_fd, out_fd;
    struct slot *ring;
    uint32_t cap;
    uint64_t head, tail, unsent; /* sequence numbers: [head,tail) in flight, [unsent,tail) still queued */
    uint64_t last_depart_ns;
    uint64_t in_packets, in_bytes, out_packets, out_bytes;
    uint64_t drop_queue, drop_loss, drop_oversize, drop_write;
};

static uint64_t tick_ns = 200000, rate_bps, delay_ns, queue_limit = 1000, overhead_bytes, mtu = 1500;
static double loss_fraction;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static const char *stats_path;
static uint64_t stats_seq;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("delayline: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: loss decisions need no cryptographic quality, only independence from traffic. */
static double next_uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / (double)(1ULL << 53);
}

/* "<number><unit>" with units from the table; the whole string must be consumed. */
static double parse_unit(const char *opt, const char *s, const char *const *units, const double *scale, int n)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || v < 0)
        die("%s: '%s' is not a non-negative number with a unit", opt, s);
    for (int i = 0; i < n; i++)
        if (strcasecmp(end, units[i]) == 0)
            return v * scale[i];
    die("%s: '%s' has an unknown unit (use one of the tc forms, e.g. 100mbit, 25ms, 1%%)", opt, s);
    return 0;
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v < min || v > max)
        die("%s: '%s' must be a whole number from %llu to %llu", opt, s, (unsigned long long)min,
            (unsigned long long)max);
    return v;
}

static int open_tun(const char *name)
{
    if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ)
        die("device name '%s' must have 1 to %d characters", name, IFNAMSIZ - 1);
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        die("open /dev/net/tun: %s", strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        die("TUNSETIFF %s: %s (does the device already exist?)", name, strerror(errno));
    return fd;
}

static void init_direction(struct direction *d, const char *name, int in_fd, int out_fd)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->in_fd = in_fd;
    d->out_fd = out_fd;
    /* Room for the queue plus everything in flight during one delay, sized for small (64-byte) packets. */
    double in_flight = rate_bps ? (double)rate_bps / 8.0 / 64.0 * ((double)delay_ns / NSEC) : 0;
    double want = (double)queue_limit + in_flight + 256;
    d->cap = want > MAX_SLOTS ? MAX_SLOTS : (uint32_t)want;
    d->ring = calloc(d->cap, sizeof *d->ring);
    unsigned char *pool = malloc((size_t)d->cap * mtu);
    if (!d->ring || !pool)
        die("out of memory for %u packet slots", d->cap);
    for (uint32_t i = 0; i < d->cap; i++)
        d->ring[i].data = pool + (size_t)i * mtu;
}

static void write_stats(const struct direction *dirs)
{
    if (!stats_path)
        return;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", stats_path) >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "delayline: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    fprintf(f, "seq=%llu\n", (unsigned long long)++stats_seq);
    for (int i = 0; i < 2; i++) {
        const struct direction *d = &dirs[i];
        fprintf(f,
                "%s_in_packets=%llu\n%s_in_bytes=%llu\n%s_out_packets=%llu\n%s_out_bytes=%llu\n"
                "%s_drop_queue=%llu\n%s_drop_loss=%llu\n%s_drop_oversize=%llu\n%s_drop_write=%llu\n"
                "%s_queued=%llu\n",
                d->name, (unsigned long long)d->in_packets, d->name, (unsigned long long)d->in_bytes, d->name,
                (unsigned long long)d->out_packets, d->name, (unsigned long long)d->out_bytes, d->name,
                (unsigned long long)d->drop_queue, d->name, (unsigned long long)d->drop_loss, d->name,
                (unsigned long long)d->drop_oversize, d->name, (unsigned long long)d->drop_write, d->name,
                (unsigned long long)(d->tail - d->head));
    }
    if (fclose(f) != 0 || rename(tmp, stats_path) != 0)
        fprintf(stderr, "delayline: cannot write %s: %s\n", stats_path, strerror(errno));
}

/* Reads every packet waiting on the input device and admits it (or drops it) at the current time. */
static void ingest(struct direction *d)
{
    static unsigned char buf[65536];
    for (;;) {
        ssize_t n = read(d->in_fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            die("read from %s side: %s", d->name, strerror(errno));
        }
        if (n == 0)
            return;
        uint64_t t = now_ns();
        d->in_packets++;
        d->in_bytes += (uint64_t)n;
        if ((uint64_t)n > mtu) {
            d->drop_oversize++;
            continue;
        }
        if (loss_fraction > 0 && next_uniform() < loss_fraction) {
            d->drop_loss++;
            continue;
        }
        while (d->unsent < d->tail && d->ring[d->unsent % d->cap].depart_ns <= t)
            d->unsent++;
        if (d->tail - d->unsent >= queue_limit || d->tail - d->head >= d->cap) {
            d->drop_queue++;
            continue;
        }
        struct slot *s = &d->ring[d->tail % d->cap];
        uint64_t start = d->last_depart_ns > t ? d->last_depart_ns : t;
        uint64_t ser = rate_bps ? ((uint64_t)n + overhead_bytes) * 8 * NSEC / rate_bps : 0;
        s->depart_ns = start + ser;
        s->deliver_ns = s->depart_ns + delay_ns;
        s->len = (uint32_t)n;
        memcpy(s->data, buf, (size_t)n);
        d->last_depart_ns = s->depart_ns;
        d->tail++;
    }
}

/* Writes every packet whose delivery time has come; returns the next delivery time (0 if none). */
static uint64_t deliver(struct direction *d, uint64_t t)
{
    while (d->head < d->tail) {
        struct slot *s = &d->ring[d->head % d->cap];
        if (s->deliver_ns > t)
            return s->deliver_ns;
        if (write(d->out_fd, s->data, s->len) == (ssize_t)s->len) {
            d->out_packets++;
            d->out_bytes += s->len;
        } else {
            d->drop_write++;
        }
        d->head++;
        if (d->unsent < d->head)
            d->unsent = d->head;
    }
    return 0;
}

static void usage(void)
{
    fputs("usage: delayline --dev0 NAME --dev1 NAME --rate RATE --delay DELAY [--loss PCT] [--queue-packets N]\n"
          "                 [--overhead BYTES] [--mtu BYTES] [--tick DELAY] [--seed N] [--stats FILE] [--ready FILE]\n"
          "  RATE: 100mbit, 1gbit, 500kbit, 64000bit; DELAY: 25ms, 500us, 0.1s; PCT: 1%, 0.5%\n"
          "  --tick: while packets are in flight, wake at most this often (default 200us)\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const char *const rate_units[] = {"bit", "kbit", "mbit", "gbit"};
    static const double rate_scale[] = {1, 1e3, 1e6, 1e9};
    static const char *const delay_units[] = {"s", "ms", "us", "ns"};
    static const double delay_scale[] = {1e9, 1e6, 1e3, 1};
    static const char *const loss_units[] = {"%"};
    static const double loss_scale[] = {0.01};
    const char *dev0 = NULL, *dev1 = NULL, *ready = NULL;
    int have_rate = 0, have_delay = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage();
        if (i + 1 >= argc)
            die("option %s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--dev0") == 0)
            dev0 = v;
        else if (strcmp(a, "--dev1") == 0)
            dev1 = v;
        else if (strcmp(a, "--rate") == 0) {
            double r = parse_unit(a, v, rate_units, rate_scale, 4);
            if (r < 8000 || r > 100e9)
                die("--rate %s is outside 8kbit..100gbit", v);
            rate_bps = (uint64_t)r;
            have_rate = 1;
        } else if (strcmp(a, "--delay") == 0) {
            double d = parse_unit(a, v, delay_units, delay_scale, 4);
            if (d > 10e9)
                die("--delay %s is over 10s", v);
            delay_ns = (uint64_t)d;
            have_delay = 1;
        } else if (strcmp(a, "--loss") == 0) {
            loss_fraction = parse_unit(a, v, loss_units, loss_scale, 1);
            if (loss_fraction > 1)
                die("--loss %s is over 100%%", v);
        } else if (strcmp(a, "--queue-packets") == 0)
            queue_limit = parse_count(a, v, 1, MAX_SLOTS / 2);
        else if (strcmp(a, "--overhead") == 0)
            overhead_bytes = parse_count(a, v, 0, 1000);
        else if (strcmp(a, "--mtu") == 0)
            mtu = parse_count(a, v, 576, 65535);
        else if (strcmp(a, "--seed") == 0)
            rng_state = parse_count(a, v, 1, UINT64_MAX);
        else if (strcmp(a, "--tick") == 0) {
            double d = parse_unit(a, v, delay_units, delay_scale, 4);
            if (d > 10e6)
                die("--tick %s is over 10ms", v);
            tick_ns = (uint64_t)d;
        } else if (strcmp(a, "--stats") == 0)
            stats_path = v;
        else if (strcmp(a, "--ready") == 0)
            ready = v;
        else
            die("unknown option %s (see --help)", a);
    }
    if (!dev0 || !dev1 || !have_rate || !have_delay)
        die("--dev0, --dev1, --rate and --delay are required (see --help)");
    if (strcmp(dev0, dev1) == 0)
        die("--dev0 and --dev1 must differ");

    /* Wake-ups should land on the delivery time, not up to 50us later (the default timer slack). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        die("sigprocmask: %s", strerror(errno));
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd: %s", strerror(errno));

    int fd0 = open_tun(dev0), fd1 = open_tun(dev1);
    struct direction dirs[2];
    init_direction(&dirs[0], "fwd", fd0, fd1); /* dev0 -> dev1 */
    init_direction(&dirs[1], "rev", fd1, fd0); /* dev1 -> dev0 */
    write_stats(dirs);

    if (ready) {
        FILE *f = fopen(ready, "w");
        if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
            die("cannot write ready file %s: %s", ready, strerror(errno));
    }

    uint64_t next_stats = now_ns() + NSEC;
    for (;;) {
        uint64_t t = now_ns();
        uint64_t wake = next_stats;
        int busy = 0;
        for (int i = 0; i < 2; i++) {
            uint64_t n = deliver(&dirs[i], t);
            if (n) {
                busy = 1;
                if (n < wake)
                    wake = n;
            }
        }
        if (t >= next_stats) {
            write_stats(dirs);
            next_stats = t + NSEC;
            if (next_stats < wake)
                wake = next_stats;
        }
        /* While packets are in flight, wake at most once per tick and read what arrived meanwhile in one go:
         * one wake-up per packet costs more CPU than the link carries. An idle line waits for the devices. */
        if (busy && wake < t + tick_ns)
            wake = t + tick_ns;
        struct pollfd p[3] = {{sfd, POLLIN, 0}, {fd0, POLLIN, 0}, {fd1, POLLIN, 0}};
        uint64_t left = wake > t ? wake - t : 0;
        struct timespec to = {(time_t)(left / NSEC), (long)(left % NSEC)};
        /* The devices are watched also while busy: a packet is stamped when it is read, and one entering while the
         * next delivery is a whole delay away must not wait for that delivery (it arrived up to one delay late:
         * a request answered 1 ms after the previous packet took 2 x 25 ms on the default link). */
        int r = ppoll(p, 3, &to, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("ppoll: %s", strerror(errno));
        }
        if (busy) {
            /* Woken by a device within the tick: read at its end, so a busy line still wakes at most once per tick. */
            uint64_t tick_end = t + tick_ns;
            struct timespec until = {(time_t)(tick_end / NSEC), (long)(tick_end % NSEC)};
            while (now_ns() < tick_end && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
                ;
        }
        if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL) || p[2].revents & (POLLERR | POLLHUP | POLLNVAL))
            die("a TUN device went away");
        ingest(&dirs[0]);
        ingest(&dirs[1]);
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGUSR1) {
                    write_stats(dirs);
                    continue;
                }
                write_stats(dirs);
                return 0;
            }
        }
    }
}
