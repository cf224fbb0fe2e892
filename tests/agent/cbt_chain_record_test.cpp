// The persisted chain record (cbt/src/chain_record.h): the chains a store
// writes read back equal, and a damaged record is refused before any query
// can answer an incremental from it.
#include "chain_record.h"
#include "keys.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <random>

namespace bk::cbt {
namespace {

Generation gen(std::uint8_t seed)
{
	Generation g{};
	g.fill(seed);
	return g;
}

// A map of `blocks` all written after every snapshot: each fold marks them.
MapReader all_changed(std::uint64_t blocks, std::uint8_t sequence)
{
	return [=](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
		ASSERT_LE(first + count, blocks);
		std::memset(out, sequence, count);
	};
}

// Chains as the store builds them across random sequence wraps (the kernel
// links each new generation to the last snapshot of the one before).
TEST(CbtChainRecord, StoredChainsReadBackEqual)
{
	test::TempDir dir;
	Store store(dir.path().string());
	const Geometry geo{12, 16};
	std::mt19937 rng(7);
	Token last{gen(1), 0};
	std::size_t most_segments = 0;
	for (int round = 0; round < 60; ++round) {
		Token next{last.generation, last.sequence + 1 + static_cast<std::uint32_t>(rng() % 40)};
		if (last.sequence >= 1 && (rng() % 4 == 0 || next.sequence > max_sequence)) {
			next = {gen(static_cast<std::uint8_t>(round + 2)), 1};
			store.record_snapshot("d", next, geo, all_changed(16, 1), last);
		} else {
			store.record_snapshot("d", next, geo, all_changed(16, static_cast<std::uint8_t>(next.sequence)));
		}
		if (rng() % 8 == 0)
			store.commit("d", next);
		last = next;
		const Chain c = *store.chain("d");
		most_segments = std::max(most_segments, c.segments.size());
		EXPECT_EQ(decode_chain(encode_chain(c)), c) << "round " << round;
	}
	EXPECT_EQ(most_segments, max_segments) << "the workload never filled a chain";
}

Chain sample() { return {gen(1), {12, 1024}, {{gen(1), 0, {0b110, 0, 0, 0}}, {gen(2), 2, {0b10, 0, 0, 0}}}, 1, 1}; }

TEST(CbtChainRecord, BrokenInvariantsAreRefused)
{
	ASSERT_EQ(decode_chain(encode_chain(sample())), sample());
	auto refused = [](const Chain &c, const char *why) { EXPECT_THROW(decode_chain(encode_chain(c)), StoreError) << why; };
	Chain c = sample();
	c.last_sequence = max_sequence + 1;
	refused(c, "a sequence the kernel's map byte cannot hold");
	c = sample();
	c.committed_sequence = 1000;
	refused(c, "a committed sequence out of range");
	c = sample();
	c.segments[1].offset = 0xffffffffU;
	refused(c, "ordinals that overflow");
	c = sample();
	c.segments[0].offset = 3;
	refused(c, "ordinals that go backwards");
	c = sample();
	c.segments[1].generation = gen(1);
	refused(c, "one generation in two segments");
	c = sample();
	c.segments.clear();
	refused(c, "no segment");
	c = sample();
	c.segments.resize(max_segments + 1, c.segments.back());
	for (std::size_t i = 0; i < c.segments.size(); ++i)
		c.segments[i].generation = gen(static_cast<std::uint8_t>(10 + i));
	refused(c, "more segments than a chain spans");
	const std::string good = encode_chain(sample());
	constexpr std::size_t one_generation_layout = 68;
	for (std::size_t n = 0; n < good.size(); ++n)
		if (n != one_generation_layout) {
			EXPECT_THROW(decode_chain(good.substr(0, n)), StoreError) << "truncated to " << n;
		}
	EXPECT_THROW(decode_chain(good + '\0'), StoreError);
}

// The layout of before wraps were carried: one generation, its id.
TEST(CbtChainRecord, TheOneGenerationLayoutIsRead)
{
	std::string v1;
	auto put = [&v1](const auto &v) { v1.append(reinterpret_cast<const char *>(&v), sizeof v); };
	put(gen(5));
	put(std::uint32_t{16});
	put(std::uint64_t{4096});
	put(std::uint32_t{9});
	put(std::uint32_t{3});
	put(std::array<std::uint64_t, 4>{0b1000001000, 0, 0, 0});
	const Chain c = decode_chain(v1);
	EXPECT_EQ(c.id, gen(5));
	EXPECT_EQ(c.geometry, (Geometry{16, 4096}));
	ASSERT_EQ(c.segments.size(), 1U);
	EXPECT_TRUE(c.segments[0].has(3) && c.segments[0].has(9));
	EXPECT_EQ(c.committed(), (Token{gen(5), 3}));
}

// A damaged record on disk proves nothing: its tokens answer CBT_RESET, and
// the next snapshot of the device starts a new chain and says why.
TEST(CbtChainRecord, ADamagedRecordOnDiskAnswersCbtReset)
{
	test::TempDir dir;
	const Geometry geo{12, 16};
	const Token t1{gen(1), 1}, t2{gen(1), 2}, t3{gen(1), 3};
	{
		Store store(dir.path().string());
		store.record_snapshot("d", t1, geo, all_changed(16, 1));
		store.record_snapshot("d", t2, geo, all_changed(16, 2));
	}
	{
		rocksdb::DB *raw = nullptr;
		ASSERT_TRUE(rocksdb::DB::Open({}, dir.path().string(), &raw).ok());
		std::unique_ptr<rocksdb::DB> db(raw);
		std::string value;
		ASSERT_TRUE(db->Get({}, keys::chain("d"), &value).ok());
		Chain c = decode_chain(value);
		c.last_sequence = 300;
		ASSERT_TRUE(db->Put({}, keys::chain("d"), encode_chain(c)).ok());
	}
	Store store(dir.path().string());
	auto reset = [](const std::function<void()> &call) {
		try {
			call();
			ADD_FAILURE() << "answered from a damaged record";
		} catch (const FullReadNeeded &e) {
			EXPECT_EQ(e.reason(), FullReason::cbt_reset) << e.what();
		}
	};
	reset([&] { store.chain("d"); });
	reset([&] { store.changed_since("d", t1, t2, 0, 16, [](const BlockRun &) { return true; }); });
	reset([&] { store.commit("d", t2); });
	store.record_snapshot("d", t3, geo, all_changed(16, 3));
	EXPECT_NE(store.note("d").find("CBT_RESET: change map record of d is damaged"), std::string::npos) << store.note("d");
	EXPECT_THROW(store.changed_since("d", t2, t3, 0, 16, [](const BlockRun &) { return true; }), FullReadNeeded);
	EXPECT_EQ(store.chain("d")->segments.size(), 1U);
}

TEST(CbtChainRecord, ASequenceTheMapCannotHoldIsNotRecorded)
{
	test::TempDir dir;
	Store store(dir.path().string());
	EXPECT_THROW(store.record_snapshot("d", {gen(1), max_sequence + 1}, {12, 16}, all_changed(16, 0)), StoreError);
	EXPECT_THROW(store.record_snapshot("d", {gen(1), 0}, {12, 16}, all_changed(16, 0)), StoreError);
	EXPECT_FALSE(store.chain("d"));
}

} // namespace
} // namespace bk::cbt
