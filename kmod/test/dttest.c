// SPDX-License-Identifier: GPL-2.0
/*
 * dttest: exercises dm-dirtytrack inside a test guest.
 *
 * Usage: dttest DISK   (an empty scratch disk of at least 32 MiB)
 *
 * Prints one line per case, "KMOD-TEST PASS name" or
 * "KMOD-TEST FAIL name reason", and exits non-zero when a case failed.
 * dmsetup must be on PATH and DM_DISABLE_UDEV=1 set (no udev in the guest).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../dm-dirtytrack.h"
#include "harness.h"

#define BS		4096
#define OFFSET_SECTORS	2048		/* the main target starts 1 MiB into the disk */
#define LEN_SECTORS	32768		/* and is 16 MiB long */
#define NBLOCKS		(LEN_SECTORS * 512 / BS)
#define WORDS		((NBLOCKS + 63) / 64)

static const char *disk;

/* Output of a shell command, first line, newline stripped. */
static int sh_out(char *out, size_t len, const char *cmd)
{
	FILE *p = popen(cmd, "r");

	if (!p)
		return -1;
	if (!fgets(out, len, p))
		out[0] = 0;
	out[strcspn(out, "\n")] = 0;
	return pclose(p) == 0 ? 0 : -1;
}

static int create(const char *name, const char *table)
{
	return sh("printf '%%b\\n' '%s' | dmsetup create %s >/dev/null 2>&1", table, name);
}

static int track_path(const char *name, char *path, size_t len)
{
	char dev[256];
	struct stat st;

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	if (stat(dev, &st))
		return fail("stat %s: %s", dev, strerror(errno));
	snprintf(path, len, "/dev/dirtytrack/dm-%u", minor(st.st_rdev));
	return 0;
}

static int open_track(const char *name)
{
	char path[256];
	int fd;

	if (track_path(name, path, sizeof(path)))
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", path, strerror(errno));
	return fd;
}

static int open_dev(const char *name)
{
	char dev[256];
	int fd;

	snprintf(dev, sizeof(dev), "/dev/mapper/%s", name);
	fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		fail("open %s: %s", dev, strerror(errno));
	return fd;
}

static void *block_buf(size_t len, unsigned int stamp)
{
	unsigned int *p;
	size_t i;

	if (posix_memalign((void **)&p, BS, len))
		abort();
	for (i = 0; i < len / sizeof(*p); i++)
		p[i] = stamp * 2654435761u + i;
	return p;
}

static int write_at(int fd, off_t off, size_t len, unsigned int stamp)
{
	void *buf = block_buf(len < BS ? BS : len, stamp);
	ssize_t n = pwrite(fd, buf, len, off);

	free(buf);
	if (n != (ssize_t)len)
		return fail("pwrite %zu at %lld: %s", len, (long long)off, strerror(errno));
	return 0;
}

static int status(int tfd, struct dirtytrack_status *st)
{
	if (ioctl(tfd, DIRTYTRACK_IOC_STATUS, st))
		return fail("STATUS: %s", strerror(errno));
	return 0;
}

/* The bitmap as read(), expanded to one byte per block. */
static int read_map(int tfd, unsigned char *dirty, unsigned long nblocks)
{
	uint64_t words[WORDS];
	size_t len = (nblocks + 63) / 64 * 8;
	unsigned long b;

	if (len > sizeof(words))
		return fail("map too large for the test");
	if (pread(tfd, words, len, 0) != (ssize_t)len)
		return fail("pread bitmap: %s", strerror(errno));
	for (b = 0; b < nblocks; b++)
		dirty[b] = (words[b / 64] >> (b % 64)) & 1;
	return 0;
}

