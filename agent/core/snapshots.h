// Live snapshots: creation (hooks, difference storage, CBT record), leases,
// release. Persistence is SnapshotRecords', rendering describe()'s, kernel
// events KernelEvents', lease expiry ExpiryThread's.
#pragma once

#include "bk/cbt/store.h"
#include "core/api_error.h"
#include "core/config.h"
#include "core/devices.h"
#include "core/event_hub.h"
#include "core/expiry.h"
#include "core/hooks.h"
#include "core/live_snapshot.h"
#include "core/snapshot_records.h"
#include "driver/driver.h"

#include <bkagent/v1/bkagent.pb.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>

namespace bk::agent {

class Snapshots {
public:
	Snapshots(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, EventHub &events);
	Snapshots(const Snapshots &) = delete;
	Snapshots &operator=(const Snapshots &) = delete;

	bkagent::v1::Snapshot create(const bkagent::v1::CreateSnapshotRequest &req);
	bkagent::v1::Lease renew(const std::string &id, const google::protobuf::Duration &lease);
	void release(const std::string &id);
	std::vector<bkagent::v1::Snapshot> list();
	// NOT_FOUND/SNAPSHOT_NOT_FOUND (or LEASE_EXPIRED when it expired).
	std::shared_ptr<const LiveSnapshot> get(const std::string &id);
	// Null when not live.
	std::shared_ptr<const LiveSnapshot> find(const std::string &id);
	// Raises FAILED_PRECONDITION/SNAPSHOT_FAILED if the kernel failed it.
	void check_alive(const LiveSnapshot &snap);
	// The kernel failed a live snapshot: reads and listings report `error`.
	void mark_failed(const std::string &id, const std::string &error);

	// Adopt the snapshots a previous run left in the kernel; drop orphans.
	void adopt();
	// Graceful stop: release every snapshot.
	void release_all();

private:
	// The devices of a request, resolved, distinct and tracked.
	struct Group {
		std::vector<BlockDevice> members;
		std::vector<std::string> paths;
		std::uint64_t bytes = 0;
	};
	Group resolve(const bkagent::v1::CreateSnapshotRequest &req);
	// Freezes, takes and thaws the group, hooks around the take.
	SnapshotInfo take(const bkagent::v1::CreateSnapshotRequest &req, const Group &group, int diff_fd);
	// Records each member's image and CBT state in `snap`.
	void record_members(const SnapshotInfo &info, const Group &group, LiveSnapshot &snap);
	std::chrono::seconds clamp_lease(const google::protobuf::Duration *lease) const;
	std::uint64_t storage_size(std::uint64_t requested, std::uint64_t group_bytes) const;
	ApiError not_found(const std::string &id) const; // caller holds mutex_
	void destroy(const std::string &id, bkagent::v1::EventType why, const std::string &message);
	// Releases the snapshots whose lease ran out; returns the next expiry.
	std::chrono::system_clock::time_point sweep();

	const Config &config_;
	Driver &driver_;
	cbt::Store &store_;
	Devices &devices_;
	EventHub &events_;
	Hooks hooks_;
	SnapshotRecords records_;

	std::mutex mutex_;
	std::map<std::string, std::shared_ptr<LiveSnapshot>> live_;
	std::map<std::string, std::string> failed_; // id -> error, while live
	std::deque<std::string> expired_;           // recent ids released by lease expiry
	std::mutex create_mutex_;                   // one consistency group taken at a time
	ExpiryThread expiry_;                       // last: its thread stops before the state it sweeps goes
};

} // namespace bk::agent
