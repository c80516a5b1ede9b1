// SPDX-License-Identifier: GPL-2.0
/*
 * dm-dirtytrack: a linear mapping that records which blocks were written.
 *
 * Table line: <dev_path> <offset> <block_size>
 *
 * Every write, discard and write-zeroes marks the blocks it touches in a
 * bitmap of block_size bytes per bit.  Userspace reads and clears the bitmap
 * through /dev/dirtytrack/dm-N (see dm-dirtytrack.h), so that a storage
 * server can copy a volume while it is in use and then copy again only what
 * changed meanwhile.
 *
 * The bitmap belongs to the mapped device, not to one table: a reloaded
 * table with the same geometry shares it, so nothing written around a reload
 * is forgotten and the character device stays open across it.
 */

#include <linux/cdev.h>
#include <linux/device-mapper.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "dm-dirtytrack.h"

#define DM_MSG_PREFIX "dirtytrack"

#define DIRTYTRACK_MIN_SHIFT	9	/* 512 bytes */
#define DIRTYTRACK_MAX_SHIFT	16	/* 64 KiB */

/* Words of the take result staged in the kernel per copy_to_user(). */
#define DIRTYTRACK_TAKE_CHUNK	512

/*
 * Character device minors.  Not misc devices: those share 128 dynamic minors
 * with the whole system, fewer than a storage server has volumes.
 */
#define DIRTYTRACK_MINORS	BIT(16)

/*
 * Largest bitmap, in bytes.  kvmalloc() warns above INT_MAX, and the bitmap
 * of an 8 EiB device would not fit; INT_MAX bytes still covers 8 PiB at the
 * smallest block size.
 */
#define DIRTYTRACK_MAX_BITMAP	((u64)INT_MAX)

/*
 * Dirty state of one mapped device, shared by the tables loaded into it.
 *
 * Lifetime: the targets together hold one reference on dev, dropped when the
 * last of them goes.  Each open file holds the cdev, and the cdev holds its
 * parent dev, so the bitmap outlives the device for as long as a file is open.
 */
struct dirtytrack {
	struct list_head list;		/* on dirtytrack_list */
	struct mapped_device *md;
	unsigned int users;		/* targets using it, under dirtytrack_lock */
	bool dead;			/* last target gone: files get -ENODEV */

	unsigned long *bits;
	unsigned long nr_blocks;
	sector_t nr_sectors;
	unsigned int block_shift;	/* log2 of the block size in bytes */

	struct device dev;
	struct cdev cdev;
};

/* Per target: one table's view of the device. */
struct dirtytrack_c {
	struct dm_dev *dev;
	sector_t start;
	struct dirtytrack *dt;
};

/* Per bio: the blocks marked in map(), marked again when the write completes. */
struct dirtytrack_io {
	unsigned long first;
	unsigned long count;
};

static LIST_HEAD(dirtytrack_list);
static DEFINE_MUTEX(dirtytrack_lock);

static dev_t dirtytrack_devt;
static DEFINE_IDA(dirtytrack_ida);
static struct class *dirtytrack_class;

/*
 * Bitmap primitives.  Writers only ever set bits and takers only ever clear
 * them, each with an atomic read-modify-write of the whole word, so a bit set
 * concurrently with a take is either in the value the take returns (it was
 * set before the exchange) or still set afterwards.  The unlocked READ_ONCE()
 * shortcuts are safe for the same reason: a writer that finds its bits
 * already set needs nothing more, and a taker that finds a word clear leaves
 * any bit set right after it for the next take.
 */
static void dirtytrack_mark_word(unsigned long *word, unsigned long mask)
{
	unsigned long old = READ_ONCE(*word);

	do {
		if ((old & mask) == mask)
			return;
	} while (!try_cmpxchg(word, &old, old | mask));
}

