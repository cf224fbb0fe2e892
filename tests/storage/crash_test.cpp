// kill -9 at random moments of backup and prune. After every kill the repository must
// pass verify, every point that must survive must restore bit-exact, and a new backup
// must succeed. Kills come from the BK_TEST_CRASH_AFTER hook (a random crash point) or
// from a SIGKILL after a random delay.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "helpers.hpp"

namespace bk::storage::test {
namespace {

struct Outcome {
	bool killed = false;
	long crash_points = 0; // reported by a run that finished
	double seconds = 0;
};

Outcome run_tool(const std::vector<std::string> &args, long crash_after, long kill_after_us)
{
	int out[2];
	if (::pipe(out) != 0)
		throw std::runtime_error("pipe");
	const auto start = std::chrono::steady_clock::now();
	pid_t pid = ::fork();
	if (pid == 0) {
		::dup2(out[1], 1);
		::close(out[0]);
		if (crash_after > 0)
			::setenv("BK_TEST_CRASH_AFTER", std::to_string(crash_after).c_str(), 1);
		std::vector<char *> argv;
		std::string tool = BK_CRASH_TOOL;
		argv.push_back(tool.data());
		for (const std::string &a : args)
			argv.push_back(const_cast<char *>(a.c_str()));
		argv.push_back(nullptr);
		::execv(tool.c_str(), argv.data());
		::_exit(127);
	}
	::close(out[1]);
	if (kill_after_us > 0) {
		std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
		::kill(pid, SIGKILL);
	}
	std::string text;
	char buf[256];
	for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
		text.append(buf, static_cast<std::size_t>(n));
	::close(out[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	Outcome o;
	o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	o.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	if (!o.killed) {
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "tool failed: " << status;
		o.crash_points = std::atol(text.c_str());
	}
	return o;
}

class CrashHarness {
public:
	CrashHarness() : repo_path_(dir_ / "repo"), rng_(static_cast<std::uint64_t>(::testing::UnitTest::GetInstance()->random_seed()))
	{
		Repository::init(repo_path_, small_repo_options());
		for (const char *dev : {"a", "b"}) {
			current_[dev] = make_image(Fill::mixed, 20 * kChunk + 1234, rng_);
			Repository repo = open();
			commit_in_process(repo, dev);
		}
	}

	Repository open() { return Repository::open(repo_path_, kPass); }

	// Runs a backup of `dev` with a fresh change in a child process.
	Outcome backup_child(const std::string &dev, long crash_after, long kill_after_us)
	{
		auto [base, image, changed] = next_state(dev);
		fs::path file = dir_ / ("img-" + std::to_string(++time_));
		write_file(file, image);
		pending_ = {dev, image};
		std::string list = "-";
		for (std::uint64_t c : changed)
			list = (list == "-" ? "" : list + ",") + std::to_string(c);
		Outcome o = run_tool(
			{"backup", repo_path_.string(), file.string(), dev, std::to_string(time_), base.empty() ? "-" : base, list},
			crash_after, kill_after_us);
		fs::remove(file);
		return o;
	}

	Outcome prune_child(unsigned keep_last, long crash_after, long kill_after_us)
	{
		return run_tool({"prune", repo_path_.string(), std::to_string(keep_last)}, crash_after, kill_after_us);
	}

	// Checks the repository after an interrupted operation; `must_survive` are the points
	// that cannot have disappeared. A point we did not know of is the pending backup.
	void check(const std::set<std::string> &must_survive, const std::string &context)
	{
		Repository repo = open();
		VerifyReport v = repo.verify();
		ASSERT_TRUE(v.ok()) << context << ": " << (v.errors.empty() ? "" : v.errors.front());
		std::set<std::string> now;
		for (const PointInfo &p : repo.points()) {
			now.insert(p.id);
			if (!images_.contains(p.id)) {
				ASSERT_EQ(p.device, pending_.device) << context;
				images_[p.id] = pending_;
				times_[p.id] = p.time;
			}
		}
		for (const std::string &id : must_survive)
			ASSERT_TRUE(now.contains(id)) << context << ": point " << id << " lost";
		for (auto it = images_.begin(); it != images_.end();) {
			if (!now.contains(it->first)) {
				times_.erase(it->first);
				it = images_.erase(it);
				continue;
			}
			repo.restore(it->first, dir_ / "out");
			ASSERT_EQ(sha256_file(dir_ / "out"), sha256(it->second.bytes)) << context << ": point " << it->first;
			++it;
		}
		// The next backup succeeds (alternating devices).
		commit_in_process(repo, time_ % 2 ? "a" : "b");
		ASSERT_TRUE(repo.verify().ok()) << context << ": after the next backup";
	}

	std::set<std::string> all_points() const
	{
		std::set<std::string> ids;
		for (const auto &[id, img] : images_)
			ids.insert(id);
		return ids;
	}

	std::set<std::string> kept_by(unsigned keep_last)
	{
		std::vector<PointInfo> points = open().points();
		std::vector<bool> keep = select_kept(points, KeepPolicy{keep_last, 0, 0, 0});
		std::set<std::string> ids;
		for (std::size_t i = 0; i < points.size(); ++i)
			if (keep[i])
				ids.insert(points[i].id);
		return ids;
	}

	std::size_t point_count() const { return images_.size(); }
	std::mt19937_64 &rng() { return rng_; }
	const fs::path &repo_path() const { return repo_path_; }

private:
	struct Image {
		std::string device;
		std::vector<std::uint8_t> bytes;
	};
	struct NextState {
		std::string base;
		std::vector<std::uint8_t> image;
		std::vector<std::uint64_t> changed;
	};

	// The device's latest point and a new image derived from it.
	NextState next_state(const std::string &dev)
	{
		NextState s;
		std::int64_t newest = -1;
		for (const auto &[id, img] : images_)
			if (img.device == dev && times_[id] > newest)
				newest = times_[id], s.base = id;
		s.image = s.base.empty() ? current_[dev] : images_[s.base].bytes;
		mutate(s.image, 1 + static_cast<int>(rng_() % 3), rng_);
		if (!s.base.empty()) {
			const auto &old = images_[s.base].bytes;
			for (std::uint64_t c = 0; c * kChunk < old.size(); ++c) {
				auto from = static_cast<std::ptrdiff_t>(c * kChunk);
				auto to = static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(old.size(), (c + 1) * kChunk));
				if (!std::equal(old.begin() + from, old.begin() + to, s.image.begin() + from))
					s.changed.push_back(c);
			}
		}
		return s;
	}

	void commit_in_process(Repository &repo, const std::string &dev)
	{
		auto [base, image, changed] = next_state(dev);
		PointInfo p = backup_image(repo, dir_ / "src", image, dev, base, base.empty() ? nullptr : &changed, ++time_);
		images_[p.id] = {dev, image};
		times_[p.id] = p.time;
	}

	ScratchDir dir_;
	fs::path repo_path_;
	std::mt19937_64 rng_;
	std::int64_t time_ = 1700000000;
	std::map<std::string, std::vector<std::uint8_t>> current_;
	std::map<std::string, Image> images_;
	std::map<std::string, std::int64_t> times_;
	Image pending_;
};

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
	EXPECT_TRUE(fs::is_empty(h.repo_path() / "tmp"));
}

} // namespace
} // namespace bk::storage::test
