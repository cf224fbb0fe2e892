// Unit and randomized tests of the difference-storage allocator.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "kernel_logic.h"
#include "test_seed.h"

namespace {

class DiffStore : public testing::Test {
protected:
	void SetUp() override { bk_diff_init(&d, ext.data(), ext.size(), 0); }

	std::array<bk_diff_extent, 3> ext{};
	bk_diff_store d{};
	u64 pos = 0;
	bool low = false;
};

TEST_F(DiffStore, AddsMergesAndRefuses)
{
	EXPECT_EQ(bk_diff_add(&d, 0, 100, 0), -EINVAL);
	EXPECT_EQ(bk_diff_add(&d, 0, UINT64_MAX, 2), -EINVAL);
	ASSERT_EQ(bk_diff_add(&d, 0, 100, 50), 0);
	ASSERT_EQ(bk_diff_add(&d, 0, 150, 50), 0); // continues: merged
	EXPECT_EQ(d.nr_extents, 1U);
	ASSERT_EQ(bk_diff_add(&d, 1, 200, 10), 0); // other storage
	ASSERT_EQ(bk_diff_add(&d, 0, 0, 10), 0);
	EXPECT_EQ(bk_diff_add(&d, 0, 500, 10), -E2BIG);
	EXPECT_EQ(d.nr_extents, 3U);
	EXPECT_EQ(d.total, 120U);
	EXPECT_EQ(bk_diff_free(&d), 120U);
}

TEST_F(DiffStore, AllocatesInOrderUntilFull)
{
	ASSERT_EQ(bk_diff_add(&d, 0, 0, 64), 0);
	ASSERT_EQ(bk_diff_alloc(&d, 16, &pos, &low), 0);
	EXPECT_EQ(pos, 0U);
	ASSERT_EQ(bk_diff_alloc(&d, 16, &pos, &low), 0);
	EXPECT_EQ(pos, 16U);
	EXPECT_EQ(bk_diff_alloc(&d, 0, &pos, &low), -EINVAL);
	EXPECT_EQ(bk_diff_alloc(&d, 33, &pos, &low), -ENOSPC);
	EXPECT_EQ(bk_diff_free(&d), 32U) << "a refused allocation takes nothing";
	ASSERT_EQ(bk_diff_add(&d, 1, 0, 8), 0); // grown later
	ASSERT_EQ(bk_diff_alloc(&d, 40, &pos, &low), 0);
	EXPECT_EQ(pos, 32U);
	EXPECT_EQ(bk_diff_free(&d), 0U);
}

TEST_F(DiffStore, LowSpaceOncePerCrossingReArmedByAdd)
{
	ASSERT_EQ(bk_diff_add(&d, 0, 0, 80), 0); // low water: 80 / 8 = 10
	ASSERT_EQ(bk_diff_alloc(&d, 70, &pos, &low), 0);
	EXPECT_FALSE(low); // 10 free: not below
	ASSERT_EQ(bk_diff_alloc(&d, 1, &pos, &low), 0);
	EXPECT_TRUE(low);
	ASSERT_EQ(bk_diff_alloc(&d, 1, &pos, &low), 0);
	EXPECT_FALSE(low) << "once per crossing";
	ASSERT_EQ(bk_diff_add(&d, 0, 1000, 8), 0); // 16 free of 88: 11 mark
	ASSERT_EQ(bk_diff_alloc(&d, 4, &pos, &low), 0);
	EXPECT_FALSE(low);
	ASSERT_EQ(bk_diff_alloc(&d, 2, &pos, &low), 0);
	EXPECT_TRUE(low) << "re-armed by the addition";
}

TEST_F(DiffStore, ExplicitLowWater)
{
	bk_diff_init(&d, ext.data(), ext.size(), 50);
	ASSERT_EQ(bk_diff_add(&d, 0, 0, 100), 0);
	ASSERT_EQ(bk_diff_alloc(&d, 50, &pos, &low), 0);
	EXPECT_FALSE(low);
	ASSERT_EQ(bk_diff_alloc(&d, 1, &pos, &low), 0);
	EXPECT_TRUE(low);
}

TEST_F(DiffStore, MapsAcrossExtents)
{
	u32 dev = 0;
	sector_t start = 0;
	u64 run = 0;

	ASSERT_EQ(bk_diff_add(&d, 2, 1000, 10), 0);
	ASSERT_EQ(bk_diff_add(&d, 1, 50, 5), 0);
	ASSERT_EQ(bk_diff_map(&d, 8, 6, &dev, &start, &run), 0);
	EXPECT_EQ(dev, 2U);
	EXPECT_EQ(start, 1008U);
	EXPECT_EQ(run, 2U);
	ASSERT_EQ(bk_diff_map(&d, 10, 4, &dev, &start, &run), 0);
	EXPECT_EQ(dev, 1U);
	EXPECT_EQ(start, 50U);
	EXPECT_EQ(run, 4U);
	EXPECT_EQ(bk_diff_map(&d, 10, 6, &dev, &start, &run), -ERANGE);
	EXPECT_EQ(bk_diff_map(&d, 2, UINT64_MAX, &dev, &start, &run), -ERANGE);
	EXPECT_EQ(bk_diff_map(&d, 2, 0, &dev, &start, &run), -EINVAL);
}

// Random extents and allocations: every allocated sector maps to its own
// storage sector, inside an extent that was added.
TEST(DiffStoreRandom, AllocationsMapToDistinctAddedSectors)
{
	std::mt19937_64 rng(test_seed());

	for (int round = 0; round < 300; round++) {
		std::vector<bk_diff_extent> ext(1 + rng() % 40);
		std::set<std::pair<u32, u64>> added, mapped;
		bk_diff_store d{};
		u64 cursor[2] = {0, 0};

		SCOPED_TRACE(testing::Message() << "BK_SEED=" << test_seed() << " round " << round);
		bk_diff_init(&d, ext.data(), static_cast<u32>(ext.size()), 0);
		for (int op = 0; op < 200; op++) {
			if (rng() % 3 == 0) {
				const u32 dev = rng() % 2;
				const u64 start = cursor[dev] + rng() % 3;
				const u64 len = 1 + rng() % 20;

				if (bk_diff_add(&d, dev, start, len))
					continue;
				for (u64 s = start; s < start + len; s++)
					added.insert({dev, s});
				cursor[dev] = start + len;
				continue;
			}
			u64 pos = 0, n = 1 + rng() % 16;
			bool low = false;
			const u64 free_before = bk_diff_free(&d);
			const int ret = bk_diff_alloc(&d, n, &pos, &low);

			ASSERT_EQ(ret, n <= free_before ? 0 : -ENOSPC);
			if (ret)
				continue;
			for (u64 done = 0; done < n;) {
				u32 dev = 0;
				sector_t start = 0;
				u64 run = 0;

				ASSERT_EQ(bk_diff_map(&d, pos + done, n - done, &dev, &start, &run), 0);
				ASSERT_GT(run, 0U);
				for (u64 s = start; s < start + run; s++) {
					ASSERT_TRUE(added.count({dev, s}));
					ASSERT_TRUE(mapped.insert({dev, s}).second) << "storage sector given twice";
				}
				done += run;
			}
		}
		EXPECT_EQ(mapped.size(), d.used);
		EXPECT_EQ(added.size(), d.total);
	}
}

} // namespace
