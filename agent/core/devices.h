// Block devices and their tracking state.
#pragma once

#include "bk/cbt/seal.h"
#include "bk/cbt/store.h"
#include "driver/driver.h"

#include <bkagent/v1/bkagent.pb.h>

#include <optional>

namespace bk::agent {

class Devices {
public:
	// `seals`: the records bkagent-seal leaves at boot (none: not used).
	Devices(Driver &driver, cbt::Store &store, std::optional<cbt::SealDir> seals = std::nullopt)
	    : driver_(driver), store_(store), seals_(std::move(seals))
	{
	}

	// Resolves a request's device path: NOT_FOUND/DEVICE_NOT_FOUND,
	// INVALID_ARGUMENT/NOT_BLOCK_DEVICE (empty path: INVALID_ARGUMENT).
	BlockDevice resolve(const std::string &path);
	// The device's tracker, nullopt when untracked.
	std::optional<TrackerInfo> tracker(const BlockDevice &device);
	// As tracker(), but FAILED_PRECONDITION/NOT_TRACKED when untracked.
	TrackerInfo tracked(const BlockDevice &device);

	bkagent::v1::Device start(const std::string &path);
	void stop(const std::string &path);
	std::vector<bkagent::v1::Device> list(bool tracked_only);

	// Align the device's persisted chain with the kernel's generation
	// (a tracked device), or every device's at start-up; a map restarted at
	// boot continues its chain when bkagent-seal carried it on.
	void reconcile(const std::string &path, const cbt::Generation &generation);
	void reconcile_all();

	bkagent::v1::Device describe(const BlockDevice &device);

private:
	Driver &driver_;
	cbt::Store &store_;
	std::optional<cbt::SealDir> seals_;
};

} // namespace bk::agent
