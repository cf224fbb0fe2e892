// What the agent reads back from its state directories: the daemon's snapshot
// records (in the CBT store) and a job's state file. A damaged one is refused as a
// whole, never read into values the agent cannot use (findings of the fuzz targets,
// docs/reliability.md).
#include "core/snapshot_records.h"
#include "job/job_state.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace bk::test {
namespace {

using nlohmann::json;

const std::string snap_id = "01234567-89ab-cdef-0123-456789abcdef";

// The record SnapshotRecords::save writes for a one-device snapshot.
json saved_record(cbt::Store &store)
{
	agent::LiveSnapshot s;
	s.id = agent::parse_uuid(snap_id).value();
	s.id_text = snap_id;
	s.created = std::chrono::system_clock::time_point(std::chrono::seconds(1764600000));
	s.lease = std::chrono::seconds(600);
	s.expires = s.created + s.lease;
	s.devices.push_back({"/dev/vda", "/dev/bksnap0", 1 << 30, 12, cbt::parse_token("00112233445566778899aabbccddeeff:3").value()});
	agent::SnapshotRecords(store).save(s);
	return json::parse(store.records().at(0).second);
}

TEST(SnapshotRecords, DamagedRecordsAreDroppedNotAdopted)
{
	TempDir dir;
	cbt::Store store(dir / "cbt");
	const json good = saved_record(store);
	ASSERT_EQ(agent::SnapshotRecords(store).load().size(), 1U);

	const std::vector<std::pair<std::string, std::function<void(json &)>>> damage = {
		// A float where an integer belongs: the conversion was undefined behaviour.
		{"float time", [](json &j) { j["created"] = 1e300; }},
		{"float size", [](json &j) { j["devices"][0]["size"] = -1.5e30; }},
		// Seconds beyond what system_clock holds in nanoseconds overflowed.
		{"time past 2262", [](json &j) { j["expires"] = std::numeric_limits<std::int64_t>::max(); }},
		{"negative nanos", [](json &j) { j["created_nanos"] = -1; }},
		// 1U << block_shift in ListSnapshots was undefined behaviour.
		{"block shift 40", [](json &j) { j["devices"][0]["block_shift"] = 40; }},
		// Adopted under one id, destroyed in the kernel under another.
		{"other id", [](json &j) { j["id"] = "fedcba98-7654-3210-fedc-ba9876543210"; }},
	};
	for (const auto &[what, change] : damage) {
		json bad = good;
		change(bad);
		store.put_record("snapshot/" + snap_id, bad.dump());
		EXPECT_TRUE(agent::SnapshotRecords(store).load().empty()) << what;
		EXPECT_TRUE(store.records().empty()) << what << ": a damaged record is erased";
	}
	store.put_record("snapshot/" + snap_id, good.dump());
	EXPECT_EQ(agent::SnapshotRecords(store).load().at(snap_id).devices.at(0).block_shift, 12U);
}

TEST(JobState, DamagedStateIsRefusedAsDamaged)
{
	TempDir dir;
	job::JobState state;
	state.points = 3;
	state.cbt_resets["/dev/vda"] = 1;
	state.last_run = job::RunRecord{1764600000, 1764600042, 41.5, 0, "", 1 << 30, 1 << 20, {"00000000000000ff"}};
	job::save_state(dir.path(), "j", state);
	const json good = json::parse(std::ifstream(dir / "j.json"));
	EXPECT_EQ(job::to_json(job::load_state(dir.path(), "j")), good);

	const std::vector<std::pair<std::string, std::function<void(json &)>>> damage = {
		// Floats and out-of-range numbers where integers belong: undefined behaviour in
		// the conversion (UBSan), also inside the cbt_resets map.
		{"float start", [](json &j) { j["last_run"]["started"] = 1e300; }},
		{"exit code 2^40", [](json &j) { j["last_run"]["exit_code"] = std::int64_t{1} << 40; }},
		{"float reset count", [](json &j) { j["cbt_resets"]["/dev/vda"] = 1e30; }},
		{"missing key", [](json &j) { j["last_run"].erase("ended"); }},
	};
	for (const auto &[what, change] : damage) {
		json bad = good;
		change(bad);
		std::ofstream(dir / "j.json") << bad.dump();
		try {
			job::load_state(dir.path(), "j");
			ADD_FAILURE() << what << ": loaded";
		} catch (const std::runtime_error &e) {
			EXPECT_NE(std::string(e.what()).find("damaged job state"), std::string::npos) << what << ": " << e.what();
		}
	}
}

} // namespace
} // namespace bk::test