static unsigned long dirtytrack_take_word(unsigned long *word, unsigned long mask)
{
	unsigned long old = READ_ONCE(*word);

	if (!(old & mask))
		return 0;
	if (mask == ~0UL)
		return xchg(word, 0);
	while (!try_cmpxchg(word, &old, old & ~mask))
		;
	return old & mask;
}

static void dirtytrack_mark(struct dirtytrack *dt, unsigned long first,
			    unsigned long count)
{
	while (count) {
		unsigned long off = first % BITS_PER_LONG;
		unsigned long n = min(count, BITS_PER_LONG - off);

		dirtytrack_mark_word(&dt->bits[first / BITS_PER_LONG],
				     BITMAP_FIRST_WORD_MASK(off) &
				     BITMAP_LAST_WORD_MASK(off + n));
		first += n;
		count -= n;
	}
}

/* Takes up to 64 bits starting at block first; returns them in bit 0 upwards. */
static u64 dirtytrack_take64(struct dirtytrack *dt, unsigned long first,
			     unsigned int count)
{
	unsigned int done = 0;
	u64 taken = 0;

	while (done < count) {
		unsigned long pos = first + done;
		unsigned long off = pos % BITS_PER_LONG;
		unsigned long n = min_t(unsigned long, count - done, BITS_PER_LONG - off);
		unsigned long bits;

		bits = dirtytrack_take_word(&dt->bits[pos / BITS_PER_LONG],
					    BITMAP_FIRST_WORD_MASK(off) &
					    BITMAP_LAST_WORD_MASK(off + n));
		taken |= (u64)(bits >> off) << done;
		done += n;
	}
	return taken;
}

static unsigned long dirtytrack_weight(struct dirtytrack *dt)
{
	unsigned long i, dirty = 0;

	for (i = 0; i < BITS_TO_LONGS(dt->nr_blocks); i++)
		dirty += hweight_long(READ_ONCE(dt->bits[i]));
	return dirty;
}

static void dirtytrack_clear(struct dirtytrack *dt)
{
	unsigned long i;

	for (i = 0; i < BITS_TO_LONGS(dt->nr_blocks); i++)
		dirtytrack_take_word(&dt->bits[i], ~0UL);
}

static size_t dirtytrack_bytes(struct dirtytrack *dt)
{
	return BITS_TO_LONGS(dt->nr_blocks) * sizeof(unsigned long);
}

/*
 * Character device.
 */
static int dirtytrack_open(struct inode *inode, struct file *file)
{
	/* chrdev_open() took a reference on the cdev for this file. */
	file->private_data = container_of(inode->i_cdev, struct dirtytrack, cdev);
	return 0;
}

static ssize_t dirtytrack_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	struct dirtytrack *dt = file->private_data;
	size_t size = dirtytrack_bytes(dt);

	if (READ_ONCE(dt->dead))
		return -ENODEV;
	if (*ppos < 0)
		return -EINVAL;
	if (*ppos >= size)
		return 0;
	count = min_t(size_t, count, size - *ppos);
	/* A snapshot: bits may change while they are copied. */
	if (copy_to_user(buf, (char *)dt->bits + *ppos, count))
		return -EFAULT;
	*ppos += count;
	return count;
}

static loff_t dirtytrack_llseek(struct file *file, loff_t offset, int whence)
{
	struct dirtytrack *dt = file->private_data;

	return fixed_size_llseek(file, offset, whence, dirtytrack_bytes(dt));
}

static int dirtytrack_check_range(struct dirtytrack *dt,
				  const struct dirtytrack_range *r)
{
	if (r->first > dt->nr_blocks || r->count > dt->nr_blocks - r->first)
		return -EINVAL;
	return 0;
}

/* Sets again the bits of a take result that could not be handed over. */
static void dirtytrack_put_back(struct dirtytrack *dt, u64 first,
				const u64 *bits, unsigned int words)
{
	unsigned int i;

	for (i = 0; i < words; i++) {
		u64 v = bits[i];

		while (v) {
			dirtytrack_mark(dt, first + i * 64 + __ffs64(v), 1);
			v &= v - 1;
		}
	}
}