/* Checks that exactly the listed blocks are dirty (list ends with -1). */
static int expect_dirty(int tfd, unsigned long nblocks, const long *want)
{
	unsigned char dirty[NBLOCKS], expect[NBLOCKS] = { 0 };
	struct dirtytrack_status st;
	unsigned long b, n = 0;

	if (read_map(tfd, dirty, nblocks))
		return -1;
	for (; *want >= 0; want++)
		expect[*want] = 1;
	for (b = 0; b < nblocks; b++) {
		if (dirty[b] != expect[b])
			return fail("block %lu is %s", b, dirty[b] ? "dirty" : "clean");
		n += expect[b];
	}
	if (status(tfd, &st))
		return -1;
	if (st.nr_dirty != n)
		return fail("STATUS nr_dirty %llu, expected %lu", (unsigned long long)st.nr_dirty, n);
	return 0;
}

static int clear(int tfd)
{
	if (ioctl(tfd, DIRTYTRACK_IOC_CLEAR))
		return fail("CLEAR: %s", strerror(errno));
	return 0;
}

static int take(int tfd, uint64_t first, uint64_t count, uint64_t *bits, uint64_t *taken)
{
	struct dirtytrack_range r = { .first = first, .count = count,
				      .bits = (uintptr_t)bits };

	if (ioctl(tfd, DIRTYTRACK_IOC_TAKE, &r))
		return -errno;
	*taken = r.taken;
	return 0;
}

static const char *main_table(unsigned int bs)
{
	static char table[256];

	snprintf(table, sizeof(table), "0 %d dirtytrack %s %d %u", LEN_SECTORS, disk,
		 OFFSET_SECTORS, bs);
	return table;
}

/* --- cases --------------------------------------------------------------- */

static int t_bad_tables(void)
{
	static const char *const bad[] = {
		"0 8192 dirtytrack %s 0 1000",
		"0 8192 dirtytrack %s 0 256",
		"0 8192 dirtytrack %s 0 131072",
		"0 8192 dirtytrack %s 0 0",
		"0 8192 dirtytrack %s 0 4096x",
		"0 8192 dirtytrack %s x 4096",
		"0 8192 dirtytrack %s 0",
		"0 8192 dirtytrack %s 0 4096 extra",
		"0 8192 linear %s 0\\n8192 8192 dirtytrack %s 0 4096",
	};
	char table[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(table, sizeof(table), bad[i], disk, disk);
		if (create("bad", table) == 0) {
			sh("dmsetup remove bad");
			return fail("accepted '%s'", table);
		}
		if (sh("dmsetup info bad >/dev/null 2>&1") == 0)
			return fail("device left behind after '%s'", table);
	}
	if (create("bad", "0 8192 dirtytrack /dev/nonexistent 0 4096") == 0)
		return fail("accepted a missing device");
	if (sh("[ -z \"$(ls /dev/dirtytrack 2>/dev/null)\" ]"))
		return fail("character device left behind");
	return 0;
}

static int t_linear_mapping(void)
{
	struct dirtytrack_status st;
	unsigned int *via_disk, *want = block_buf(BS, 77);
	int fd, dfd, tfd, rc = -1;

	if (create("t1", main_table(BS)))
		return fail("dmsetup create t1 failed");
	fd = open_dev("t1");
	tfd = open_track("t1");
	dfd = open(disk, O_RDONLY | O_DIRECT);
	if (fd < 0 || tfd < 0 || dfd < 0)
		return fd < 0 || tfd < 0 ? -1 : fail("open %s", disk);
	if (status(tfd, &st))
		goto out;
	if (st.block_size != BS || st.nr_blocks != NBLOCKS || st.nr_sectors != LEN_SECTORS) {
		fail("STATUS %u/%llu/%llu", st.block_size, (unsigned long long)st.nr_blocks,
		     (unsigned long long)st.nr_sectors);
		goto out;
	}
	if (write_at(fd, 3 * BS, BS, 77))
		goto out;
	via_disk = block_buf(BS, 0);
	if (pread(dfd, via_disk, BS, OFFSET_SECTORS * 512 + 3 * BS) != BS ||
	    memcmp(via_disk, want, BS))
		fail("block 3 not at offset %d of %s", OFFSET_SECTORS * 512 + 3 * BS, disk);
	else
		rc = 0;
	free(via_disk);
out:
	free(want);
	close(dfd);
	close(tfd);
	close(fd);
	return rc;
}

