// The seeds of the agent's fuzz targets: a valid request of every RPC in agent_rpc's
// input form (one-character ids and devices, one-byte token generations: the known
// snapshots, disks and tokens the target substitutes), records written by
// SnapshotRecords::save, and job files and a job state written by save_state.
#include "agent_seeds.hpp"

#include <bkagent/v1/bkagent.grpc.pb.h>

#include <fstream>
#include <stdexcept>

#include "agent_fuzz.hpp"
#include "core/snapshot_records.h"
#include "job/job_state.h"
#include "temp_dir.h"

namespace bk::fuzz {

namespace {

namespace v1 = bkagent::v1;

void put(const fs::path &file, const std::string &bytes) { std::ofstream(file, std::ios::binary) << bytes; }

void put_rpc(const fs::path &dir, const std::string &name, const google::protobuf::Message &request, const std::string &method)
{
	const auto *m = agent_service().FindMethodByName(method);
	if (!m || m->input_type() != request.GetDescriptor())
		throw std::logic_error("no RPC " + method + " taking " + request.GetTypeName());
	put(dir / name, std::string(1, static_cast<char>(m->index())) + request.SerializeAsString());
}

v1::ChangeToken token(char known, std::uint32_t sequence)
{
	v1::ChangeToken t;
	t.set_generation(std::string(1, known));
	t.set_sequence(sequence);
	return t;
}

void rpc_seeds(const fs::path &dir)
{
	put_rpc(dir, "capabilities", v1::GetCapabilitiesRequest(), "GetCapabilities");
	v1::ListDevicesRequest list;
	list.set_tracked_only(true);
	put_rpc(dir, "list-devices", list, "ListDevices");
	v1::StartTrackingRequest start;
	start.set_device("2");
	put_rpc(dir, "start-tracking", start, "StartTracking");
	v1::StopTrackingRequest stop;
	stop.set_device("1");
	put_rpc(dir, "stop-tracking", stop, "StopTracking");
	v1::CreateSnapshotRequest create;
	create.add_devices("1");
	put_rpc(dir, "create", create, "CreateSnapshot");
	create.mutable_lease()->set_seconds(60);
	create.set_pre_freeze_hook("ok");
	create.set_post_thaw_hook("ok");
	create.set_diff_storage_bytes(1 << 20);
	create.set_label("seed");
	put_rpc(dir, "create-hooks", create, "CreateSnapshot");
	v1::RenewLeaseRequest renew;
	renew.set_snapshot_id("0");
	renew.mutable_lease()->set_seconds(120);
	put_rpc(dir, "renew", renew, "RenewLease");
	v1::ReleaseSnapshotRequest release;
	release.set_snapshot_id("1");
	put_rpc(dir, "release-released", release, "ReleaseSnapshot");
	release.set_snapshot_id("0");
	put_rpc(dir, "release", release, "ReleaseSnapshot");
	put_rpc(dir, "list-snapshots", v1::ListSnapshotsRequest(), "ListSnapshots");
	v1::GetChangedExtentsRequest extents;
	extents.set_snapshot_id("0");
	extents.set_device("0");
	put_rpc(dir, "extents-full", extents, "GetChangedExtents");
	*extents.mutable_since() = token(0, 1);
	extents.mutable_range()->set_offset(0);
	extents.mutable_range()->set_length(65536);
	extents.set_max_extents_per_page(2);
	put_rpc(dir, "extents-since", extents, "GetChangedExtents");
	v1::ReadExtentsRequest read;
	read.set_snapshot_id("0");
	read.set_device("0");
	for (auto [offset, length] : {std::pair{0, 8192}, std::pair{16384, 4096}}) {
		auto *r = read.add_ranges();
		r->set_offset(offset);
		r->set_length(length);
	}
	read.set_chunk_bytes(4096);
	read.set_elide_zeroes(true);
	put_rpc(dir, "read", read, "ReadExtents");
	read.set_compression(v1::ZSTD);
	put_rpc(dir, "read-zstd", read, "ReadExtents");
	v1::CommitBackupRequest commit;
	commit.set_snapshot_id("0");
	commit.set_device("0");
	put_rpc(dir, "commit", commit, "CommitBackup");
	commit.clear_snapshot_id();
	commit.set_device("1");
	*commit.mutable_token() = token(1, 1);
	put_rpc(dir, "commit-token", commit, "CommitBackup");
	put_rpc(dir, "watch", v1::WatchEventsRequest(), "WatchEvents");
}

void record_seeds(const fs::path &dir, const fs::path &scratch)
{
	cbt::Store store((scratch / "cbt").string());
	agent::SnapshotRecords records(store);
	agent::LiveSnapshot snap;
	snap.id = agent::parse_uuid(kRecordId).value();
	snap.id_text = kRecordId;
	snap.created = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1764600000123456789));
	snap.lease = std::chrono::seconds(600);
	snap.expires = snap.created + snap.lease;
	snap.diff_bytes = 64 << 20;
	for (int i = 0; i < 2; ++i) {
		const std::string dev = "/dev/vd" + std::string(1, static_cast<char>('a' + i));
		snap.devices.push_back({dev, "/dev/bksnap" + std::to_string(i), std::uint64_t{8} << 30, 12u + 4u * i,
					cbt::parse_token("00112233445566778899aabbccddeeff:" + std::to_string(3 + i)).value()});
		snap.label = i ? "nightly" : "";
		records.save(snap);
		put(dir / ("devices-" + std::to_string(i + 1)), store.records().at(0).second);
	}
}

void job_seeds(const fs::path &dir, const fs::path &job_conf, const fs::path &scratch)
{
	std::ifstream in(job_conf, std::ios::binary);
	put(dir / "job-example", std::string(1, '\0') + std::string(std::istreambuf_iterator<char>(in), {}));
	put(dir / "job-s3", std::string(1, '\0') + R"({"devices": ["/dev/vda"], "repository": "s3://bucket/prefix",
	  "s3": {"endpoint": "https://s3.example:9000", "region": "eu-1", "parallel_uploads": 4}, "lease": 900})");
	job::JobState state;
	state.points = 7;
	state.cbt_resets["/dev/vda"] = 2;
	job::RunRecord run{1764600000, 1764600042, 41.5, 0, "", 1 << 30, 1 << 20, {"00000000000000ff", "0000000000000100"}};
	state.last_run = state.last_success = run;
	run.exit_code = 3;
	run.message = "repository locked";
	state.last_failure = run;
	job::save_state(scratch.string(), "seed", state);
	std::ifstream saved(scratch / "seed.json", std::ios::binary);
	put(dir / "state", std::string(1, '\1') + std::string(std::istreambuf_iterator<char>(saved), {}));
}

} // namespace

void write_agent_seeds(const fs::path &out, const fs::path &job_conf)
{
	for (const char *t : {"agent_rpc", "snapshot_record", "job"})
		fs::create_directories(out / t);
	rpc_seeds(out / "agent_rpc");
	const bk::test::TempDir scratch("bk-agent-seeds");
	record_seeds(out / "snapshot_record", scratch.path());
	job_seeds(out / "job", job_conf, scratch.path());
}

} // namespace bk::fuzz
