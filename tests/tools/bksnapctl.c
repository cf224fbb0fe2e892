// SPDX-License-Identifier: GPL-2.0
/*
 * bksnapctl: drive the bksnap module directly through its uAPI, for tests
 * and for debugging.  Admins use bkagent; this tool has no state and no
 * daemon.  Devices are paths; exit status 0 on success, else 1 with the
 * errno name printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>
#include <linux/bksnap.h>

static const char *usage =
	"usage: bksnapctl COMMAND [ARGS]\n"
	"  version                       module version and limits\n"
	"  attach DEV | detach DEV       start / stop tracking a block device\n"
	"  info DEV                      CBT generation, sequence, geometry\n"
	"  list                          tracked devices (major:minor)\n"
	"  cbt-read DEV FILE             write the CBT map (1 byte/block) to FILE\n"
	"  mark DEV SECTOR COUNT         mark sectors changed\n"
	"  events [N]                    print N queued events (default: all)\n"
	"  snapshot [-l SECTORS] DIFF DEV...\n"
	"                                take a snapshot of DEVs at one instant;\n"
	"                                DIFF: fully written file or block device;\n"
	"                                -l: low-space event below SECTORS free\n"
	"  snapshots                     ids of all snapshots\n"
	"  snapshot-info ID              state, storage use and members\n"
	"  add-storage ID DIFF           give a snapshot more difference storage\n"
	"  release ID                    destroy a snapshot\n"
	"  cycle N DIFF DEV              N times: one random 4 KiB direct write\n"
	"                                to DEV, a snapshot of DEV (its member\n"
	"                                line), its release\n";

static int ctl_fd(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/dev/" BKSNAP_CTL_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bksnapctl: /dev/%s: %s\n", BKSNAP_CTL_NAME,
			strerror(errno));
		exit(1);
	}
	return fd;
}

static int do_ioctl(unsigned long cmd, void *arg, const char *what)
{
	if (ioctl(ctl_fd(), cmd, arg) == 0)
		return 0;
	fprintf(stderr, "bksnapctl: %s: %s (%s)\n", what, strerrorname_np(errno),
		strerror(errno));
	return 1;
}

static struct bksnap_dev_id dev_id(const char *path)
{
	struct bksnap_dev_id id = { .path = (uintptr_t)path };

	return id;
}

static void print_uuid(const char *key, const __u8 *u)
{
	printf("%s=", key);
	for (int i = 0; i < BKSNAP_UUID_SIZE; i++)
		printf("%02x", u[i]);
	printf("\n");
}

static int cmd_version(void)
{
	struct bksnap_version_info v = { .version = BKSNAP_UAPI_VERSION };

	if (do_ioctl(BKSNAP_IOC_VERSION, &v, "version"))
		return 1;
	printf("uapi=%u\nmodule=%u.%u.%u\nmax_trackers=%u\n"
	       "cbt_block_shift=%u..%u\ncbt_max_blocks=%" PRIu64 "\n",
	       v.uapi_version, v.module_major, v.module_minor,
	       v.module_patch, v.max_trackers, v.cbt_min_block_shift,
	       v.cbt_max_block_shift, (uint64_t)v.cbt_max_blocks);
	return 0;
}

static int cmd_attach(unsigned long cmd, const char *dev)
{
	struct bksnap_attach a = {
		.version = BKSNAP_UAPI_VERSION, .dev = dev_id(dev),
	};

	return do_ioctl(cmd, &a, dev);
}

static int get_info(const char *dev, struct bksnap_tracker_info *info)
{
	memset(info, 0, sizeof(*info));
	info->version = BKSNAP_UAPI_VERSION;
	info->dev = dev_id(dev);
	return do_ioctl(BKSNAP_IOC_TRACKER_INFO, info, dev);
}

static int cmd_info(const char *dev)
{
	struct bksnap_tracker_info t;

	if (get_info(dev, &t))
		return 1;
	print_uuid("generation", t.generation);
	printf("sequence=%u\nblock_shift=%u\nblock_count=%" PRIu64 "\n"
	       "capacity_sectors=%" PRIu64 "\nstate=%#x\ndev=%u:%u\n",
	       t.sequence, t.block_shift, (uint64_t)t.block_count,
	       (uint64_t)t.capacity_sectors, t.state, t.major, t.minor);
	return 0;
}

static int cmd_list(void)
{
	struct bksnap_list_entry e[64];
	struct bksnap_list l = {
		.version = BKSNAP_UAPI_VERSION, .count = 64,
		.entries = (uintptr_t)e,
	};

	if (do_ioctl(BKSNAP_IOC_LIST, &l, "list"))
		return 1;
	for (__u32 i = 0; i < l.count; i++)
		printf("%u:%u\n", e[i].major, e[i].minor);
	return 0;
}

static int cmd_cbt_read(const char *dev, const char *file)
{
	struct bksnap_tracker_info t;
	struct bksnap_cbt_read r = { .version = BKSNAP_UAPI_VERSION };
	FILE *out;
	int ret;

	if (get_info(dev, &t))
		return 1;
	r.buf = (uintptr_t)calloc(t.block_count, 1);
	if (!r.buf)
		return 1;
	r.dev = dev_id(dev);
	memcpy(r.generation, t.generation, BKSNAP_UUID_SIZE);
	r.count = t.block_count;
	ret = do_ioctl(BKSNAP_IOC_CBT_READ, &r, dev);
	out = ret ? NULL : fopen(file, "wb");
	if (!ret && (!out || fwrite((void *)(uintptr_t)r.buf, 1, r.count, out)
			     != r.count || fclose(out))) {
		fprintf(stderr, "bksnapctl: %s: %s\n", file, strerror(errno));
		ret = 1;
	}
	free((void *)(uintptr_t)r.buf);
	return ret;
}

static int cmd_mark(const char *dev, const char *sector, const char *count)
{
	struct bksnap_tracker_info t;
	struct bksnap_cbt_mark m = { .version = BKSNAP_UAPI_VERSION };

	if (get_info(dev, &t))
		return 1;
	m.dev = dev_id(dev);
	memcpy(m.generation, t.generation, BKSNAP_UUID_SIZE);
	m.sector = strtoull(sector, NULL, 0);
	m.nr_sectors = strtoull(count, NULL, 0);
	return do_ioctl(BKSNAP_IOC_CBT_MARK, &m, dev);
}

static int parse_id(const char *text, __u8 *id)
{
	for (int i = 0; i < BKSNAP_UUID_SIZE; i++) {
		if (sscanf(text + 2 * i, "%2hhx", &id[i]) != 1) {
			fprintf(stderr, "bksnapctl: bad snapshot id %s\n", text);
			return 1;
		}
	}
	return 0;
}

static int open_diff(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "bksnapctl: %s: %s\n", path, strerror(errno));
	return fd;
}

static void print_members(const struct bksnap_snapshot_member *m, __u32 n)
{
	for (__u32 i = 0; i < n; i++) {
		printf("member=%u:%u image=/dev/%s%u sequence=%u chunk_shift=%u ",
		       m[i].dev.major, m[i].dev.minor, BKSNAP_IMAGE_PREFIX,
		       m[i].image_minor, m[i].sequence, m[i].chunk_shift);
		print_uuid("generation", m[i].generation);
	}
}

static int cmd_snapshot(__u64 low_water, const char *diff, int n, char **devs)
{
	struct bksnap_snapshot_member m[16] = { 0 };
	struct bksnap_snapshot_create c = {
		.version = BKSNAP_UAPI_VERSION, .member_count = n,
		.members = (uintptr_t)m, .low_water_sectors = low_water,
	};

	if (n > (int)(sizeof(m) / sizeof(m[0])))
		return 2;
	for (int i = 0; i < n; i++)
		m[i].dev = dev_id(devs[i]);
	c.diff_fd = open_diff(diff);
	if (c.diff_fd < 0 || do_ioctl(BKSNAP_IOC_SNAPSHOT_CREATE, &c, "snapshot"))
		return 1;
	print_uuid("id", c.id);
	print_members(m, n);
	return 0;
}

static int cmd_snapshots(void)
{
	__u8 ids[64][BKSNAP_UUID_SIZE];
	struct bksnap_snapshot_list l = {
		.version = BKSNAP_UAPI_VERSION, .count = 64, .ids = (uintptr_t)ids,
	};

	if (do_ioctl(BKSNAP_IOC_SNAPSHOT_LIST, &l, "snapshots"))
		return 1;
	for (__u32 i = 0; i < l.count; i++)
		print_uuid("id", ids[i]);
	return 0;
}

static int cmd_snapshot_info(const char *id)
{
	struct bksnap_snapshot_member m[16];
	struct bksnap_snapshot_info info = {
		.version = BKSNAP_UAPI_VERSION, .member_count = 16,
		.members = (uintptr_t)m,
	};

	if (parse_id(id, info.id) ||
	    do_ioctl(BKSNAP_IOC_SNAPSHOT_INFO, &info, id))
		return 1;
	printf("state=%s\nerror=%d\nstorage_sectors=%" PRIu64
	       "\nused_sectors=%" PRIu64 "\n",
	       info.state & BKSNAP_SNAP_FAILED ? "failed" : "ok", info.error,
	       (uint64_t)info.storage_sectors, (uint64_t)info.used_sectors);
	print_members(m, info.member_count);
	return 0;
}

static int cmd_add_storage(const char *id, const char *diff)
{
	struct bksnap_snapshot_storage s = { .version = BKSNAP_UAPI_VERSION };

	if (parse_id(id, s.id))
		return 1;
	s.diff_fd = open_diff(diff);
	return s.diff_fd < 0 ||
	       do_ioctl(BKSNAP_IOC_SNAPSHOT_ADD_STORAGE, &s, "add-storage");
}

static int cmd_release(const char *id)
{
	struct bksnap_snapshot_id s = { .version = BKSNAP_UAPI_VERSION };

	return parse_id(id, s.id) ||
	       do_ioctl(BKSNAP_IOC_SNAPSHOT_DESTROY, &s, "release");
}

/*
 * A long run of snapshots in one process: under TCG a process per write,
 * take and release costs more than the take itself.
 */