static int t_writes_marked(void)
{
	static const long want[] = { 0, 7, 100, 101, 300, 1000, 1001, NBLOCKS - 1, -1 };
	char line[256], expect[256];
	void *buf = block_buf(4 * BS, 1);
	int fd = open_dev("t1"), tfd = open_track("t1"), rc = -1;

	if (fd < 0 || tfd < 0)
		goto out;
	if (clear(tfd) || expect_dirty(tfd, NBLOCKS, (const long[]){ -1 }))
		goto out;
	/* Whole blocks, a two-block write, a sector inside a block, an unaligned span. */
	if (write_at(fd, 0, BS, 2) || write_at(fd, 7 * BS, BS, 3) ||
	    write_at(fd, 100 * BS, 2 * BS, 4) || write_at(fd, 300 * BS + 1024, 512, 5) ||
	    write_at(fd, 1000 * BS + 3584, 1024, 6) ||
	    write_at(fd, (NBLOCKS - 1) * (off_t)BS, BS, 7))
		goto out;
	/* Reads dirty nothing. */
	if (pread(fd, buf, 4 * BS, 500 * BS) != 4 * BS) {
		fail("pread: %s", strerror(errno));
		goto out;
	}
	if (expect_dirty(tfd, NBLOCKS, want))
		goto out;
	snprintf(expect, sizeof(expect), "0 %d dirtytrack %d %d 8", LEN_SECTORS, BS, NBLOCKS);
	if (sh_out(line, sizeof(line), "dmsetup status t1") || strcmp(line, expect)) {
		fail("dmsetup status '%s', expected '%s'", line, expect);
		goto out;
	}
	rc = 0;
out:
	free(buf);
	close(tfd);
	close(fd);
	return rc;
}

static int t_flush_not_write(void)
{
	int fd = open_dev("t1"), tfd = open_track("t1"), rc = -1;

	if (fd < 0 || tfd < 0 || clear(tfd))
		goto out;
	if (fsync(fd) || ioctl(fd, BLKFLSBUF, 0)) {
		fail("fsync: %s", strerror(errno));
		goto out;
	}
	rc = expect_dirty(tfd, NBLOCKS, (const long[]){ -1 });
out:
	close(tfd);
	close(fd);
	return rc;
}

static int t_take(void)
{
	uint64_t bits[WORDS], taken = 0;
	int fd = open_dev("t1"), tfd = open_track("t1"), rc = -1, err;
	long b;

	if (fd < 0 || tfd < 0 || clear(tfd))
		goto out;
	for (b = 65; b <= 70; b++)
		if (write_at(fd, b * BS, BS, b))
			goto out;
	if (write_at(fd, 130 * BS, BS, 130))
		goto out;
	/* An unaligned range: bit i of the result is block 66 + i. */
	memset(bits, 0xff, sizeof(bits));
	err = take(tfd, 66, 34, bits, &taken);
	if (err) {
		fail("TAKE: %s", strerror(-err));
		goto out;
	}
	if (taken != 5 || bits[0] != 0x1f) {
		fail("TAKE [66,100) gave %llu blocks, word %#llx", (unsigned long long)taken,
		     (unsigned long long)bits[0]);
		goto out;
	}
	if (expect_dirty(tfd, NBLOCKS, (const long[]){ 65, 130, -1 }))
		goto out;
	/* The whole device, then nothing is left. */
	err = take(tfd, 0, NBLOCKS, bits, &taken);
	if (err || taken != 2 || bits[1] != 2 || bits[2] != 4) {
		fail("TAKE all: err %d taken %llu", err, (unsigned long long)taken);
		goto out;
	}
	rc = expect_dirty(tfd, NBLOCKS, (const long[]){ -1 });
out:
	close(tfd);
	close(fd);
	return rc;
}

