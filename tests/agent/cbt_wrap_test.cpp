// The CBT store carried over sequence wraps of the module's own map
// (kernel/cbt_map.c): snapshots with random writes between them, most
// recorded and anchored as the daemon does, some taken behind the agent's
// back (runs long enough to wrap unanchored), random commits.  Every
// incremental the store hands out holds every block written since its
// token (0 missed); the step from one recorded snapshot to the next stays
// incremental across every wrap; tokens older than the committed baseline,
// or older than the generations a chain keeps, get a full read.
#include "bk/cbt/store.h"
#include "temp_dir.h"

extern "C" {
#include "cbt_map.h"
}

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace bk::cbt {
namespace {

struct Handed {
	Token token;
	std::uint64_t epoch; // writes after the token have a larger epoch
};

class Kernel {
public:
	explicit Kernel(std::uint64_t blocks) : bytes_(blocks), last_write_(blocks, 0)
	{
		bk_cbt_init(&map_, bytes_.data(), blocks << 3, 12, blocks, fresh().data());
	}
	void write(std::mt19937_64 &rng)
	{
		const std::uint64_t first = rng() % bytes_.size();
		const std::uint64_t count = std::min<std::uint64_t>(1 + rng() % 8, bytes_.size() - first);
		ASSERT_EQ(bk_cbt_mark(&map_, first << 3, count << 3), 0);
		for (std::uint64_t b = first; b < first + count; ++b)
			last_write_[b] = epoch_;
	}
	Handed snapshot()
	{
		bk_cbt_token t{};
		EXPECT_FALSE(bk_cbt_advance(&map_, fresh().data(), &t)) << "an anchored wrap is no reset";
		Handed h{{}, epoch_++};
		std::memcpy(h.token.generation.data(), t.generation, h.token.generation.size());
		h.token.sequence = t.seq;
		wraps_ += t.seq == 1 && h.epoch > 1;
		return h;
	}
	std::optional<Token> link() const
	{
		if (!map_.link.seq)
			return std::nullopt;
		Token l{{}, map_.link.seq};
		std::memcpy(l.generation.data(), map_.link.generation, l.generation.size());
		return l;
	}
	void anchor(const Token &t) { ASSERT_EQ(bk_cbt_set_anchor(&map_, t.sequence), 0); }
	MapReader reader()
	{
		return [this](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
			std::memcpy(out, bytes_.data() + first, count);
		};
	}
	Geometry geometry() const { return {12, bytes_.size()}; }
	bool written_since(std::uint64_t block, const Handed &h) const { return last_write_[block] > h.epoch; }
	std::uint64_t blocks() const { return bytes_.size(); }
	// Writes after the snapshot of this epoch have a larger one.
	bool untouched_since(const Handed &h) const { return epoch_ == h.epoch + 1; }
	unsigned wraps() const { return wraps_; }

private:
	Generation fresh()
	{
		Generation g{};
		++gens_;
		std::memcpy(g.data(), &gens_, sizeof gens_);
		return g;
	}

	std::vector<std::uint8_t> bytes_;
	std::vector<std::uint64_t> last_write_;
	std::uint64_t epoch_ = 1, gens_ = 0;
	unsigned wraps_ = 0;
	bk_cbt_map map_{};
};

TEST(CbtWrap, ChainCarriedOverWrapsMissesNothing)
{
	test::TempDir dir;
	Store store(dir / "db");
	const std::string dev = "/dev/wrap";
	std::mt19937_64 rng(7);
	Kernel kernel(3000);
	std::vector<Handed> recorded;
	std::size_t committed = 0; // index into recorded
	std::uint64_t incrementals = 0, fulls = 0, missed = 0, reported = 0, changed = 0;
	unsigned behind = 0; // snapshots still to take behind the agent's back
	std::string refusal; // why the last full read was needed

	// Whether the store proves changes from `since` to `upto`, the newest
	// snapshot (no write after it); if it does, every block written since
	// `since` must be in its answer.
	auto incremental = [&](const Handed &since, const Handed &upto) {
		EXPECT_TRUE(kernel.untouched_since(upto));
		std::vector<bool> got(kernel.blocks());
		try {
			store.changed_since(dev, since.token, upto.token, 0, kernel.blocks(), [&](const BlockRun &r) {
				for (std::uint64_t b = r.first; b < r.first + r.count; ++b)
					got[b] = true;
				return true;
			});
		} catch (const FullReadNeeded &e) {
			refusal = e.what();
			++fulls;
			return false;
		}
		++incrementals;
		for (std::uint64_t b = 0; b < kernel.blocks(); ++b) {
			if (!got[b] && kernel.written_since(b, since) && !missed++)
				ADD_FAILURE() << "MISSED block " << b << " between " << format_token(since.token) << " and "
					      << format_token(upto.token);
			reported += got[b];
			changed += kernel.written_since(b, since);
		}
		return true;
	};

	while (kernel.wraps() < 8) {
		for (unsigned w = rng() % 6; w; --w)
			ASSERT_NO_FATAL_FAILURE(kernel.write(rng));
		const Handed h = kernel.snapshot();
		if (behind || rng() % 10 == 0) {
			behind = behind ? behind - 1 : (rng() % 8 == 0 ? 300 : 0); // sometimes a wrap passes unanchored
			continue;
		}
		store.record_snapshot(dev, h.token, kernel.geometry(), kernel.reader(), kernel.link());
		ASSERT_NO_FATAL_FAILURE(kernel.anchor(h.token));
		if (!recorded.empty()) {
			ASSERT_TRUE(incremental(recorded.back(), h))
				<< format_token(recorded.back().token) << " -> " << format_token(h.token) << ": " << refusal;
		}
		recorded.push_back(h);
		if (rng() % 4 == 0) {
			const Handed &since = recorded[committed + rng() % (recorded.size() - committed)];
			ASSERT_TRUE(incremental(since, h))
				<< format_token(since.token) << " -> " << format_token(h.token) << ": " << refusal;
		}
		if (committed && rng() % 8 == 0) {
			ASSERT_FALSE(incremental(recorded[rng() % committed], h)) << "older than the baseline";
		}
		// Backups commit now and then, and at least once a generation, so
		// that no chain outgrows max_segments here.
		const bool new_generation = recorded.size() > 1 && recorded[recorded.size() - 2].token.generation != h.token.generation;
		if (new_generation || rng() % 20 == 0) {
			committed = std::max(committed, recorded.size() - 1 - rng() % std::min<std::size_t>(recorded.size(), 50));
			store.commit(dev, recorded[committed].token);
		}
	}
	// Nothing committed for longer than a chain keeps: the oldest go.
	const std::size_t last_of_first_part = recorded.size() - 1;
	while (kernel.wraps() < 8 + max_segments + 1) {
		ASSERT_NO_FATAL_FAILURE(kernel.write(rng));
		const Handed h = kernel.snapshot();
		if (h.token.sequence % 50)
			continue; // behind the agent's back: the wraps keep the link
		store.record_snapshot(dev, h.token, kernel.geometry(), kernel.reader(), kernel.link());
		ASSERT_NO_FATAL_FAILURE(kernel.anchor(h.token));
		recorded.push_back(h);
	}
	const Handed newest = kernel.snapshot(); // with no write after it
	store.record_snapshot(dev, newest.token, kernel.geometry(), kernel.reader(), kernel.link());
	recorded.push_back(newest);
	EXPECT_FALSE(incremental(recorded[last_of_first_part], recorded.back())) << "beyond the generations a chain keeps";
	EXPECT_TRUE(incremental(recorded[recorded.size() - 11], recorded.back())) << "two wraps back";
	EXPECT_EQ(missed, 0U);

	std::cout << kernel.wraps() << " wraps, " << incrementals << " incrementals, " << missed << " blocks missed, " << fulls
		  << " refused; over-report " << static_cast<double>(reported) / static_cast<double>(changed) << "x\n";
	EXPECT_GT(fulls, 0U);
}

// A link the chain cannot vouch for is never bridged: one naming another
// generation, or a sequence the chain never recorded (the map kept less
// than the chain needs).
TEST(CbtWrap, UnvouchedLinkIsAReset)
{
	test::TempDir dir;
	Store store(dir / "db");
	const Geometry g{12, 16};
	std::vector<std::uint8_t> map(16, 1);
	const MapReader read = [&](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
		std::memcpy(out, map.data() + first, count);
	};
	const Generation a{1}, b{2}, c{3}, d{4};
	store.record_snapshot("/d", {a, 1}, g, read);
	store.record_snapshot("/d", {a, 2}, g, read);
	store.record_snapshot("/d", {b, 1}, g, read, Token{c, 2}); // links another generation
	EXPECT_EQ(store.chain("/d")->segments.size(), 1U);
	EXPECT_EQ(store.chain("/d")->id, b);
	store.record_snapshot("/d", {c, 1}, g, read, Token{b, 2}); // newer than recorded
	EXPECT_EQ(store.chain("/d")->id, c);
	store.record_snapshot("/d", {d, 1}, g, read, Token{c, 1}); // vouched: carried on
	EXPECT_EQ(store.chain("/d")->segments.size(), 2U);
	for (const Token &t : {Token{a, 1}, Token{b, 1}}) {
		try {
			store.changed_since("/d", t, {d, 1}, 0, 16, [](const BlockRun &) { return true; });
			ADD_FAILURE() << format_token(t) << " answered across a reset";
		} catch (const FullReadNeeded &e) {
			EXPECT_EQ(e.reason(), FullReason::cbt_reset);
		}
	}
	std::uint64_t blocks = 0;
	store.changed_since("/d", {c, 1}, {d, 1}, 0, 16, [&](const BlockRun &r) {
		blocks += r.count;
		return true;
	});
	EXPECT_EQ(blocks, 16U) << "every block marked in the new map";
}

} // namespace
} // namespace bk::cbt
