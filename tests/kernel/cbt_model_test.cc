// Randomized model test of the CBT map: random writes (unaligned, past the
// end), snapshots (advance, with wraps), user marks through the ioctl check,
// and resets, against a per-sector reference model.  For every token still
// valid, "changed since token" must equal, block for block, the blocks
// holding a sector written or marked after the token: never a miss, and no
// over-report beyond block rounding, which is measured.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "kernel_logic.h"
#include "test_seed.h"

namespace {

using Uuid = std::array<std::uint8_t, BKSNAP_UUID_SIZE>;

struct Token {
	bk_cbt_token token;
	std::uint64_t epoch; // model epoch captured by the token
};

struct Stats {
	std::uint64_t reported_sectors = 0;
	std::uint64_t changed_sectors = 0;
	std::uint64_t wraps = 0;
	std::uint64_t checks = 0;
};

class CbtModel {
public:
	CbtModel(std::uint64_t seed, Stats &stats) : rng_(seed), stats_(stats)
	{
		capacity_ = 1 + rng_() % (rng_() % 2 ? 64 : 4096);
		resets_per_mille_ = rng_() % 2 ? 0 : 3; // some cases wrap
		const std::uint64_t max_blocks = 1 + rng_() % 300;
		u32 shift = 0;
		u64 count = 0;

		EXPECT_EQ(bk_cbt_geometry(capacity_, max_blocks, 9 + rng_() % 4, 30, &shift, &count), 0);
		bytes_.assign(count, 0xff); // init must clear it
		last_change_.assign(capacity_, 0);
		bk_cbt_init(&map_, bytes_.data(), capacity_, shift, count, fresh_uuid().data());
	}

	void step()
	{
		const unsigned op = rng_() % 1000;

		if (op < resets_per_mille_)
			reset();
		else if (op < 550)
			write();
		else if (op < 800)
			snapshot();
		else
			user_mark();
	}

	// @measure: also count reported vs changed sectors (slow: per sector).
	void check(bool measure)
	{
		const std::vector<std::uint64_t> block_epoch = block_epochs();

		stats_.checks++;
		for (const Token &t : tokens_) {
			ASSERT_TRUE(bk_test_token_current(map_, t.token.generation));
			for (std::uint64_t b = 0; b < map_.block_count; b++) {
				const bool reported = bytes_[b] > t.token.seq;
				const bool changed = block_epoch[b] > t.epoch;

				ASSERT_EQ(reported, changed)
					<< "block " << b << " token seq " << t.token.seq << (changed ? " MISSED" : " over-reported");
			}
			if (measure)
				count_sectors(t);
		}
	}

private:
	Uuid fresh_uuid()
	{
		Uuid u{};
		for (auto &byte : u)
			byte = static_cast<std::uint8_t>(rng_());
		u[0] = static_cast<std::uint8_t>(++uuids_); // distinct
		return u;
	}

	// A range anywhere, possibly unaligned, crossing or past the end.
	std::pair<std::uint64_t, std::uint64_t> random_range()
	{
		std::uint64_t sector = rng_() % (capacity_ + 8);
		std::uint64_t len = 1 + rng_() % (rng_() % 4 ? 16 : capacity_ + 8);

		if (rng_() % 50 == 0)
			len = UINT64_MAX - rng_() % 4; // wraps around
		return {sector, len};
	}

	void record(std::uint64_t sector, std::uint64_t len)
	{
		for (std::uint64_t s = sector; s < capacity_ && s - sector < len; s++)
			last_change_[s] = epoch_;
	}

	void write()
	{
		const auto [sector, len] = random_range();
		const bool fits = sector < capacity_ && len <= capacity_ - sector;

		ASSERT_EQ(bk_cbt_mark(&map_, sector, len), fits ? 0 : -ERANGE);
		record(sector, len);
	}