static int t_bad_ioctls(void)
{
	struct dirtytrack_range r = { .first = 10, .count = 5 };
	uint64_t taken;
	int tfd = open_track("t1"), rc = -1, err;

	if (tfd < 0 || clear(tfd))
		goto out;
	if (ioctl(tfd, DIRTYTRACK_IOC_MARK, &r)) {
		fail("MARK: %s", strerror(errno));
		goto out;
	}
	if (expect_dirty(tfd, NBLOCKS, (const long[]){ 10, 11, 12, 13, 14, -1 }))
		goto out;
	/* A fault while copying out puts every taken bit back. */
	err = take(tfd, 0, NBLOCKS, (uint64_t *)8, &taken);
	if (err != -EFAULT) {
		fail("TAKE to a bad pointer: %d", err);
		goto out;
	}
	if (expect_dirty(tfd, NBLOCKS, (const long[]){ 10, 11, 12, 13, 14, -1 }))
		goto out;
	r.first = NBLOCKS - 1;
	r.count = 2;
	if (ioctl(tfd, DIRTYTRACK_IOC_MARK, &r) == 0 || errno != EINVAL) {
		fail("MARK past the end not refused");
		goto out;
	}
	if (take(tfd, NBLOCKS + 1, 0, NULL, &taken) != -EINVAL) {
		fail("TAKE past the end not refused");
		goto out;
	}
	if (ioctl(tfd, _IO(DIRTYTRACK_IOC_MAGIC, 99)) == 0 || errno != ENOTTY) {
		fail("unknown ioctl not refused");
		goto out;
	}
	if (sh("dmsetup message t1 0 clear") ||
	    expect_dirty(tfd, NBLOCKS, (const long[]){ -1 }))
		goto out;
	rc = sh("dmsetup message t1 0 bogus 2>/dev/null") ? 0 : fail("bogus message accepted");
out:
	close(tfd);
	return rc;
}

static int t_discard(void)
{
	uint64_t range[2] = { 200 * BS, 8 * BS };
	int fd = open_dev("t1"), tfd = open_track("t1"), rc = -1;

	if (fd < 0 || tfd < 0 || clear(tfd))
		goto out;
	if (ioctl(fd, BLKDISCARD, range)) {
		fail("BLKDISCARD: %s", strerror(errno));
		goto out;
	}
	rc = expect_dirty(tfd, NBLOCKS, (const long[]){ 200, 201, 202, 203, 204, 205, 206, 207, -1 });
out:
	close(tfd);
	close(fd);
	return rc;
}

static int t_write_zeroes(void)
{
	uint64_t range[2] = { 300 * BS, 4 * BS };
	int fd = open_dev("t1"), tfd = open_track("t1"), rc = -1;

	if (fd < 0 || tfd < 0 || clear(tfd))
		goto out;
	if (ioctl(fd, BLKZEROOUT, range)) {
		fail("BLKZEROOUT: %s", strerror(errno));
		goto out;
	}
	rc = expect_dirty(tfd, NBLOCKS, (const long[]){ 300, 301, 302, 303, -1 });
out:
	close(tfd);
	close(fd);
	return rc;
}

/*
 * Writers write random blocks while a copier takes dirty blocks and copies
 * them into a mirror.  Once the writers stop, a last take and copy must make
 * the mirror equal to the device: every write was either taken after it
 * reached the disk or is still dirty.  The target sits on dm-delay, which
 * holds writes back while reads pass, so the copier often reads a block
 * between a write being marked and it reaching the disk: the case that the
 * second marking at completion exists for.
 */
#define WRITERS		4
#define WRITES		400
#define WRITE_DELAY_MS	10

static int stop_copier;
static unsigned char *mirror;

static void *writer(void *arg)
{
	unsigned int seed = (uintptr_t)arg, i;
	int fd = open_dev("tc");
	void *buf;

	if (fd < 0)
		return (void *)1;
	buf = block_buf(BS, 0);
	for (i = 0; i < WRITES; i++) {
		long b = rand_r(&seed) % NBLOCKS;

		((unsigned int *)buf)[0] = seed;
		((unsigned int *)buf)[1] = i;
		if (pwrite(fd, buf, BS, b * BS) != BS)
			return (void *)1;
	}
	free(buf);
	close(fd);
	return NULL;
}

