// `bkagent job` end to end: the real daemon (fake_bkagentd), the real CLI and a real
// repository in a temp dir. Runs are full then incremental, every kept point restores
// to the disk at its snapshot, retention prunes, failures get their exit codes and
// leave no point, and the metrics file is Prometheus text (parsed by prometheus_client)
// holding the last run's values.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "../agent/api_helpers.h"
#include "cli_run.h"
#include "helpers.hpp"

namespace bk::test {
namespace {

namespace fs = std::filesystem;
constexpr std::uint32_t kChunk = 64 << 10;

// Job directories in a temp dir, passed to the CLI through its environment.
struct JobDirs {
	explicit JobDirs(const TempDir &dir) : jobs(dir / "jobs"), state(dir / "state"), metrics(dir / "metrics/bkagent.prom")
	{
		fs::create_directories(jobs);
		fs::create_directories(fs::path(metrics).parent_path());
		::setenv("BKAGENT_JOBS_DIR", jobs.c_str(), 1);
		::setenv("BKAGENT_JOB_STATE_DIR", state.c_str(), 1);
		::setenv("BKAGENT_METRICS_FILE", metrics.c_str(), 1);
	}
	void write_job(const std::string &name, const std::string &text) const { std::ofstream(jobs + "/" + name + ".conf") << text; }
	std::string jobs, state, metrics;
};

// Samples of the metrics file as prometheus_client parses them: "name|label=value,..." -> value.
std::map<std::string, double> parse_metrics(const std::string &file)
{
	const std::string script = "import sys, json\n"
				   "from prometheus_client.parser import text_string_to_metric_families as parse\n"
				   "out = {}\n"
				   "for fam in parse(open(sys.argv[1]).read()):\n"
				   "    for s in fam.samples:\n"
				   "        out[s.name + '|' + ','.join(k + '=' + v for k, v in sorted(s.labels.items()))] = s.value\n"
				   "print(json.dumps(out))\n";
	const std::string out = file + ".json";
	const std::string cmd = "/usr/bin/python3 -c \"$BK_SCRIPT\" '" + file + "' > '" + out + "'";
	::setenv("BK_SCRIPT", script.c_str(), 1);
	if (std::system(cmd.c_str()) != 0)
		return {};
	return nlohmann::json::parse(file_content(out)).get<std::map<std::string, double>>();
}

TEST(JobCli, RunsBackupPruneVerifyAndRecordsStateAndMetrics)
{
	Daemon daemon;
	daemon.start();
	JobDirs dirs(daemon.dir());
	const std::uint64_t size = 24 * kChunk;
	Disk disk = make_disk(daemon.kernel(), "vdb", size, 12);
	track(*daemon.unix_client(), disk.path);
	std::mt19937_64 rng(31);
	scribble(daemon.kernel(), disk, rng, 20);
	const std::string repo = daemon.dir() / "repo";
	const std::string pass = daemon.dir() / "pass";
	std::ofstream(pass) << "job test passphrase\n";
	auto cli = [&](std::vector<std::string> args) { return run_cli(daemon.socket(), std::move(args)); };
	ASSERT_EQ(cli({"init", "--repo", repo, "--chunk-size", std::to_string(kChunk), "--passphrase-file", pass}).code, 0);
	dirs.write_job("nightly", R"({
  // two points kept, half of each new point's chunks read back; nice 0 so that
  // a loaded test machine does not starve the run
  "devices": [")" + disk.path + R"("],
  "repository": ")" + repo + R"(",
  "passphrase_file": ")" + pass + R"(",
  "schedule": "*-*-* 02:00:00",
  "retention": {"keep_last": 2},
  "verify_sample": 0.5,
  "io_class": "best-effort",
  "nice": 0
})");