static long dirtytrack_ioctl_take(struct dirtytrack *dt, void __user *arg)
{
	struct dirtytrack_range r;
	u64 __user *ubits;
	u64 *chunk;
	u64 words, done = 0, taken = 0;
	int err;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	err = dirtytrack_check_range(dt, &r);
	if (err)
		return err;

	chunk = kmalloc_array(DIRTYTRACK_TAKE_CHUNK, sizeof(*chunk), GFP_KERNEL);
	if (!chunk)
		return -ENOMEM;

	ubits = u64_to_user_ptr(r.bits);
	words = DIV_ROUND_UP(r.count, 64);
	while (done < words) {
		unsigned int i, n = min_t(u64, words - done, DIRTYTRACK_TAKE_CHUNK);

		for (i = 0; i < n; i++) {
			u64 pos = (done + i) * 64;

			chunk[i] = dirtytrack_take64(dt, r.first + pos,
						     min_t(u64, r.count - pos, 64));
			taken += hweight64(chunk[i]);
		}
		if (ubits && copy_to_user(ubits + done, chunk, n * sizeof(*chunk))) {
			dirtytrack_put_back(dt, r.first + done * 64, chunk, n);
			goto fault;
		}
		done += n;
		cond_resched();
	}
	kfree(chunk);
	chunk = NULL;

	r.taken = taken;
	if (!copy_to_user(arg, &r, sizeof(r)))
		return 0;

fault:
	kfree(chunk);
	/*
	 * The caller will not learn what was taken, so put it all back.  The
	 * chunks already copied out are no longer in the kernel: mark their
	 * whole range, which may mark clean blocks too.  Extra copying is
	 * harmless, a forgotten write is not.
	 */
	dirtytrack_mark(dt, r.first, min_t(u64, done * 64, r.count));
	return -EFAULT;
}

