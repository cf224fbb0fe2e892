// Live snapshots: creation (hooks, difference storage, CBT record), leases,
// persistence across daemon restarts, release.
#pragma once

#include "bk/cbt/store.h"
#include "core/config.h"
#include "core/devices.h"
#include "core/event_hub.h"
#include "core/hooks.h"
#include "driver/driver.h"

#include <bkagent/v1/bkagent.pb.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace bk::agent {

struct SnapshotDeviceState {
	std::string device; // canonical origin path
	std::string image_path;
	std::uint64_t size_bytes = 0;
	std::uint32_t block_shift = 0;
	cbt::Token token;
};

// Bounds concurrent ReadExtents streams of one snapshot.
class ReadSlots {
public:
	explicit ReadSlots(std::uint32_t slots) : free_(slots) {}
	// Waits for a slot; false when `give_up` turned true meanwhile.
	bool acquire(const std::function<bool()> &give_up);
	void release();

private:
	std::mutex mutex_;
	std::condition_variable cv_;
	std::uint32_t free_;
};

struct LiveSnapshot {
	Uuid id{};
	std::string id_text;
	std::chrono::system_clock::time_point created;
	std::chrono::system_clock::time_point expires;
	std::chrono::seconds lease{};
	std::string label;
	std::uint64_t diff_bytes = 0;
	std::vector<SnapshotDeviceState> devices;
	std::shared_ptr<ReadSlots> reads;

	const SnapshotDeviceState &member(const std::string &device) const; // NOT_FOUND
};

class Snapshots {
public:
	Snapshots(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, EventHub &events);
	~Snapshots();
	Snapshots(const Snapshots &) = delete;
	Snapshots &operator=(const Snapshots &) = delete;

	bkagent::v1::Snapshot create(const bkagent::v1::CreateSnapshotRequest &req);
	bkagent::v1::Lease renew(const std::string &id, const google::protobuf::Duration &lease);
	void release(const std::string &id);
	std::vector<bkagent::v1::Snapshot> list();
	// NOT_FOUND/SNAPSHOT_NOT_FOUND (or LEASE_EXPIRED when it expired).
	std::shared_ptr<const LiveSnapshot> get(const std::string &id);
	// Raises FAILED_PRECONDITION/SNAPSHOT_FAILED if the kernel failed it.
	void check_alive(const LiveSnapshot &snap);

	// Adopt the snapshots a previous run left in the kernel; drop orphans.
	void adopt();
	// Graceful stop: release every snapshot.
	void release_all();
	// Handles a kernel event (low space: grow storage; failures: mark).
	void on_kernel_event(const KernelEvent &e);

	bkagent::v1::Snapshot describe(const LiveSnapshot &snap);

private:
	std::chrono::seconds clamp_lease(const google::protobuf::Duration *lease) const;
	std::uint64_t storage_size(std::uint64_t requested, std::uint64_t group_bytes) const;
	void persist(const LiveSnapshot &snap);
	void destroy(const std::string &id, bkagent::v1::EventType why, const std::string &message);
	void expiry_loop();

	const Config &config_;
	Driver &driver_;
	cbt::Store &store_;
	Devices &devices_;
	EventHub &events_;
	Hooks hooks_;

	std::mutex mutex_;
	std::condition_variable cv_;
	bool stopping_ = false;
	std::map<std::string, std::shared_ptr<LiveSnapshot>> live_;
	std::map<std::string, std::string> failed_; // id -> error, while live
	std::deque<std::string> expired_; // recent ids released by lease expiry
	std::mutex create_mutex_; // one consistency group taken at a time
	std::thread expiry_;
};

} // namespace bk::agent
