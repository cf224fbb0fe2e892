// Every bad input gets a precise status code and reason, and the daemon
// keeps serving.
#include "api_helpers.h"

#include <gtest/gtest.h>

#include <fstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bk::test {
namespace {

struct Expect {
	grpc::StatusCode code;
	std::string reason;
};

void expect_error(const grpc::ClientContext &c, const grpc::Status &s, const Expect &e, const std::string &what)
{
	EXPECT_EQ(s.error_code(), e.code) << what << ": " << s.error_message();
	EXPECT_EQ(reason_of(c, s), e.reason) << what;
}

// Drains a server stream and returns its final status.
template <typename Msg, typename Reader> grpc::Status drain(Reader &reader)
{
	Msg m;
	while (reader->Read(&m)) {
	}
	return reader->Finish();
}

grpc::Status read_call(v1::Agent::Stub &agent, const v1::ReadExtentsRequest &req, grpc::ClientContext &c)
{
	auto r = agent.ReadExtents(&c, req);
	return drain<v1::DataChunk>(r);
}

grpc::Status changes_call(v1::Agent::Stub &agent, const v1::GetChangedExtentsRequest &req, grpc::ClientContext &c)
{
	auto r = agent.GetChangedExtents(&c, req);
	return drain<v1::ChangedExtentsPage>(r);
}

class AgentErrors : public ::testing::Test {
protected:
	void SetUp() override
	{
		daemon.start();
		agent = daemon.unix_client();
		disk = make_disk(daemon.kernel(), "e", 8 << 20, 12);
		other = make_disk(daemon.kernel(), "o", 4 << 20, 12);
		track(*agent, disk.path);
		snap = snapshot(*agent, {disk.path});
	}
	void TearDown() override
	{
		// Still alive and well after all of it.
		v1::Capabilities caps;
		auto c = ctx();
		EXPECT_TRUE(agent->GetCapabilities(c.get(), {}, &caps).ok());
		daemon.stop();
	}

	v1::ReadExtentsRequest read_req(std::vector<v1::Range> ranges)
	{
		v1::ReadExtentsRequest r;
		r.set_snapshot_id(snap.id());
		r.set_device(disk.path);
		for (auto &x : ranges)
			*r.add_ranges() = x;
		return r;
	}
	void expect_read(const v1::ReadExtentsRequest &req, const Expect &e, const std::string &what)
	{
		auto c = ctx();
		expect_error(*c, read_call(*agent, req, *c), e, what);
	}
	v1::GetChangedExtentsRequest changes_req()
	{
		v1::GetChangedExtentsRequest r;
		r.set_snapshot_id(snap.id());
		r.set_device(disk.path);
		return r;
	}
	void expect_changes(const v1::GetChangedExtentsRequest &req, const Expect &e, const std::string &what)
	{
		auto c = ctx();
		expect_error(*c, changes_call(*agent, req, *c), e, what);
	}

	Daemon daemon;
	std::unique_ptr<v1::Agent::Stub> agent;
	Disk disk, other;
	v1::Snapshot snap;
};

TEST_F(AgentErrors, Tracking)
{
	const std::string plain = daemon.dir() / "plain-file";
	std::ofstream(plain) << "not a disk";
	const std::vector<std::pair<std::string, Expect>> cases = {
		{daemon.dir() / "no-such-device", {grpc::StatusCode::NOT_FOUND, "DEVICE_NOT_FOUND"}},
		{plain, {grpc::StatusCode::INVALID_ARGUMENT, "NOT_BLOCK_DEVICE"}},
		{"", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}},
	};
	for (const auto &[dev, e] : cases) {
		v1::StartTrackingRequest req;
		req.set_device(dev);
		v1::Device d;
		auto c = ctx();
		expect_error(*c, agent->StartTracking(c.get(), req, &d), e, "track " + dev);
	}
	v1::StopTrackingRequest stop;
	v1::StopTrackingResponse stopped;
	stop.set_device(other.path);
	auto c1 = ctx();
	expect_error(*c1, agent->StopTracking(c1.get(), stop, &stopped), {grpc::StatusCode::FAILED_PRECONDITION, "NOT_TRACKED"},
		     "untrack untracked");
	stop.set_device(disk.path);
	auto c2 = ctx();
	expect_error(*c2, agent->StopTracking(c2.get(), stop, &stopped), {grpc::StatusCode::FAILED_PRECONDITION, "DEVICE_BUSY"},
		     "untrack while in a snapshot");
	// Tracking twice is idempotent.
	EXPECT_EQ(track(*agent, disk.path).state(), v1::IN_SNAPSHOT);
}

