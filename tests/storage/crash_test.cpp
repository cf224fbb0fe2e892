// kill -9 at random moments of backup and prune. After every kill the repository must
// pass verify, every point that must survive must restore bit-exact, and a new backup
// must succeed. Kills come from the BK_TEST_CRASH_AFTER hook (a random crash point) or
// from a SIGKILL after a random delay (crash_harness.hpp; the S3 variant: s3_test.cpp).
#include "crash_harness.hpp"

namespace bk::storage::test {
namespace {

TEST(CrashSafety, KillNineDuringBackupAndPruneLeavesASoundRepository)
{
	CrashHarness h;
	// Calibrate: how many crash points and how long an uninterrupted run takes.
	Outcome backup = h.backup_child("a", 0, 0);
	h.check(h.all_points(), "calibration backup");
	Outcome prune = h.prune_child(2, 0, 0);
	h.check({}, "calibration prune");
	ASSERT_GT(backup.crash_points, 5);
	ASSERT_GT(prune.crash_points, 5);

	int killed = 0;
	for (int iter = 0; iter < 40; ++iter) {
		const bool by_hook = iter % 3 != 2;
		auto plan = [&](const Outcome &cal, long &crash_after, long &kill_us) {
			crash_after = by_hook ? 1 + static_cast<long>(h.rng()() % static_cast<std::uint64_t>(cal.crash_points)) : 0;
			kill_us = by_hook ? 0 : 1 + static_cast<long>(h.rng()() % static_cast<std::uint64_t>(cal.seconds * 1.2e6));
		};
		long crash_after = 0, kill_us = 0;
		std::string what;
		if (iter % 2 == 0) {
			plan(backup, crash_after, kill_us);
			std::set<std::string> before = h.all_points();
			Outcome o = h.backup_child(iter % 4 ? "a" : "b", crash_after, kill_us);
			killed += o.killed;
			what = "backup iter " + std::to_string(iter) + " crash_after " + std::to_string(crash_after) + " kill_us " +
			       std::to_string(kill_us);
			h.check(before, what);
		} else {
			while (h.point_count() < 6)
				h.check(h.all_points(), "refill"); // check() adds one backup
			plan(prune, crash_after, kill_us);
			unsigned keep_last = 1 + static_cast<unsigned>(h.rng()() % 2);
			std::set<std::string> must = h.kept_by(keep_last);
			Outcome o = h.prune_child(keep_last, crash_after, kill_us);
			killed += o.killed;
			what = "prune iter " + std::to_string(iter) + " crash_after " + std::to_string(crash_after) + " kill_us " +
			       std::to_string(kill_us);
			h.check(must, what);
		}
		if (HasFatalFailure())
			return;
	}
	EXPECT_GE(killed, 20) << "too few runs were actually interrupted";

	// A clean prune afterwards removes every leftover of the crashes.
	PruneOptions opt;
	opt.keep.last = 1;
	Repository repo = h.open();
	repo.prune(opt);
	VerifyReport v = repo.verify();
	EXPECT_TRUE(v.ok());
	EXPECT_EQ(v.orphan_packs, 0u);
	EXPECT_TRUE(fs::is_empty(h.dir() / "repo" / "tmp"));
}

} // namespace
} // namespace bk::storage::test
