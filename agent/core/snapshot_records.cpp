#include "core/snapshot_records.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace bk::agent {

namespace {

using nlohmann::json;
using std::chrono::system_clock;

constexpr std::string_view record_prefix = "snapshot/";

std::int64_t to_unix(system_clock::time_point t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }

system_clock::time_point from_unix(std::int64_t s) { return system_clock::time_point(std::chrono::seconds(s)); }

// The nanoseconds within t's second: a snapshot's creation time orders the
// restore points made from it, and two may be taken within one second.
std::int64_t sub_second(system_clock::time_point t)
{
	return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count() % 1000000000;
}

json to_json(const LiveSnapshot &s)
{
	json devices = json::array();
	for (const auto &d : s.devices)
		devices.push_back({{"device", d.device},
				   {"image", d.image_path},
				   {"size", d.size_bytes},
				   {"block_shift", d.block_shift},
				   {"token", cbt::format_token(d.token)}});
	return {{"id", s.id_text},
		{"created", to_unix(s.created)},
		{"created_nanos", sub_second(s.created)},
		{"expires", to_unix(s.expires)},
		{"lease", s.lease.count()},
		{"label", s.label},
		{"diff_bytes", s.diff_bytes},
		{"devices", devices}};
}

LiveSnapshot from_json(const json &j)
{
	LiveSnapshot s;
	s.id_text = j.at("id").get<std::string>();
	s.id = parse_uuid(s.id_text).value();
	s.created = from_unix(j.at("created").get<std::int64_t>()) +
		    std::chrono::duration_cast<system_clock::duration>(std::chrono::nanoseconds(j.value("created_nanos", std::int64_t{0})));
	s.expires = from_unix(j.at("expires").get<std::int64_t>());
	s.lease = std::chrono::seconds(j.at("lease").get<std::int64_t>());
	s.label = j.at("label").get<std::string>();
	s.diff_bytes = j.at("diff_bytes").get<std::uint64_t>();
	for (const auto &d : j.at("devices")) {
		SnapshotDeviceState m;
		m.device = d.at("device").get<std::string>();
		m.image_path = d.at("image").get<std::string>();
		m.size_bytes = d.at("size").get<std::uint64_t>();
		m.block_shift = d.at("block_shift").get<std::uint32_t>();
		m.token = cbt::parse_token(d.at("token").get<std::string>()).value();
		s.devices.push_back(std::move(m));
	}
	return s;
}

} // namespace

void SnapshotRecords::save(const LiveSnapshot &snap) { store_.put_record(std::string(record_prefix) + snap.id_text, to_json(snap).dump()); }

void SnapshotRecords::erase(const std::string &id) { store_.erase_record(std::string(record_prefix) + id); }

std::map<std::string, LiveSnapshot> SnapshotRecords::load()
{
	std::map<std::string, LiveSnapshot> out;
	for (const auto &[name, value] : store_.records()) {
		if (!name.starts_with(record_prefix))
			continue;
		const std::string id = name.substr(record_prefix.size());
		try {
			out.emplace(id, from_json(json::parse(value)));
		} catch (const std::exception &e) {
			spdlog::error("snapshot record {} unreadable ({}): releasing it", id, e.what());
			store_.erase_record(name);
		}
	}
	return out;
}

} // namespace bk::agent
