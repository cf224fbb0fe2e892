// Round trips, dedup, incrementals, corruption detection, passphrases and locking.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <set>

#include "bk/storage/error.hpp"
#include "bk/util/zstd.h"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

// The code of the Error that fn throws, or nullopt when it succeeds.
std::optional<Errc> error_code_of(const std::function<void()> &fn)
{
	try {
		fn();
	} catch (const Error &e) {
		return e.code();
	}
	return std::nullopt;
}

class RoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(RoundTrip, EveryKindOfImageRestoresBitExact)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options(GetParam()));
	std::mt19937_64 rng(1);
	struct Case {
		Fill fill;
		std::size_t size;
	};
	// Sizes include less than one chunk, exact multiples and ragged tails.
	const Case cases[] = {{Fill::random, 5 * kChunk + 123},   {Fill::text, 8 * kChunk},       {Fill::zeros, 7 * kChunk - 1},
			      {Fill::sparse, 20 * kChunk + 4097}, {Fill::mixed, 13 * kChunk + 1}, {Fill::random, 1000}};
	std::vector<std::pair<PointInfo, std::string>> points;
	int n = 0;
	for (const Case &c : cases) {
		auto image = make_image(c.fill, c.size, rng);
		PointInfo p = backup_image(repo, dir / "src", image, "dev" + std::to_string(n++));
		EXPECT_EQ(p.size, c.size);
		EXPECT_EQ(p.stats.bytes_read, c.size);
		points.emplace_back(p, sha256(image));
	}
	for (const auto &[p, sha] : points) {
		fs::path out = dir / ("restore-" + p.id);
		write_file(out, std::vector<std::uint8_t>(3 * kChunk, 0xee)); // stale content must go
		RestoreStats s = repo.restore(p.id, out);
		EXPECT_EQ(sha256_file(out), sha) << p.device;
		EXPECT_EQ(fs::file_size(out), p.size);
		EXPECT_EQ(s.bytes_total, p.size);
	}
	EXPECT_EQ(repo.points().size(), std::size(cases));
	VerifyReport v = repo.verify();
	EXPECT_TRUE(v.ok());
	EXPECT_EQ(v.points, std::size(cases));
	EXPECT_EQ(v.chunks_checked, v.chunks_referenced);
	EXPECT_EQ(v.orphan_packs, 0u);
}

INSTANTIATE_TEST_SUITE_P(Storage, RoundTrip, ::testing::Values(true, false),
			 [](const auto &info) { return info.param ? "encrypted" : "plain"; });

TEST(Storage, ZeroAndIncompressibleDataAreStoredEfficiently)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(2);
	PointInfo z = backup_image(repo, dir / "src", make_image(Fill::zeros, 40 * kChunk, rng), "zero");
	EXPECT_EQ(z.stats.chunks_zero, 40u);
	EXPECT_EQ(packs_bytes(dir), 0u);
	PointInfo t = backup_image(repo, dir / "src", make_image(Fill::text, 40 * kChunk, rng), "text");
	EXPECT_LT(t.stats.bytes_stored, t.stats.bytes_new / 3); // text compresses
	PointInfo r = backup_image(repo, dir / "src", make_image(Fill::random, 40 * kChunk, rng), "rand");
	// Random data is stored raw: only the record framing and GCM overhead are added.
	EXPECT_LE(r.stats.bytes_stored, r.stats.bytes_new + 40 * (48 + 28));
}

// Chunks that arrive zstd-compressed (the agent's wire compression) are stored as
// the frames they came in, not compressed again: a frame of a fast zstd level (-5)
// is stored at its own size, and the point restores bit-exact.
TEST(Storage, WireFramesAreStoredAsTheyCame)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(4);
	const std::vector<std::uint8_t> image = make_image(Fill::text, 8 * kChunk, rng);
	BackupRequest req;
	req.device = "wire";
	req.size = image.size();
	BackupWriter w = repo.begin_backup(req);
	std::uint64_t frames = 0;
	for (std::uint64_t i = 0; i < w.chunk_count(); ++i) {
		Bytes data(image.begin() + static_cast<std::ptrdiff_t>(i * kChunk),
			   image.begin() + static_cast<std::ptrdiff_t>((i + 1) * kChunk));
		Bytes frame(kChunk);
		frame.resize(util::zstd_compress(data.data(), data.size(), frame.data(), frame.size(), -5));
		ASSERT_FALSE(frame.empty());
		frames += frame.size();
		w.put(i, std::move(data), std::move(frame));
	}
	const PointInfo p = w.commit();
	EXPECT_EQ(p.stats.bytes_stored, frames + 8 * (48 + 28)) << "the frames, framed and sealed";
	repo.restore(p.id, dir / "out");
	EXPECT_EQ(read_file(dir / "out"), image);
	EXPECT_TRUE(repo.verify().ok());
}