static int cmd_cycle(long n, const char *diff, const char *dev)
{
	int fd = open(dev, O_WRONLY | O_DIRECT | O_CLOEXEC);
	int diff_fd = open_diff(diff);
	off_t blocks = fd < 0 ? 0 : lseek(fd, 0, SEEK_END) / 4096;
	void *buf = NULL;
	int ret = 1;

	if (fd < 0 || diff_fd < 0 || blocks <= 0 ||
	    posix_memalign(&buf, 4096, 4096)) {
		fprintf(stderr, "bksnapctl: cycle %s: %s\n", dev, strerror(errno));
		goto out;
	}
	srandom(getpid());
	for (; n > 0; n--) {
		struct bksnap_snapshot_member m = { .dev = dev_id(dev) };
		struct bksnap_snapshot_create c = {
			.version = BKSNAP_UAPI_VERSION, .member_count = 1,
			.members = (uintptr_t)&m, .diff_fd = diff_fd,
		};
		struct bksnap_snapshot_id s = { .version = BKSNAP_UAPI_VERSION };

		if (getrandom(buf, 4096, 0) != 4096 ||
		    pwrite(fd, buf, 4096, (random() % blocks) * 4096) != 4096) {
			fprintf(stderr, "bksnapctl: write %s: %s\n", dev, strerror(errno));
			goto out;
		}
		if (do_ioctl(BKSNAP_IOC_SNAPSHOT_CREATE, &c, "snapshot"))
			goto out;
		print_members(&m, 1);
		memcpy(s.id, c.id, BKSNAP_UUID_SIZE);
		if (do_ioctl(BKSNAP_IOC_SNAPSHOT_DESTROY, &s, "release"))
			goto out;
	}
	ret = 0;
out:
	free(buf);
	if (diff_fd >= 0)
		close(diff_fd);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int cmd_events(long n)
{
	int fd = open("/dev/" BKSNAP_CTL_NAME, O_RDONLY | O_NONBLOCK);
	struct bksnap_event ev;

	if (fd < 0)
		return 1;
	while (n-- != 0 && read(fd, &ev, sizeof(ev)) == sizeof(ev)) {
		printf("type=%u dev=%u:%u error=%d storage=%" PRIu64
		       " used=%" PRIu64 " ", ev.type, ev.major, ev.minor,
		       ev.error, (uint64_t)ev.storage_sectors,
		       (uint64_t)ev.used_sectors);
		print_uuid("id", ev.id);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "version") && argc == 2)
		return cmd_version();
	if (!strcmp(cmd, "attach") && argc == 3)
		return cmd_attach(BKSNAP_IOC_ATTACH, argv[2]);
	if (!strcmp(cmd, "detach") && argc == 3)
		return cmd_attach(BKSNAP_IOC_DETACH, argv[2]);
	if (!strcmp(cmd, "info") && argc == 3)
		return cmd_info(argv[2]);
	if (!strcmp(cmd, "list") && argc == 2)
		return cmd_list();
	if (!strcmp(cmd, "cbt-read") && argc == 4)
		return cmd_cbt_read(argv[2], argv[3]);
	if (!strcmp(cmd, "mark") && argc == 5)
		return cmd_mark(argv[2], argv[3], argv[4]);
	if (!strcmp(cmd, "snapshot") && argc >= 6 && !strcmp(argv[2], "-l"))
		return cmd_snapshot(strtoull(argv[3], NULL, 0), argv[4], argc - 5,
				    argv + 5);
	if (!strcmp(cmd, "snapshot") && argc >= 4)
		return cmd_snapshot(0, argv[2], argc - 3, argv + 3);
	if (!strcmp(cmd, "snapshots") && argc == 2)
		return cmd_snapshots();
	if (!strcmp(cmd, "snapshot-info") && argc == 3)
		return cmd_snapshot_info(argv[2]);
	if (!strcmp(cmd, "add-storage") && argc == 4)
		return cmd_add_storage(argv[2], argv[3]);
	if (!strcmp(cmd, "release") && argc == 3)
		return cmd_release(argv[2]);
	if (!strcmp(cmd, "cycle") && argc == 5)
		return cmd_cycle(atol(argv[2]), argv[3], argv[4]);
	if (!strcmp(cmd, "events") && argc <= 3)
		return cmd_events(argc == 3 ? atol(argv[2]) : -1);
	fputs(usage, strcmp(cmd, "--help") ? stderr : stdout);
	return strcmp(cmd, "--help") ? 2 : 0;
}