	std::map<std::string, std::string> content; // point id -> disk at its snapshot
	auto run = [&](const std::string &mode) {
		CliRun r = cli({"job", "run", "nightly"});
		EXPECT_EQ(r.code, 0) << r.out;
		const nlohmann::json j = r.json();
		EXPECT_EQ(j["points"][0]["mode"], mode) << r.out;
		EXPECT_GT(j["chunks_verified"].get<int>(), 0) << r.out;
		content[j["points"][0]["id"]] = disk.content;
		return j;
	};
	const nlohmann::json first = run("full");
	EXPECT_EQ(first["bytes_read"].get<std::uint64_t>() + 0, first["points"][0]["bytes_read"].get<std::uint64_t>());
	for (int i = 0; i < 2; ++i) {
		const std::uint64_t at = (rng() % (size / 4096)) * 4096;
		daemon.kernel().write(disk.path, at, std::string(4096, 'j'));
		disk.content.replace(at, 4096, std::string(4096, 'j'));
	}
	const nlohmann::json second = run("incremental");
	EXPECT_LE(second["bytes_read"].get<std::uint64_t>(), 2u * kChunk) << "reads only changed chunks";
	scribble(daemon.kernel(), disk, rng, 5);
	const nlohmann::json third = run("incremental");
	EXPECT_EQ(third["points_kept"], 2);
	EXPECT_EQ(third["points_removed"], 1);

	const nlohmann::json points = cli({"points", "--repo", repo, "--passphrase-file", pass}).json();
	ASSERT_EQ(points.size(), 2u);
	for (const auto &p : points) {
		const std::string out = daemon.dir() / "restored";
		ASSERT_EQ(cli({"restore", p["id"], out, "--repo", repo, "--passphrase-file", pass}).code, 0);
		EXPECT_TRUE(file_content(out) == content[p["id"]]) << "point " << p["id"];
	}

	const nlohmann::json status = cli({"job", "status", "nightly"}).json();
	EXPECT_EQ(status["points"], 2);
	EXPECT_EQ(status["last_success"]["bytes_read"], third["bytes_read"]);
	EXPECT_TRUE(status["last_failure"].is_null());
	EXPECT_EQ(status["schedule"], "*-*-* 02:00:00");
	std::map<std::string, double> m = parse_metrics(dirs.metrics);
	ASSERT_FALSE(m.empty()) << file_content(dirs.metrics);
	EXPECT_EQ(m["bkagent_job_last_exit_code|job=nightly"], 0);
	EXPECT_EQ(m["bkagent_job_points|job=nightly"], 2);
	EXPECT_EQ(m["bkagent_job_last_read_bytes|job=nightly"], third["bytes_read"].get<double>());
	EXPECT_EQ(m["bkagent_job_last_stored_bytes|job=nightly"], third["bytes_stored"].get<double>());
	EXPECT_EQ(m["bkagent_job_last_success_timestamp_seconds|job=nightly"], status["last_success"]["ended"].get<double>());
	EXPECT_EQ(m["bkagent_agent_up|"], 1);
	EXPECT_EQ(m["bkagent_device_tracking_state|device=" + disk.path + ",state=TRACKING"], 1);
	EXPECT_EQ(m["bkagent_live_snapshots|"], 0) << "every run released its snapshot";
	EXPECT_EQ(cli({"metrics"}).out, file_content(dirs.metrics));

	// A second run while one holds the lock.
	{
		const int fd = ::open((dirs.state + "/nightly.lock").c_str(), O_RDWR);
		ASSERT_EQ(::flock(fd, LOCK_EX), 0);
		CliRun busy = cli({"job", "run", "nightly"});
		EXPECT_EQ(busy.code, 10) << busy.out;
		::close(fd);
	}