TEST(Storage, DeduplicatesWithinAndAcrossDevices)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(3);
	auto half = make_image(Fill::random, 10 * kChunk, rng);
	auto image = half;
	image.insert(image.end(), half.begin(), half.end()); // the same 10 chunks twice
	PointInfo a = backup_image(repo, dir / "src", image, "/dev/sda");
	EXPECT_EQ(a.stats.chunks_new, 10u);
	EXPECT_EQ(a.stats.chunks_dedup, 10u);
	const std::uint64_t stored = packs_bytes(dir);

	PointInfo b = backup_image(repo, dir / "src", image, "/dev/sdb");
	EXPECT_EQ(b.stats.chunks_new, 0u);
	EXPECT_EQ(b.stats.chunks_dedup, 20u);
	EXPECT_EQ(packs_bytes(dir), stored);
	fs::path out = dir / "out";
	repo.restore(b.id, out);
	EXPECT_EQ(sha256_file(out), sha256(image));
}

// A randomized chain: every generation changes random ranges and is backed up reading
// only the changed chunks; every point must restore to its own generation.
TEST(Storage, IncrementalChainEveryPointRestoresBitExact)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(4);
	auto image = make_image(Fill::mixed, 50 * kChunk + 777, rng);
	PointInfo prev = backup_image(repo, dir / "src", image, "vol");
	std::vector<std::pair<std::string, std::string>> expect{{prev.id, sha256(image)}};
	for (int gen = 0; gen < 12; ++gen) {
		std::vector<std::uint64_t> changed = mutate(image, 1 + static_cast<int>(rng() % 4), rng);
		PointInfo p = backup_image(repo, dir / "src", image, "vol", prev.id, &changed);
		std::uint64_t expect_read = 0;
		for (std::uint64_t c : changed)
			expect_read += std::min<std::uint64_t>(kChunk, image.size() - c * kChunk);
		EXPECT_EQ(p.stats.bytes_read, expect_read) << "an incremental reads only changed chunks";
		EXPECT_EQ(p.base, prev.id);
		expect.emplace_back(p.id, sha256(image));
		prev = p;
	}
	for (const auto &[id, sha] : expect) {
		repo.restore(id, dir / "out");
		EXPECT_EQ(sha256_file(dir / "out"), sha) << id;
	}
	EXPECT_TRUE(repo.verify().ok());
}

TEST(Storage, RestoreOnlyDifferencesWritesOnlyChangedChunks)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(5);
	auto image = make_image(Fill::mixed, 30 * kChunk + 5, rng);
	PointInfo p = backup_image(repo, dir / "src", image, "vol");
	auto target = image;
	std::vector<std::uint64_t> touched = mutate(target, 3, rng);
	std::size_t really_differ = 0;
	for (std::uint64_t c : touched) {
		std::size_t from = c * kChunk, to = std::min(image.size(), from + kChunk);
		really_differ +=
			!std::equal(image.begin() + static_cast<std::ptrdiff_t>(from), image.begin() + static_cast<std::ptrdiff_t>(to),
				    target.begin() + static_cast<std::ptrdiff_t>(from));
	}
	write_file(dir / "target", target);
	RestoreOptions opt;
	opt.only_differences = true;
	RestoreStats s = repo.restore(p.id, dir / "target", opt);
	EXPECT_EQ(sha256_file(dir / "target"), sha256(image));
	EXPECT_EQ(s.chunks_written, really_differ);
	EXPECT_EQ(s.chunks_unchanged, 31 - really_differ);
}

// Flip one byte anywhere in any pack: verify must report it and restoring the points
// must fail rather than produce wrong data.
TEST_P(RoundTrip, FlippedPackByteIsDetectedByVerifyAndRestore)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options(GetParam()));
	std::mt19937_64 rng(6);
	std::vector<std::string> ids;
	for (Fill f : {Fill::random, Fill::text, Fill::mixed})
		ids.push_back(backup_image(repo, dir / "src", make_image(f, 9 * kChunk + 99, rng), "d").id);
	const std::shared_ptr<Backend> store = repo_backend(dir);
	std::vector<std::string> packs;
	for (const ObjectEntry &e : store->list("packs"))
		packs.push_back(e.key);
	ASSERT_FALSE(packs.empty());
	for (int trial = 0; trial < 12; ++trial) {
		const std::string &pack = packs[rng() % packs.size()];
		auto bytes = store->get(pack);
		std::size_t at = rng() % bytes.size();
		const std::uint8_t mask = static_cast<std::uint8_t>(1u << (rng() % 8));
		bytes[at] ^= mask;
		overwrite_object(dir, pack, bytes);

		EXPECT_FALSE(repo.verify().ok()) << pack << " byte " << at;
		int failed = 0;
		for (const std::string &id : ids)
			failed += error_code_of([&] { repo.restore(id, dir / "out"); }) == Errc::corrupt;
		EXPECT_GE(failed, 1) << pack << " byte " << at;

		bytes[at] ^= mask;
		overwrite_object(dir, pack, bytes);
		EXPECT_TRUE(repo.verify().ok());
	}
}

