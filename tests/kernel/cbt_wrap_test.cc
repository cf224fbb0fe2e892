// Model test of CBT sequence wraps: thousands of wraps of small maps under
// random writes, random anchors (often none for a while) and rare resets.
// The module's promise, checked against the epoch of every block's last
// write: a token of the current generation reports every block written
// since it (byte > seq), and a token of the link's generation not older
// than the link reports every such block as marked (byte >= 1).  Right after
// a linked wrap the kept marks are exactly the blocks written since the
// anchor.  Tokens older than the link are what the compaction dropped: the
// test counts how often the marks would have missed a write for them, so
// the rule that refuses them is shown to matter.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <vector>

#include "kernel_logic.h"
#include "test_seed.h"

namespace {

using Uuid = std::array<std::uint8_t, BKSNAP_UUID_SIZE>;

struct Token {
	bk_cbt_token token;
	std::uint64_t epoch; // writes after the token have a larger epoch
};

struct Stats {
	std::uint64_t wraps = 0, linked = 0, checked = 0, dropped_would_miss = 0;
};

class WrapModel {
public:
	WrapModel(std::uint64_t seed, Stats &stats) : rng_(seed), stats_(stats)
	{
		blocks_ = 1 + rng_() % 200;
		anchor_per_mille_ = rng_() % 3 ? 1 + rng_() % 60 : 0;
		bytes_.assign(blocks_, 0xff); // init must clear it
		last_write_.assign(blocks_, 0);
		bk_cbt_init(&map_, bytes_.data(), blocks_ << 3, 12, blocks_, fresh_uuid().data());
	}

	void snapshots(std::uint64_t n)
	{
		for (std::uint64_t i = 0; i < n; i++) {
			for (unsigned w = rng_() % 4; w; w--)
				write();
			if (rng_() % 1000 < anchor_per_mille_)
				anchor();
			if (rng_() % 100000 == 0)
				reset();
			ASSERT_NO_FATAL_FAILURE(snapshot());
			if (rng_() % 8 == 0) {
				ASSERT_NO_FATAL_FAILURE(check());
			}
		}
	}

private:
	Uuid fresh_uuid()
	{
		Uuid u{};
		for (auto &byte : u)
			byte = static_cast<std::uint8_t>(rng_());
		std::memcpy(u.data(), &++uuids_, sizeof(uuids_)); // distinct
		return u;
	}

	void write()
	{
		const std::uint64_t first = rng_() % blocks_;
		const std::uint64_t count = std::min(1 + rng_() % (rng_() % 8 ? 4 : blocks_), blocks_ - first);

		ASSERT_EQ(bk_cbt_mark(&map_, first << 3, count << 3), 0);
		for (std::uint64_t b = first; b < first + count; b++)
			last_write_[b] = epoch_;
	}

	// The holder saved up to a recent token of this generation.
	void anchor()
	{
		if (current_.empty())
			return;
		const Token &t = current_[current_.size() - 1 - rng_() % std::min<std::size_t>(current_.size(), 20)];
		ASSERT_EQ(bk_cbt_set_anchor(&map_, t.token.seq), 0);
		anchor_ = t;
	}

	void reset()
	{
		bk_cbt_reset(&map_, fresh_uuid().data());
		current_.clear();
		linked_.clear();
		anchor_.reset();
		epoch_++;
	}

	void snapshot()
	{
		const bool at_max = map_.seq == BKSNAP_SEQ_MAX;
		const bool had_link = map_.link.seq != 0;
		const Uuid gen = fresh_uuid();
		Token t{};

		const bool reset = bk_cbt_advance(&map_, gen.data(), &t.token);
		ASSERT_EQ(reset, at_max && !anchor_ && !had_link);
		if (at_max) {
			ASSERT_EQ(0, memcmp(t.token.generation, gen.data(), BKSNAP_UUID_SIZE));
			ASSERT_EQ(t.token.seq, 1U);
			wrapped(reset);
		}
		t.epoch = epoch_++;
		current_.push_back(t);
	}

