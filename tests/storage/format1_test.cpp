// A repository of format 1 (before host ids), as bkagent wrote it: data/format1-repo,
// made by `bkagent init --unencrypted --chunk-size 65536` and one backup of device
// /dev/old (the image below) by the version before format 2. It must stay readable,
// its point without a host, and its first backup upgrades it to format 2.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

// The image of data/format1-repo's point: three chunks of a pattern, the second zero,
// and a short tail.
std::vector<std::uint8_t> old_image()
{
	std::vector<std::uint8_t> img(3 * kChunk + 1000);
	for (std::size_t i = 0; i < img.size(); ++i)
		img[i] = i / kChunk == 1 ? 0 : static_cast<std::uint8_t>((i * 7 + i / kChunk) % 251);
	return img;
}

int format_of(const fs::path &repo)
{
	const auto text = read_file(repo / "config");
	return nlohmann::json::parse(text.begin(), text.end()).at("format").get<int>();
}

TEST(Format1, AnOldRepositoryIsReadAndItsFirstBackupUpgradesIt)
{
	ScratchDir dir;
	const fs::path repo_dir = dir / "repo";
	fs::copy(BK_TEST_DATA "/format1-repo", repo_dir, fs::copy_options::recursive);
	// git keeps no empty directory: put back those bkagent init made.
	for (const char *d : {"locks", "tmp"})
		fs::create_directories(repo_dir / d);
	for (int i = 0; i < 256; ++i) {
		char fan[3];
		std::snprintf(fan, sizeof fan, "%02x", i);
		fs::create_directories(repo_dir / "packs" / fan);
	}
	ASSERT_EQ(format_of(repo_dir), 1);

	Repository repo = Repository::open(repo_dir, "");
	std::vector<PointInfo> points = repo.points();
	ASSERT_EQ(points.size(), 1u);
	const PointInfo old = points[0];
	EXPECT_EQ(old.device, "/dev/old");
	EXPECT_EQ(old.host, "");
	EXPECT_EQ(repo.point(old.id.substr(0, 4), std::string()).id, old.id); // --host '': the points without one
	EXPECT_THROW(repo.point(old.id, std::string("h1")), Error);
	repo.restore(old.id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(old_image()));
	EXPECT_TRUE(repo.verify().ok());
	EXPECT_EQ(format_of(repo_dir), 1) << "a reader upgraded the repository";

	// A backup upgrades the repository; it dedups against the old point's chunks.
	auto image = old_image();
	image[5] ^= 1;
	const PointInfo p = backup_image(repo, dir / "src", image, "/dev/old", "", nullptr, 0, "h1");
	EXPECT_EQ(p.stats.bytes_new, kChunk);
	EXPECT_EQ(format_of(repo_dir), 2);
	Repository reopened = Repository::open(repo_dir, "");
	points = reopened.points();
	ASSERT_EQ(points.size(), 2u);
	EXPECT_EQ(points[0].host, "");
	EXPECT_EQ(points[1].host, "h1");
	// h1's retention leaves the point without a host alone.
	EXPECT_TRUE(reopened.prune({.keep = {.last = 1}, .host = "h1"}).removed.empty());
	reopened.restore(old.id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(old_image()));
	reopened.restore(p.id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(image));
	EXPECT_TRUE(reopened.verify().ok());
}

} // namespace
} // namespace bk::storage::test
