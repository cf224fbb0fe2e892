// PointReader: random access to a point's image equals the image, zero extents match the
// zero chunks, parallel readers through a tiny cache get the right bytes, and a damaged
// chunk fails alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

std::vector<std::uint8_t> read_range(const PointReader &r, std::uint64_t offset, std::size_t length)
{
	std::vector<std::uint8_t> out(length, 0xa5);
	r.read(offset, out);
	return out;
}

bool equals_image(const std::vector<std::uint8_t> &got, const std::vector<std::uint8_t> &image, std::uint64_t offset)
{
	return std::equal(got.begin(), got.end(), image.begin() + static_cast<std::ptrdiff_t>(offset));
}

// A random range inside an image of `size` bytes: often chunk-aligned, often crossing
// chunk boundaries, sometimes empty.
std::pair<std::uint64_t, std::size_t> random_range(std::uint64_t size, std::mt19937_64 &rng)
{
	std::uint64_t offset = rng() % size;
	if (rng() % 3 == 0)
		offset -= offset % kChunk;
	const std::size_t length = static_cast<std::size_t>(std::min<std::uint64_t>(size - offset, rng() % (3 * kChunk)));
	return {offset, length};
}

class PointReaderTest : public ::testing::TestWithParam<bool> {};

TEST_P(PointReaderTest, RandomRangesOfFullAndIncrementalPointsEqualTheImage)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options(GetParam()));
	std::mt19937_64 rng(11);
	auto image = make_image(Fill::mixed, 23 * kChunk + 777, rng);
	std::vector<std::pair<std::string, std::vector<std::uint8_t>>> points;
	points.emplace_back(backup_image(repo, dir / "src", image, "d").id, image);
	for (int gen = 0; gen < 2; ++gen) { // incrementals: only the changed chunks are read
		auto changed = mutate(image, 6, rng);
		points.emplace_back(backup_image(repo, dir / "src", image, "d", points.back().first, &changed).id, image);
	}
	for (const auto &[id, content] : points) {
		PointReader r = repo.open_point(id, {.cache_bytes = 3 * kChunk});
		ASSERT_EQ(r.size(), content.size());
		EXPECT_EQ(r.info().id, id);
		EXPECT_TRUE(read_range(r, 0, content.size()) == content);
		for (int i = 0; i < 300; ++i) {
			auto [offset, length] = random_range(content.size(), rng);
			ASSERT_TRUE(equals_image(read_range(r, offset, length), content, offset))
				<< id << " at " << offset << " +" << length;
		}
	}
}

INSTANTIATE_TEST_SUITE_P(Storage, PointReaderTest, ::testing::Values(true, false),
			 [](const auto &info) { return info.param ? "encrypted" : "plain"; });

TEST(PointReader, ExtentsAlternateAndMatchTheZeroChunks)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(12);
	const std::uint64_t size = 30 * kChunk + 100; // ragged last chunk
	std::vector<std::uint8_t> image(size, 0);
	for (std::uint64_t c : {3, 4, 9, 17, 30}) // data chunks; the rest are zero
		for (std::uint64_t b = c * kChunk; b < std::min(size, (c + 1) * kChunk); b += 4096)
			image[b] = static_cast<std::uint8_t>(1 + rng() % 255);
	PointReader r = repo.open_point(backup_image(repo, dir / "src", image, "d").id);

	const std::vector<ImageExtent> all = r.extents(0, size);
	const std::vector<std::pair<std::uint64_t, bool>> want = {{3, true}, {2, false}, {4, true}, {1, false},
								  {7, true}, {1, false}, {12, true}};
	ASSERT_EQ(all.size(), want.size() + 1);
	std::uint64_t pos = 0;
	for (std::size_t i = 0; i < want.size(); ++i) {
		EXPECT_EQ(all[i].offset, pos);
		EXPECT_EQ(all[i].length, want[i].first * kChunk);
		EXPECT_EQ(all[i].zero, want[i].second);
		pos += all[i].length;
	}
	EXPECT_EQ(all.back().offset, 30 * kChunk);
	EXPECT_EQ(all.back().length, 100u);
	EXPECT_FALSE(all.back().zero);

	// A range inside chunks is clipped to it; past the end it stops at the end.
	const auto mid = r.extents(4 * kChunk + 10, kChunk);
	ASSERT_EQ(mid.size(), 2u);
	EXPECT_EQ(mid[0].offset, 4 * kChunk + 10);
	EXPECT_EQ(mid[0].length, kChunk - 10);
	EXPECT_FALSE(mid[0].zero);
	EXPECT_EQ(mid[1].length, 10u);
	EXPECT_TRUE(mid[1].zero);
	const auto tail = r.extents(size - 50, 1000);
	ASSERT_EQ(tail.size(), 1u);
	EXPECT_EQ(tail[0].length, 50u);
	EXPECT_TRUE(r.extents(size, 10).empty());
	// Every extent reads back as it claims.
	for (const ImageExtent &e : all)
		if (e.zero) {
			auto got = read_range(r, e.offset, e.length);
			EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](std::uint8_t b) { return b == 0; }));
		}
}

