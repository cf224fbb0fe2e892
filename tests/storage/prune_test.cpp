// Prune: the keep policy against an independent oracle, and reclamation on disk.
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <set>

#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

// The oracle states the policy the way the documentation does, with gmtime(3) for the
// calendar: a point survives a period rule when it is the newest point of its period and
// fewer than N newer periods have points.
std::set<std::string> oracle(const std::vector<PointInfo> &points, const KeepPolicy &keep)
{
	auto newer = [](const PointInfo &a, const PointInfo &b) {
		if (a.time != b.time)
			return a.time > b.time;
		return a.nanos != b.nanos ? a.nanos > b.nanos : a.id > b.id;
	};
	auto hour = [](std::int64_t t) {
		std::time_t tt = t;
		std::tm tm{};
		gmtime_r(&tt, &tm);
		return std::to_string(tm.tm_year) + "-" + std::to_string(tm.tm_yday) + "-" + std::to_string(tm.tm_hour);
	};
	auto day = [](std::int64_t t) {
		std::time_t tt = t;
		std::tm tm{};
		gmtime_r(&tt, &tm);
		return std::to_string(tm.tm_year) + "-" + std::to_string(tm.tm_yday);
	};
	auto month = [](std::int64_t t) {
		std::time_t tt = t;
		std::tm tm{};
		gmtime_r(&tt, &tm);
		return std::to_string(tm.tm_year) + "-" + std::to_string(tm.tm_mon);
	};
	auto week = [](std::int64_t t) { // the Monday that starts the week, as a day string
		std::time_t tt = t;
		std::tm tm{};
		gmtime_r(&tt, &tm);
		std::time_t monday = tt - ((tm.tm_wday + 6) % 7) * 86400;
		std::tm m{};
		gmtime_r(&monday, &m);
		return std::to_string(m.tm_year) + "-" + std::to_string(m.tm_yday);
	};
	std::set<std::string> kept;
	for (const PointInfo &p : points) {
		std::vector<const PointInfo *> newer_same_dev;
		for (const PointInfo &q : points)
			if (q.device == p.device && newer(q, p))
				newer_same_dev.push_back(&q);
		if (newer_same_dev.size() < keep.last)
			kept.insert(p.id);
		auto rule = [&](unsigned n, auto period) {
			std::set<std::string> newer_periods;
			for (const PointInfo *q : newer_same_dev) {
				if (period(q->time) == period(p.time))
					return; // not the newest of its period
				newer_periods.insert(period(q->time));
			}
			if (newer_periods.size() < n)
				kept.insert(p.id);
		};
		rule(keep.hourly, hour);
		rule(keep.daily, day);
		rule(keep.weekly, week);
		rule(keep.monthly, month);
	}
	return kept;
}

TEST(PrunePolicy, MatchesTheDocumentedSemanticsOnRandomHistories)
{
	std::mt19937_64 rng(11);
	for (int round = 0; round < 300; ++round) {
		std::vector<PointInfo> points(1 + rng() % 40);
		const std::int64_t start = 1600000000 + static_cast<std::int64_t>(rng() % 100000000);
		for (std::size_t i = 0; i < points.size(); ++i) {
			points[i].id = std::to_string(1000 + i);
			points[i].device = rng() % 3 == 0 ? "b" : "a";
			// Clusters of points within hours, spread over about a year.
			points[i].time = start + static_cast<std::int64_t>(rng() % 400) * 86400 +
					 static_cast<std::int64_t>(rng() % 4) * 3600 * (rng() % 2 ? 1 : 7);
			// Many share a second; the sub-second part decides which is newest.
			points[i].nanos = static_cast<std::uint32_t>(rng() % 3) * 300000000;
		}
		KeepPolicy keep{static_cast<unsigned>(rng() % 4), static_cast<unsigned>(rng() % 8), static_cast<unsigned>(rng() % 5),
				static_cast<unsigned>(rng() % 4), static_cast<unsigned>(rng() % 6)};
		std::vector<bool> got = select_kept(points, keep);
		std::set<std::string> got_ids;
		for (std::size_t i = 0; i < points.size(); ++i)
			if (got[i])
				got_ids.insert(points[i].id);
		ASSERT_EQ(got_ids, oracle(points, keep)) << "round " << round;
	}
}

