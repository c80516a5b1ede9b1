// SPDX-License-Identifier: GPL-2.0
/*
 * dtguard: the guards of dm-dirtytrack against a caller that should not
 * change anything: a descriptor opened read-only, ioctl arguments out of
 * range, a table whose bitmap would be too large.
 *
 * Usage: dtguard DISK   (an empty scratch disk of at least 8 MiB; run after
 * dttest, which leaves no device behind)
 *
 * Prints "KMOD-TEST PASS name" or "KMOD-TEST FAIL name reason" per case and
 * exits non-zero when a case failed.  dmsetup must be on PATH.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define LEN_SECTORS	8192	/* 4 MiB at 4 KiB blocks: 1024 blocks */
#define NBLOCKS		1024

static const char *disk;
static char track[256];

/* Returns 0 or the errno of a failed ioctl. */
static int io(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static int dirty(int fd, uint64_t *n)
{
	struct dirtytrack_status st;
	int err = io(fd, DIRTYTRACK_IOC_STATUS, &st);

	if (err)
		return fail("STATUS: %s", strerror(err));
	*n = st.nr_dirty;
	return 0;
}

/* Creates g1 (1024 blocks, three of them dirty) and returns a writer's descriptor. */
static int setup(void)
{
	struct dirtytrack_range r = { .first = 7, .count = 3 };
	struct stat st;
	int fd, err;

	if (sh("echo '0 %d dirtytrack %s 0 4096' | dmsetup create g1", LEN_SECTORS, disk))
		return fail("dmsetup create g1");
	if (stat("/dev/mapper/g1", &st))
		return fail("stat g1: %s", strerror(errno));
	snprintf(track, sizeof(track), "/dev/dirtytrack/dm-%u", minor(st.st_rdev));
	fd = open(track, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return fail("open %s: %s", track, strerror(errno));
	err = io(fd, DIRTYTRACK_IOC_MARK, &r);
	if (err) {
		close(fd);
		return fail("MARK: %s", strerror(err));
	}
	return fd;
}

/* A read-only descriptor may look (STATUS, read) but not clear, take or mark. */
static int t_read_only(void)
{
	struct dirtytrack_range r = { .first = 0, .count = NBLOCKS };
	uint64_t n, word;
	int rw = setup(), ro = -1, err, rc = -1;

	if (rw < 0)
		return -1;
	ro = open(track, O_RDONLY | O_CLOEXEC);
	if (ro < 0) {
		fail("open read-only: %s", strerror(errno));
		goto out;
	}
	if (dirty(ro, &n) || pread(ro, &word, sizeof(word), 0) != sizeof(word)) {
		fail("a reader cannot look: %s", reason[0] ? reason : strerror(errno));
		goto out;
	}
	err = io(ro, DIRTYTRACK_IOC_CLEAR, NULL);
	if (err != EBADF) {
		fail("CLEAR on a read-only descriptor: %s", err ? strerror(err) : "allowed");
		goto out;
	}
	err = io(ro, DIRTYTRACK_IOC_TAKE, &r);
	if (err != EBADF) {
		fail("TAKE on a read-only descriptor: %s", err ? strerror(err) : "allowed");
		goto out;
	}
	err = io(ro, DIRTYTRACK_IOC_MARK, &r);
	if (err != EBADF) {
		fail("MARK on a read-only descriptor: %s", err ? strerror(err) : "allowed");
		goto out;
	}
	if (dirty(rw, &n))
		goto out;
	if (n != 3 || word != 0x380) {
		fail("bitmap changed: %llu dirty, first word %#llx", (unsigned long long)n,
		     (unsigned long long)word);
		goto out;
	}
	rc = 0;
out:
	if (ro >= 0)
		close(ro);
	close(rw);
	return rc;
}

/* Ranges that overflow or pass the end, and an argument of another size, change nothing. */
static int t_oversize_args(void)
{
	static const struct dirtytrack_range bad[] = {
		{ .first = 0, .count = UINT64_MAX },
		{ .first = UINT64_MAX, .count = 1 },
		{ .first = 1, .count = UINT64_MAX },
		{ .first = UINT64_MAX, .count = UINT64_MAX },
		{ .first = NBLOCKS, .count = 1 },
		{ .first = 1ULL << 32, .count = 1 },
		{ .first = 0, .count = (1ULL << 32) + 1 },
	};
	char big[4096] = { 0 };
	struct dirtytrack_range r;
	uint64_t n;
	size_t i;
	int fd = open(track, O_RDWR | O_CLOEXEC), err, rc = -1;

	if (fd < 0)
		return fail("open %s: %s", track, strerror(errno));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = bad[i];
		err = io(fd, DIRTYTRACK_IOC_TAKE, &r);
		if (err != EINVAL) {
			fail("TAKE %#llx+%#llx: %s", (unsigned long long)r.first,
			     (unsigned long long)r.count, err ? strerror(err) : "accepted");
			goto out;
		}
		r = bad[i];
		err = io(fd, DIRTYTRACK_IOC_MARK, &r);
		if (err != EINVAL) {
			fail("MARK %#llx+%#llx: %s", (unsigned long long)r.first,
			     (unsigned long long)r.count, err ? strerror(err) : "accepted");
			goto out;
		}
	}
	/* The size is part of the command number: a 4 KiB "range" is no command. */
	err = io(fd, _IOWR(DIRTYTRACK_IOC_MAGIC, 1, char[4096]), big);
	if (err != ENOTTY) {
		fail("TAKE with a 4 KiB argument: %s", err ? strerror(err) : "accepted");
		goto out;
	}
	if (dirty(fd, &n))
		goto out;
	rc = n == 3 ? 0 : fail("%llu blocks dirty after refused calls, expected 3",
			       (unsigned long long)n);
out:
	close(fd);
	if (sh("dmsetup remove g1"))
		rc = fail("dmsetup remove g1");
	return rc;
}

/*
 * A table whose bitmap would exceed INT_MAX bytes (2^40 blocks of 512 bytes)
 * is refused by the target itself, before any allocation; one of about 2 GiB,
 * more than the guest's memory, fails as -ENOMEM.  Neither may warn.
 */
static int t_huge_tables(void)
{
	if (sh("echo '0 1099511627776 dirtytrack %s 0 512' | dmsetup create g2 2>/dev/null", disk) == 0)
		return fail("a table with a 128 GiB bitmap was accepted");
	if (sh("dmesg | grep -q 'Device too large for its bitmap'"))
		return fail("refused, but not by the size check");
	if (sh("echo '0 17179869120 dirtytrack %s 0 512' | dmsetup create g3 2>/dev/null", disk) == 0) {
		sh("dmsetup remove g3");
		return fail("a table with a 2 GiB bitmap was accepted in a 1.5 GiB guest");
	}
	if (sh("dmesg | grep -q 'Cannot create dirty bitmap'"))
		return fail("the 2 GiB bitmap did not fail as an allocation");
	if (sh("dmsetup info g2 >/dev/null 2>&1") == 0 || sh("dmsetup info g3 >/dev/null 2>&1") == 0)
		return fail("device left behind");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dtguard DISK\n");
		return 2;
	}
	disk = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	run("read_only_descriptor_changes_nothing", t_read_only);
	run("oversize_ioctl_arguments_refused", t_oversize_args);
	run("huge_tables_refused_cleanly", t_huge_tables);
	return failed ? 1 : 0;
}