static int copy_dirty(int tfd, int fd, void *buf, unsigned long *copied)
{
	uint64_t bits[WORDS], taken;
	unsigned long b;

	if (take(tfd, 0, NBLOCKS, bits, &taken))
		return -1;
	for (b = 0; b < NBLOCKS; b++) {
		if (!(bits[b / 64] >> (b % 64) & 1))
			continue;
		if (pread(fd, buf, BS, b * BS) != BS)
			return -1;
		memcpy(mirror + b * BS, buf, BS);
		(*copied)++;
	}
	return 0;
}

static void *copier(void *arg)
{
	unsigned long *copied = arg;
	int fd = open_dev("tc"), tfd = open_track("tc");
	void *buf = block_buf(BS, 0);
	void *rc = NULL;

	while (!__atomic_load_n(&stop_copier, __ATOMIC_ACQUIRE))
		if (copy_dirty(tfd, fd, buf, copied)) {
			rc = (void *)1;
			break;
		}
	free(buf);
	close(tfd);
	close(fd);
	return rc;
}

static int t_concurrent_take(void)
{
	pthread_t w[WRITERS], c;
	unsigned long copied = 0, b;
	void *buf = block_buf(BS, 0), *res;
	int fd = -1, tfd = -1, rc = -1, i, bad = 0;

	if (sh("printf '0 %d delay %s %d 0 %s %d %d\\n' | dmsetup create slow",
	       LEN_SECTORS, disk, OFFSET_SECTORS, disk, OFFSET_SECTORS, WRITE_DELAY_MS) ||
	    create("tc", "0 32768 dirtytrack /dev/mapper/slow 0 4096")) {
		fail("cannot stack dirtytrack on dm-delay");
		goto out;
	}
	fd = open_dev("tc");
	tfd = open_track("tc");
	if (posix_memalign((void **)&mirror, BS, (size_t)NBLOCKS * BS))
		mirror = NULL;
	if (fd < 0 || tfd < 0 || !mirror || clear(tfd))
		goto out;
	for (b = 0; b < NBLOCKS; b++) {
		if (pread(fd, mirror + b * BS, BS, b * BS) != BS) {
			fail("initial copy: %s", strerror(errno));
			goto out;
		}
	}
	stop_copier = 0;
	pthread_create(&c, NULL, copier, &copied);
	for (i = 0; i < WRITERS; i++)
		pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < WRITERS; i++) {
		pthread_join(w[i], &res);
		bad |= res != NULL;
	}
	__atomic_store_n(&stop_copier, 1, __ATOMIC_RELEASE);
	pthread_join(c, &res);
	if (bad || res) {
		fail("a writer or the copier failed");
		goto out;
	}
	if (copy_dirty(tfd, fd, buf, &copied)) {
		fail("final copy failed");
		goto out;
	}
	for (b = 0; b < NBLOCKS; b++) {
		if (pread(fd, buf, BS, b * BS) != BS || memcmp(buf, mirror + b * BS, BS)) {
			fail("block %lu differs from its copy: a write was lost", b);
			goto out;
		}
	}
	printf("# concurrent: %d writes, %lu blocks copied\n", WRITERS * WRITES, copied);
	rc = 0;
out:
	free(mirror);
	free(buf);
	close(tfd);
	close(fd);
	if (sh("dmsetup remove tc 2>/dev/null; dmsetup remove slow"))
		rc = fail("cannot remove tc/slow");
	return rc;
}

