// Backing up devices of an agent into a repository: one consistency group
// per run, per device an incremental (CBT since the token stored with the
// device's last point) when provable, else a full read. The agent's baseline
// advances only after the point is durable. Failures throw (client::CallError
// from the agent, storage::Error from the repository, std::runtime_error for a
// damaged stream); a failed device leaves no point and the baseline as it was.
#pragma once

#include "backup/progress.h"
#include "client/client.h"

#include "bk/storage/repository.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace bk::backup {

struct BackupOptions {
	std::vector<std::string> devices;            // tracked devices, snapshotted together
	std::optional<std::chrono::seconds> lease;   // of the run's snapshot; nullopt: the daemon's
	std::string label = "bkagent backup";        // of the run's snapshot
	std::string pre_freeze_hook, post_thaw_hook; // names of hooks on the agent's host ("": none)
	bool force_full = false;                     // read every chunk even when an incremental is possible
	ProgressSink *progress = nullptr;            // per device, bytes read of bytes to read
	std::string host;                            // host id the points are stored under ("": this machine's)
	// Ask the agent for zstd chunks when it offers them (a remote agent: the
	// link, not the CPU, is the narrow part; the repository keeps the frames).
	bool wire_zstd = false;
};

// The restore point one device's backup made.
struct DeviceResult {
	std::string device;
	storage::PointInfo point; // id, base, token, stats (bytes read/new/dedup/zero/stored, seconds)
	bool incremental() const { return !point.base.empty(); }
	// Why it is full: "forced", "no earlier point", or the agent's reason
	// (CBT_RESET, UNCLEAN_SHUTDOWN, UNKNOWN_TOKEN); "" for an incremental.
	std::string full_reason;
};

struct BackupResult {
	std::string snapshot_id;
	std::vector<DeviceResult> devices; // in the snapshot's device order
};

// Snapshots `opts.devices` (released when done) and backs up each of them.
BackupResult back_up(client::Client &agent, storage::Repository &repo, const BackupOptions &opts);

// Backs up one device of a live snapshot the caller holds (opts.devices unused).
DeviceResult back_up_device(client::Client &agent, storage::Repository &repo, const bkagent::v1::Snapshot &snap,
			    const bkagent::v1::SnapshotDevice &dev, const BackupOptions &opts);

} // namespace bk::backup