TEST(Storage, WrongPassphraseIsRefused)
{
	ScratchDir dir;
	init_repo(dir, small_repo_options());
	auto config = repo_backend(dir)->get("config");
	EXPECT_EQ(error_code_of([&] { open_repo(dir, "wrong"); }), Errc::bad_passphrase);
	EXPECT_EQ(error_code_of([&] { open_repo(dir, ""); }), Errc::bad_passphrase);
	EXPECT_EQ(repo_backend(dir)->get("config"), config);
	EXPECT_NO_THROW(open_repo(dir, kPass));
	EXPECT_EQ(error_code_of([&] { open_repo(dir, kPass, "nothing"); }), Errc::not_found);
}

TEST(Storage, UnencryptedOnlyWhenAskedAndNoPassphraseMeansNoRepository)
{
	ScratchDir dir;
	InitOptions o = small_repo_options();
	o.passphrase = "";
	EXPECT_EQ(error_code_of([&] { init_repo(dir, o, "a"); }), Errc::invalid_argument);
	Repository plain = init_repo(dir, small_repo_options(false), "b");
	EXPECT_FALSE(plain.encrypted());
	EXPECT_TRUE(open_repo(dir, "anything", "b").points().empty());
	EXPECT_EQ(error_code_of([&] { init_repo(dir, small_repo_options(), "b"); }),
		  Errc::invalid_argument); // never over an existing repository
}

TEST(Storage, EncryptedRepositoryHidesContent)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(7);
	std::string secret = "TOP-SECRET-PAYLOAD-0123456789";
	std::vector<std::uint8_t> image(4 * kChunk);
	for (std::size_t i = 0; i + secret.size() <= image.size(); i += secret.size())
		std::copy(secret.begin(), secret.end(), image.begin() + static_cast<std::ptrdiff_t>(i));
	repo.restore(backup_image(repo, dir / "src", image, "d").id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(image));
	const std::shared_ptr<Backend> store = repo_backend(dir);
	std::vector<std::string> keys{"config"};
	for (const char *d : {"packs", "index", "points"})
		for (const ObjectEntry &e : store->list(d))
			keys.push_back(e.key);
	EXPECT_GE(keys.size(), 4u);
	for (const std::string &key : keys) {
		auto bytes = store->get(key);
		std::string text(bytes.begin(), bytes.end());
		EXPECT_EQ(text.find("TOP-SECRET"), std::string::npos) << key;
		EXPECT_EQ(text.find("SECRET-PAYLOAD"), std::string::npos) << key;
	}
}

// Backups (of many hosts) share the write lock; prune, which deletes, excludes them.
TEST(Storage, BackupsRunTogetherPruneExcludesThemReadersRunBeside)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(8);
	auto image = make_image(Fill::random, 4 * kChunk, rng);
	PointInfo first = backup_image(repo, dir / "src", image, "d");

	BackupRequest req;
	req.device = "d";
	req.size = 2 * kChunk;
	req.token = "5f0c00000000000000000000000000e1:7";
	BackupWriter writer = repo.begin_backup(req);
	Repository other = open_repo(dir, kPass);
	BackupRequest beside = req;
	beside.host = "other-host";
	BackupWriter second_writer = other.begin_backup(beside);
	second_writer.put(0, std::vector<std::uint8_t>(kChunk, 2));
	second_writer.put(1, std::vector<std::uint8_t>(kChunk, 1));
	PruneOptions prune;
	prune.keep.last = 1;
	EXPECT_EQ(error_code_of([&] { other.prune(prune); }), Errc::locked);
	other.restore(first.id, dir / "out"); // readers are not blocked by a backup
	EXPECT_EQ(sha256_file(dir / "out"), sha256(image));
	writer.put(0, std::vector<std::uint8_t>(kChunk, 1));
	writer.put_zero(1);
	PointInfo second = writer.commit();
	const PointInfo beside_point = second_writer.commit();
	ASSERT_EQ(other.points().size(), 3u);
	EXPECT_EQ(beside_point.host, "other-host");
	other.restore(beside_point.id, dir / "out");
	std::vector<std::uint8_t> beside_image(kChunk, 2);
	beside_image.resize(2 * kChunk, 1);
	EXPECT_EQ(sha256_file(dir / "out"), sha256(beside_image));
	EXPECT_EQ(other.point(second.id.substr(0, 6)).token, req.token);
	other.restore(second.id, dir / "out");
	std::vector<std::uint8_t> expect(kChunk, 1);
	expect.resize(2 * kChunk);
	EXPECT_EQ(sha256_file(dir / "out"), sha256(expect));
}