static long dirtytrack_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct dirtytrack *dt = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct dirtytrack_status st;
	struct dirtytrack_range r;
	int err;

	if (READ_ONCE(dt->dead))
		return -ENODEV;
	/* Only STATUS leaves the bitmap as it was: the rest need a writer. */
	if (cmd != DIRTYTRACK_IOC_STATUS && !(file->f_mode & FMODE_WRITE))
		return -EBADF;

	switch (cmd) {
	case DIRTYTRACK_IOC_STATUS:
		memset(&st, 0, sizeof(st));
		st.block_size = 1U << dt->block_shift;
		st.nr_blocks = dt->nr_blocks;
		st.nr_dirty = dirtytrack_weight(dt);
		st.nr_sectors = dt->nr_sectors;
		return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
	case DIRTYTRACK_IOC_TAKE:
		return dirtytrack_ioctl_take(dt, uarg);
	case DIRTYTRACK_IOC_MARK:
		if (copy_from_user(&r, uarg, sizeof(r)))
			return -EFAULT;
		err = dirtytrack_check_range(dt, &r);
		if (err)
			return err;
		dirtytrack_mark(dt, r.first, r.count);
		return 0;
	case DIRTYTRACK_IOC_CLEAR:
		dirtytrack_clear(dt);
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations dirtytrack_fops = {
	.owner		= THIS_MODULE,
	.open		= dirtytrack_open,
	.read		= dirtytrack_read,
	.llseek		= dirtytrack_llseek,
	.unlocked_ioctl	= dirtytrack_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/*
 * Dirty state lifetime.  Called with dirtytrack_lock held.
 */
static struct dirtytrack *dirtytrack_find(struct mapped_device *md)
{
	struct dirtytrack *dt;

	list_for_each_entry(dt, &dirtytrack_list, list)
		if (dt->md == md)
			return dt;
	return NULL;
}

static void dirtytrack_release(struct device *dev)
{
	struct dirtytrack *dt = container_of(dev, struct dirtytrack, dev);

	ida_free(&dirtytrack_ida, MINOR(dev->devt));
	kvfree(dt->bits);
	kfree(dt);
}

/*
 * Blocks of a device of nr_sectors, or 0 when its bitmap would be too large
 * or its block count does not fit an unsigned long (32-bit kernels).
 */
static unsigned long dirtytrack_nr_blocks(sector_t nr_sectors,
					  unsigned int block_shift)
{
	unsigned int shift = block_shift - SECTOR_SHIFT;
	u64 blocks = ((u64)nr_sectors >> shift) +
		     !!((u64)nr_sectors & ((1ULL << shift) - 1));

	if (blocks > ULONG_MAX ||
	    DIV_ROUND_UP_ULL(blocks, BITS_PER_BYTE) > DIRTYTRACK_MAX_BITMAP)
		return 0;
	return blocks;
}

static struct dirtytrack *dirtytrack_create(struct mapped_device *md,
					    sector_t nr_sectors,
					    unsigned int block_shift)
{
	struct dirtytrack *dt;
	unsigned long nr_blocks;
	int minor, err;

	nr_blocks = dirtytrack_nr_blocks(nr_sectors, block_shift);
	if (!nr_blocks)
		return ERR_PTR(-EINVAL);

	dt = kzalloc(sizeof(*dt), GFP_KERNEL);
	if (!dt)
		return ERR_PTR(-ENOMEM);

	dt->md = md;
	dt->users = 1;
	dt->nr_sectors = nr_sectors;
	dt->block_shift = block_shift;
	dt->nr_blocks = nr_blocks;

	/* Large but allowed: a failure is -ENOMEM for the table load, not a splat. */
	dt->bits = kvcalloc(BITS_TO_LONGS(nr_blocks), sizeof(unsigned long),
			    GFP_KERNEL | __GFP_NOWARN);
	if (!dt->bits) {
		err = -ENOMEM;
		goto bad_bits;
	}

	minor = ida_alloc_max(&dirtytrack_ida, DIRTYTRACK_MINORS - 1, GFP_KERNEL);
	if (minor < 0) {
		err = minor;
		goto bad_minor;
	}

	/* From here on dirtytrack_release() frees everything. */
	device_initialize(&dt->dev);
	dt->dev.class = dirtytrack_class;
	dt->dev.devt = MKDEV(MAJOR(dirtytrack_devt), minor);
	dt->dev.release = dirtytrack_release;
	cdev_init(&dt->cdev, &dirtytrack_fops);
	dt->cdev.owner = THIS_MODULE;

	/* Named after the dm device; the class puts the node at /dev/dirtytrack/dm-N. */
	err = dev_set_name(&dt->dev, "%s", dm_disk(md)->disk_name);
	if (!err)
		err = cdev_device_add(&dt->cdev, &dt->dev);
	if (err) {
		put_device(&dt->dev);
		return ERR_PTR(err);
	}

	list_add(&dt->list, &dirtytrack_list);
	return dt;

bad_minor:
	kvfree(dt->bits);
bad_bits:
	kfree(dt);
	return ERR_PTR(err);
}

static void dirtytrack_put(struct dirtytrack *dt)
{
	mutex_lock(&dirtytrack_lock);
	if (!--dt->users) {
		list_del(&dt->list);
		WRITE_ONCE(dt->dead, true);
		/* No new opens after this; open files keep dt alive. */
		cdev_device_del(&dt->cdev, &dt->dev);
		put_device(&dt->dev);
	}
	mutex_unlock(&dirtytrack_lock);
}

/*
 * Target.
 */
static int dirtytrack_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct dirtytrack_c *dc;
	struct dirtytrack *dt;
	unsigned long long start;
	unsigned int block_size, block_shift;
	char dummy;
	int err;

	if (argc != 3) {
		ti->error = "Invalid argument count: <dev_path> <offset> <block_size>";
		return -EINVAL;
	}
	if (sscanf(argv[1], "%llu%c", &start, &dummy) != 1 ||
	    start != (sector_t)start) {
		ti->error = "Invalid device offset";
		return -EINVAL;
	}
	if (kstrtouint(argv[2], 10, &block_size) || !is_power_of_2(block_size) ||
	    block_size < (1U << DIRTYTRACK_MIN_SHIFT) ||
	    block_size > (1U << DIRTYTRACK_MAX_SHIFT)) {
		ti->error = "Block size must be a power of two from 512 to 65536";
		return -EINVAL;
	}
	block_shift = ilog2(block_size);
	/* One bitmap per device, so one target covering all of it. */
	if (ti->begin) {
		ti->error = "Target must start at sector 0 of the device";
		return -EINVAL;
	}

	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	dc->start = start;

	err = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &dc->dev);
	if (err) {
		ti->error = "Device lookup failed";
		goto bad_dev;
	}

	mutex_lock(&dirtytrack_lock);
	dt = dirtytrack_find(md);
	if (dt) {
		/*
		 * A reload while the old table may still be live: share its
		 * bitmap, so writes through either table land in the same
		 * bits.  A different geometry would need the bits translated
		 * while both tables run, so it is refused instead.
		 */
		if (dt->block_shift != block_shift || dt->nr_sectors != ti->len) {
			mutex_unlock(&dirtytrack_lock);
			ti->error = "Block size or length differs from the loaded table";
			err = -EINVAL;
			goto bad_tracker;
		}
		dt->users++;
	} else {
		dt = dirtytrack_create(md, ti->len, block_shift);
		if (IS_ERR(dt)) {
			mutex_unlock(&dirtytrack_lock);
			ti->error = PTR_ERR(dt) == -EINVAL ?
				"Device too large for its bitmap at this block size" :
				"Cannot create dirty bitmap";
			err = PTR_ERR(dt);
			goto bad_tracker;
		}
	}
	mutex_unlock(&dirtytrack_lock);
	dc->dt = dt;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct dirtytrack_io);
	ti->private = dc;
	return 0;

