// SPDX-License-Identifier: GPL-2.0
/*
 * stamp: checks that a snapshot image shows the device at one instant.
 *
 * Every 4 KiB block of a target (a block device, or a file on a mounted
 * filesystem) carries a stamp: its block number, the id of the write that
 * put it there and a checksum.  Writer threads rewrite random blocks (each
 * writer its own blocks, one write at a time, so a block's writes are
 * ordered); a global clock orders every write's start and end against the
 * snapshot's take, which this program performs itself between writes.
 * In the image, each block must hold the last write that ended before the
 * take began, or a write in flight during the take (started before it
 * ended, ended after it began) - nothing older, newer, or torn.
 *
 *   stamp init TARGET BLOCKS
 *   stamp run TARGET BLOCKS LOG DIFF DEV... [env STAMP_DIRECT=1
 *       STAMP_WRITERS=2 STAMP_BEFORE_MS=1500 STAMP_AFTER_MS=1000]
 *       prints the snapshot's id and image lines (as bksnapctl does)
 *   stamp check IMAGE_TARGET LOG
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/bksnap.h>

#define BLOCK		4096
#define MAGIC		0x706d617473736b62ULL	/* "bkstamp" */
#define MAX_WRITERS	8
#define BATCH		256	/* blocks per read or write of init and check */

struct stamp {
	uint64_t magic;
	uint64_t block;
	uint64_t id;		/* clock at the write's start; 0: init */
	uint64_t sum;		/* over the whole block with sum = 0 */
};

struct record {
	uint64_t block, start, end;
};

struct log_header {
	uint64_t blocks, take_begin, take_end, nr;
};

struct writer {
	pthread_t thread;
	int fd, index, count;
	uint64_t blocks;
	struct record *recs;
	size_t nr, cap;
	uint64_t rng;
};

static _Atomic uint64_t clock_now;
static atomic_bool stop;

