// SPDX-License-Identifier: GPL-2.0
/*
 * Every refusal of the bksnap control interface, against the real module:
 * each bad input must fail with the errno the uAPI header documents.
 * Run as root in the VM: ctl_errno_test DISK OTHER_DISK DIFF_DISK (all
 * untracked at start).  Prints one line per case; exits 1 if any fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/bksnap.h>

static int ctl;
static int failures;

static void expect(const char *name, int ret, int want)
{
	int got = ret ? errno : 0;

	if (ret && ret != -1)
		got = -1000;
	printf("%s %-44s want %-12s got %s\n", got == want ? "ok  " : "FAIL",
	       name, want ? strerrorname_np(want) : "0",
	       got ? strerrorname_np(got) ?: "?" : "0");
	failures += got != want;
}

static struct bksnap_attach attach_arg(const char *path)
{
	struct bksnap_attach a = {
		.version = BKSNAP_UAPI_VERSION, .dev.path = (uintptr_t)path,
	};

	return a;
}

static struct bksnap_tracker_info info_of(const char *path)
{
	struct bksnap_tracker_info t = {
		.version = BKSNAP_UAPI_VERSION, .dev.path = (uintptr_t)path,
	};

	if (ioctl(ctl, BKSNAP_IOC_TRACKER_INFO, &t)) {
		perror("tracker info");
		exit(2);
	}
	return t;
}

/* CBT map access on a tracked device. */
static void cbt_cases(const char *disk)
{
	struct bksnap_tracker_info t = info_of(disk);
	__u8 buf[8];
	struct bksnap_cbt_read r = {
		.version = BKSNAP_UAPI_VERSION, .dev.path = (uintptr_t)disk,
		.count = 1, .buf = (uintptr_t)buf,
	};
	struct bksnap_cbt_mark m = {
		.version = BKSNAP_UAPI_VERSION, .dev.path = (uintptr_t)disk,
		.nr_sectors = 1,
	};
	struct bksnap_list_entry e[1];
	struct bksnap_list l = {
		.version = BKSNAP_UAPI_VERSION, .count = 1,
		.entries = (uintptr_t)e,
	};

	expect("cbt read: unknown generation", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), ESTALE);
	memcpy(r.generation, t.generation, BKSNAP_UUID_SIZE);
	expect("cbt read: first block", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), 0);
	r.first_block = t.block_count;
	expect("cbt read: range past the end", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), ERANGE);
	r.first_block = 1;
	r.count = ~0ULL;
	expect("cbt read: range wraps around", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), ERANGE);
	r.first_block = 0;
	r.count = 0;
	expect("cbt read: empty range", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), EINVAL);
	r.count = 1;
	r.buf = 16;
	expect("cbt read: bad buffer pointer", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), EFAULT);
	r.dev.path = (uintptr_t)"/dev/null";
	expect("cbt read: not a block device", ioctl(ctl, BKSNAP_IOC_CBT_READ, &r), ENOTBLK);

	expect("cbt mark: unknown generation", ioctl(ctl, BKSNAP_IOC_CBT_MARK, &m), ESTALE);
	memcpy(m.generation, t.generation, BKSNAP_UUID_SIZE);
	m.sector = t.capacity_sectors;
	expect("cbt mark: range past the end", ioctl(ctl, BKSNAP_IOC_CBT_MARK, &m), ERANGE);
	m.sector = t.capacity_sectors - 1;
	expect("cbt mark: last sector", ioctl(ctl, BKSNAP_IOC_CBT_MARK, &m), 0);

	expect("list: buffer too small", ioctl(ctl, BKSNAP_IOC_LIST, &l), ENOSPC);
	if (l.count != 2) {
		printf("FAIL list: needed count %u, want 2\n", l.count);
		failures++;
	}
	expect("unknown ioctl", ioctl(ctl, _IO(BKSNAP_IOC_MAGIC, 0x7f)), ENOTTY);
}

static void device_cases(const char *disk, const char *other)
{
	struct bksnap_attach a = attach_arg(disk);
	struct stat st;

	a.version = 0;
	expect("attach: wrong struct version", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EPROTO);
	a = attach_arg(disk);
	a.flags = 1;
	expect("attach: unknown flag", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EINVAL);
	a = attach_arg("/nonexistent/disk");
	expect("attach: no such path", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), ENOENT);
	a = attach_arg("/proc/version");
	expect("attach: not a block device", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), ENOTBLK);
	a = attach_arg(NULL);
	a.dev.major = 4095;
	a.dev.minor = 12345;
	expect("attach: unknown device number", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), ENODEV);
	a.dev.major = 1U << 12;
	expect("attach: major out of range", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EINVAL);
	a = attach_arg(disk);
	a.dev.major = 1;
	expect("attach: path and number both given", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EINVAL);
	a = attach_arg(NULL);
	a.dev.path = 16;	/* unmapped user address */
	expect("attach: bad path pointer", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EFAULT);
	expect("attach: bad argument pointer", ioctl(ctl, BKSNAP_IOC_ATTACH, (void *)16), EFAULT);

	a = attach_arg(disk);
	expect("detach: untracked device", ioctl(ctl, BKSNAP_IOC_DETACH, &a), ENOENT);
	expect("attach: by path", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), 0);
	expect("attach: twice", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EBUSY);
	if (stat(disk, &st) == 0) {
		a = attach_arg(NULL);
		a.dev.major = major(st.st_rdev);
		a.dev.minor = minor(st.st_rdev);
		expect("attach: twice, by number", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EBUSY);
	}
	a = attach_arg(other);
	expect("attach: second device", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), 0);

	cbt_cases(disk);

	a = attach_arg(disk);
	expect("detach", ioctl(ctl, BKSNAP_IOC_DETACH, &a), 0);
	a = attach_arg(other);
	expect("detach second", ioctl(ctl, BKSNAP_IOC_DETACH, &a), 0);
	expect("detach: again", ioctl(ctl, BKSNAP_IOC_DETACH, &a), ENOENT);
}