TEST(Storage, BackupWriterRejectsMisuse)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	BackupRequest req;
	req.device = "d";
	req.size = 2 * kChunk + 10;
	{
		BackupWriter w = repo.begin_backup(req);
		EXPECT_EQ(w.chunk_count(), 3u);
		EXPECT_EQ(w.chunk_length(2), 10u);
		EXPECT_EQ(error_code_of([&] { w.put(3, std::vector<std::uint8_t>(10)); }), Errc::invalid_argument);
		EXPECT_EQ(error_code_of([&] { w.put(0, std::vector<std::uint8_t>(10)); }), Errc::invalid_argument);
		w.put(2, std::vector<std::uint8_t>(10, 7));
		EXPECT_EQ(error_code_of([&] { w.put(2, std::vector<std::uint8_t>(10, 7)); }), Errc::invalid_argument);
		EXPECT_EQ(error_code_of([&] { w.commit(); }), Errc::invalid_argument); // chunks 0, 1 missing
	}
	EXPECT_TRUE(repo.points().empty()); // an abandoned backup leaves no point
	req.base = "0123456789abcdef";
	EXPECT_EQ(error_code_of([&] { repo.begin_backup(req); }), Errc::not_found);
	EXPECT_EQ(error_code_of([&] { repo.restore("0123456789abcdef", dir / "out"); }), Errc::not_found);
	EXPECT_TRUE(repo.verify().ok());
}

TEST(Storage, VerifySampleChecksASubset)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(9);
	backup_image(repo, dir / "src", make_image(Fill::random, 40 * kChunk, rng), "d");
	VerifyOptions opt;
	opt.sample = 0.25;
	std::uint64_t last = 0;
	opt.progress = [&](const Progress &p) {
		last = p.done;
		EXPECT_LE(p.done, p.total);
	};
	VerifyReport r = repo.verify(opt);
	EXPECT_TRUE(r.ok());
	EXPECT_EQ(r.chunks_referenced, 40u);
	EXPECT_EQ(r.chunks_checked, 10u);
	EXPECT_EQ(last, 10u * kChunk);
}

// The job runner's check after a run: a sample of one point's chunks, blind to damage
// only other points would see.
TEST(Storage, VerifyOfOnePointChecksOnlyItsChunks)
{
	ScratchDir dir;
	Repository repo = Repository::init(dir / "repo", small_repo_options());
	std::mt19937_64 rng(12);
	auto packs = [&] {
		std::set<fs::path> all;
		for (const auto &e : fs::recursive_directory_iterator(dir / "repo" / "packs"))
			if (e.is_regular_file())
				all.insert(e.path());
		return all;
	};
	const std::string a = backup_image(repo, dir / "src", make_image(Fill::random, 8 * kChunk, rng), "d").id;
	const std::set<fs::path> packs_of_a = packs();
	const std::string b = backup_image(repo, dir / "src", make_image(Fill::random, 12 * kChunk, rng), "d").id;

	VerifyOptions opt;
	opt.point = b;
	opt.sample = 0.25;
	VerifyReport r = repo.verify(opt);
	EXPECT_TRUE(r.ok());
	EXPECT_EQ(r.points, 1u);
	EXPECT_EQ(r.chunks_referenced, 12u);
	EXPECT_EQ(r.chunks_checked, 3u);

	for (const fs::path &p : packs_of_a)
		fs::resize_file(p, 0);
	opt.sample = 1;
	EXPECT_TRUE(repo.verify(opt).ok()) << "b uses none of a's packs";
	opt.point = a;
	r = repo.verify(opt);
	EXPECT_FALSE(r.ok());
	EXPECT_EQ(r.damaged_points, std::vector<std::string>{a});
	EXPECT_FALSE(repo.verify().ok());
	opt.point = "0123456789abcdef";
	EXPECT_EQ(error_code_of([&] { repo.verify(opt); }), Errc::not_found);
}

TEST(Storage, ProgressReachesTheTotal)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(10);
	auto image = make_image(Fill::mixed, 17 * kChunk + 3, rng);
	write_file(dir / "src", image);
	int fd = ::open((dir / "src").c_str(), O_RDONLY);
	BackupRequest req;
	req.device = "d";
	req.size = image.size();
	Progress last;
	int calls = 0;
	req.progress = [&](const Progress &p) {
		last = p;
		++calls;
	};
	backup_fd(repo, req, fd);
	::close(fd);
	EXPECT_EQ(last.done, image.size());
	EXPECT_EQ(last.total, image.size());
	EXPECT_EQ(calls, 18);
}

} // namespace
} // namespace bk::storage::test