TEST(PrunePolicy, KeepsNewestOfEachDay)
{
	const std::int64_t d0 = 1700006400; // 2023-11-15 00:00:00 UTC, a Wednesday
	std::vector<PointInfo> p(5);
	const std::int64_t times[] = {d0 + 100, d0 + 200, d0 + 86400 + 5, d0 + 2 * 86400, d0 + 2 * 86400 + 9};
	for (int i = 0; i < 5; ++i) {
		p[i].id = std::string(1, static_cast<char>('a' + i));
		p[i].device = "x";
		p[i].time = times[i];
	}
	EXPECT_EQ(select_kept(p, {0, 2, 0, 0}), (std::vector<bool>{false, false, true, false, true}));
	EXPECT_EQ(select_kept(p, {0, 9, 0, 0}), (std::vector<bool>{false, true, true, false, true}));
	EXPECT_EQ(select_kept(p, {1, 0, 0, 0}), (std::vector<bool>{false, false, false, false, true}));
	EXPECT_EQ(select_kept(p, {0, 0, 1, 1}), (std::vector<bool>{false, false, false, false, true}));
}

TEST(Prune, RemovesExactlyWhatThePolicyDropsAndReclaimsSpace)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(12);
	const std::int64_t t0 = 1700006400;
	std::map<std::string, std::string> sha;
	std::map<std::string, std::vector<std::uint8_t>> images{{"a", make_image(Fill::mixed, 24 * kChunk + 5, rng)},
								{"b", make_image(Fill::random, 16 * kChunk, rng)}};
	std::map<std::string, std::string> last;
	for (int day = 0; day < 20; ++day) {
		for (auto &[dev, image] : images) {
			std::vector<std::uint64_t> changed = mutate(image, 2, rng);
			bool full = last[dev].empty();
			PointInfo p = backup_image(repo, dir / "src", image, dev, last[dev], full ? nullptr : &changed,
						   t0 + day * 86400 + static_cast<std::int64_t>(rng() % 80000));
			last[dev] = p.id;
			sha[p.id] = sha256(image);
		}
	}
	std::vector<PointInfo> before = repo.points();
	PruneOptions opt;
	opt.keep = {2, 5, 2, 1};
	opt.repack_threshold = 0;
	std::vector<bool> expect = select_kept(before, opt.keep);
	std::set<std::string> expect_kept;
	for (std::size_t i = 0; i < before.size(); ++i)
		if (expect[i])
			expect_kept.insert(before[i].id);

	PruneOptions dry = opt;
	dry.dry_run = true;
	PruneReport preview = repo.prune(dry);
	EXPECT_EQ(repo.points().size(), before.size());
	EXPECT_EQ(std::set<std::string>(preview.kept.begin(), preview.kept.end()), expect_kept);

	const std::uint64_t bytes_before = packs_bytes(dir);
	PruneReport r = repo.prune(opt);
	const std::uint64_t bytes_after = packs_bytes(dir);
	std::set<std::string> left;
	for (const PointInfo &p : repo.points())
		left.insert(p.id);
	EXPECT_EQ(left, expect_kept);
	EXPECT_EQ(r.removed.size(), before.size() - expect_kept.size());
	EXPECT_GT(r.bytes_freed, 0u);
	EXPECT_EQ(bytes_before - bytes_after, r.bytes_freed);

	VerifyReport v = repo.verify();
	EXPECT_TRUE(v.ok());
	EXPECT_EQ(v.orphan_packs, 0u);
	for (const std::string &id : left) {
		repo.restore(id, dir / "out");
		EXPECT_EQ(sha256_file(dir / "out"), sha[id]) << id;
	}
	// With a repack threshold of 0 every pack byte belongs to a live chunk: a second
	// prune with the same policy removes nothing and frees nothing.
	PruneReport again = repo.prune(opt);
	EXPECT_TRUE(again.removed.empty());
	EXPECT_EQ(again.bytes_freed, 0u);
}

// A job prunes only its own devices in a repository other jobs share.
TEST(Prune, LeavesOtherDevicesAlone)
{
	ScratchDir dir;
	Repository repo = Repository::init(dir / "repo", small_repo_options());
	std::mt19937_64 rng(13);
	for (int i = 0; i < 3; ++i)
		for (const char *dev : {"a", "b"})
			backup_image(repo, dir / "src", make_image(Fill::random, 2 * kChunk, rng), dev, "", nullptr, 1700006400 + i * 60);
	PruneOptions opt;
	opt.keep.last = 1;
	opt.devices = {"a"};
	const PruneReport r = repo.prune(opt);
	EXPECT_EQ(r.removed.size(), 2u);
	std::map<std::string, int> left;
	for (const PointInfo &p : repo.points())
		++left[p.device];
	EXPECT_EQ(left, (std::map<std::string, int>{{"a", 1}, {"b", 3}}));
}

TEST(Prune, RefusesAPolicyThatKeepsNothing)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	try {
		repo.prune(PruneOptions{});
		FAIL() << "prune accepted an empty policy";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::invalid_argument);
	}
}

} // namespace
} // namespace bk::storage::test