static int t_block_sizes(void)
{
	char table[256];
	struct dirtytrack_status st;
	int fd = -1, tfd = -1, rc = -1;

	/* 512-byte blocks: one sector dirties one block. */
	snprintf(table, sizeof(table), "0 1000 dirtytrack %s 40000 512", disk);
	if (create("t512", table))
		return fail("create t512");
	fd = open_dev("t512");
	tfd = open_track("t512");
	if (fd < 0 || tfd < 0 || write_at(fd, 3 * 512, 512, 9) ||
	    expect_dirty(tfd, 1000, (const long[]){ 3, -1 }))
		goto out;
	close(fd);
	close(tfd);
	fd = tfd = -1;
	if (sh("dmsetup remove t512"))
		return fail("remove t512");

	/* 64 KiB blocks over 1000 sectors: 8 blocks, the last one partial. */
	snprintf(table, sizeof(table), "0 1000 dirtytrack %s 40000 65536", disk);
	if (create("t64k", table))
		return fail("create t64k");
	fd = open_dev("t64k");
	tfd = open_track("t64k");
	if (fd < 0 || tfd < 0 || status(tfd, &st))
		goto out;
	if (st.nr_blocks != 8 || st.block_size != 65536) {
		fail("t64k has %llu blocks of %u", (unsigned long long)st.nr_blocks, st.block_size);
		goto out;
	}
	if (write_at(fd, 70 * 1024, 4096, 10) || write_at(fd, 999 * 512, 512, 11) ||
	    expect_dirty(tfd, 8, (const long[]){ 1, 7, -1 }))
		goto out;
	rc = 0;
out:
	close(fd);
	close(tfd);
	if (sh("dmsetup remove t64k 2>/dev/null; dmsetup remove t512 2>/dev/null; true"))
		rc = -1;
	return rc;
}

/*
 * A reload with the same geometry shares the bitmap: the open character device
 * keeps working, bits set before stay set, and a write issued while the device
 * was suspended completes after resume and is marked.
 */
static int t_reload(void)
{
	char path[256], after[256];
	pid_t pid;
	int status_, fd = open_dev("t1"), tfd = open_track("t1"), rc = -1;

	if (fd < 0 || tfd < 0 || track_path("t1", path, sizeof(path)) || clear(tfd))
		goto out;
	if (write_at(fd, 5 * BS, BS, 12))
		goto out;
	if (sh("dmsetup suspend t1")) {
		fail("suspend");
		goto out;
	}
	pid = fork();
	if (pid == 0)
		_exit(write_at(fd, 9 * BS, BS, 13) ? 1 : 0);
	usleep(300000);
	if (waitpid(pid, &status_, WNOHANG) != 0) {
		fail("a write completed while suspended");
		sh("dmsetup resume t1");
		goto out;
	}
	if (sh("printf '%s\\n' | dmsetup reload t1", main_table(BS)) || sh("dmsetup resume t1")) {
		fail("reload/resume");
		sh("dmsetup resume t1");
		goto out;
	}
	if (waitpid(pid, &status_, 0) != pid || !WIFEXITED(status_) || WEXITSTATUS(status_)) {
		fail("the suspended write failed");
		goto out;
	}
	if (track_path("t1", after, sizeof(after)) || strcmp(path, after)) {
		fail("character device moved from %s to %s", path, after);
		goto out;
	}
	if (expect_dirty(tfd, NBLOCKS, (const long[]){ 5, 9, -1 }))
		goto out;
	/* A different geometry is refused and the live table keeps running. */
	if (sh("printf '%s\\n' | dmsetup reload t1 2>/dev/null", main_table(2 * BS)) == 0) {
		fail("reload with another block size accepted");
		goto out;
	}
	if (sh("dmsetup info t1 | grep -q 'Tables present: *LIVE$'")) {
		fail("t1 not left with just its live table");
		goto out;
	}
	if (write_at(fd, 11 * BS, BS, 14) ||
	    expect_dirty(tfd, NBLOCKS, (const long[]){ 5, 9, 11, -1 }))
		goto out;
	rc = 0;
out:
	close(tfd);
	close(fd);
	return rc;
}