static void die(const char *what)
{
	fprintf(stderr, "stamp: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

static void fill(uint8_t *buf, uint64_t block, uint64_t id)
{
	struct stamp *s = (struct stamp *)buf;
	uint64_t x = id * 0x9e3779b97f4a7c15ULL + block;

	for (size_t i = sizeof(*s); i < BLOCK; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	*s = (struct stamp){ .magic = MAGIC, .block = block, .id = id };
	s->sum = fnv(buf, BLOCK);
}

/* The write id a block holds, or -1 if it is not a whole valid stamp. */
static int64_t read_stamp(uint8_t *buf, uint64_t block)
{
	struct stamp s;
	uint64_t sum;

	memcpy(&s, buf, sizeof(s));
	sum = s.sum;
	((struct stamp *)buf)->sum = 0;
	if (s.magic != MAGIC || s.block != block || fnv(buf, BLOCK) != sum)
		return -1;
	return (int64_t)s.id;
}

static uint8_t *block_buffer(size_t blocks)
{
	void *p;

	if (posix_memalign(&p, BLOCK, blocks * BLOCK))
		die("memory");
	return p;
}

static int open_target(const char *path, int flags)
{
	int fd = open(path, flags | (getenv("STAMP_DIRECT") ? O_DIRECT : 0), 0644);

	if (fd < 0)
		die(path);
	return fd;
}

static long env_or(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v ? atol(v) : dflt;
}

static int cmd_init(const char *target, uint64_t blocks)
{
	int fd = open_target(target, O_WRONLY | O_CREAT);
	uint8_t *buf = block_buffer(BATCH);

	for (uint64_t b = 0; b < blocks; b += BATCH) {
		uint64_t n = blocks - b < BATCH ? blocks - b : BATCH;

		for (uint64_t i = 0; i < n; i++)
			fill(buf + i * BLOCK, b + i, 0);
		if (pwrite(fd, buf, n * BLOCK, b * BLOCK) != (ssize_t)(n * BLOCK))
			die("init write");
	}
	if (fsync(fd) || close(fd))
		die("init sync");
	free(buf);
	return 0;
}

static uint64_t rnd(struct writer *w)
{
	w->rng ^= w->rng << 13, w->rng ^= w->rng >> 7, w->rng ^= w->rng << 17;
	return w->rng;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t *buf = block_buffer(1);
	uint64_t mine = (w->blocks - w->index + w->count - 1) / w->count;

	while (!atomic_load(&stop)) {
		uint64_t block = (rnd(w) % mine) * w->count + w->index;
		struct record r = { .block = block, .start = ++clock_now };

		fill(buf, block, r.start);
		if (pwrite(w->fd, buf, BLOCK, block * BLOCK) != BLOCK)
			die("write");
		r.end = ++clock_now;
		if (w->nr == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 4096;
			w->recs = realloc(w->recs, w->cap * sizeof(*w->recs));
			if (!w->recs)
				die("memory");
		}
		w->recs[w->nr++] = r;
	}
	free(buf);
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void print_id(const char *key, const __u8 *id)
{
	printf("%s=", key);
	for (int i = 0; i < BKSNAP_UUID_SIZE; i++)
		printf("%02x", id[i]);
	printf("\n");
}

/* The take, between two ticks of the clock. */
static void take(const char *diff, int n, char **devs,
		 struct log_header *h)
{
	struct bksnap_snapshot_member m[16] = { 0 };
	struct bksnap_snapshot_create c = {
		.version = BKSNAP_UAPI_VERSION, .member_count = n,
		.members = (uintptr_t)m,
	};
	int ctl = open("/dev/" BKSNAP_CTL_NAME, O_RDWR);

	if (n > 16)
		exit(2);
	for (int i = 0; i < n; i++)
		m[i].dev.path = (uintptr_t)devs[i];
	c.diff_fd = open(diff, O_RDWR);
	if (ctl < 0 || c.diff_fd < 0)
		die("open control device or difference storage");
	h->take_begin = ++clock_now;
	if (ioctl(ctl, BKSNAP_IOC_SNAPSHOT_CREATE, &c))
		die("snapshot");
	h->take_end = ++clock_now;
	print_id("id", c.id);
	for (int i = 0; i < n; i++)
		printf("member=%u:%u image=/dev/%s%u\n", m[i].dev.major,
		       m[i].dev.minor, BKSNAP_IMAGE_PREFIX, m[i].image_minor);
	close(c.diff_fd);
	close(ctl);
}

static int cmd_run(const char *target, uint64_t blocks, const char *logpath,
		   const char *diff, int n, char **devs)
{
	int count = env_or("STAMP_WRITERS", 2);
	struct writer w[MAX_WRITERS] = { 0 };
	struct log_header h = { .blocks = blocks };
	FILE *log;

	if (count < 1 || count > MAX_WRITERS || (uint64_t)count > blocks)
		return 2;
	for (int i = 0; i < count; i++) {
		w[i] = (struct writer){ .index = i, .count = count,
			.blocks = blocks, .rng = 88172645463325252ULL + i,
			.fd = open_target(target, O_WRONLY) };
		w[i].rng ^= (uint64_t)time(NULL) << 8;
		if (pthread_create(&w[i].thread, NULL, writer_main, &w[i]))
			die("thread");
	}
	sleep_ms(env_or("STAMP_BEFORE_MS", 1500));
	take(diff, n, devs, &h);
	sleep_ms(env_or("STAMP_AFTER_MS", 1000));
	atomic_store(&stop, true);
	for (int i = 0; i < count; i++) {
		pthread_join(w[i].thread, NULL);
		h.nr += w[i].nr;
		close(w[i].fd);
	}
	log = fopen(logpath, "wb");
	if (!log || fwrite(&h, sizeof(h), 1, log) != 1)
		die(logpath);
	for (int i = 0; i < count; i++) {
		if (fwrite(w[i].recs, sizeof(struct record), w[i].nr, log) !=
		    w[i].nr)
			die(logpath);
		free(w[i].recs);
	}
	if (fclose(log))
		die(logpath);
	fprintf(stderr, "stamp: %" PRIu64 " writes, take between ticks %" PRIu64
		" and %" PRIu64 "\n", h.nr, h.take_begin, h.take_end);
	return 0;
}

/* Per block: the last write ended before the take, and writes during it. */
struct expect {
	uint64_t last_before;	/* id, 0 = the initial stamp */
	uint64_t last_before_end;
};

static int in_flight(const struct record *r, const struct log_header *h)
{
	return r->start < h->take_end && r->end > h->take_begin;
}

static int cmd_check(const char *image, const char *logpath)
{
	struct log_header h;
	struct record *recs;
	struct expect *exp;
	uint8_t *buf = block_buffer(BATCH);
	uint64_t bad = 0, from_take = 0;
	FILE *log = fopen(logpath, "rb");
	int fd = open_target(image, O_RDONLY);

	if (!log || fread(&h, sizeof(h), 1, log) != 1)
		die(logpath);
	recs = calloc(h.nr + 1, sizeof(*recs));
	exp = calloc(h.blocks, sizeof(*exp));
	if (!recs || !exp || fread(recs, sizeof(*recs), h.nr, log) != h.nr)
		die(logpath);
	for (uint64_t i = 0; i < h.nr; i++) {
		struct expect *e = &exp[recs[i].block];

		if (recs[i].end < h.take_begin &&
		    recs[i].end > e->last_before_end) {
			e->last_before = recs[i].start;
			e->last_before_end = recs[i].end;
		}
	}
	for (uint64_t b = 0; b < h.blocks; b++) {
		int64_t id;
		int ok;

		if (b % BATCH == 0) {
			uint64_t n = h.blocks - b < BATCH ? h.blocks - b : BATCH;

			if (pread(fd, buf, n * BLOCK, b * BLOCK) != (ssize_t)(n * BLOCK))
				die("image read");
		}
		id = read_stamp(buf + (b % BATCH) * BLOCK, b);
		ok = id >= 0 && (uint64_t)id == exp[b].last_before;
		for (uint64_t i = 0; !ok && id > 0 && i < h.nr; i++) {
			if (recs[i].start == (uint64_t)id && recs[i].block == b &&
			    in_flight(&recs[i], &h))
				ok = 1, from_take++;
		}
		if (!ok && bad++ < 10)
			fprintf(stderr, "stamp: block %" PRIu64 ": image holds %" PRId64
				", expected %" PRIu64 " or a write in flight during the take\n",
				b, id, exp[b].last_before);
	}
	printf("stamp check: %" PRIu64 " blocks, %" PRIu64 " writes, %" PRIu64
	       " blocks from writes in flight during the take, %" PRIu64
	       " mismatches\n", h.blocks, h.nr, from_take, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "init"))
		return cmd_init(argv[2], strtoull(argv[3], NULL, 0));
	if (argc >= 7 && !strcmp(argv[1], "run"))
		return cmd_run(argv[2], strtoull(argv[3], NULL, 0), argv[4],
			       argv[5], argc - 6, argv + 6);
	if (argc == 4 && !strcmp(argv[1], "check"))
		return cmd_check(argv[2], argv[3]);
	fprintf(stderr, "usage: stamp init TARGET BLOCKS | "
		"stamp run TARGET BLOCKS LOG DIFF DEV... | stamp check IMAGE LOG\n");
	return 2;
}
