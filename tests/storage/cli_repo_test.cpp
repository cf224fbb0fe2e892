// `bkagent init/backup/restore/points/verify/prune` end to end: the real daemon
// (fake_bkagentd, the FakeKernel driver double from tests/agent) and the real CLI.
// Every point must restore to the disk content at its snapshot; an incremental must read
// only the chunks around the writes; a CBT reset must fall back to a full read.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "../agent/api_helpers.h"
#include "cli_run.h"

namespace bk::test {
namespace {

constexpr std::uint32_t kChunk = 64 << 10;

CliRun bkagent(const Daemon &daemon, std::vector<std::string> args) { return run_cli(daemon.socket(), std::move(args)); }

// A tracked disk with data on it, and an empty repository of small chunks beside it.
struct DiskAndRepo {
	Disk disk;
	std::string repo;
};

DiskAndRepo tracked_disk_and_repo(Daemon &daemon, const std::string &name, std::uint64_t size, std::mt19937_64 &rng)
{
	DiskAndRepo s{make_disk(daemon.kernel(), name, size, 12), daemon.dir() / "repo"};
	track(*daemon.unix_client(), s.disk.path);
	scribble(daemon.kernel(), s.disk, rng, 20);
	EXPECT_EQ(bkagent(daemon, {"init", "--repo", s.repo, "--chunk-size", std::to_string(kChunk)}).code, 0);
	return s;
}

TEST(CliRepo, BackupIncrementalResetRestoreVerifyPrune)
{
	::setenv("BKAGENT_PASSPHRASE", "cli test passphrase", 1);
	Daemon daemon;
	daemon.start();
	const std::uint64_t size = 40 * kChunk + 3 * 4096; // ragged last chunk
	Disk disk = make_disk(daemon.kernel(), "vdb", size, 12);
	auto agent = daemon.unix_client();
	track(*agent, disk.path);
	std::mt19937_64 rng(21);
	scribble(daemon.kernel(), disk, rng, 30);
	const std::string repo = daemon.dir() / "repo";
	ASSERT_EQ(bkagent(daemon, {"init", "--repo", repo, "--chunk-size", std::to_string(kChunk)}).code, 0);

	std::vector<std::pair<std::string, std::string>> points; // id, content at the snapshot
	auto backup = [&](const std::string &mode) {
		// Back to back, often within one second: the newest point must
		// still be the incremental base.
		CliRun r = bkagent(daemon, {"backup", disk.path, "--repo", repo});
		EXPECT_EQ(r.code, 0) << r.out;
		const auto p = r.json()["points"][0];
		EXPECT_EQ(p["mode"], mode) << r.out;
		points.emplace_back(p["id"], disk.content);
		return p;
	};
	auto first = backup("full");
	const auto &s = first["stats"];
	EXPECT_EQ(s["bytes_new"].get<std::uint64_t>() + s["bytes_dedup"].get<std::uint64_t>() + s["bytes_zero"].get<std::uint64_t>(), size)
		<< "a full accounts for every byte once";

	// A few 4 KiB writes touch at most two chunks each.
	for (int i = 0; i < 3; ++i) {
		const std::uint64_t at = (rng() % (size / 4096)) * 4096;
		daemon.kernel().write(disk.path, at, std::string(4096, 'x'));
		disk.content.replace(at, 4096, std::string(4096, 'x'));
	}
	auto second = backup("incremental");
	EXPECT_LE(second["stats"]["bytes_read"].get<std::uint64_t>(), 3u * kChunk) << "reads only changed chunks";
	EXPECT_EQ(second["base"], first["id"]);

	scribble(daemon.kernel(), disk, rng, 10);
	backup("incremental");

	daemon.kernel().reload(); // CBT gone: the agent must answer "full needed"
	track(*agent, disk.path);
	scribble(daemon.kernel(), disk, rng, 5);
	auto after_reset = backup("full");
	EXPECT_NE(after_reset["full_reason"], "no earlier point");

	for (const auto &[id, content] : points) {
		const std::string out = daemon.dir() / ("restore-" + id);
		CliRun r = bkagent(daemon, {"restore", id.substr(0, 8), out, "--repo", repo});
		ASSERT_EQ(r.code, 0) << r.out;
		EXPECT_TRUE(file_content(out) == content) << "point " << id;
	}

	CliRun ls = bkagent(daemon, {"ls", "--repo", repo});
	ASSERT_EQ(ls.code, 0);
	EXPECT_EQ(ls.json().size(), points.size());
	CliRun v = bkagent(daemon, {"verify", "--repo", repo});
	EXPECT_EQ(v.code, 0) << v.out;
	EXPECT_TRUE(v.json()["ok"]);

	CliRun pr = bkagent(daemon, {"prune", "--repo", repo, "--keep-last", "1"});
	ASSERT_EQ(pr.code, 0) << pr.out;
	EXPECT_EQ(pr.json()["kept"], nlohmann::json::array({points.back().first}));
	EXPECT_EQ(bkagent(daemon, {"ls", "--repo", repo}).json().size(), 1u);
	EXPECT_EQ(bkagent(daemon, {"verify", "--repo", repo}).code, 0);

	::setenv("BKAGENT_PASSPHRASE", "wrong", 1);
	CliRun denied = bkagent(daemon, {"ls", "--repo", repo});
	EXPECT_EQ(denied.code, 6) << denied.out;
	EXPECT_EQ(denied.json()["error"]["code"], "PERMISSION_DENIED");
	::setenv("BKAGENT_PASSPHRASE", "cli test passphrase", 1);
	EXPECT_EQ(bkagent(daemon, {"restore", "0000", daemon.dir() / "x", "--repo", repo}).code, 4);
}

// Two host ids in one repository: each host's incrementals and prune see only its own
// points, the second host's full read dedups against the first's chunks.
TEST(CliRepo, HostsShareARepository)
{
	::setenv("BKAGENT_PASSPHRASE", "cli test passphrase", 1);
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(22);
	DiskAndRepo setup = tracked_disk_and_repo(daemon, "vdd", 16 * kChunk, rng);
	Disk &disk = setup.disk;
	const std::string &repo = setup.repo;
	auto backup = [&](const std::string &host) {
		CliRun r = bkagent(daemon, {"backup", disk.path, "--repo", repo, "--host", host});
		EXPECT_EQ(r.code, 0) << r.out;
		return r.json()["points"][0];
	};
	const auto h1_full = backup("h1");
	EXPECT_EQ(h1_full["host"], "h1");
	scribble(daemon.kernel(), disk, rng, 2);
	const auto h1_incr = backup("h1");
	EXPECT_EQ(h1_incr["mode"], "incremental");
	const std::string content = disk.content;
	const auto h2 = backup("h2");
	EXPECT_EQ(h2["mode"], "full");
	EXPECT_EQ(h2["full_reason"], "no earlier point") << "took another host's point as its base";
	EXPECT_EQ(h2["stats"]["bytes_new"], 0u) << "h1 stored every chunk already";

	CliRun ls = bkagent(daemon, {"points", "--repo", repo, "--host", "h2"});
	ASSERT_EQ(ls.code, 0) << ls.out;
	ASSERT_EQ(ls.json().size(), 1u);
	EXPECT_EQ(ls.json()[0]["id"], h2["id"]);
	EXPECT_EQ(bkagent(daemon, {"ls", "--repo", repo}).json().size(), 3u);
	const std::string out = daemon.dir() / "restore-h2";
	CliRun r = bkagent(daemon, {"restore", h2["id"].get<std::string>().substr(0, 6), out, "--repo", repo, "--host", "h2"});
	ASSERT_EQ(r.code, 0) << r.out;
	EXPECT_TRUE(file_content(out) == content);
	EXPECT_EQ(bkagent(daemon, {"restore", h2["id"], out, "--repo", repo, "--host", "h1"}).code, 4);
	CliRun v = bkagent(daemon, {"verify", "--repo", repo, "--host", "h1"});
	EXPECT_EQ(v.code, 0) << v.out;
	EXPECT_EQ(v.json()["points"], 2u);

	CliRun pr = bkagent(daemon, {"prune", "--repo", repo, "--host", "h1", "--keep-last", "1"});
	ASSERT_EQ(pr.code, 0) << pr.out;
	EXPECT_EQ(pr.json()["removed"], nlohmann::json::array({h1_full["id"]}));
	EXPECT_EQ(bkagent(daemon, {"ls", "--repo", repo}).json().size(), 2u);
}

// The backup-server role: `bkagent --agent HOST:PORT backup` pulls a remote
// agent's devices over mutual TLS with a bearer token, the chunks zstd-compressed
// by the agent and stored as they came (--raw-wire: compressed by the repository).
TEST(CliRepo, BackupServerPullsOverMutualTls)
{
	::setenv("BKAGENT_PASSPHRASE", "cli test passphrase", 1);
	Daemon daemon({.tcp = true});
	daemon.start();
	std::mt19937_64 rng(5);
	DiskAndRepo setup = tracked_disk_and_repo(daemon, "vdc", 24 * kChunk, rng);
	Disk &disk = setup.disk;
	const std::string &repo = setup.repo;
	write_disk(daemon.kernel(), disk, 3 * kChunk + 100, words(10 * kChunk, rng)); // text: zstd chunks

	const client::Target t = daemon.tls_target();
	auto remote = [&](const std::string &token_file, std::vector<std::string> args) {
		args.insert(args.begin(), {"--agent", t.address, "--ca", t.ca_file, "--cert", t.cert_file, "--key", t.key_file,
					   "--token-file", token_file});
		return bkagent(daemon, std::move(args));
	};
	const std::string token = daemon.certs().token_file;
	std::vector<std::pair<std::string, std::string>> points;
	for (const char *mode : {"full", "incremental"}) {
		CliRun r = remote(token, {"backup", disk.path, "--repo", repo});
		ASSERT_EQ(r.code, 0) << r.out;
		EXPECT_EQ(r.json()["points"][0]["mode"], mode) << r.out;
		points.emplace_back(r.json()["points"][0]["id"], disk.content);
		scribble(daemon.kernel(), disk, rng, 4);
	}
	const std::string raw_repo = daemon.dir() / "raw-repo";
	ASSERT_EQ(bkagent(daemon, {"init", "--repo", raw_repo, "--chunk-size", std::to_string(kChunk)}).code, 0);
	CliRun raw = remote(token, {"backup", disk.path, "--repo", raw_repo, "--raw-wire"});
	ASSERT_EQ(raw.code, 0) << raw.out;
	for (const auto &[id, content] : points) {
		const std::string out = daemon.dir() / ("restore-" + id);
		ASSERT_EQ(bkagent(daemon, {"restore", id, out, "--repo", repo}).code, 0);
		EXPECT_TRUE(file_content(out) == content) << "point " << id;
	}
	const std::string out = daemon.dir() / "restore-raw";
	ASSERT_EQ(bkagent(daemon, {"restore", raw.json()["points"][0]["id"], out, "--repo", raw_repo}).code, 0);
	EXPECT_TRUE(file_content(out) == disk.content);
	EXPECT_EQ(bkagent(daemon, {"verify", "--repo", repo}).code, 0);

	const std::string wrong = daemon.dir() / "wrong-token";
	std::ofstream(wrong) << "not the token\n";
	CliRun denied = remote(wrong, {"backup", disk.path, "--repo", repo});
	EXPECT_NE(denied.code, 0) << denied.out;
	EXPECT_EQ(denied.json()["error"]["code"], "UNAUTHENTICATED") << denied.out;
	EXPECT_EQ(bkagent(daemon, {"ls", "--repo", repo}).json().size(), points.size()) << "a refused backup adds nothing";
}

} // namespace
} // namespace bk::test