	void wrapped(bool reset)
	{
		stats_.wraps++;
		if (anchor_) {
			// The anchored generation becomes the link; exactly the
			// blocks written since the anchor keep a mark.
			ASSERT_EQ(0, memcmp(map_.link.generation, anchor_->token.generation, BKSNAP_UUID_SIZE));
			ASSERT_EQ(map_.link.seq, anchor_->token.seq);
			for (std::uint64_t b = 0; b < blocks_; b++)
				ASSERT_EQ(bytes_[b], last_write_[b] > anchor_->epoch ? 1 : 0) << "block " << b;
			dropped_.insert(dropped_.end(), linked_.begin(), linked_.end());
			linked_.clear();
			for (const Token &old : current_)
				if (old.token.seq >= anchor_->token.seq)
					linked_.push_back(old);
				else
					dropped_.push_back(old);
		} else if (!reset) {
			// No anchor: the link and every mark stay.
			for (const Token &old : current_)
				dropped_.push_back(old);
		} else {
			ASSERT_EQ(map_.link.seq, 0U);
			for (std::uint64_t b = 0; b < blocks_; b++)
				ASSERT_EQ(bytes_[b], 0);
		}
		stats_.linked += !reset;
		current_.clear();
		anchor_.reset();
	}

	// The oldest token of @tokens and a few random ones.
	std::vector<Token> sample(const std::vector<Token> &tokens)
	{
		std::vector<Token> out;
		if (tokens.empty())
			return out;
		out.push_back(tokens.front());
		for (int i = 0; i < 6; i++)
			out.push_back(tokens[rng_() % tokens.size()]);
		return out;
	}

	void check()
	{
		for (const Token &t : sample(current_)) {
			ASSERT_TRUE(bk_test_token_current(map_, t.token.generation));
			for (std::uint64_t b = 0; b < blocks_; b++) {
				if (last_write_[b] > t.epoch) {
					ASSERT_GT(bytes_[b], t.token.seq) << "MISSED block " << b << " since seq " << t.token.seq;
				}
			}
			stats_.checked++;
		}
		for (const Token &t : sample(linked_)) {
			ASSERT_FALSE(bk_test_token_current(map_, t.token.generation));
			ASSERT_EQ(0, memcmp(map_.link.generation, t.token.generation, BKSNAP_UUID_SIZE));
			ASSERT_GE(t.token.seq, map_.link.seq);
			for (std::uint64_t b = 0; b < blocks_; b++) {
				if (last_write_[b] > t.epoch) {
					ASSERT_GE(bytes_[b], 1) << "MISSED block " << b << " since linked seq " << t.token.seq;
				}
			}
			stats_.checked++;
		}
		for (const Token &t : dropped_) {
			bool miss = false;
			for (std::uint64_t b = 0; b < blocks_ && !miss; b++)
				miss = last_write_[b] > t.epoch && !bytes_[b];
			stats_.dropped_would_miss += miss;
		}
		dropped_.clear();
	}

	std::mt19937_64 rng_;
	Stats &stats_;
	std::uint64_t blocks_ = 0;
	unsigned anchor_per_mille_ = 0;
	std::vector<std::uint8_t> bytes_;
	std::vector<std::uint64_t> last_write_; // epoch of each block's last write
	std::uint64_t epoch_ = 1;
	std::uint64_t uuids_ = 0;
	std::vector<Token> current_;  // this generation's tokens
	std::vector<Token> linked_;   // the link's generation, not older than it
	std::vector<Token> dropped_;  // older than what a wrap kept
	std::optional<Token> anchor_; // this generation's anchor
	bk_cbt_map map_{};
};

TEST(CbtWrapModel, LinkedWrapsMissNoWrite)
{
	const std::uint64_t seed = test_seed();
	Stats stats;

	for (std::uint64_t i = 0; i < 40; i++) {
		SCOPED_TRACE(testing::Message() << "BK_SEED=" << seed << " case " << i);
		WrapModel model(seed + i, stats);

		ASSERT_NO_FATAL_FAILURE(model.snapshots(60 * (BKSNAP_SEQ_MAX - 1)));
	}
	std::cout << stats.wraps << " wraps (" << stats.linked << " linked), " << stats.checked
		  << " token checks with 0 missed; dropped tokens the marks would have failed: " << stats.dropped_would_miss << "\n";
	EXPECT_GE(stats.wraps, 2000U);
	EXPECT_GT(stats.linked, stats.wraps / 2);
	EXPECT_GT(stats.dropped_would_miss, 0U) << "tokens older than the link must be refused";
}

} // namespace
