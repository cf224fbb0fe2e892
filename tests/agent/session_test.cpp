// Leases, cancelled streams, concurrent clients, credentials, health, CLI.
#include "api_helpers.h"
#include "client/client.h"

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace bk::test {
namespace {

using namespace std::chrono_literals;

TEST(AgentLeases, ExpireReleaseAndRenew)
{
	Daemon daemon;
	daemon.start();
	auto agent = daemon.unix_client();
	Disk d = make_disk(daemon.kernel(), "l", 1 << 20, 12);
	Disk k = make_disk(daemon.kernel(), "k", 1 << 20, 12);
	track(*agent, d.path);
	track(*agent, k.path);

	auto wc = ctx(20);
	auto events = agent->WatchEvents(wc.get(), {});
	events->WaitForInitialMetadata();

	const v1::Snapshot expiring = snapshot(*agent, {d.path}, 1);
	// Renewed well within its 3 s lease for 4 s: it must outlive its lease.
	const v1::Snapshot renewed = snapshot(*agent, {k.path}, 3);
	for (int i = 0; i < 8; ++i) {
		std::this_thread::sleep_for(500ms);
		v1::RenewLeaseRequest req;
		req.set_snapshot_id(renewed.id());
		req.mutable_lease()->set_seconds(3);
		v1::Lease lease;
		auto c = ctx();
		ASSERT_TRUE(agent->RenewLease(c.get(), req, &lease).ok()) << "renewal " << i;
	}
	v1::Event e;
	ASSERT_TRUE(events->Read(&e));
	EXPECT_EQ(e.type(), v1::EVENT_LEASE_EXPIRED);
	EXPECT_EQ(e.snapshot_id(), expiring.id());

	v1::ListSnapshotsResponse list;
	auto c = ctx();
	ASSERT_TRUE(agent->ListSnapshots(c.get(), {}, &list).ok());
	ASSERT_EQ(list.snapshots_size(), 1);
	EXPECT_EQ(list.snapshots(0).id(), renewed.id());

	v1::ReadExtentsRequest read;
	read.set_snapshot_id(expiring.id());
	read.set_device(d.path);
	*read.add_ranges() = range(0, 4096);
	auto rc = ctx();
	auto reader = agent->ReadExtents(rc.get(), read);
	v1::DataChunk chunk;
	EXPECT_FALSE(reader->Read(&chunk));
	const auto s = reader->Finish();
	EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
	EXPECT_EQ(reason_of(*rc, s), "LEASE_EXPIRED");
	// The expired snapshot freed its device for the next one.
	release(*agent, snapshot(*agent, {d.path}).id());
	wc->TryCancel();
}

TEST(AgentStreams, CancelledReadsFreeTheirSlots)
{
	Daemon daemon({.max_parallel_reads = 2});
	daemon.start();
	auto agent = daemon.unix_client();
	std::mt19937_64 rng(9);
	Disk d = make_disk(daemon.kernel(), "c", 32 << 20, 12);
	scribble(daemon.kernel(), d, rng, 50);
	track(*agent, d.path);
	const v1::Snapshot snap = snapshot(*agent, {d.path});

	for (int i = 0; i < 5; ++i) {
		v1::ReadExtentsRequest req;
		req.set_snapshot_id(snap.id());
		req.set_device(d.path);
		req.set_chunk_bytes(64 << 10);
		*req.add_ranges() = range(0, 32 << 20);
		auto c = ctx();
		auto reader = agent->ReadExtents(c.get(), req);
		v1::DataChunk chunk;
		ASSERT_TRUE(reader->Read(&chunk));
		ASSERT_TRUE(reader->Read(&chunk));
		c->TryCancel();
		while (reader->Read(&chunk)) {
		}
		EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
	}
	// Both slots are free again: two parallel full reads complete.
	std::string copy(32 << 20, '\0');
	ASSERT_TRUE(read_into(*agent, snap.id(), d.path, {range(0, 32 << 20)}, copy, 2).ok());
	EXPECT_TRUE(copy == d.content);
	// A cancelled changed-extents stream too.
	v1::GetChangedExtentsRequest req;
	req.set_snapshot_id(snap.id());
	req.set_device(d.path);
	auto c = ctx();
	auto pages = agent->GetChangedExtents(c.get(), req);
	c->TryCancel();
	v1::ChangedExtentsPage page;
	while (pages->Read(&page)) {
	}
	EXPECT_EQ(pages->Finish().error_code(), grpc::StatusCode::CANCELLED);
	release(*agent, snap.id());
}

TEST(AgentClients, ConcurrentSnapshotsAndReads)
{
	Daemon daemon({.tcp = true});
	daemon.start();
	constexpr int clients = 4;
	std::vector<Disk> disks;
	for (int i = 0; i < clients; ++i) {
		disks.push_back(make_disk(daemon.kernel(), "p" + std::to_string(i), 4 << 20, 12));
		std::mt19937_64 rng(static_cast<unsigned>(i));
		scribble(daemon.kernel(), disks.back(), rng, 20);
	}
	std::vector<std::thread> threads;
	std::array<bool, clients> ok{};
	for (int i = 0; i < clients; ++i)
		threads.emplace_back([&, i] {
			// Half over TLS, half over the Unix socket.
			auto agent = i % 2 ? daemon.client(daemon.tls_target()) : daemon.unix_client();
			track(*agent, disks[i].path);
			for (int round = 0; round < 3; ++round) {
				const v1::Snapshot s = snapshot(*agent, {disks[i].path});
				std::string copy(4 << 20, '\0');
				const bool read = read_into(*agent, s.id(), disks[i].path, {range(0, 4 << 20)}, copy).ok();
				release(*agent, s.id());
				if (!read || copy != disks[i].content)
					return;
			}
			ok[i] = true;
		});
	for (auto &t : threads)
		t.join();
	for (int i = 0; i < clients; ++i)
		EXPECT_TRUE(ok[i]) << "client " << i;
}

// ReadExtents with zstd over mutual TLS through the typed client: compressible
// chunks come as frames, random ones raw, zero ones elided, and every byte
// reads back as on the disk; a client that does not ask gets no frame.
TEST(AgentWireZstd, CompressedStreamReadsBitExact)
{
	Daemon daemon({.tcp = true});
	daemon.start();
	std::mt19937_64 rng(11);
	const std::uint64_t mib = 1 << 20;
	Disk d = make_disk(daemon.kernel(), "z", 6 * mib, 12);
	write_disk(daemon.kernel(), d, 0, words(2 * mib + 12345, rng));
	std::string noise(2 * mib, '\0');
	for (auto &c : noise)
		c = static_cast<char>(rng());
	write_disk(daemon.kernel(), d, 3 * mib, noise);
	write_disk(daemon.kernel(), d, 5 * mib + 4096, words(mib - 4096, rng));
	auto stub = daemon.client(daemon.tls_target());
	track(*stub, d.path);
	const v1::Snapshot snap = snapshot(*stub, {d.path});

	client::Client agent(daemon.tls_target());
	const v1::Capabilities caps = agent.capabilities();
	EXPECT_GE(caps.api_revision(), 2u);
	ASSERT_EQ(caps.compressions_size(), 1);
	EXPECT_EQ(caps.compressions(0), v1::ZSTD);
	EXPECT_EQ(caps.zstd_level(), 1);

	for (const bool zstd : {true, false}) {
		v1::ReadExtentsRequest req;
		req.set_snapshot_id(snap.id());
		req.set_device(d.path);
		req.set_chunk_bytes(256 << 10);
		req.set_elide_zeroes(true);
		req.set_compression(zstd ? v1::ZSTD : v1::COMPRESSION_NONE);
		*req.add_ranges() = range(8192, 6 * mib - 8192 - 4096); // unaligned to the chunks at both ends
		std::string copy(6 * mib, '\0');
		int framed = 0, raw = 0, zero = 0;
		std::uint64_t framed_bytes = 0, framed_raw = 0;
		agent.read_extents(req, [&](const v1::DataChunk &c, std::string_view frame) {
			EXPECT_EQ(c.compression(), v1::COMPRESSION_NONE) << "handed on opened";
			if (!c.zero())
				copy.replace(c.offset(), c.length(), c.data());
			(c.zero() ? zero : frame.empty() ? raw : framed) += 1;
			framed_bytes += frame.size();
			framed_raw += frame.empty() ? 0 : c.length();
		});
		EXPECT_EQ(copy.substr(8192, 6 * mib - 12288), d.content.substr(8192, 6 * mib - 12288)) << "zstd " << zstd;
		// 24 chunks from 8 KiB on: 2 all in the zeros after the text, 8 mostly random.
		EXPECT_EQ(zero, 2) << "elided";
		if (zstd) {
			EXPECT_EQ(framed, 14) << "the text came compressed";
			EXPECT_LT(framed_bytes, framed_raw / 2);
			EXPECT_EQ(raw, 8) << "the random chunks came raw";
		} else {
			EXPECT_EQ(framed, 0);
			EXPECT_EQ(raw, 22);
		}
	}
	release(*stub, snap.id());
}

// A hook learns what it is run for; the post-thaw hook can read the images
// (e.g. to hash them) while they still exist.
TEST(AgentHooks, PostThawSeesTheSnapshotAndItsImages)
{
	Daemon daemon;
	daemon.start();
	auto agent = daemon.unix_client();
	std::vector<Disk> disks;
	std::mt19937_64 rng(7);
	for (const char *name : {"h0", "h1"}) {
		disks.push_back(make_disk(daemon.kernel(), name, 1 << 20, 12));
		scribble(daemon.kernel(), disks.back(), rng, 10);
		track(*agent, disks.back().path);
	}
	const std::string out = daemon.hooks_dir() + "/../hook";
	const std::string hook = daemon.hooks_dir() + "/record";
	std::ofstream(hook) << "#!/bin/sh\n"
			       "echo \"$BKAGENT_PHASE|$BKAGENT_DEVICES|${BKAGENT_SNAPSHOT_ID-unset}|${BKAGENT_SNAPSHOT_IMAGES-unset}\" >>"
			    << out << ".log\nn=0\nfor i in $BKAGENT_SNAPSHOT_IMAGES; do n=$((n + 1)); cat \"$i\" >" << out
			    << ".img$n || exit 1; done\n";
	::chmod(hook.c_str(), 0755);

	v1::CreateSnapshotRequest req;
	for (const Disk &d : disks)
		req.add_devices(d.path);
	req.set_pre_freeze_hook("record");
	req.set_post_thaw_hook("record");
	v1::Snapshot s;
	auto c = ctx();
	ASSERT_TRUE(agent->CreateSnapshot(c.get(), req, &s).ok());
	// Writes after the take reach the disks, not what the hook copied.
	for (Disk &d : disks)
		scribble(daemon.kernel(), d, rng, 10);

	std::ifstream log(out + ".log");
	std::string pre, post;
	std::getline(log, pre);
	std::getline(log, post);
	const std::string devices = disks[0].path + " " + disks[1].path;
	EXPECT_EQ(pre, "pre-freeze|" + devices + "|unset|unset");
	ASSERT_EQ(s.devices_size(), 2);
	EXPECT_EQ(post, "post-thaw|" + devices + "|" + s.id() + "|" + s.devices(0).image_path() + " " + s.devices(1).image_path());
	for (int i = 0; i < 2; ++i) {
		std::string copy(1 << 20, '\0'), image(1 << 20, '\0');
		std::ifstream(out + ".img" + std::to_string(i + 1)).read(copy.data(), static_cast<std::streamsize>(copy.size()));
		ASSERT_TRUE(read_into(*agent, s.id(), disks[i].path, {range(0, 1 << 20)}, image).ok());
		EXPECT_TRUE(copy == image) << "image " << i << " as the hook read it differs from the snapshot";
	}
	release(*agent, s.id());
}

grpc::StatusCode capabilities_code(v1::Agent::Stub &agent, std::string *reason = nullptr)
{
	v1::Capabilities caps;
	auto c = ctx(5);
	const auto s = agent.GetCapabilities(c.get(), {}, &caps);
	if (reason)
		*reason = reason_of(*c, s);
	return s.error_code();
}

TEST(AgentAuth, MutualTlsAndBearerToken)
{
	Daemon daemon({.tcp = true});
	daemon.start();
	auto good = daemon.tls_target();
	EXPECT_EQ(capabilities_code(*daemon.client(good)), grpc::StatusCode::OK);

	auto no_cert = good;
	no_cert.cert_file.clear();
	no_cert.key_file.clear();
	EXPECT_EQ(capabilities_code(*daemon.client(no_cert)), grpc::StatusCode::UNAVAILABLE) << "no client certificate";

	auto rogue = good;
	rogue.cert_file = daemon.certs().rogue_cert;
	rogue.key_file = daemon.certs().rogue_key;
	EXPECT_EQ(capabilities_code(*daemon.client(rogue)), grpc::StatusCode::UNAVAILABLE) << "foreign CA";

	std::string reason;
	auto no_token = good;
	no_token.token.clear();
	EXPECT_EQ(capabilities_code(*daemon.client(no_token), &reason), grpc::StatusCode::UNAUTHENTICATED);
	EXPECT_EQ(reason, "NOT_AUTHENTICATED");
	auto bad_token = good;
	bad_token.token = "s3cret-token-0123456788";
	EXPECT_EQ(capabilities_code(*daemon.client(bad_token)), grpc::StatusCode::UNAUTHENTICATED);
	auto plain = good;
	plain.ca_file = daemon.certs().rogue_cert; // server not trusted by the client
	EXPECT_EQ(capabilities_code(*daemon.client(plain)), grpc::StatusCode::UNAVAILABLE);
}

// Runs the bkagent CLI, optionally as another user; returns exit code and stdout.
std::pair<int, std::string> cli(const std::vector<std::string> &args, uid_t uid = 0)
{
	std::vector<std::string> argv_s{BK_CLI};
	argv_s.insert(argv_s.end(), args.begin(), args.end());
	std::vector<char *> argv;
	for (auto &a : argv_s)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	int out[2];
	if (::pipe(out) != 0)
		return {-1, ""};
	const pid_t pid = ::fork();
	if (pid == 0) {
		::dup2(out[1], 1);
		::close(out[0]);
		if (uid && (::setgid(uid) != 0 || ::setuid(uid) != 0))
			::_exit(99);
		::execv(BK_CLI, argv.data());
		::_exit(127);
	}
	::close(out[1]);
	std::string text;
	char buf[4096];
	for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
		text.append(buf, static_cast<std::size_t>(n));
	::close(out[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

TEST(AgentAuth, UnixSocketIsRootOnly)
{
	Daemon daemon;
	daemon.start();
	// Let others reach the socket (as in /run/bkagent): the uid check decides.
	std::filesystem::permissions(daemon.dir().path(), std::filesystem::perms::others_exec, std::filesystem::perm_options::add);
	const auto [code, out] = cli({"--socket", daemon.socket(), "--json", "status"}, 65534);
	EXPECT_EQ(code, 6) << out;
	const auto j = nlohmann::json::parse(out);
	EXPECT_EQ(j["error"]["code"], "UNAUTHENTICATED");
	EXPECT_EQ(j["error"]["reason"], "NOT_AUTHENTICATED");
	EXPECT_EQ(cli({"--socket", daemon.socket(), "status"}).first, 0);
}

TEST(AgentCli, AdminWorkflowHumanAndJson)
{
	Daemon daemon;
	daemon.start();
	Disk d = make_disk(daemon.kernel(), "cli", 2 << 20, 12);
	const std::vector<std::string> base{"--socket", daemon.socket()};
	auto run = [&](std::vector<std::string> args) {
		args.insert(args.begin(), base.begin(), base.end());
		return cli(args);
	};
	EXPECT_EQ(run({"track", "add", d.path}).first, 0);
	auto [code, out] = run({"--json", "snapshot", d.path, "--lease", "5m", "--label", "t"});
	ASSERT_EQ(code, 0) << out;
	const auto snap = nlohmann::json::parse(out);
	const std::string id = snap["id"];
	const std::string token = snap["devices"][0]["token"];
	EXPECT_EQ(snap["devices"][0]["device"], d.path);
	EXPECT_EQ(snap["lease_seconds"], 300);

	auto [hcode, human] = run({"snapshots"});
	EXPECT_EQ(hcode, 0);
	EXPECT_NE(human.find(id), std::string::npos);
	EXPECT_NE(human.find("token " + token), std::string::npos);
	EXPECT_EQ(run({"release", id}).first, 0);
	EXPECT_EQ(run({"release", id}).first, 4) << "releasing twice: not found";

	std::mt19937_64 rng(5);
	scribble(daemon.kernel(), d, rng, 3);
	auto [ccode, changes] = run({"--json", "cbt", "changes", d.path, "--since", token});
	ASSERT_EQ(ccode, 0) << changes;
	const auto ch = nlohmann::json::parse(changes);
	EXPECT_GT(ch["changed_bytes"].get<std::uint64_t>(), 0u);
	EXPECT_LT(ch["changed_bytes"].get<std::uint64_t>(), 2u << 20);

	auto [ucode, unknown] = run({"--json", "cbt", "changes", d.path, "--since", std::string(32, 'a') + ":1"});
	EXPECT_EQ(ucode, 5) << unknown;
	EXPECT_EQ(nlohmann::json::parse(unknown)["error"]["reason"], "UNKNOWN_TOKEN");
	EXPECT_EQ(run({"cbt", "changes", d.path, "--since", "nonsense"}).first, 2);
	EXPECT_EQ(run({"snapshot"}).first, 2) << "missing device: usage error";
	EXPECT_EQ(run({"track", "add", daemon.dir() / "missing"}).first, 4);
	auto [scode, status] = run({"--json", "track", "status"});
	EXPECT_EQ(scode, 0);
	EXPECT_EQ(nlohmann::json::parse(status)[0]["state"], "TRACKING");
	EXPECT_EQ(run({"track", "remove", d.path}).first, 0);
	EXPECT_EQ(cli({"--socket", daemon.dir() / "nowhere.sock", "status"}).first, 3);
}

// grpc.health.v1 and reflection, spoken with a generic stub (the protos of
// those services are not installed): Check{"bkagent.v1.Agent"} -> SERVING.
TEST(AgentServices, HealthAndReflection)
{
	Daemon daemon({.reflection = true});
	daemon.start();
	client::Target target;
	target.address = "unix:" + daemon.socket();
	auto channel = client::connect(target);
	grpc::GenericStub generic(channel);
	const std::string service = "bkagent.v1.Agent";
	const std::string request = std::string("\x0a") + static_cast<char>(service.size()) + service;
	grpc::Slice slice(request);
	grpc::ByteBuffer req(&slice, 1), resp;
	auto c = ctx();
	grpc::CompletionQueue cq;
	std::mutex m;
	std::condition_variable cv;
	bool done = false;
	grpc::Status status;
	generic.UnaryCall(c.get(), "/grpc.health.v1.Health/Check", {}, &req, &resp, [&](grpc::Status s) {
		std::lock_guard l(m);
		status = s;
		done = true;
		cv.notify_one();
	});
	std::unique_lock l(m);
	cv.wait(l, [&] { return done; });
	ASSERT_TRUE(status.ok()) << status.error_message();
	std::vector<grpc::Slice> slices;
	ASSERT_TRUE(resp.Dump(&slices).ok());
	std::string bytes;
	for (const auto &s : slices)
		bytes.append(reinterpret_cast<const char *>(s.begin()), s.size());
	EXPECT_EQ(bytes, std::string("\x08\x01", 2)) << "status SERVING";
	l.unlock();

	// ServerReflectionInfo with list_services lists our service.
	grpc::ClientContext rc;
	auto stream = generic.PrepareCall(&rc, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
	stream->StartCall(reinterpret_cast<void *>(1));
	void *tag;
	bool ok;
	ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
	const std::string list_req("\x3a\x00", 2);
	grpc::Slice ls(list_req);
	grpc::ByteBuffer lb(&ls, 1);
	stream->Write(lb, reinterpret_cast<void *>(2));
	ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
	grpc::ByteBuffer answer;
	stream->Read(&answer, reinterpret_cast<void *>(3));
	ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
	std::vector<grpc::Slice> as;
	ASSERT_TRUE(answer.Dump(&as).ok());
	std::string abytes;
	for (const auto &s : as)
		abytes.append(reinterpret_cast<const char *>(s.begin()), s.size());
	EXPECT_NE(abytes.find(service), std::string::npos);
	rc.TryCancel();
	stream->Finish(&status, reinterpret_cast<void *>(4));
	cq.Next(&tag, &ok);
	cq.Shutdown();
	while (cq.Next(&tag, &ok)) {
	}
}

} // namespace
} // namespace bk::test

namespace bk::test {
namespace {

std::string file_content(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `bkagent image pull`: the incremental loop from the command line.
TEST(AgentCli, ImagePullFullThenIncremental)
{
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(11);
	Disk d = make_disk(daemon.kernel(), "pull", 12 << 20, 12);
	scribble(daemon.kernel(), d, rng, 30);
	const std::vector<std::string> base{"--socket", daemon.socket(), "--json"};
	auto run = [&](std::vector<std::string> args) {
		args.insert(args.begin(), base.begin(), base.end());
		return cli(args);
	};
	ASSERT_EQ(run({"track", "add", d.path}).first, 0);
	const std::string target = daemon.dir() / "copy.img";
	std::string token;
	for (int round = 0; round < 3; ++round) {
		const auto [code, out] = run({"snapshot", d.path});
		ASSERT_EQ(code, 0) << out;
		const auto snap = nlohmann::json::parse(out);
		const std::string at_snapshot = d.content;
		scribble(daemon.kernel(), d, rng, 10);
		std::vector<std::string> pull{"image", "pull", snap["id"], d.path, target, "--streams", "3"};
		if (!token.empty()) {
			pull.push_back("--since");
			pull.push_back(token);
		}
		const auto [pcode, pout] = run(pull);
		ASSERT_EQ(pcode, 0) << pout;
		const auto summary = nlohmann::json::parse(pout);
		if (!token.empty()) {
			EXPECT_LT(summary["bytes"].get<std::uint64_t>(), d.content.size()) << "incremental pulled all";
		}
		EXPECT_TRUE(file_content(target) == at_snapshot) << "round " << round;
		token = snap["devices"][0]["token"];
		ASSERT_EQ(run({"release", snap["id"]}).first, 0);
	}
}

} // namespace
} // namespace bk::test
