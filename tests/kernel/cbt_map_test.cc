// Unit tests of the CBT map: geometry, marking at boundaries, advance, wrap.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "kernel_logic.h"
#include "test_seed.h"

namespace {

constexpr std::uint64_t kGiB = 1ULL << 30;
constexpr std::uint64_t kTiB = 1ULL << 40;
constexpr std::uint64_t kSectorsPerGiB = kGiB >> 9;

struct GeometryCase {
	std::uint64_t capacity_sectors;
	std::uint32_t shift;
	std::uint64_t count;
};

int default_geometry(u64 capacity, u32 *shift, u64 *count)
{
	return bk_cbt_geometry(capacity, BK_CBT_MAX_BLOCKS, BK_CBT_MIN_SHIFT, BK_CBT_MAX_SHIFT, shift, count);
}

TEST(CbtGeometry, DefaultTable)
{
	const GeometryCase cases[] = {
		{1, 12, 1}, // one sector: one 4 KiB block
		{8, 12, 1},
		{9, 12, 2},                            // partial last block
		{32 * kSectorsPerGiB, 12, 1ULL << 23}, // cap reached exactly
		{32 * kSectorsPerGiB + 1, 13, (1ULL << 22) + 1},
		{1000000007, 16, 7812501}, // odd size, ~477 GiB
		{(2 * kTiB) >> 9, 18, 1ULL << 23},
		{(64 * kTiB) >> 9, 23, 1ULL << 23},
		{1ULL << 44, 30, 1ULL << 23}, // 8 PiB: the largest block
	};
	for (const auto &c : cases) {
		u32 shift = 0;
		u64 count = 0;

		SCOPED_TRACE(c.capacity_sectors);
		ASSERT_EQ(default_geometry(c.capacity_sectors, &shift, &count), 0);
		EXPECT_EQ(shift, c.shift);
		EXPECT_EQ(count, c.count);
	}
}

TEST(CbtGeometry, MapBytesPerTiB)
{
	u32 shift = 0;
	u64 count = 0;

	ASSERT_EQ(default_geometry(kTiB >> 9, &shift, &count), 0);
	EXPECT_EQ(count, 8ULL << 20) << "1 TiB device: 8 MiB of map";
	ASSERT_EQ(default_geometry((64 * kTiB) >> 9, &shift, &count), 0);
	EXPECT_EQ(count / 64, 128ULL << 10) << "64 TiB: 128 KiB per TiB";
}

TEST(CbtGeometry, Errors)
{
	u32 shift = 0;
	u64 count = 0;

	EXPECT_EQ(default_geometry(0, &shift, &count), -EINVAL);
	EXPECT_EQ(default_geometry((1ULL << 44) + 1, &shift, &count), -E2BIG);
	EXPECT_EQ(bk_cbt_geometry(8, 0, 12, 30, &shift, &count), -EINVAL);
	EXPECT_EQ(bk_cbt_geometry(8, 8, 8, 30, &shift, &count), -EINVAL);
	EXPECT_EQ(bk_cbt_geometry(8, 8, 13, 12, &shift, &count), -EINVAL);
	EXPECT_EQ(bk_cbt_geometry(8, 8, 12, 64, &shift, &count), -EINVAL);
	EXPECT_EQ(bk_cbt_geometry(1ULL << 20, 1, 12, 28, &shift, &count), -E2BIG);
}

TEST(CbtGeometry, HugeCapacityDoesNotOverflow)
{
	u32 shift = 0;
	u64 count = 0;

	ASSERT_EQ(bk_cbt_geometry(UINT64_MAX, 1ULL << 23, 9, 63, &shift, &count), 0);
	EXPECT_EQ(shift, 50U);
	EXPECT_EQ(count, 1ULL << 23);
	ASSERT_EQ(bk_cbt_geometry(UINT64_MAX, 1, 9, 63, &shift, &count), -E2BIG);
}

// For any capacity and cap: the blocks cover the device, the last block is
// needed, and the next smaller block size would exceed the cap.
TEST(CbtGeometry, RandomizedProperties)
{
	std::mt19937_64 rng(test_seed());

	for (int i = 0; i < 100000; i++) {
		const std::uint64_t capacity = (rng() >> (rng() % 64)) | 1;
		const std::uint64_t max_blocks = (rng() >> (rng() % 64)) | 1;
		const std::uint32_t min_shift = 9 + rng() % 20;
		u32 shift = 0;
		u64 count = 0;
		const int ret = bk_cbt_geometry(capacity, max_blocks, min_shift, 63, &shift, &count);

		SCOPED_TRACE(testing::Message() << "capacity " << capacity << " max_blocks " << max_blocks << " min_shift " << min_shift);
		if (ret == -E2BIG)
			continue;
		ASSERT_EQ(ret, 0);
		ASSERT_GE(shift, min_shift);
		ASSERT_LE(count, max_blocks);
		const unsigned s = shift - 9;
		const unsigned __int128 covered = (unsigned __int128)count << s;
		ASSERT_GE(covered, capacity);
		ASSERT_LT(covered - (1ULL << s), capacity);
		if (shift > min_shift) {
			const std::uint64_t smaller = (capacity >> (s - 1)) + !!(capacity & ((1ULL << (s - 1)) - 1));
			ASSERT_GT(smaller, max_blocks);
		}
	}
}

// 100 sectors in 4 KiB blocks: 13 blocks, the last one holding 4 sectors.
class CbtMap : public testing::Test {
protected:
	void SetUp() override { bk_cbt_init(&m, bytes.data(), 100, 12, bytes.size(), gen_a.data()); }