static int snapshot(const char *const *devs, __u32 n, int diff_fd, __u8 *id)
{
	struct bksnap_snapshot_member m[4] = { 0 };
	struct bksnap_snapshot_create c = {
		.version = BKSNAP_UAPI_VERSION, .member_count = n,
		.diff_fd = diff_fd, .members = (uintptr_t)m,
	};
	int ret;

	for (__u32 i = 0; i < n && i < 4; i++)
		m[i].dev.path = (uintptr_t)devs[i];
	ret = ioctl(ctl, BKSNAP_IOC_SNAPSHOT_CREATE, &c);
	if (id)
		memcpy(id, c.id, BKSNAP_UUID_SIZE);
	return ret;
}

/* Snapshot commands: DISK tracked, OTHER not. */
static void snapshot_cases(const char *disk, const char *other, const char *diff)
{
	const char *one[] = { disk }, *twice[] = { disk, disk };
	const char *untracked[] = { disk, other };
	int fd = open(diff, O_RDWR), ro = open(diff, O_RDONLY);
	int tmp = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	struct bksnap_attach a = attach_arg(disk);
	struct bksnap_snapshot_id sid = { .version = BKSNAP_UAPI_VERSION };
	struct bksnap_snapshot_storage st = {
		.version = BKSNAP_UAPI_VERSION, .diff_fd = fd,
	};
	struct bksnap_snapshot_info info = { .version = BKSNAP_UAPI_VERSION };
	__u8 id[BKSNAP_UUID_SIZE];

	if (fd < 0 || ro < 0 || tmp < 0 || ftruncate(tmp, 1 << 20)) {
		perror("snapshot case setup");
		exit(2);
	}
	expect("attach for snapshots", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), 0);
	expect("snapshot: untracked member", snapshot(untracked, 2, fd, NULL), ENOENT);
	expect("snapshot: no member", snapshot(one, 0, fd, NULL), EINVAL);
	expect("snapshot: a device twice", snapshot(twice, 2, fd, NULL), EINVAL);
	expect("snapshot: bad storage fd", snapshot(one, 1, -1, NULL), EBADF);
	expect("snapshot: storage fd not writable", snapshot(one, 1, ro, NULL), EBADF);
	expect("snapshot: storage on tmpfs", snapshot(one, 1, tmp, NULL), EINVAL);
	expect("snapshot", snapshot(one, 1, fd, id), 0);
	expect("snapshot: member already in one", snapshot(one, 1, fd, NULL), EBUSY);
	expect("detach: device in a snapshot", ioctl(ctl, BKSNAP_IOC_DETACH, &a), EBUSY);
	memcpy(info.id, id, BKSNAP_UUID_SIZE);
	expect("snapshot info: member array too small",
	       ioctl(ctl, BKSNAP_IOC_SNAPSHOT_INFO, &info), ENOSPC);
	memset(sid.id, 0xab, BKSNAP_UUID_SIZE);
	memcpy(st.id, sid.id, BKSNAP_UUID_SIZE);
	expect("release: unknown id", ioctl(ctl, BKSNAP_IOC_SNAPSHOT_DESTROY, &sid), ENOENT);
	expect("add storage: unknown id", ioctl(ctl, BKSNAP_IOC_SNAPSHOT_ADD_STORAGE, &st), ENOENT);
	memcpy(sid.id, id, BKSNAP_UUID_SIZE);
	expect("release", ioctl(ctl, BKSNAP_IOC_SNAPSHOT_DESTROY, &sid), 0);
	expect("detach after release", ioctl(ctl, BKSNAP_IOC_DETACH, &a), 0);
	close(tmp);
	close(ro);
	close(fd);
}

/* The control device is root's alone. */
static void privilege_cases(const char *disk)
{
	struct bksnap_version_info v = { .version = BKSNAP_UAPI_VERSION };
	struct bksnap_attach a = attach_arg(disk);

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
		perror("drop privileges");
		exit(2);
	}
	expect("unprivileged: version", ioctl(ctl, BKSNAP_IOC_VERSION, &v), EPERM);
	expect("unprivileged: attach", ioctl(ctl, BKSNAP_IOC_ATTACH, &a), EPERM);
	expect("unprivileged: open", open("/dev/" BKSNAP_CTL_NAME, O_RDWR), EACCES);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: ctl_errno_test DISK OTHER_DISK DIFF_DISK\n");
		return 2;
	}
	ctl = open("/dev/" BKSNAP_CTL_NAME, O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		perror("/dev/" BKSNAP_CTL_NAME);
		return 2;
	}
	device_cases(argv[1], argv[2]);
	snapshot_cases(argv[1], argv[2], argv[3]);
	privilege_cases(argv[1]);
	printf("%d failed\n", failures);
	return failures ? 1 : 0;
}
