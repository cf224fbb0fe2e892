/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bksnap: block-device write tracking (CBT) and copy-on-write snapshots.
 *
 * The only interface between the bksnap kernel module and userspace.  It is
 * driven through ioctls on the control device /dev/bksnap-ctl (mode 0600;
 * every command requires CAP_SYS_ADMIN, otherwise EPERM) and events are read
 * from the same file descriptor with read()/poll().
 *
 * Every argument structure starts with __u32 version, which the caller sets
 * to the BKSNAP_UAPI_VERSION it was built with.  A module accepts every
 * version from 1 up to its own and fails a newer one with EPROTO; a caller
 * newer than the module learns the module's version from BKSNAP_IOC_VERSION
 * called with version 1, and uses that.  Versions only add: 2 added
 * BKSNAP_IOC_CBT_ANCHOR (sequence wraps keep the map).  Reserved and
 * padding fields must be zero (EINVAL otherwise) so they can gain meaning
 * later.  Errors common to all commands:
 *   EPERM    caller lacks CAP_SYS_ADMIN
 *   EPROTO   version field is 0 or newer than the module's
 *   EFAULT   an argument or user pointer is not accessible
 *   EINVAL   unknown flags, non-zero reserved fields, malformed values
 *   ENOTTY   unknown ioctl
 *
 * Changed-block tracking.  A tracker owns a map of one byte per block: the
 * sequence number current when the block was last written (0: not written
 * in this generation).  Each tracker has a generation, a random UUID renewed
 * whenever the map restarts (new attach, module load, capacity change,
 * sequence wrap past BKSNAP_SEQ_MAX), and a sequence number that starts at 1
 * and advances by one at each snapshot taken of the device.  A snapshot
 * reports the token (generation, sequence) its image corresponds to; the
 * blocks changed between that image and any later one are exactly those
 * whose map byte is greater than the token's sequence, as long as the
 * generation is unchanged.  The map may over-report (block-size rounding,
 * writes that later failed) but never misses a write.
 *
 * A sequence wrap restarts the map under a new generation at sequence 1.
 * If the caller anchored a token of the old generation (CBT_ANCHOR), the
 * new map keeps a mark on every block changed since that token and links
 * to it; otherwise it starts empty, as after a reset.
 */
#ifndef _UAPI_LINUX_BKSNAP_H
#define _UAPI_LINUX_BKSNAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BKSNAP_UAPI_VERSION	2
#define BKSNAP_CTL_NAME		"bksnap-ctl"	/* /dev/bksnap-ctl */
#define BKSNAP_IMAGE_PREFIX	"bksnap-img"	/* /dev/bksnap-img<N> */

#define BKSNAP_UUID_SIZE	16
#define BKSNAP_SEQ_MAX		255	/* map bytes hold sequences 1..255 */
#define BKSNAP_PATH_MAX		4096

/*
 * A block device, named either by path (path != 0: a user pointer to a
 * NUL-terminated path of at most BKSNAP_PATH_MAX bytes) or by number.
 * Errors: ENOENT (no such path), ENOTBLK (path is not a block device),
 * ENODEV (no such device number).
 */
struct bksnap_dev_id {
	__u64 path;
	__u32 major;
	__u32 minor;
};

/* BKSNAP_IOC_VERSION: module identity and limits. */
struct bksnap_version_info {
	__u32 version;			/* in */
	__u32 uapi_version;		/* out: BKSNAP_UAPI_VERSION of the module */
	__u32 module_major;		/* out: module release */
	__u32 module_minor;
	__u32 module_patch;
	__u32 max_trackers;		/* out: devices trackable at once */
	__u32 cbt_min_block_shift;	/* out: log2 bytes of smallest CBT block */
	__u32 cbt_max_block_shift;	/* out: log2 bytes of largest CBT block */
	__u64 cbt_max_blocks;		/* out: cap on map entries per device */
	__u32 chunk_min_shift;		/* out: log2 bytes of smallest COW chunk */
	__u32 chunk_max_shift;		/* out: log2 bytes of largest COW chunk */
	__u32 max_snapshot_devices;	/* out: devices per consistency group */
	__u32 reserved;
};

/*
 * BKSNAP_IOC_ATTACH / BKSNAP_IOC_DETACH: start or stop tracking a device
 * (whole disk, partition, or a dm/md device), mounted or not.
 * ATTACH errors: EBUSY (already tracked, or device part of a tracked whole
 * disk or partition), ENOSPC (max_trackers reached), plus device errors.
 * DETACH errors: ENOENT (not tracked), EBUSY (device is in a snapshot).
 */
struct bksnap_attach {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	struct bksnap_dev_id dev;
};

/* Tracker state bits (bksnap_tracker_info.state). */
#define BKSNAP_STATE_SNAPSHOT	(1U << 0)	/* part of a live snapshot */
#define BKSNAP_STATE_GONE	(1U << 1)	/* device removed; detach it */
#define BKSNAP_STATE_CBT_ERROR	(1U << 2)	/* map unusable: full read */

