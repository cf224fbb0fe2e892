// The kill -9 harness of the crash tests (crash_test.cpp on a directory, s3_test.cpp on
// S3): runs one backup or prune of crash_tool in a child, kills it at a crash point
// (BK_TEST_CRASH_AFTER) or after a delay, then checks that the repository verifies, that
// every point that must survive restores bit-exact and that the next backup succeeds.
#pragma once

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

struct Outcome {
	bool killed = false;
	long crash_points = 0; // reported by a run that finished
	double seconds = 0;
};

// crash_tool running in a child; its stdout and stderr go into one pipe.
struct ToolChild {
	pid_t pid = -1;
	int out = -1;
	std::chrono::steady_clock::time_point start;
};

struct ToolExit {
	int status = 0; // of waitpid
	std::string output;
	double seconds = 0;
	bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

inline ToolChild start_tool(const std::vector<std::string> &args, long crash_after = 0)
{
	int out[2];
	if (::pipe(out) != 0)
		throw std::runtime_error("pipe");
	ToolChild c{-1, out[0], std::chrono::steady_clock::now()};
	std::vector<char *> argv;
	std::string tool = BK_CRASH_TOOL;
	argv.push_back(tool.data());
	for (const std::string &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	const std::string crash = std::to_string(crash_after);
	c.pid = ::fork();
	if (c.pid == 0) {
		::dup2(out[1], 1);
		::dup2(out[1], 2);
		::close(out[0]);
		if (crash_after > 0)
			::setenv("BK_TEST_CRASH_AFTER", crash.c_str(), 1);
		::execv(tool.c_str(), argv.data());
		::_exit(127);
	}
	::close(out[1]);
	return c;
}

inline ToolExit finish_tool(const ToolChild &c)
{
	ToolExit e;
	char buf[256];
	for (ssize_t n; (n = ::read(c.out, buf, sizeof buf)) > 0;)
		e.output.append(buf, static_cast<std::size_t>(n));
	::close(c.out);
	::waitpid(c.pid, &e.status, 0);
	e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
	return e;
}

inline Outcome run_tool(const std::vector<std::string> &args, long crash_after, long kill_after_us)
{
	const ToolChild child = start_tool(args, crash_after);
	if (kill_after_us > 0) {
		std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
		::kill(child.pid, SIGKILL);
	}
	const ToolExit e = finish_tool(child);
	Outcome o;
	o.seconds = e.seconds;
	o.killed = WIFSIGNALED(e.status) && WTERMSIG(e.status) == SIGKILL;
	if (!o.killed) {
		EXPECT_TRUE(e.ok()) << "tool failed: " << e.status << ": " << e.output;
		o.crash_points = std::atol(e.output.c_str());
	}
	return o;
}

class CrashHarness {
public:
	CrashHarness() : location_(repo_location(dir_)), rng_(static_cast<std::uint64_t>(::testing::UnitTest::GetInstance()->random_seed()))
	{
		init_repo(dir_, small_repo_options());
		for (const char *dev : {"a", "b"}) {
			current_[dev] = make_image(Fill::mixed, 20 * kChunk + 1234, rng_);
			Repository repo = open();
			commit_in_process(repo, dev);
		}
	}

	Repository open() { return open_repo(dir_, kPass); }

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
		Outcome o = run_tool({"backup", location_, file.string(), dev, std::to_string(time_), base.empty() ? "-" : base, list},
				     crash_after, kill_after_us);
		fs::remove(file);
		return o;
	}

	Outcome prune_child(unsigned keep_last, long crash_after, long kill_after_us)
	{
		return run_tool({"prune", location_, std::to_string(keep_last)}, crash_after, kill_after_us);
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
	const ScratchDir &dir() const { return dir_; }

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
	std::string location_; // repo_location(dir_): a directory, or s3://... (BK_TEST_S3_ENV)
	std::mt19937_64 rng_;
	std::int64_t time_ = 1700000000;
	std::map<std::string, std::vector<std::uint8_t>> current_;
	std::map<std::string, Image> images_;
	std::map<std::string, std::int64_t> times_;
	Image pending_;
};

} // namespace bk::storage::test