TEST(PointReader, ParallelReadersThroughATinyCacheGetTheirBytes)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 seed(13);
	const auto image = make_image(Fill::random, 40 * kChunk + 5, seed);
	// Two chunks of cache for 8 threads: constant eviction, shared and repeated misses.
	PointReader r = repo.open_point(backup_image(repo, dir / "src", image, "d").id, {.cache_bytes = 2 * kChunk});
	std::atomic<int> wrong{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < 8; ++t)
		threads.emplace_back([&, t] {
			std::mt19937_64 rng(100 + t);
			for (int i = 0; i < 200; ++i) {
				auto [offset, length] = random_range(image.size(), rng);
				wrong += equals_image(read_range(r, offset, length), image, offset) ? 0 : 1;
			}
		});
	for (auto &t : threads)
		t.join();
	EXPECT_EQ(wrong, 0);
}

TEST(PointReader, ACorruptChunkFailsAloneAndIsNotCached)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(14);
	const auto image = make_image(Fill::random, 8 * kChunk, rng);
	PointReader r = repo.open_point(backup_image(repo, dir / "src", image, "d").id);
	const std::shared_ptr<Backend> store = repo_backend(dir);
	std::vector<std::string> packs;
	for (const ObjectEntry &e : store->list("packs"))
		packs.push_back(e.key);
	ASSERT_FALSE(packs.empty());
	std::sort(packs.begin(), packs.end());
	auto bytes = store->get(packs.front());
	const std::size_t at = bytes.size() / 2;
	bytes[at] ^= 0x10;
	overwrite_object(dir, packs.front(), bytes);

	int failed = 0;
	for (std::uint64_t c = 0; c < 8; ++c) {
		try {
			EXPECT_TRUE(equals_image(read_range(r, c * kChunk, kChunk), image, c * kChunk));
		} catch (const Error &e) {
			EXPECT_EQ(e.code(), Errc::corrupt) << e.what();
			++failed;
		}
	}
	EXPECT_EQ(failed, 1); // the one record holding the flipped byte

	bytes[at] ^= 0x10; // repaired: the failure was not remembered
	overwrite_object(dir, packs.front(), bytes);
	EXPECT_TRUE(read_range(r, 0, image.size()) == image);
}

TEST(PointReader, RefusesUnknownPointsAndRangesAndHoldsOffPrune)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(15);
	const auto image = make_image(Fill::text, 3 * kChunk, rng);
	const PointInfo p = backup_image(repo, dir / "src", image, "d");
	try {
		repo.open_point("0123456789abcdef");
		ADD_FAILURE() << "opened a point that does not exist";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::not_found);
	}
	PointReader r = repo.open_point(p.id);
	std::vector<std::uint8_t> buf(10);
	EXPECT_THROW(r.read(image.size() - 5, buf), Error);
	EXPECT_NO_THROW(r.read(image.size() - 10, buf));
	try {
		repo.prune({.keep = {.last = 1}});
		ADD_FAILURE() << "prune ran while a point was open";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::locked);
	}
}

} // namespace
} // namespace bk::storage::test
