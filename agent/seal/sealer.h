// bkagent-seal: the change maps of tracked devices saved at a clean shutdown
// and carried over at the next boot (docs/cbt.md, "Clean reboots").
#pragma once

#include "bk/cbt/seal.h"
#include "driver/driver.h"

#include <chrono>
#include <string>
#include <vector>

namespace bk::agent::seal {

// What happened to one device, for the journal and the tests.
struct Outcome {
	std::string device;
	bool ok = false;
	std::string what;
};

// Seals every tracked device that nothing can write any more (not mounted
// read-write, no holders), each one atomically into `seals`; with `only`,
// just those of its devices that are tracked (the root, at the very end of
// shutdown).
std::vector<Outcome> seal_all(Driver &driver, const cbt::SealDir &seals, const std::vector<std::string> &only = {});

// At boot, before the devices can be mounted: stamps this restore run, then
// for every seal attaches the device (waiting up to `wait` for it), checks
// the seal against it and leaves a carry or a rejected record for the
// agent. Every seal is deleted, whatever happened.
std::vector<Outcome> restore_all(Driver &driver, const cbt::SealDir &seals, std::chrono::milliseconds wait);

// Moves the carry and rejected records an earlier restore left in `from`
// (the initramfs's, for the root filesystem) into `to`, for the agent.
std::vector<Outcome> import_records(const cbt::SealDir &from, const cbt::SealDir &to);

// Why `path` may still be written (mounted read-write, itself or a
// partition; holders such as dm or md on top); "" when it cannot.
std::string in_use(const std::string &path);

// The device as the seal sees it: identity, size, the tracker's geometry
// and the filesystem fingerprint.
cbt::DeviceState device_state(const std::string &path, const TrackerInfo &tracker);

} // namespace bk::agent::seal