/* BKSNAP_IOC_TRACKER_INFO: one tracker's CBT parameters and state. */
struct bksnap_tracker_info {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	struct bksnap_dev_id dev;	/* in */
	__u8 generation[BKSNAP_UUID_SIZE];	/* out */
	__u32 sequence;			/* out: sequence new writes are marked with */
	__u32 block_shift;		/* out: log2 bytes of a CBT block */
	__u64 block_count;		/* out: map entries */
	__u64 capacity_sectors;		/* out: device size, 512-byte sectors */
	__u32 state;			/* out: BKSNAP_STATE_* */
	__u32 major;			/* out: device number */
	__u32 minor;
	__u32 reserved;
};

/*
 * BKSNAP_IOC_LIST: device numbers of all trackers.  In: capacity of the
 * array at entries.  Out: number of trackers.  ENOSPC when the array is too
 * small (count then holds the number needed).
 */
struct bksnap_list_entry {
	__u32 major;
	__u32 minor;
};

struct bksnap_list {
	__u32 version;
	__u32 count;			/* in: capacity; out: trackers */
	__u64 entries;			/* user pointer to bksnap_list_entry[] */
};

/*
 * BKSNAP_IOC_CBT_READ: copy map bytes [first_block, first_block + count)
 * into buf.  ESTALE when generation is not the tracker's current one (the
 * caller must read the whole device); ERANGE when the range passes the end.
 */
struct bksnap_cbt_read {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	struct bksnap_dev_id dev;
	__u8 generation[BKSNAP_UUID_SIZE];
	__u64 first_block;
	__u64 count;			/* bytes at buf, one per block */
	__u64 buf;			/* user pointer */
};

/*
 * BKSNAP_IOC_CBT_MARK: mark sectors [sector, sector + nr_sectors) changed
 * with the current sequence, for changes made behind the tracker's back
 * (e.g. while it was detached).  ESTALE and ERANGE as for CBT_READ.
 */
struct bksnap_cbt_mark {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	struct bksnap_dev_id dev;
	__u8 generation[BKSNAP_UUID_SIZE];
	__u64 sector;
	__u64 nr_sectors;
};

/*
 * BKSNAP_IOC_CBT_ANCHOR (version 2): name the newest token of the current
 * generation whose changes the caller has saved (sequence; 0 only asks),
 * and learn the current generation's link.
 *
 * At the next sequence wrap the new generation keeps a mark (map byte 1) on
 * every block whose byte is above the anchor, and its link is the anchor
 * token: every block changed since link (generation, sequence), for any
 * token of that generation not older than link.sequence, has a map byte of
 * at least 1 in the current generation.  A wrap with no anchor in its
 * generation keeps every mark and the link it had (the marks still cover
 * it); a wrap without either starts the map empty (BKSNAP_EVENT_CBT_RESET).
 * A linked wrap raises no event.  A link is all zero when the generation
 * started empty.  ESTALE when generation is not current; EINVAL when
 * sequence is not a token taken in it (1 <= sequence < the tracker's).
 */
struct bksnap_cbt_anchor {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	struct bksnap_dev_id dev;
	__u8 generation[BKSNAP_UUID_SIZE];	/* in: the current one */
	__u32 sequence;			/* in: token to anchor; 0: none */
	__u32 link_sequence;		/* out */
	__u8 link_generation[BKSNAP_UUID_SIZE];	/* out */
};

#define BKSNAP_IOC_MAGIC	0xBC

#define BKSNAP_IOC_VERSION	_IOWR(BKSNAP_IOC_MAGIC, 0x00, struct bksnap_version_info)
#define BKSNAP_IOC_ATTACH	_IOW(BKSNAP_IOC_MAGIC, 0x01, struct bksnap_attach)
#define BKSNAP_IOC_DETACH	_IOW(BKSNAP_IOC_MAGIC, 0x02, struct bksnap_attach)
#define BKSNAP_IOC_TRACKER_INFO	_IOWR(BKSNAP_IOC_MAGIC, 0x03, struct bksnap_tracker_info)
#define BKSNAP_IOC_LIST		_IOWR(BKSNAP_IOC_MAGIC, 0x04, struct bksnap_list)
#define BKSNAP_IOC_CBT_READ	_IOW(BKSNAP_IOC_MAGIC, 0x05, struct bksnap_cbt_read)
#define BKSNAP_IOC_CBT_MARK	_IOW(BKSNAP_IOC_MAGIC, 0x06, struct bksnap_cbt_mark)
#define BKSNAP_IOC_CBT_ANCHOR	_IOWR(BKSNAP_IOC_MAGIC, 0x07, struct bksnap_cbt_anchor)

/*
 * Snapshots: a consistency group of tracked devices taken at one instant.
 * Mounted filesystems are frozen for the take and thawed right after; the
 * CBT sequence of every member advances atomically with the take.  Each
 * member gets a read-only image device /dev/bksnap-img<N> showing its
 * content at that instant.
 *
 * Old data goes to the difference storage: regular files (on any
 * filesystem, the snapshotted one included) or block devices handed over as
 * open file descriptors; the module writes to their extents directly, so
 * its own I/O is never tracked or copied.  The caller should pass files it
 * made with O_TMPFILE or mode 0600 and fully allocated (fallocate).  When
 * free space falls below low_water_sectors the module raises
 * BKSNAP_EVENT_LOW_SPACE and the caller may add storage; when it runs out
 * the snapshot fails (images return EIO), BKSNAP_EVENT_OVERFLOW is raised,
 * and origin writes continue untouched.
 */
