// SPDX-License-Identifier: GPL-2.0
/*
 * Properties of the ioctl argument checks; see ctl_args_props.h.
 *
 * For every check: no undefined behaviour (run under UBSan), the result is
 * one of the errnos the header documents for that command, a wrong version
 * is always EPROTO, and accepted arguments are well-formed: flags and
 * reserved zero, a representable device, counts within their limits and
 * ranges inside the device without wrapping.
 */
#include <string.h>

#include "ctl_args.h"
#include "ctl_args_props.h"

struct input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static void take(struct input *in, void *dst, size_t n)
{
	size_t avail = in->pos < in->size ? in->size - in->pos : 0;
	size_t k = n < avail ? n : avail;

	memset(dst, 0, n);
	if (k)
		memcpy(dst, in->data + in->pos, k);
	in->pos += n;
}

/* Control bits steer random bytes towards valid fields, to reach deep. */
enum {
	FIX_VERSION = 1 << 0,
	FIX_FLAGS = 1 << 1,
	FIX_GENERATION = 1 << 2,
	FIX_DEV = 1 << 3,
	SMALL_NUMBERS = 1 << 4,
};

struct limits {
	u8 generation[BKSNAP_UUID_SIZE];
	u64 size;		/* block count or capacity */
	u32 count;		/* needed entries or max members */
};

struct ctx {
	struct input in;
	u8 control;
	struct limits lim;
	int ret;		/* what the check returned */
};

static bool dev_ok(const struct bksnap_dev_id *d)
{
	if (d->path)
		return !d->major && !d->minor;
	return d->major < 4096 && d->minor < (1U << 20);
}

static void fix_header(struct ctx *c, u32 *version, u32 *flags)
{
	if (c->control & FIX_VERSION)
		*version = BKSNAP_UAPI_VERSION;
	if (flags && (c->control & FIX_FLAGS))
		*flags = 0;
}

static void fix_dev(struct ctx *c, struct bksnap_dev_id *d)
{
	if (!(c->control & FIX_DEV))
		return;
	if (d->path) {
		d->major = 0;
		d->minor = 0;
	} else {
		d->major %= 4096;
		d->minor %= 1U << 20;
	}
}

static void fix_region(struct ctx *c, u8 *generation, u64 *first, u64 *count)
{
	if (c->control & FIX_GENERATION)
		memcpy(generation, c->lim.generation, BKSNAP_UUID_SIZE);
	if (c->control & SMALL_NUMBERS) {
		c->lim.size %= 1 << 16;
		*first %= 1 << 16;
		*count %= 1 << 16;
	}
}

static bool region_ok(const u8 *generation, u64 first, u64 count,
		      const struct limits *lim)
{
	return count && !memcmp(generation, lim->generation, BKSNAP_UUID_SIZE) &&
	       (unsigned __int128)first + count <= lim->size;
}

/* Errno sets by command, as documented in <linux/bksnap.h>. */
static bool in_set(int ret, const int *allowed, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ret == allowed[i])
			return true;
	return false;
}

#define ALLOWED(ret, ...) \
	in_set(ret, (const int[]){ 0, __VA_ARGS__ }, \
	       sizeof((const int[]){ 0, __VA_ARGS__ }) / sizeof(int))

static const char *verdict(int ret, u32 version, bool allowed, bool valid)
{
	if (!allowed)
		return "errno not documented for this command";
	if ((!version || version > BKSNAP_UAPI_VERSION) && ret != -EPROTO)
		return "wrong version not reported as EPROTO";
	if (version && version <= BKSNAP_UAPI_VERSION && ret == -EPROTO)
		return "older version refused";
	if (!ret && !valid)
		return "accepted malformed arguments";
	return NULL;
}

static const char *attach(struct ctx *c)
{
	struct bksnap_attach a;
	int ret;

	take(&c->in, &a, sizeof(a));
	fix_header(c, &a.version, &a.flags);
	fix_dev(c, &a.dev);
	ret = c->ret = bk_check_attach(&a);
	return verdict(ret, a.version, ALLOWED(ret, -EPROTO, -EINVAL),
		       !a.flags && dev_ok(&a.dev));
}

static const char *tracker_info(struct ctx *c)
{
	struct bksnap_tracker_info t;
	int ret;

	take(&c->in, &t, sizeof(t));
	fix_header(c, &t.version, &t.flags);
	if (c->control & FIX_FLAGS)
		t.reserved = 0;
	fix_dev(c, &t.dev);
	ret = c->ret = bk_check_tracker_info(&t);
	return verdict(ret, t.version, ALLOWED(ret, -EPROTO, -EINVAL),
		       !t.flags && !t.reserved && dev_ok(&t.dev));
}

static const char *version_info(struct ctx *c)
{
	struct bksnap_version_info v;
	int ret;

	take(&c->in, &v, sizeof(v));
	fix_header(c, &v.version, &v.reserved);
	ret = c->ret = bk_check_version_info(&v);
	return verdict(ret, v.version, ALLOWED(ret, -EPROTO, -EINVAL),
		       !v.reserved);
}

static const char *cbt_read(struct ctx *c)
{
	struct bksnap_cbt_read r;
	int ret;

	take(&c->in, &r, sizeof(r));
	fix_header(c, &r.version, &r.flags);
	fix_dev(c, &r.dev);
	fix_region(c, r.generation, &r.first_block, &r.count);
	ret = c->ret = bk_check_cbt_read(&r, c->lim.generation, c->lim.size);
	return verdict(ret, r.version,
		       ALLOWED(ret, -EPROTO, -EINVAL, -ESTALE, -ERANGE),
		       !r.flags && dev_ok(&r.dev) &&
		       region_ok(r.generation, r.first_block, r.count, &c->lim));
}

