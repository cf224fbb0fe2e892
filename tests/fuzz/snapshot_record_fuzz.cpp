// Persisted snapshot records (agent/core/snapshot_records.cpp) as a restarted daemon
// reads them back from its CBT store: the input is a record's value, stored under the
// key of snapshot kRecordId in a real store. A record that loads must name the snapshot of
// its key, must render as ListSnapshots renders an adopted snapshot (over the driver
// test double), and must save to a record that loads to the same content; one that
// does not load must be gone from the store.
#include <spdlog/spdlog.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "agent_fuzz.hpp"
#include "core/snapshot_proto.h"
#include "core/snapshot_records.h"
#include "fake_kernel.h"
#include "property.hpp"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bk::fuzz::require;

const std::string &kId = bk::fuzz::kRecordId;
const std::string kKey = "snapshot/" + kId;

struct Scratch {
	fs::path dir;
	bk::cbt::Store store;
	bk::test::FakeKernel kernel;
	bk::agent::SnapshotRecords records{store};
};

// Scratch is never destroyed; its directory goes when the process exits.
fs::path make_dir()
{
	static const bk::test::TempDir dir("bk-record-fuzz");
	fs::create_directories(dir.path() / "kernel");
	return dir.path();
}

Scratch &scratch()
{
	static Scratch &s = *[] {
		const fs::path dir = make_dir();
		return new Scratch{dir, bk::cbt::Store(dir / "cbt"), bk::test::FakeKernel(dir / "kernel")};
	}();
	return s;
}

bool same(const bk::agent::SnapshotDeviceState &a, const bk::agent::SnapshotDeviceState &b)
{
	return a.device == b.device && a.image_path == b.image_path && a.size_bytes == b.size_bytes && a.block_shift == b.block_shift &&
	       a.token == b.token;
}

bool same(const bk::agent::LiveSnapshot &a, const bk::agent::LiveSnapshot &b)
{
	return a.id == b.id && a.id_text == b.id_text && a.created == b.created && a.expires == b.expires && a.lease == b.lease &&
	       a.label == b.label && a.diff_bytes == b.diff_bytes &&
	       std::equal(a.devices.begin(), a.devices.end(), b.devices.begin(), b.devices.end(),
			  [](const auto &x, const auto &y) { return same(x, y); });
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	spdlog::set_level(spdlog::level::off);
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	Scratch &s = scratch();
	s.store.put_record(kKey, std::string(reinterpret_cast<const char *>(data), size));
	const auto loaded = s.records.load();
	if (loaded.empty()) {
		require(s.store.records().empty(), "an unreadable record is erased");
		return 0;
	}
	require(loaded.size() == 1 && loaded.begin()->first == kId, "the record loads under its key");
	const bk::agent::LiveSnapshot &snap = loaded.begin()->second;
	require(snap.id_text == kId, "a record names the snapshot of its key");
	bk::agent::describe(snap, s.kernel, std::nullopt);
	s.records.save(snap);
	const auto again = s.records.load();
	require(again.size() == 1 && again.contains(kId) && same(again.at(kId), snap), "a record re-saves to the same content");
	s.records.erase(kId);
	return 0;
}
