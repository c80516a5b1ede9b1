/*
 * teleport-writer: the test guest's workload. Writes numbered, checksummed
 * 4096-byte records to a block device (or file), record N at offset N*4096,
 * each with O_DIRECT|O_DSYNC so it is on the disk (through the path switcher,
 * on the storage server) before the next one starts. The verifier
 * (Teleport.Host.Workload.WorkloadVerifier) reads the volume back and reports
 * the highest record and any gap or corruption.
 *
 * Record layout, little-endian:
 *   0    8  magic "TPWREC01"
 *   8    8  sequence number N
 *   16   8  run id (one per writer start, so stale records from an old run are told apart)
 *   24   4064 payload: xorshift64 stream seeded with N ^ run id
 *   4088 8  FNV-1a 64 of bytes 0..4087
 *
 * Usage: teleport-writer [-c COUNT] [-s START] [-r RUNID] [-p EVERY] [-d USEC] [-v BACK] [-n] DEVICE
 *   -c  records to write (default: until the device is full)
 *   -s  first sequence number (default 0)
 *   -r  run id (default 1)
 *   -p  print "TPW seq=N" every EVERY records (default 100)
 *   -v  after each record, read back the records 1 and BACK before it and compare them with
 *       what was written ("TPW stale seq=N at=M" and exit 3 on a difference): a disk switched
 *       under the guest must never return older data (0, the default: no read-back)
 *   -n  no O_DIRECT (for filesystems without it); O_DSYNC stays
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#define RECORD 4096

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void fill(unsigned char *rec, uint64_t seq, uint64_t run)
{
	uint64_t x = (seq ^ run) * 0x9e3779b97f4a7c15ULL | 1;

	memcpy(rec, "TPWREC01", 8);
	put64(rec + 8, seq);
	put64(rec + 16, run);
	for (size_t i = 24; i < RECORD - 8; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		put64(rec + i, x);
	}
	put64(rec + RECORD - 8, fnv1a(rec, RECORD - 8));
}

/* Reads record seq back and compares it with what fill() wrote; 0 when equal. */
static int check(int fd, unsigned char *got, unsigned char *want, uint64_t seq, uint64_t run, uint64_t at)
{
	ssize_t n = pread(fd, got, RECORD, (off_t)(seq * RECORD));

	if (n != RECORD) {
		fprintf(stderr, "TPW error read seq=%llu: %s\n", (unsigned long long)seq,
			n < 0 ? strerror(errno) : "short read");
		return 1;
	}
	fill(want, seq, run);
	if (memcmp(got, want, RECORD) != 0) {
		fprintf(stderr, "TPW stale seq=%llu at=%llu\n", (unsigned long long)seq, (unsigned long long)at);
		return 3;
	}
	return 0;
}

/* Sleeps between records (-d): a steady write rate, so a short volume lasts through a whole migration. */
static void pace(uint64_t usec)
{
	struct timespec ts = { .tv_sec = (time_t)(usec / 1000000), .tv_nsec = (long)(usec % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t device_size(int fd)
{
	struct stat st;
	uint64_t size = 0;

	if (fstat(fd, &st) != 0)
		return 0;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size) != 0)
			return 0;
		return size;
	}
	return (uint64_t)st.st_size;
}

int main(int argc, char **argv)
{
	uint64_t count = UINT64_MAX, start = 0, run = 1, every = 100, delay_us = 0, back = 0, verified = 0;
	int flags = O_RDWR | O_DSYNC | O_DIRECT, opt;

	while ((opt = getopt(argc, argv, "c:s:r:p:d:v:n")) != -1) {
		switch (opt) {
		case 'c': count = strtoull(optarg, NULL, 0); break;
		case 's': start = strtoull(optarg, NULL, 0); break;
		case 'r': run = strtoull(optarg, NULL, 0); break;
		case 'p': every = strtoull(optarg, NULL, 0); break;
		case 'd': delay_us = strtoull(optarg, NULL, 0); break;
		case 'v': back = strtoull(optarg, NULL, 0); break;
		case 'n': flags &= ~O_DIRECT; break;
		default:
			fprintf(stderr, "usage: %s [-c COUNT] [-s START] [-r RUNID] [-p EVERY] [-d USEC] [-v BACK] [-n] DEVICE\n", argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1 || every == 0) {
		fprintf(stderr, "usage: %s [-c COUNT] [-s START] [-r RUNID] [-p EVERY] [-d USEC] [-v BACK] [-n] DEVICE\n", argv[0]);
		return 2;
	}

	int fd = open(argv[optind], flags);

	if (fd < 0) {
		fprintf(stderr, "TPW error open %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	uint64_t capacity = device_size(fd) / RECORD;

	if (capacity <= start) {
		fprintf(stderr, "TPW error: %s holds %llu records, start is %llu\n", argv[optind],
			(unsigned long long)capacity, (unsigned long long)start);
		return 1;
	}
	if (count > capacity - start)
		count = capacity - start;

	unsigned char *rec, *got, *want;

	if (posix_memalign((void **)&rec, RECORD, RECORD) != 0 || posix_memalign((void **)&got, RECORD, RECORD) != 0 ||
	    posix_memalign((void **)&want, RECORD, RECORD) != 0) {
		fprintf(stderr, "TPW error: out of memory\n");
		return 1;
	}
	printf("TPW start first=%llu count=%llu run=%llu\n", (unsigned long long)start,
	       (unsigned long long)count, (unsigned long long)run);
	fflush(stdout);
	for (uint64_t seq = start; seq < start + count; seq++) {
		fill(rec, seq, run);
		ssize_t n = pwrite(fd, rec, RECORD, (off_t)(seq * RECORD));

		if (n != RECORD) {
			fprintf(stderr, "TPW error write seq=%llu: %s\n", (unsigned long long)seq,
				n < 0 ? strerror(errno) : "short write");
			return 1;
		}
		for (uint64_t b = 1; back && b <= back && seq - start >= b; b = b == back ? back + 1 : back) {
			int bad = check(fd, got, want, seq - b, run, seq);

			if (bad)
				return bad;
			verified++;
		}
		if ((seq - start + 1) % every == 0) {
			printf("TPW seq=%llu\n", (unsigned long long)seq);
			fflush(stdout);
		}
		if (delay_us)
			pace(delay_us);
	}
	if (fsync(fd) != 0) {
		fprintf(stderr, "TPW error fsync: %s\n", strerror(errno));
		return 1;
	}
	printf("TPW done last=%llu verified=%llu\n", (unsigned long long)(start + count - 1), (unsigned long long)verified);
	fflush(stdout);
	free(want);
	free(got);
	free(rec);
	close(fd);
	return 0;
}