	// Wrong passphrase: the backup-failed code, in state and metrics.
	std::ofstream(pass) << "wrong\n";
	CliRun denied = cli({"job", "run", "nightly"});
	EXPECT_EQ(denied.code, 12) << denied.out;
	const nlohmann::json failed = cli({"job", "status", "nightly"}).json();
	EXPECT_EQ(failed["last_failure"]["exit_code"], 12);
	EXPECT_NE(failed["last_failure"]["message"].get<std::string>().find("passphrase"), std::string::npos) << failed;
	EXPECT_EQ(failed["last_success"]["ended"], status["last_success"]["ended"]);
	m = parse_metrics(dirs.metrics);
	EXPECT_EQ(m["bkagent_job_last_exit_code|job=nightly"], 12);
	EXPECT_EQ(m["bkagent_job_last_success_timestamp_seconds|job=nightly"], status["last_success"]["ended"].get<double>());
	std::ofstream(pass) << "job test passphrase\n";

	// A run that fails mid-way (after the snapshot, writing packs) leaves no point and
	// keeps the CBT baseline: the next run is an incremental that restores right.
	scribble(daemon.kernel(), disk, rng, 5);
	fs::rename(repo + "/packs", repo + "/packs.away");
	std::ofstream(repo + "/packs") << "not a directory\n";
	CliRun broken = cli({"job", "run", "nightly"});
	EXPECT_EQ(broken.code, 12) << broken.out;
	fs::remove(repo + "/packs");
	fs::rename(repo + "/packs.away", repo + "/packs");
	EXPECT_EQ(cli({"points", "--repo", repo, "--passphrase-file", pass}).json().size(), 2u) << "no half point";
	EXPECT_EQ(cli({"snapshots"}).json().size(), 0u) << "the failed run released its snapshot";
	const nlohmann::json after = run("incremental");
	EXPECT_EQ(after["points"][0]["bytes_read"].get<std::uint64_t>() <= 12u * kChunk, true);
	const std::string out = daemon.dir() / "restored";
	ASSERT_EQ(cli({"restore", after["points"][0]["id"], out, "--repo", repo, "--passphrase-file", pass}).code, 0);
	EXPECT_TRUE(file_content(out) == disk.content);
	EXPECT_EQ(cli({"verify", "--repo", repo, "--passphrase-file", pass}).code, 0);
}

// Bad job files are refused before anything runs, naming the file and the key; an
// agent that does not answer has its own code.
TEST(JobCli, RefusesBadJobFilesAndReportsAnUnreachableAgent)
{
	TempDir dir;
	JobDirs dirs(dir);
	const std::string socket = dir / "no-daemon.sock";
	const std::string good_keys = R"("repository": "/nonexistent/repo", "schedule": "daily")";
	const std::vector<std::tuple<std::string, std::string, std::string>> cases{
		{"unknown", R"({"devices": ["/dev/vdb"], "devcies": 1, )" + good_keys + "}", "'devcies'"},
		{"retention", R"({"devices": ["/dev/vdb"], "retention": {"keep_last": -1}, )" + good_keys + "}", "'keep_last'"},
		{"nothing", R"({"devices": ["/dev/vdb"], "retention": {"keep_daily": 0}, )" + good_keys + "}", "'retention'"},
		{"schedule", R"({"devices": ["/dev/vdb"], "repository": "/r", "schedule": "at tea time"})", "'schedule'"},
		{"nodevice", "{" + good_keys + "}", "'devices'"},
		{"sample", R"({"devices": ["/dev/vdb"], "verify_sample": 2, )" + good_keys + "}", "'verify_sample'"},
		{"s3key", R"({"devices": ["/dev/vdb"], "repository": "s3://b/p", "s3": {"secret_key": "x"}})", "'s3.secret_key'"},
		{"s3local", R"({"devices": ["/dev/vdb"], "s3": {"endpoint": "http://h"}, )" + good_keys + "}", "'s3'"},
	};
	for (const auto &[name, text, key] : cases) {
		dirs.write_job(name, text);
		CliRun r = run_cli(socket, {"job", "run", name});
		EXPECT_EQ(r.code, 11) << name << ": " << r.out;
		const std::string msg = r.json()["message"];
		EXPECT_NE(msg.find(dirs.jobs + "/" + name + ".conf"), std::string::npos) << msg;
		EXPECT_NE(msg.find(key), std::string::npos) << msg;
	}
	EXPECT_EQ(run_cli(socket, {"job", "run", "absent"}).code, 11);

	TempDir repo_dir;
	const std::string repo = repo_dir / "repo";
	::setenv("BKAGENT_PASSPHRASE", "p", 1);
	ASSERT_EQ(run_cli(socket, {"init", "--repo", repo, "--unencrypted"}).code, 0);
	dirs.write_job("fine", R"({"devices": ["/dev/vdb"], "repository": ")" + repo + R"("})");
	CliRun down = run_cli(socket, {"job", "run", "fine"});
	EXPECT_EQ(down.code, 3) << down.out;
	const nlohmann::json list = run_cli(socket, {"job", "list"}).json();
	EXPECT_EQ(list.size(), cases.size() + 1);
	std::map<std::string, double> m = parse_metrics(dirs.metrics);
	EXPECT_EQ(m["bkagent_agent_up|"], 0);
	EXPECT_EQ(m["bkagent_job_last_exit_code|job=fine"], 3);
	EXPECT_EQ(m["bkagent_job_last_exit_code|job=schedule"], 11);
}

// A job whose repository is s3://... (the s3 registration, a real Ceph radosgw): full
// then incremental, and the point restores to the disk at its snapshot.
TEST(JobCliS3, BacksUpIntoAnS3Repository)
{
	ASSERT_TRUE(storage::test::on_s3()) << "BK_TEST_S3_ENV must name the test cluster's env file";
	const storage::test::ScratchDir scratch;
	const std::string repo = storage::test::repo_location(scratch, "job");
	const std::string endpoint = storage::test::test_storage().s3.endpoint;
	Daemon daemon;
	daemon.start();
	JobDirs dirs(daemon.dir());
	Disk disk = make_disk(daemon.kernel(), "vdb", 16 * kChunk, 12);
	track(*daemon.unix_client(), disk.path);
	std::mt19937_64 rng(7);
	scribble(daemon.kernel(), disk, rng, 20);
	const std::string pass = daemon.dir() / "pass";
	std::ofstream(pass) << "s3 job passphrase\n";
	auto cli = [&](std::vector<std::string> args) { return run_cli(daemon.socket(), std::move(args)); };
	ASSERT_EQ(
		cli({"init", "--repo", repo, "--s3-endpoint", endpoint, "--chunk-size", std::to_string(kChunk), "--passphrase-file", pass})
			.code,
		0);
	dirs.write_job("offsite", R"({"devices": [")" + disk.path + R"("], "repository": ")" + repo + R"(",
  "s3": {"endpoint": ")" + endpoint + R"(", "parallel_uploads": 2},
  "passphrase_file": ")" + pass + R"(", "retention": {"keep_last": 1}, "io_class": "none", "nice": 0})");

	std::string at_last_run;
	for (const char *mode : {"full", "incremental"}) {
		const CliRun r = cli({"job", "run", "offsite"});
		ASSERT_EQ(r.code, 0) << r.out;
		EXPECT_EQ(r.json()["points"][0]["mode"], mode) << r.out;
		at_last_run = disk.content;
		scribble(daemon.kernel(), disk, rng, 3);
	}
	const nlohmann::json points = cli({"points", "--repo", repo, "--s3-endpoint", endpoint, "--passphrase-file", pass}).json();
	ASSERT_EQ(points.size(), 1u) << "keep_last 1";
	const std::string out = daemon.dir() / "restored";
	ASSERT_EQ(cli({"restore", points[0]["id"], out, "--repo", repo, "--s3-endpoint", endpoint, "--passphrase-file", pass}).code, 0);
	EXPECT_TRUE(file_content(out) == at_last_run);
}

} // namespace
} // namespace bk::test