/* Replacing the target by a linear one retires the bitmap; open files get ENODEV. */
static int t_reload_to_linear(void)
{
	char path[256], buf[8];
	int tfd = open_track("t1"), rc = -1;
	struct dirtytrack_status st;

	if (tfd < 0 || track_path("t1", path, sizeof(path)))
		goto out;
	if (sh("printf '0 %d linear %s %d\\n' | dmsetup reload t1 && dmsetup resume t1",
	       LEN_SECTORS, disk, OFFSET_SECTORS)) {
		fail("reload to linear");
		goto out;
	}
	if (access(path, F_OK) == 0) {
		fail("%s still exists", path);
		goto out;
	}
	if (ioctl(tfd, DIRTYTRACK_IOC_STATUS, &st) == 0 || errno != ENODEV ||
	    read(tfd, buf, sizeof(buf)) >= 0 || errno != ENODEV) {
		fail("stale file descriptor still works");
		goto out;
	}
	close(tfd);
	tfd = -1;
	/* And back: a fresh, clean bitmap. */
	if (sh("printf '%s\\n' | dmsetup reload t1 && dmsetup resume t1", main_table(BS))) {
		fail("reload to dirtytrack");
		goto out;
	}
	tfd = open_track("t1");
	if (tfd < 0)
		goto out;
	rc = expect_dirty(tfd, NBLOCKS, (const long[]){ -1 });
out:
	close(tfd);
	return rc;
}

/* More trackers than the 128 dynamic misc minors a misc device would allow. */
#define MANY	130

static int t_many_devices(void)
{
	char table[128], name[32];
	int i, n, rc = 0;

	for (i = 0; i < MANY && !rc; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		snprintf(table, sizeof(table), "0 8 dirtytrack %s %d 4096", disk, 60000 + 8 * i);
		if (create(name, table))
			rc = fail("create %s", name);
	}
	n = sh("exit $(ls /dev/dirtytrack | wc -l)");
	if (!rc && n != MANY + 1)
		rc = fail("%d tracker devices, expected %d", n, MANY + 1);
	for (i = 0; i < MANY; i++)
		if (sh("dmsetup remove many%d 2>/dev/null", i) && !rc)
			rc = fail("remove many%d", i);
	return rc;
}

static int t_remove(void)
{
	char path[256], buf[8];
	struct dirtytrack_status st;
	int tfd = open_track("t1"), rc = -1;

	if (tfd < 0 || track_path("t1", path, sizeof(path)))
		goto out;
	if (sh("dmsetup remove t1")) {
		fail("remove t1");
		goto out;
	}
	if (access(path, F_OK) == 0) {
		fail("%s still exists", path);
		goto out;
	}
	if (ioctl(tfd, DIRTYTRACK_IOC_STATUS, &st) == 0 || errno != ENODEV ||
	    read(tfd, buf, sizeof(buf)) >= 0 || errno != ENODEV) {
		fail("file descriptor of a removed device still works");
		goto out;
	}
	close(tfd);
	tfd = -1;
	/* Nothing holds the module any more. */
	if (sh("rmmod dm_dirtytrack")) {
		fail("rmmod failed: a reference leaked");
		goto out;
	}
	rc = sh("insmod /lib/modules/dm-dirtytrack.ko") ? fail("insmod again") : 0;
out:
	close(tfd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dttest DISK\n");
		return 2;
	}
	disk = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	run("bad_tables_refused", t_bad_tables);
	run("linear_mapping", t_linear_mapping);
	run("writes_marked_exactly", t_writes_marked);
	run("flush_is_not_a_write", t_flush_not_write);
	run("take_returns_and_clears", t_take);
	run("mark_and_bad_ioctls", t_bad_ioctls);
	run("discard_marked", t_discard);
	run("write_zeroes_marked", t_write_zeroes);
	run("concurrent_take_loses_nothing", t_concurrent_take);
	run("block_sizes_512_and_64k", t_block_sizes);
	run("suspend_reload_keeps_bitmap", t_reload);
	run("reload_to_linear_and_back", t_reload_to_linear);
	run("more_than_128_devices", t_many_devices);
	run("remove_is_clean", t_remove);
	return failed ? 1 : 0;
}
