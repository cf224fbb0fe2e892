// Unit tests of the ioctl argument checks: each documented errno.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "kernel_logic.h"

namespace {

constexpr std::array<std::uint8_t, BKSNAP_UUID_SIZE> kGen{0xaa, 0xbb};

template <typename T> T valid()
{
	T arg{};
	arg.version = BKSNAP_UAPI_VERSION;
	return arg;
}

TEST(CtlArgs, DevIdByPathOrNumber)
{
	bksnap_dev_id d{};

	EXPECT_EQ(bk_check_dev_id(&d), 0); // 0:0, the lookup says ENODEV
	d.major = 4095;
	d.minor = (1U << 20) - 1;
	EXPECT_EQ(bk_check_dev_id(&d), 0);
	d.major = 4096;
	EXPECT_EQ(bk_check_dev_id(&d), -EINVAL);
	d.major = 8;
	d.minor = 1U << 20;
	EXPECT_EQ(bk_check_dev_id(&d), -EINVAL);
	d = {};
	d.path = 0x1000;
	EXPECT_EQ(bk_check_dev_id(&d), 0);
	d.minor = 1; // a path and a number: ambiguous
	EXPECT_EQ(bk_check_dev_id(&d), -EINVAL);
	d.minor = 0;
	d.major = 8;
	EXPECT_EQ(bk_check_dev_id(&d), -EINVAL);
}

TEST(CtlArgs, Attach)
{
	auto a = valid<bksnap_attach>();

	EXPECT_EQ(bk_check_attach(&a), 0);
	a.version = 1; // an older caller: versions only add commands
	EXPECT_EQ(bk_check_attach(&a), 0);
	a.version = BKSNAP_UAPI_VERSION + 1;
	EXPECT_EQ(bk_check_attach(&a), -EPROTO);
	a.version = 0;
	a.flags = 1; // EPROTO wins over everything else
	EXPECT_EQ(bk_check_attach(&a), -EPROTO);
	a.version = BKSNAP_UAPI_VERSION;
	EXPECT_EQ(bk_check_attach(&a), -EINVAL);
	a.flags = 0;
	a.dev.path = 1;
	a.dev.major = 8;
	EXPECT_EQ(bk_check_attach(&a), -EINVAL);
}

TEST(CtlArgs, VersionAndTrackerInfoReserved)
{
	auto v = valid<bksnap_version_info>();
	auto t = valid<bksnap_tracker_info>();

	EXPECT_EQ(bk_check_version_info(&v), 0);
	v.reserved = 1;
	EXPECT_EQ(bk_check_version_info(&v), -EINVAL);
	v.version = 0;
	EXPECT_EQ(bk_check_version_info(&v), -EPROTO);

	t.sequence = 7; // out fields are ignored
	t.block_count = 99;
	EXPECT_EQ(bk_check_tracker_info(&t), 0);
	t.reserved = 1;
	EXPECT_EQ(bk_check_tracker_info(&t), -EINVAL);
	t.reserved = 0;
	t.flags = 0x80000000;
	EXPECT_EQ(bk_check_tracker_info(&t), -EINVAL);
	t.flags = 0;
	t.dev.minor = 1U << 20;
	EXPECT_EQ(bk_check_tracker_info(&t), -EINVAL);
}

TEST(CtlArgs, ListCapacity)
{
	auto l = valid<bksnap_list>();
	auto sl = valid<bksnap_snapshot_list>();
	auto si = valid<bksnap_snapshot_info>();

	EXPECT_EQ(bk_check_list(&l, 0), 0);
	EXPECT_EQ(bk_check_list(&l, 1), -ENOSPC);
	l.count = 3;
	EXPECT_EQ(bk_check_list(&l, 3), 0);
	EXPECT_EQ(bk_check_list(&l, 4), -ENOSPC);
	l.version = 3;
	EXPECT_EQ(bk_check_list(&l, 0), -EPROTO);

	sl.count = 2;
	EXPECT_EQ(bk_check_snapshot_list(&sl, 2), 0);
	EXPECT_EQ(bk_check_snapshot_list(&sl, 3), -ENOSPC);
	si.member_count = 2;
	EXPECT_EQ(bk_check_snapshot_info(&si, 2), 0);
	EXPECT_EQ(bk_check_snapshot_info(&si, 3), -ENOSPC);
	si.version = 0;
	EXPECT_EQ(bk_check_snapshot_info(&si, 0), -EPROTO);
}

TEST(CtlArgs, CbtRead)
{
	auto r = valid<bksnap_cbt_read>();

	memcpy(r.generation, kGen.data(), kGen.size());
	r.first_block = 10;
	r.count = 6;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), 0);
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 15), -ERANGE);
	r.first_block = 17;
	r.count = 1;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -ERANGE);
	r.first_block = 2;
	r.count = UINT64_MAX; // first + count wraps to 1
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -ERANGE);
	r.count = 0;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -EINVAL);
	r.count = 1;
	r.generation[15] ^= 1;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -ESTALE);
	r.first_block = 99; // stale wins over range: sizes change with it
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -ESTALE);
	r.flags = 2;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -EINVAL);
	r.version = 0;
	EXPECT_EQ(bk_check_cbt_read(&r, kGen.data(), 16), -EPROTO);
}

