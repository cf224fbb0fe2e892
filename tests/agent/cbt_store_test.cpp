// The CBT store against a model of the kernel map: every change between two
// recorded snapshots is reported, nothing written before the older one is.
#include "bk/cbt/store.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

namespace bk::cbt {
namespace {

// The uAPI's map semantics: one byte per block holding the sequence of its
// last write; a snapshot returns (generation, sequence) and advances it.
struct ModelMap {
	Generation generation{};
	std::uint32_t sequence = 1;
	std::vector<std::uint8_t> bytes;
	std::uint64_t clock = 0;
	std::vector<std::vector<std::uint64_t>> history; // every write time per block

	explicit ModelMap(std::uint64_t blocks, std::uint8_t seed) : bytes(blocks), history(blocks) { generation.fill(seed); }
	void write(std::uint64_t block)
	{
		bytes[block] = static_cast<std::uint8_t>(sequence);
		history[block].push_back(++clock);
	}
	Token snapshot()
	{
		++clock;
		return {generation, sequence++};
	}
	MapReader reader()
	{
		return [this](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
			ASSERT_LE(first + count, bytes.size());
			std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(first), count, out);
		};
	}
};

std::set<std::uint64_t> query(const Store &store, const std::string &dev, const Token &since, const Token &upto, std::uint64_t first,
			      std::uint64_t end)
{
	std::set<std::uint64_t> blocks;
	std::uint64_t last_end = 0;
	store.changed_since(dev, since, upto, first, end, [&](const BlockRun &run) {
		EXPECT_GT(run.count, 0u);
		EXPECT_GE(run.first, first);
		EXPECT_LE(run.first + run.count, end);
		EXPECT_TRUE(blocks.empty() || run.first > last_end) << "runs must be maximal and ascending";
		for (std::uint64_t b = run.first; b < run.first + run.count; ++b)
			blocks.insert(b);
		last_end = run.first + run.count;
		return true;
	});
	return blocks;
}

TEST(CbtStore, RandomWorkloadReportsEveryChangeAndNothingOlder)
{
	test::TempDir dir;
	Store store(dir / "db");
	const std::string dev = "/dev/model";
	std::mt19937_64 rng(42);
	// 3.5 bitmap chunks, so runs cross chunk boundaries and the last is partial.
	ModelMap map(chunk_blocks * 3 + chunk_blocks / 2, 7);
	const Geometry geometry{12, map.bytes.size()};

	std::vector<std::pair<Token, std::uint64_t>> snaps; // token, model time
	for (int round = 0; round < 12; ++round) {
		const int writes = static_cast<int>(rng() % 3000);
		for (int i = 0; i < writes; ++i) {
			std::uint64_t b = rng() % map.bytes.size();
			std::uint64_t len = 1 + rng() % 70; // runs, some across chunk ends
			for (std::uint64_t k = b; k < std::min<std::uint64_t>(b + len, map.bytes.size()); ++k)
				map.write(k);
		}
		Token t = map.snapshot();
		store.record_snapshot(dev, t, geometry, map.reader());
		snaps.emplace_back(t, map.clock);
	}
	for (std::size_t i = 0; i < snaps.size(); ++i) {
		for (std::size_t j = i; j < snaps.size(); ++j) {
			const std::uint64_t first = (i * 7919) % chunk_blocks;
			const std::uint64_t end = map.bytes.size() - (j * 104729) % chunk_blocks;
			auto got = query(store, dev, snaps[i].first, snaps[j].first, first, end);
			for (std::uint64_t b = first; b < end; ++b) {
				const auto &h = map.history[b];
				bool between = std::any_of(h.begin(), h.end(),
							   [&](std::uint64_t t) { return t > snaps[i].second && t < snaps[j].second; });
				bool after = !h.empty() && h.back() > snaps[i].second;
				if (between) {
					ASSERT_TRUE(got.contains(b)) << "missed block " << b << " " << i << "->" << j;
				}
				if (got.contains(b)) {
					ASSERT_TRUE(after) << "reported block " << b << " not written since " << i;
				}
			}
		}
	}
}

TEST(CbtStore, StopsWhenSinkSaysSo)
{
	test::TempDir dir;
	Store store(dir / "db");
	ModelMap map(1024, 1);
	const Geometry g{12, 1024};
	Token t1 = map.snapshot();
	store.record_snapshot("/d", t1, g, map.reader());
	for (std::uint64_t b = 0; b < 1024; b += 2)
		map.write(b);
	Token t2 = map.snapshot();
	store.record_snapshot("/d", t2, g, map.reader());
	int calls = 0;
	store.changed_since("/d", t1, t2, 0, 1024, [&](const BlockRun &) { return ++calls < 3; });
	EXPECT_EQ(calls, 3);
}

TEST(CbtStore, TokensAndReasons)
{
	test::TempDir dir;
	const std::string dev = "/dev/x";
	ModelMap map(4096, 3);
	const Geometry g{12, 4096};
	Token t1, t2, t3;
	{
		Store store(dir / "db");
		EXPECT_TRUE(store.previous_run_clean());
		t1 = map.snapshot();
		store.record_snapshot(dev, t1, g, map.reader());
		map.write(5);
		t2 = map.snapshot();
		store.record_snapshot(dev, t2, g, map.reader());
		map.write(9);
		t3 = map.snapshot();
		store.record_snapshot(dev, t3, g, map.reader());

		Token bogus = t1;
		bogus.generation[0] ^= 1;
		try {
			query(store, dev, bogus, t3, 0, 4096);
			FAIL();
		} catch (const FullReadNeeded &e) {
			EXPECT_EQ(e.reason(), FullReason::unknown_token);
		}
		Token never = t1;
		never.sequence = 77;
		EXPECT_THROW(query(store, dev, never, t3, 0, 4096), FullReadNeeded);
		EXPECT_THROW(query(store, dev, t3, t1, 0, 4096), FullReadNeeded) << "since newer than upto";

		EXPECT_EQ(query(store, dev, t1, t3, 0, 4096), (std::set<std::uint64_t>{5, 9}));
		EXPECT_EQ(store.commit(dev, t2), t2);
		EXPECT_EQ(store.commit(dev, t1), t2) << "older commit is a no-op";
		EXPECT_EQ(query(store, dev, t2, t3, 0, 4096), (std::set<std::uint64_t>{9}));
		try {
			query(store, dev, t1, t3, 0, 4096);
			FAIL() << "token older than the baseline must be forgotten";
		} catch (const FullReadNeeded &e) {
			EXPECT_EQ(e.reason(), FullReason::unknown_token);
		}
		// no mark_clean_shutdown: an unclean stop (as after kill -9)
	}
	{
		Store store(dir / "db");
		EXPECT_FALSE(store.previous_run_clean());
		// Same generation: the kernel map is continuous, the synced chain holds.
		store.reconcile(dev, t3.generation);
		EXPECT_EQ(query(store, dev, t2, t3, 0, 4096), (std::set<std::uint64_t>{9}));
		EXPECT_EQ(store.chain(dev)->committed_sequence, t2.sequence);
		store.mark_clean_shutdown();
	}
	{
		Store store(dir / "db");
		EXPECT_TRUE(store.previous_run_clean());
		store.mark_clean_shutdown();
	}
	Generation reloaded{};
	reloaded.fill(0xee);
	{
		Store store(dir / "db");
		store.reconcile(dev, reloaded); // module reloaded after a clean stop
		try {
			query(store, dev, t2, t3, 0, 4096);
			FAIL();
		} catch (const FullReadNeeded &e) {
			EXPECT_EQ(e.reason(), FullReason::cbt_reset);
		}
		EXPECT_FALSE(store.chain(dev).has_value());
	}
}

TEST(CbtStore, UncleanStopWithReloadAnswersUncleanShutdown)
{
	test::TempDir dir;
	ModelMap map(4096, 4);
	const Geometry g{12, 4096};
	Token t1 = map.snapshot(), t2;
	{
		Store store(dir / "db");
		store.record_snapshot("/d", t1, g, map.reader());
		map.write(1);
		t2 = map.snapshot();
		store.record_snapshot("/d", t2, g, map.reader());
	}
	Store store(dir / "db");
	ModelMap reloaded(4096, 5);
	Token n1 = reloaded.snapshot();
	store.record_snapshot("/d", n1, g, reloaded.reader()); // no reconcile first
	try {
		store.commit("/d", t2);
		FAIL();
	} catch (const FullReadNeeded &e) {
		EXPECT_EQ(e.reason(), FullReason::unclean_shutdown);
	}
}

TEST(CbtStore, RecordsSurviveReopen)
{
	test::TempDir dir;
	{
		Store store(dir / "db");
		store.put_record("a", "1");
		store.put_record("b", std::string("\0x", 2));
		store.erase_record("a");
	}
	Store store(dir / "db");
	auto r = store.records();
	ASSERT_EQ(r.size(), 1u);
	EXPECT_EQ(r[0].first, "b");
	EXPECT_EQ(r[0].second, std::string("\0x", 2));
}

TEST(CbtToken, TextForm)
{
	Token t;
	for (std::size_t i = 0; i < t.generation.size(); ++i)
		t.generation[i] = static_cast<std::uint8_t>(i * 17);
	t.sequence = 255;
	const std::string text = format_token(t);
	EXPECT_EQ(text, "00112233445566778899aabbccddeeff:255");
	EXPECT_EQ(parse_token(text), t);
	for (const char *bad :
	     {"", "00112233445566778899aabbccddeeff", "00112233445566778899aabbccddeeff:", "00112233445566778899aabbccddeeff:0",
	      "00112233445566778899aabbccddeefg:1", "00112233445566778899aabbccddeeff:1x", "0011:1", "00112233445566778899aabbccddeeff:-1",
	      "00112233445566778899aabbccddeeff:99999999999"})
		EXPECT_FALSE(parse_token(bad).has_value()) << bad;
}

// A clean reboot with a valid seal: the chain continues in the new
// generation, "changed since a sealed-generation token" is the sealed marks
// above it plus what the new map marks; a reboot before any snapshot of the
// new generation replaces it in place. A seal of another generation (stale)
// and a boot restore without a record retire the chain with the right reason.
TEST(CbtStore, SealBridgesACleanReboot)
{
	bk::test::TempDir dir;
	Store store(dir.path().string());
	const Geometry geo{12, 64};
	ModelMap g1(64, 1);
	g1.write(3);
	const Token t1 = g1.snapshot();
	store.record_snapshot("d", t1, geo, g1.reader());
	g1.write(5);
	const Token t2 = g1.snapshot();
	store.record_snapshot("d", t2, geo, g1.reader());
	g1.write(7); // after t2, sealed at shutdown
	auto carry = [](const ModelMap &m, const Geometry &g) {
		BootSeal boot{"stamp", BootSeal::Verdict::carried, {m.generation, m.sequence}, g, {}, {}};
		boot.sealed_map = [&m](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
			std::copy_n(m.bytes.begin() + static_cast<std::ptrdiff_t>(first), count, out);
		};
		return boot;
	};
	ModelMap g2(64, 2); // the boot's new map, empty; a reboot before any snapshot of it
	store.reconcile("d", g2.generation, std::nullopt, carry(g1, geo));
	EXPECT_NE(store.note("d").find("carried over a clean reboot"), std::string::npos);
	g2.write(9);
	ModelMap g3(64, 3);
	BootSeal again = carry(g2, geo);
	again.stamp = "stamp2";
	store.reconcile("d", g3.generation, std::nullopt, again);
	ASSERT_EQ(store.chain("d")->segments.size(), 2U) << "an empty segment is replaced, not added";
	g3.write(11);
	const Token u1 = g3.snapshot();
	store.record_snapshot("d", u1, geo, g3.reader());
	EXPECT_EQ(query(store, "d", t2, u1, 0, 64), (std::set<std::uint64_t>{7, 9, 11}));
	EXPECT_EQ(query(store, "d", t1, u1, 0, 64), (std::set<std::uint64_t>{5, 7, 9, 11}));

	// A seal of an older generation does not continue this chain.
	ModelMap g4(64, 4);
	BootSeal stale = carry(g1, geo);
	stale.stamp = "stamp3";
	store.reconcile("d", g4.generation, std::nullopt, stale);
	EXPECT_NE(store.note("d").find("CBT_RESET: the seal found at boot does not continue the chain"), std::string::npos);
	EXPECT_FALSE(store.chain("d"));

	// No record although a restore ran since: UNCLEAN_SHUTDOWN.
	ModelMap h1(64, 5);
	const Token v1 = h1.snapshot();
	store.record_snapshot("e", v1, geo, h1.reader());
	store.reconcile("e", h1.generation, std::nullopt, {"stamp3", BootSeal::Verdict::none, {}, {}, {}, {}});
	ModelMap h2(64, 6);
	store.reconcile("e", h2.generation, std::nullopt, {"stamp4", BootSeal::Verdict::none, {}, {}, {}, {}});
	EXPECT_NE(store.note("e").find("UNCLEAN_SHUTDOWN: no seal at boot"), std::string::npos) << store.note("e");
	try {
		query(store, "e", v1, v1, 0, 64);
		FAIL() << "a token of a map restarted without a seal was answered";
	} catch (const FullReadNeeded &e) {
		EXPECT_EQ(e.reason(), FullReason::unclean_shutdown);
	}
}

} // namespace
} // namespace bk::cbt