	std::vector<std::uint8_t> marked() const { return {bytes.begin(), bytes.end()}; }

	static std::vector<std::uint8_t> with(std::initializer_list<int> blocks, std::uint8_t seq)
	{
		std::vector<std::uint8_t> v(13, 0);
		for (int b : blocks)
			v[b] = seq;
		return v;
	}

	std::array<std::uint8_t, 13> bytes{};
	std::array<std::uint8_t, BKSNAP_UUID_SIZE> gen_a{1, 2, 3};
	std::array<std::uint8_t, BKSNAP_UUID_SIZE> gen_b{9, 8, 7};
	bk_cbt_map m{};
};

TEST_F(CbtMap, StartsEmptyAtSequenceOne)
{
	EXPECT_EQ(m.seq, 1U);
	EXPECT_EQ(marked(), with({}, 0));
	EXPECT_TRUE(bk_test_token_current(m, gen_a.data()));
	EXPECT_FALSE(bk_test_token_current(m, gen_b.data()));
}

TEST_F(CbtMap, MarksEveryOverlappedBlock)
{
	EXPECT_EQ(bk_cbt_mark(&m, 0, 1), 0);
	EXPECT_EQ(marked(), with({0}, 1));
	EXPECT_EQ(bk_cbt_mark(&m, 7, 2), 0); // straddles blocks 0 and 1
	EXPECT_EQ(marked(), with({0, 1}, 1));
	EXPECT_EQ(bk_cbt_mark(&m, 99, 1), 0); // last sector, partial block
	EXPECT_EQ(marked(), with({0, 1, 12}, 1));
	EXPECT_EQ(bk_cbt_mark(&m, 40, 0), 0); // empty: nothing
	EXPECT_EQ(marked(), with({0, 1, 12}, 1));
}

TEST_F(CbtMap, PastTheEndMarksTheInRangePart)
{
	EXPECT_EQ(bk_cbt_mark(&m, 95, 10), -ERANGE);
	EXPECT_EQ(marked(), with({11, 12}, 1));
	EXPECT_EQ(bk_cbt_mark(&m, 100, 1), -ERANGE);
	EXPECT_EQ(bk_cbt_mark(&m, UINT64_MAX, 2), -ERANGE); // wraps
	EXPECT_EQ(marked(), with({11, 12}, 1));
	EXPECT_EQ(bk_cbt_mark(&m, 5, UINT64_MAX), -ERANGE); // wraps
	EXPECT_EQ(marked(), with({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 1));
}

TEST_F(CbtMap, AdvanceReturnsTokenThenMarksHigher)
{
	bk_cbt_token t{};

	ASSERT_EQ(bk_cbt_mark(&m, 0, 8), 0);
	EXPECT_FALSE(bk_cbt_advance(&m, gen_b.data(), &t));
	EXPECT_EQ(t.seq, 1U);
	EXPECT_EQ(0, memcmp(t.generation, gen_a.data(), BKSNAP_UUID_SIZE));
	ASSERT_EQ(bk_cbt_mark(&m, 8, 8), 0);
	std::vector<std::uint8_t> expect = with({0}, 1);
	expect[1] = 2;
	EXPECT_EQ(marked(), expect);
	ASSERT_EQ(bk_cbt_mark(&m, 0, 16), 0); // rewrite raises block 0
	EXPECT_EQ(marked(), with({0, 1}, 2));
}

TEST_F(CbtMap, WrapResetsBeforeReturningToken)
{
	bk_cbt_token t{};

	for (unsigned s = 1; s < BKSNAP_SEQ_MAX; s++) {
		ASSERT_FALSE(bk_cbt_advance(&m, gen_b.data(), &t));
		ASSERT_EQ(t.seq, s);
	}
	ASSERT_EQ(m.seq, unsigned{BKSNAP_SEQ_MAX});
	ASSERT_EQ(bk_cbt_mark(&m, 0, 100), 0);
	EXPECT_EQ(marked(), with({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, BKSNAP_SEQ_MAX));
	EXPECT_TRUE(bk_cbt_advance(&m, gen_b.data(), &t));
	EXPECT_EQ(t.seq, 1U);
	EXPECT_EQ(0, memcmp(t.generation, gen_b.data(), BKSNAP_UUID_SIZE));
	EXPECT_EQ(m.seq, 2U);
	EXPECT_EQ(marked(), with({}, 0));
	EXPECT_FALSE(bk_test_token_current(m, gen_a.data()));
}

// Tokens 1..BKSNAP_SEQ_MAX - 1; block b (< 13) is written just after token b.
void advance_to_max(bk_cbt_map &m, const std::uint8_t *gen)
{
	bk_cbt_token t{};

	for (unsigned s = 1; s < BKSNAP_SEQ_MAX; s++) {
		if (s <= 13) {
			ASSERT_EQ(bk_cbt_mark(&m, 8 * (s - 1), 1), 0);
		}
		ASSERT_FALSE(bk_cbt_advance(&m, gen, &t));
	}
}

TEST_F(CbtMap, WrapKeepsTheBlocksChangedSinceTheAnchor)
{
	bk_cbt_token t{};
	std::array<std::uint8_t, BKSNAP_UUID_SIZE> gen_c{5, 5, 5};

	EXPECT_EQ(bk_cbt_set_anchor(&m, 1), -EINVAL) << "no token taken yet";
	ASSERT_NO_FATAL_FAILURE(advance_to_max(m, gen_b.data()));
	EXPECT_EQ(bk_cbt_set_anchor(&m, 0), -EINVAL);
	EXPECT_EQ(bk_cbt_set_anchor(&m, BKSNAP_SEQ_MAX), -EINVAL) << "not taken";
	ASSERT_EQ(bk_cbt_set_anchor(&m, 9), 0);
	ASSERT_EQ(bk_cbt_mark(&m, 96, 1), 0); // block 12 again, after the last token
	EXPECT_FALSE(bk_cbt_advance(&m, gen_b.data(), &t)) << "a linked wrap is no reset";
	EXPECT_EQ(t.seq, 1U);
	EXPECT_EQ(0, memcmp(t.generation, gen_b.data(), BKSNAP_UUID_SIZE));
	EXPECT_EQ(m.seq, 2U);
	// Blocks 9..12 were written with sequences 10..13, after token 9.
	EXPECT_EQ(marked(), with({9, 10, 11, 12}, 1));
	EXPECT_EQ(0, memcmp(m.link.generation, gen_a.data(), BKSNAP_UUID_SIZE));
	EXPECT_EQ(m.link.seq, 9U);
	EXPECT_EQ(m.anchor, 0U) << "the anchor was the old generation's";

	// No anchor in this generation: the next wrap keeps every mark and the
	// link, which they still cover.
	ASSERT_EQ(bk_cbt_mark(&m, 0, 1), 0);
	for (unsigned s = 2; s < BKSNAP_SEQ_MAX; s++)
		ASSERT_FALSE(bk_cbt_advance(&m, gen_c.data(), &t));
	EXPECT_FALSE(bk_cbt_advance(&m, gen_c.data(), &t));
	EXPECT_EQ(0, memcmp(t.generation, gen_c.data(), BKSNAP_UUID_SIZE));
	EXPECT_EQ(marked(), with({0, 9, 10, 11, 12}, 1));
	EXPECT_EQ(0, memcmp(m.link.generation, gen_a.data(), BKSNAP_UUID_SIZE));
	EXPECT_EQ(m.link.seq, 9U);

	// A reset forgets the link: the next wrap without an anchor restarts.
	bk_cbt_reset(&m, gen_a.data());
	EXPECT_EQ(m.link.seq, 0U);
	ASSERT_NO_FATAL_FAILURE(advance_to_max(m, gen_a.data()));
	EXPECT_TRUE(bk_cbt_advance(&m, gen_b.data(), &t));
	EXPECT_EQ(marked(), with({}, 0));
}

TEST_F(CbtMap, ResetStartsAnewGeneration)
{
	bk_cbt_token t{};

	ASSERT_EQ(bk_cbt_mark(&m, 0, 100), 0);
	ASSERT_FALSE(bk_cbt_advance(&m, gen_a.data(), &t));
	bk_cbt_reset(&m, gen_b.data());
	EXPECT_EQ(m.seq, 1U);
	EXPECT_EQ(marked(), with({}, 0));
	EXPECT_TRUE(bk_test_token_current(m, gen_b.data()));
	EXPECT_FALSE(bk_test_token_current(m, gen_a.data()));
}

} // namespace
