// Test double of the bksnap kernel module behind the agent's Driver
// interface. Its CBT maps are the module's own C (kernel/cbt_map.c: what a
// write marks, the sequence a snapshot advances, the restart under a new
// generation when it wraps, keeping the marks since the anchor;
// kernel/ctl_args.c: CBT_READ's ESTALE and ERANGE, CBT_ANCHOR's checks);
// around them it models the rest of the uAPI: a new generation at
// attach and module reload, images frozen at the snapshot instant, events,
// and the documented errnos.
//
// Its state lives in a directory and every operation locks it, so the
// daemon under test (another process) and the test itself (writing to the
// fake disks, reloading the "module", failing snapshots) share one kernel
// that outlives a killed daemon, as the real one does.
#pragma once

#include "driver/driver.h"

#include <filesystem>
#include <string>

namespace bk::test {

class FakeKernel final : public agent::Driver {
public:
	explicit FakeKernel(std::filesystem::path dir);

	// --- the test's side: devices, writes, module events ---
	// A new fake disk of `size` bytes (a sparse file) with 2^block_shift byte
	// CBT blocks; returns its path.
	std::string add_disk(const std::string &name, std::uint64_t size, std::uint32_t block_shift);
	// A write to the disk, as the tracker would see it.
	void write(const std::string &path, std::uint64_t offset, const std::string &data);
	// Marks runs of blocks (first, count) written, without writing data
	// (large-device benchmarks).
	void mark(const std::string &path, const std::vector<std::pair<std::uint64_t, std::uint64_t>> &runs);
	// Module unload + load: trackers and snapshots are gone.
	void reload();
	// The snapshot fails as on overflow: images unreadable, event raised.
	void fail_snapshot(const agent::Uuid &id);

	// --- agent::Driver ---
	agent::ModuleInfo version() override;
	agent::BlockDevice device(const std::string &path) override;
	std::vector<agent::BlockDevice> block_devices() override;
	void attach(const std::string &path) override;
	void detach(const std::string &path) override;
	agent::TrackerInfo tracker_info(const std::string &path) override;
	std::vector<agent::DevNum> trackers() override;
	void cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first, std::uint64_t count,
		      std::uint8_t *out) override;
	std::optional<cbt::Token> cbt_anchor(const std::string &path, const cbt::Token &token) override;
	agent::SnapshotInfo snapshot_create(const std::vector<std::string> &paths, int diff_fd, std::uint64_t low_water_sectors) override;
	void snapshot_add_storage(const agent::Uuid &id, int diff_fd) override;
	void snapshot_destroy(const agent::Uuid &id) override;
	agent::SnapshotInfo snapshot_info(const agent::Uuid &id) override;
	std::vector<agent::Uuid> snapshots() override;
	std::string image_path(agent::DevNum image) override;
	std::optional<agent::KernelEvent> next_event(std::chrono::milliseconds timeout) override;

private:
	std::filesystem::path dir_;
	std::uint64_t events_read_ = 0;
};

} // namespace bk::test