	void user_mark()
	{
		const auto [sector, len] = random_range();
		bksnap_cbt_mark arg{};

		arg.version = BKSNAP_UAPI_VERSION;
		arg.sector = sector;
		arg.nr_sectors = len;
		memcpy(arg.generation, map_.generation, BKSNAP_UUID_SIZE);
		const int ret = bk_check_cbt_mark(&arg, map_.generation, capacity_);
		const bool fits = sector < capacity_ && len <= capacity_ - sector;

		ASSERT_EQ(ret, fits ? 0 : -ERANGE);
		if (ret)
			return;
		ASSERT_EQ(bk_cbt_mark(&map_, sector, len), 0);
		record(sector, len);
	}

	void snapshot()
	{
		const Uuid gen = fresh_uuid();
		const bool at_max = map_.seq == BKSNAP_SEQ_MAX;
		Token t{};

		ASSERT_EQ(bk_cbt_advance(&map_, gen.data(), &t.token), at_max);
		if (at_max) {
			stats_.wraps++;
			forget_tokens();
			ASSERT_EQ(0, memcmp(t.token.generation, gen.data(), BKSNAP_UUID_SIZE));
		}
		t.epoch = epoch_++;
		tokens_.push_back(t);
	}

	void reset()
	{
		bk_cbt_reset(&map_, fresh_uuid().data());
		forget_tokens();
	}

	// After a reset old tokens must read as stale; the model continues
	// in a new epoch so no earlier change counts as "since" a new token.
	void forget_tokens()
	{
		for (const Token &t : tokens_)
			ASSERT_FALSE(bk_test_token_current(map_, t.token.generation));
		tokens_.clear();
		epoch_++;
	}

	std::vector<std::uint64_t> block_epochs() const
	{
		const unsigned s = map_.block_shift - 9;
		std::vector<std::uint64_t> e(map_.block_count, 0);

		for (std::uint64_t sec = 0; sec < capacity_; sec++)
			e[sec >> s] = std::max(e[sec >> s], last_change_[sec]);
		return e;
	}

	void count_sectors(const Token &t)
	{
		const unsigned s = map_.block_shift - 9;

		for (std::uint64_t sec = 0; sec < capacity_; sec++) {
			stats_.reported_sectors += bytes_[sec >> s] > t.token.seq;
			stats_.changed_sectors += last_change_[sec] > t.epoch;
		}
	}

	std::mt19937_64 rng_;
	Stats &stats_;
	std::uint64_t capacity_ = 0;
	unsigned resets_per_mille_ = 0;
	std::vector<std::uint8_t> bytes_;
	std::vector<std::uint64_t> last_change_; // epoch of last change
	std::uint64_t epoch_ = 1;
	unsigned uuids_ = 0;
	std::vector<Token> tokens_;
	bk_cbt_map map_{};
};

TEST(CbtModel, ChangedSinceEveryTokenIsExactAtBlockGranularity)
{
	const std::uint64_t seed = test_seed();
	Stats stats;

	for (std::uint64_t i = 0; i < 300; i++) {
		SCOPED_TRACE(testing::Message() << "BK_SEED=" << seed << " case " << i);
		CbtModel model(seed + i, stats);

		for (int op = 0; op < 1500; op++) {
			ASSERT_NO_FATAL_FAILURE(model.step());
			if (op % 16 == 0) {
				ASSERT_NO_FATAL_FAILURE(model.check(false));
			}
		}
		ASSERT_NO_FATAL_FAILURE(model.check(true));
	}
	EXPECT_GT(stats.wraps, 0U) << "no sequence wrap exercised";
	const double over = static_cast<double>(stats.reported_sectors) / static_cast<double>(stats.changed_sectors);
	std::cout << "over-report (block rounding): " << over << "x sectors reported per sector changed, over " << stats.checks
		  << " checks, " << stats.wraps << " wraps\n";
	RecordProperty("over_report_ratio", std::to_string(over));
	EXPECT_GE(over, 1.0);
}

} // namespace