struct bksnap_snapshot_member {
	struct bksnap_dev_id dev;		/* in: a tracked device */
	__u8 generation[BKSNAP_UUID_SIZE];	/* out: CBT token of the image */
	__u32 sequence;				/* out */
	__u32 image_major;			/* out: image block device */
	__u32 image_minor;
	__u32 chunk_shift;			/* out: log2 bytes of a COW chunk */
};

/*
 * BKSNAP_IOC_SNAPSHOT_CREATE.  Errors: ENOENT (a member is not tracked),
 * EBUSY (a member is already in a snapshot), EINVAL (no members, too many,
 * a device twice, diff_fd not a regular file or block device), EBADF
 * (diff_fd), ENOSPC (diff storage too small to start).
 */
struct bksnap_snapshot_create {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	__u32 member_count;
	__s32 diff_fd;			/* first difference storage */
	__u64 members;			/* user pointer to bksnap_snapshot_member[] */
	__u64 low_water_sectors;	/* LOW_SPACE below this; 0: 1/8 of storage */
	__u8 id[BKSNAP_UUID_SIZE];	/* out: snapshot id */
};

/* BKSNAP_IOC_SNAPSHOT_ADD_STORAGE: grow a snapshot's difference storage. */
struct bksnap_snapshot_storage {
	__u32 version;
	__s32 diff_fd;
	__u8 id[BKSNAP_UUID_SIZE];
};

/* BKSNAP_IOC_SNAPSHOT_DESTROY: release a snapshot.  ENOENT: no such id. */
struct bksnap_snapshot_id {
	__u32 version;
	__u32 flags;			/* none defined: 0 */
	__u8 id[BKSNAP_UUID_SIZE];
};

#define BKSNAP_SNAP_FAILED	(1U << 0)	/* overflow or I/O error: images EIO */

/* BKSNAP_IOC_SNAPSHOT_INFO: state and members of one snapshot. */
struct bksnap_snapshot_info {
	__u32 version;
	__u32 state;			/* out: BKSNAP_SNAP_* */
	__u8 id[BKSNAP_UUID_SIZE];	/* in */
	__s32 error;			/* out: errno that failed it, or 0 */
	__u32 member_count;		/* in: capacity of members; out: count */
	__u64 members;			/* user pointer to bksnap_snapshot_member[] */
	__u64 storage_sectors;		/* out: difference storage size */
	__u64 used_sectors;		/* out: of which used */
};

/* BKSNAP_IOC_SNAPSHOT_LIST: ids of all snapshots; ENOSPC as for LIST. */
struct bksnap_snapshot_list {
	__u32 version;
	__u32 count;			/* in: capacity; out: snapshots */
	__u64 ids;			/* user pointer to __u8[count][16] */
};

/* Events, read() from the control device in whole records. */
enum bksnap_event_type {
	BKSNAP_EVENT_LOW_SPACE = 1,	/* add storage to snapshot id */
	BKSNAP_EVENT_OVERFLOW = 2,	/* snapshot id failed: storage full */
	BKSNAP_EVENT_SNAPSHOT_FAILED = 3, /* snapshot id failed: error */
	BKSNAP_EVENT_DEVICE_GONE = 4,	/* tracked device major:minor removed */
	BKSNAP_EVENT_CBT_RESET = 5,	/* major:minor has a new generation */
};

struct bksnap_event {
	__u32 version;
	__u32 type;			/* enum bksnap_event_type */
	__u8 id[BKSNAP_UUID_SIZE];	/* snapshot, where it applies */
	__u32 major;			/* device, where it applies */
	__u32 minor;
	__s32 error;
	__u32 reserved;
	__u64 storage_sectors;
	__u64 used_sectors;
};

#define BKSNAP_IOC_SNAPSHOT_CREATE	_IOWR(BKSNAP_IOC_MAGIC, 0x10, struct bksnap_snapshot_create)
#define BKSNAP_IOC_SNAPSHOT_ADD_STORAGE	_IOW(BKSNAP_IOC_MAGIC, 0x11, struct bksnap_snapshot_storage)
#define BKSNAP_IOC_SNAPSHOT_DESTROY	_IOW(BKSNAP_IOC_MAGIC, 0x12, struct bksnap_snapshot_id)
#define BKSNAP_IOC_SNAPSHOT_INFO	_IOWR(BKSNAP_IOC_MAGIC, 0x13, struct bksnap_snapshot_info)
#define BKSNAP_IOC_SNAPSHOT_LIST	_IOWR(BKSNAP_IOC_MAGIC, 0x14, struct bksnap_snapshot_list)

#endif /* _UAPI_LINUX_BKSNAP_H */
