/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Userspace interface of the "dirtytrack" device-mapper target.
 *
 * Each dirtytrack device dm-N gets a character device /dev/dirtytrack/dm-N.
 * read()/pread() return a snapshot of the bitmap: an array of native
 * unsigned longs in which bit (b % BITS_PER_LONG) of word (b / BITS_PER_LONG)
 * is set when block b was written since it was last taken.  On the
 * little-endian machines this is built for, that is: bit (b % 8) of byte
 * (b / 8).  The ioctls below are the only way to clear bits.
 */
#ifndef _UAPI_DM_DIRTYTRACK_H
#define _UAPI_DM_DIRTYTRACK_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct dirtytrack_status {
	__u32 block_size;	/* bytes, a power of two from 512 to 65536 */
	__u32 flags;		/* reserved, 0 */
	__u64 nr_blocks;	/* blocks tracked; the last one may be partial */
	__u64 nr_dirty;		/* blocks dirty at the time of the call */
	__u64 nr_sectors;	/* length of the target in 512-byte sectors */
};

/*
 * A block range [first, first + count).  For DIRTYTRACK_IOC_TAKE, bits is a
 * user pointer to (count + 63) / 64 __u64 words, or 0 to discard the result;
 * bit i of word j is set when block first + 64 * j + i was dirty and has been
 * cleared by this call.  taken returns the number of such blocks.
 */
struct dirtytrack_range {
	__u64 first;
	__u64 count;
	__u64 bits;
	__u64 taken;
};

#define DIRTYTRACK_IOC_MAGIC	0xd7

/* Block size, geometry and dirty count. */
#define DIRTYTRACK_IOC_STATUS	_IOR(DIRTYTRACK_IOC_MAGIC, 0, struct dirtytrack_status)
/* Atomically test-and-clear a range; a racing write is either taken or stays dirty. */
#define DIRTYTRACK_IOC_TAKE	_IOWR(DIRTYTRACK_IOC_MAGIC, 1, struct dirtytrack_range)
/* Mark a range dirty again, e.g. blocks whose transfer failed; bits is ignored. */
#define DIRTYTRACK_IOC_MARK	_IOW(DIRTYTRACK_IOC_MAGIC, 2, struct dirtytrack_range)
/* Clear every bit. */
#define DIRTYTRACK_IOC_CLEAR	_IO(DIRTYTRACK_IOC_MAGIC, 3)

#endif /* _UAPI_DM_DIRTYTRACK_H */