static const char *cbt_mark(struct ctx *c)
{
	struct bksnap_cbt_mark m;
	int ret;

	take(&c->in, &m, sizeof(m));
	fix_header(c, &m.version, &m.flags);
	fix_dev(c, &m.dev);
	fix_region(c, m.generation, &m.sector, &m.nr_sectors);
	ret = c->ret = bk_check_cbt_mark(&m, c->lim.generation, c->lim.size);
	return verdict(ret, m.version,
		       ALLOWED(ret, -EPROTO, -EINVAL, -ESTALE, -ERANGE),
		       !m.flags && dev_ok(&m.dev) &&
		       region_ok(m.generation, m.sector, m.nr_sectors, &c->lim));
}

static const char *cbt_anchor(struct ctx *c)
{
	struct bksnap_cbt_anchor a;
	int ret;

	take(&c->in, &a, sizeof(a));
	fix_header(c, &a.version, &a.flags);
	fix_dev(c, &a.dev);
	if (c->control & FIX_GENERATION)
		memcpy(a.generation, c->lim.generation, BKSNAP_UUID_SIZE);
	ret = c->ret = bk_check_cbt_anchor(&a, c->lim.generation);
	return verdict(ret, a.version, ALLOWED(ret, -EPROTO, -EINVAL, -ESTALE),
		       !a.flags && dev_ok(&a.dev) &&
		       !memcmp(a.generation, c->lim.generation,
			       BKSNAP_UUID_SIZE));
}

static const char *list(struct ctx *c)
{
	struct bksnap_list l;
	int ret;

	take(&c->in, &l, sizeof(l));
	fix_header(c, &l.version, NULL);
	ret = c->ret = bk_check_list(&l, c->lim.count);
	return verdict(ret, l.version, ALLOWED(ret, -EPROTO, -ENOSPC),
		       l.count >= c->lim.count);
}

static const char *snapshot_list(struct ctx *c)
{
	struct bksnap_snapshot_list l;
	int ret;

	take(&c->in, &l, sizeof(l));
	fix_header(c, &l.version, NULL);
	ret = c->ret = bk_check_snapshot_list(&l, c->lim.count);
	return verdict(ret, l.version, ALLOWED(ret, -EPROTO, -ENOSPC),
		       l.count >= c->lim.count);
}

static const char *snapshot_info(struct ctx *c)
{
	struct bksnap_snapshot_info i;
	int ret;

	take(&c->in, &i, sizeof(i));
	fix_header(c, &i.version, NULL);
	ret = c->ret = bk_check_snapshot_info(&i, c->lim.count);
	return verdict(ret, i.version, ALLOWED(ret, -EPROTO, -ENOSPC),
		       i.member_count >= c->lim.count);
}

static const char *snapshot_create(struct ctx *c)
{
	struct bksnap_snapshot_create s;
	int ret;

	take(&c->in, &s, sizeof(s));
	fix_header(c, &s.version, &s.flags);
	if (c->control & SMALL_NUMBERS) {
		s.member_count %= 8;
		c->lim.count %= 8;
	}
	ret = c->ret = bk_check_snapshot_create(&s, c->lim.count);
	return verdict(ret, s.version, ALLOWED(ret, -EPROTO, -EINVAL, -EBADF),
		       !s.flags && s.member_count &&
		       s.member_count <= c->lim.count && s.diff_fd >= 0);
}

static const char *snapshot_storage(struct ctx *c)
{
	struct bksnap_snapshot_storage s;
	int ret;

	take(&c->in, &s, sizeof(s));
	fix_header(c, &s.version, NULL);
	ret = c->ret = bk_check_snapshot_storage(&s);
	return verdict(ret, s.version, ALLOWED(ret, -EPROTO, -EBADF),
		       s.diff_fd >= 0);
}

static const char *snapshot_id(struct ctx *c)
{
	struct bksnap_snapshot_id s;
	int ret;

	take(&c->in, &s, sizeof(s));
	fix_header(c, &s.version, &s.flags);
	ret = c->ret = bk_check_snapshot_id(&s);
	return verdict(ret, s.version, ALLOWED(ret, -EPROTO, -EINVAL), !s.flags);
}

static const char *distinct_devs(struct ctx *c)
{
	u32 devs[8];
	u32 i, j, n = c->lim.count % 9;
	bool distinct = true;
	int ret;

	take(&c->in, devs, sizeof(devs));
	if (c->control & SMALL_NUMBERS)
		for (i = 0; i < n; i++)
			devs[i] %= 4;
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			distinct &= devs[i] != devs[j];
	ret = c->ret = bk_check_distinct_devs(devs, n);
	if (ret != (distinct ? 0 : -EINVAL))
		return "duplicate devices not reported as EINVAL";
	return NULL;
}

static const char *(*const checks[])(struct ctx *c) = {
	attach, tracker_info, version_info, cbt_read, cbt_mark, list,
	snapshot_list, snapshot_info, snapshot_create, snapshot_storage,
	snapshot_id, distinct_devs, cbt_anchor,
};

const unsigned int bk_ctl_args_checks = sizeof(checks) / sizeof(checks[0]);

const char *bk_ctl_args_violation(const uint8_t *data, size_t size,
				  struct bk_ctl_args_outcome *out)
{
	struct ctx c = { .in = { data, size, 0 } };
	const char *violation;
	u8 which;

	take(&c.in, &which, 1);
	take(&c.in, &c.control, 1);
	take(&c.in, &c.lim, sizeof(c.lim));
	violation = checks[which % bk_ctl_args_checks](&c);
	if (out) {
		out->check = which % bk_ctl_args_checks;
		out->ret = c.ret;
	}
	return violation;
}