TEST(CtlArgs, CbtMark)
{
	auto m = valid<bksnap_cbt_mark>();

	memcpy(m.generation, kGen.data(), kGen.size());
	m.sector = 0;
	m.nr_sectors = 100;
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), 0);
	m.sector = 1;
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), -ERANGE);
	m.sector = UINT64_MAX;
	m.nr_sectors = 2; // wraps to 1
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), -ERANGE);
	m.sector = 5;
	m.nr_sectors = 0;
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), -EINVAL);
	m.nr_sectors = 1;
	m.generation[0] = 0;
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), -ESTALE);
	m.dev.path = 5;
	m.dev.minor = 5;
	EXPECT_EQ(bk_check_cbt_mark(&m, kGen.data(), 100), -EINVAL);
}

TEST(CtlArgs, SnapshotCreate)
{
	auto c = valid<bksnap_snapshot_create>();

	c.member_count = 1;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), 0);
	c.member_count = 4;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), 0);
	c.member_count = 5;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), -EINVAL);
	c.member_count = 0;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), -EINVAL);
	c.member_count = 2;
	c.diff_fd = -1;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), -EBADF);
	c.diff_fd = 3;
	c.flags = 1;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), -EINVAL);
	c.version = 9;
	EXPECT_EQ(bk_check_snapshot_create(&c, 4), -EPROTO);
}

TEST(CtlArgs, DistinctDevices)
{
	const std::uint32_t devs[] = {0x800001, 0x800002, 0x1000000, 0x800001};

	EXPECT_EQ(bk_check_distinct_devs(devs, 0), 0);
	EXPECT_EQ(bk_check_distinct_devs(devs, 3), 0);
	EXPECT_EQ(bk_check_distinct_devs(devs, 4), -EINVAL);
}

TEST(CtlArgs, SnapshotStorageAndId)
{
	auto s = valid<bksnap_snapshot_storage>();
	auto i = valid<bksnap_snapshot_id>();

	EXPECT_EQ(bk_check_snapshot_storage(&s), 0);
	s.diff_fd = -9;
	EXPECT_EQ(bk_check_snapshot_storage(&s), -EBADF);
	s.version = 0;
	EXPECT_EQ(bk_check_snapshot_storage(&s), -EPROTO);
	EXPECT_EQ(bk_check_snapshot_id(&i), 0);
	i.flags = 4;
	EXPECT_EQ(bk_check_snapshot_id(&i), -EINVAL);
	i.version = 0;
	EXPECT_EQ(bk_check_snapshot_id(&i), -EPROTO);
}

} // namespace