bad_tracker:
	dm_put_device(ti, dc->dev);
bad_dev:
	kfree(dc);
	return err;
}

static void dirtytrack_dtr(struct dm_target *ti)
{
	struct dirtytrack_c *dc = ti->private;

	dirtytrack_put(dc->dt);
	dm_put_device(ti, dc->dev);
	kfree(dc);
}

/*
 * A write is marked twice.  In map(), before it is passed down, so the bits
 * are set before the write can be acknowledged.  And again at completion:
 * a take between the two may have cleared the bit and the caller then read
 * the block before this write reached the disk, so the write must be dirty
 * again once its data is really there.
 */
static int dirtytrack_map(struct dm_target *ti, struct bio *bio)
{
	struct dirtytrack_c *dc = ti->private;
	struct dirtytrack_io *io = dm_per_bio_data(bio, sizeof(*io));
	sector_t offset = dm_target_offset(ti, bio->bi_iter.bi_sector);

	io->count = 0;
	/* Empty flushes carry no data and dirty nothing. */
	if (op_is_write(bio_op(bio)) && bio_sectors(bio)) {
		unsigned int shift = dc->dt->block_shift - SECTOR_SHIFT;
		sector_t last = offset + bio_sectors(bio) - 1;

		io->first = offset >> shift;
		io->count = (last >> shift) - io->first + 1;
		dirtytrack_mark(dc->dt, io->first, io->count);
	}

	bio_set_dev(bio, dc->dev->bdev);
	bio->bi_iter.bi_sector = dc->start + offset;
	return DM_MAPIO_REMAPPED;
}

static int dirtytrack_end_io(struct dm_target *ti, struct bio *bio,
			     blk_status_t *error)
{
	struct dirtytrack_c *dc = ti->private;
	struct dirtytrack_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->count)
		dirtytrack_mark(dc->dt, io->first, io->count);
	return DM_ENDIO_DONE;
}