TEST_F(AgentErrors, Snapshots)
{
	auto create = [&](const std::vector<std::string> &devs, int lease_s, const std::string &pre, const Expect &e,
			  const std::string &what) {
		v1::CreateSnapshotRequest req;
		for (const auto &d : devs)
			req.add_devices(d);
		if (lease_s >= 0)
			req.mutable_lease()->set_seconds(lease_s);
		req.set_pre_freeze_hook(pre);
		v1::Snapshot s;
		auto c = ctx();
		expect_error(*c, agent->CreateSnapshot(c.get(), req, &s), e, what);
	};
	track(*agent, other.path);
	create({}, -1, "", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "no devices");
	create({other.path, other.path}, -1, "", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "twice");
	create({disk.path}, -1, "", {grpc::StatusCode::FAILED_PRECONDITION, "DEVICE_BUSY"}, "already in snapshot");
	create({other.path}, 100000, "", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "lease too long");
	create({other.path}, -1, "../../bin/true", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "hook path");
	create({other.path}, -1, "missing", {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "unknown hook");
	const std::string failing = daemon.hooks_dir() + "/fail";
	std::ofstream(failing) << "#!/bin/sh\nexit 3\n";
	::chmod(failing.c_str(), 0755);
	create({other.path}, -1, "fail", {grpc::StatusCode::FAILED_PRECONDITION, "HOOK_FAILED"}, "failing hook");
	const Disk untracked = make_disk(daemon.kernel(), "u", 1 << 20, 12);
	create({untracked.path}, -1, "", {grpc::StatusCode::FAILED_PRECONDITION, "NOT_TRACKED"}, "untracked");
	create({"/nonexistent/dev"}, -1, "", {grpc::StatusCode::NOT_FOUND, "DEVICE_NOT_FOUND"}, "no device");

	// None of the failures left a snapshot behind.
	v1::ListSnapshotsResponse list;
	auto c = ctx();
	ASSERT_TRUE(agent->ListSnapshots(c.get(), {}, &list).ok());
	EXPECT_EQ(list.snapshots_size(), 1);

	v1::ReleaseSnapshotRequest rel;
	v1::ReleaseSnapshotResponse released;
	rel.set_snapshot_id("00000000-0000-0000-0000-000000000000");
	auto c2 = ctx();
	expect_error(*c2, agent->ReleaseSnapshot(c2.get(), rel, &released), {grpc::StatusCode::NOT_FOUND, "SNAPSHOT_NOT_FOUND"},
		     "release unknown");
	v1::RenewLeaseRequest renew;
	renew.set_snapshot_id("garbage");
	v1::Lease lease;
	auto c3 = ctx();
	expect_error(*c3, agent->RenewLease(c3.get(), renew, &lease), {grpc::StatusCode::NOT_FOUND, "SNAPSHOT_NOT_FOUND"}, "renew unknown");
	// Rounding the nanos up overflowed (UBSan in the sanitized build; review while writing fuzz_agent_rpc).
	renew.set_snapshot_id(snap.id());
	renew.mutable_lease()->set_seconds(std::numeric_limits<std::int64_t>::max());
	renew.mutable_lease()->set_nanos(1);
	auto c4 = ctx();
	expect_error(*c4, agent->RenewLease(c4.get(), renew, &lease), {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "renew forever");
}

TEST_F(AgentErrors, ReadExtents)
{
	const std::uint64_t size = 8 << 20;
	expect_read(read_req({range(size - 4096, 8192)}), {grpc::StatusCode::OUT_OF_RANGE, "RANGE_PAST_END"}, "past end");
	expect_read(read_req({range(~0ULL - 1, 4096)}), {grpc::StatusCode::OUT_OF_RANGE, "RANGE_PAST_END"}, "offset overflow");
	expect_read(read_req({range(size, 1)}), {grpc::StatusCode::OUT_OF_RANGE, "RANGE_PAST_END"}, "at end");
	expect_read(read_req({range(0, 0)}), {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "empty range");
	expect_read(read_req({}), {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "no ranges");
	expect_read(read_req({range(0, 8192), range(4096, 4096)}), {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "overlap");
	auto big = read_req({range(0, 4096)});
	big.set_chunk_bytes(2 << 20);
	expect_read(big, {grpc::StatusCode::RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"}, "chunk too big");
	std::vector<v1::Range> many;
	for (std::uint64_t i = 0; i < 5000; ++i)
		many.push_back(range(i * 512, 512));
	expect_read(read_req(many), {grpc::StatusCode::RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"}, "too many ranges");
	auto bad_codec = read_req({range(0, 4096)});
	bad_codec.set_compression(static_cast<v1::Compression>(9));
	expect_read(bad_codec, {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "unknown compression");
	auto bad_snap = read_req({range(0, 4096)});
	bad_snap.set_snapshot_id("6f1c0000-0000-0000-0000-000000000000");
	expect_read(bad_snap, {grpc::StatusCode::NOT_FOUND, "SNAPSHOT_NOT_FOUND"}, "unknown snapshot");
	auto not_member = read_req({range(0, 4096)});
	not_member.set_device(other.path);
	expect_read(not_member, {grpc::StatusCode::NOT_FOUND, "DEVICE_NOT_FOUND"}, "device not in snapshot");
}

TEST_F(AgentErrors, ChangedExtents)
{
	auto bad_token = changes_req();
	bad_token.mutable_since()->set_generation("abc");
	bad_token.mutable_since()->set_sequence(1);
	expect_changes(bad_token, {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "malformed token");
	auto zero_seq = changes_req();
	*zero_seq.mutable_since() = snap.devices(0).token();
	zero_seq.mutable_since()->set_sequence(0);
	expect_changes(zero_seq, {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"}, "sequence 0");
	auto unknown = changes_req();
	unknown.mutable_since()->set_generation(std::string(16, '\x5a'));
	unknown.mutable_since()->set_sequence(1);
	expect_changes(unknown, {grpc::StatusCode::FAILED_PRECONDITION, "UNKNOWN_TOKEN"}, "unknown generation");
	auto future = changes_req();
	*future.mutable_since() = snap.devices(0).token();
	future.mutable_since()->set_sequence(snap.devices(0).token().sequence() + 5);
	expect_changes(future, {grpc::StatusCode::FAILED_PRECONDITION, "UNKNOWN_TOKEN"}, "never issued");
	auto past = changes_req();
	past.mutable_range()->set_offset((8 << 20) - 512);
	past.mutable_range()->set_length(1024);
	expect_changes(past, {grpc::StatusCode::OUT_OF_RANGE, "RANGE_PAST_END"}, "range past end");
	auto page = changes_req();
	page.set_max_extents_per_page(1 << 20);
	expect_changes(page, {grpc::StatusCode::RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"}, "page too big");
	auto nosnap = changes_req();
	nosnap.set_snapshot_id("");
	expect_changes(nosnap, {grpc::StatusCode::NOT_FOUND, "SNAPSHOT_NOT_FOUND"}, "no snapshot id");

	v1::CommitBackupRequest commit;
	commit.set_device(disk.path);
	v1::CommitBackupResponse resp;
	auto c = ctx();
	expect_error(*c, agent->CommitBackup(c.get(), commit, &resp), {grpc::StatusCode::INVALID_ARGUMENT, "BAD_REQUEST"},
		     "commit nothing");
}

// A snapshot that overflows: WatchEvents reports it, reads say why.
TEST_F(AgentErrors, OverflowEventAndFailedReads)
{
	auto c = ctx(20);
	auto events = agent->WatchEvents(c.get(), {});
	events->WaitForInitialMetadata();
	daemon.kernel().fail_snapshot(*agent::parse_uuid(snap.id()));
	v1::Event e;
	ASSERT_TRUE(events->Read(&e));
	EXPECT_EQ(e.type(), v1::EVENT_OVERFLOW);
	EXPECT_EQ(e.snapshot_id(), snap.id());
	c->TryCancel();
	expect_read(read_req({range(0, 4096)}), {grpc::StatusCode::FAILED_PRECONDITION, "SNAPSHOT_FAILED"}, "read of failed snapshot");
	v1::ListSnapshotsResponse list;
	auto c2 = ctx();
	ASSERT_TRUE(agent->ListSnapshots(c2.get(), {}, &list).ok());
	ASSERT_EQ(list.snapshots_size(), 1);
	EXPECT_EQ(list.snapshots(0).state(), v1::FAILED);
}

} // namespace
} // namespace bk::test