static void dirtytrack_status(struct dm_target *ti, status_type_t type,
			      unsigned int status_flags, char *result,
			      unsigned int maxlen)
{
	struct dirtytrack_c *dc = ti->private;
	struct dirtytrack *dt = dc->dt;
	size_t sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		DMEMIT("%u %lu %lu", 1U << dt->block_shift, dt->nr_blocks,
		       dirtytrack_weight(dt));
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu %u", dc->dev->name, (unsigned long long)dc->start,
		       1U << dt->block_shift);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s,start=%llu,block_size=%u;", dc->dev->name,
		       (unsigned long long)dc->start, 1U << dt->block_shift);
		break;
	}
}

static int dirtytrack_message(struct dm_target *ti, unsigned int argc,
			      char **argv, char *result, unsigned int maxlen)
{
	struct dirtytrack_c *dc = ti->private;

	if (argc == 1 && !strcasecmp(argv[0], "clear")) {
		dirtytrack_clear(dc->dt);
		return 0;
	}
	DMERR("unrecognized message '%s' received", argc ? argv[0] : "");
	return -EINVAL;
}

static int dirtytrack_iterate_devices(struct dm_target *ti,
				      iterate_devices_callout_fn fn, void *data)
{
	struct dirtytrack_c *dc = ti->private;

	return fn(ti, dc->dev, dc->start, ti->len, data);
}

/*
 * No prepare_ioctl: passing ioctls such as SG_IO down, as dm-linear does,
 * would let writes reach the device without passing through map().  No DAX
 * for the same reason.
 */
static struct target_type dirtytrack_target = {
	.name		 = "dirtytrack",
	.version	 = {1, 0, 0},
	.features	 = DM_TARGET_NOWAIT,
	.module		 = THIS_MODULE,
	.ctr		 = dirtytrack_ctr,
	.dtr		 = dirtytrack_dtr,
	.map		 = dirtytrack_map,
	.end_io		 = dirtytrack_end_io,
	.status		 = dirtytrack_status,
	.message	 = dirtytrack_message,
	.iterate_devices = dirtytrack_iterate_devices,
};

/* From 6.2 on, dev is const here; from 6.4 on, class_create() has no owner. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *dirtytrack_devnode(const struct device *dev, umode_t *mode)
#else
static char *dirtytrack_devnode(struct device *dev, umode_t *mode)
#endif
{
	if (mode)
		*mode = 0600;
	return kasprintf(GFP_KERNEL, "dirtytrack/%s", dev_name(dev));
}

static int __init dm_dirtytrack_init(void)
{
	int err;

	err = alloc_chrdev_region(&dirtytrack_devt, 0, DIRTYTRACK_MINORS, "dirtytrack");
	if (err)
		return err;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	dirtytrack_class = class_create("dirtytrack");
#else
	dirtytrack_class = class_create(THIS_MODULE, "dirtytrack");
#endif
	if (IS_ERR(dirtytrack_class)) {
		err = PTR_ERR(dirtytrack_class);
		goto bad_class;
	}
	dirtytrack_class->devnode = dirtytrack_devnode;

	err = dm_register_target(&dirtytrack_target);
	if (err < 0) {
		DMERR("register failed %d", err);
		goto bad_target;
	}
	return 0;

bad_target:
	class_destroy(dirtytrack_class);
bad_class:
	unregister_chrdev_region(dirtytrack_devt, DIRTYTRACK_MINORS);
	return err;
}

static void __exit dm_dirtytrack_exit(void)
{
	dm_unregister_target(&dirtytrack_target);
	class_destroy(dirtytrack_class);
	unregister_chrdev_region(dirtytrack_devt, DIRTYTRACK_MINORS);
	ida_destroy(&dirtytrack_ida);
}

module_init(dm_dirtytrack_init);
module_exit(dm_dirtytrack_exit);

MODULE_DESCRIPTION(DM_NAME " target recording written blocks in a bitmap");
MODULE_AUTHOR("Teleport");
MODULE_LICENSE("GPL");
