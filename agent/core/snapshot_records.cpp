#include "core/snapshot_records.h"

#include "conf/json_keys.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <limits>
#include <stdexcept>

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

// Key `key` of a record, an integer in [min, max]: a damaged record's float or
// out-of-range number would convert with undefined behaviour, and a time beyond
// what system_clock holds in nanoseconds (year 2262) would overflow.
template <typename T> T number(const json &j, const char *key, T min = std::numeric_limits<T>::min(), T max = std::numeric_limits<T>::max())
{
	const T v = conf::required<T>(j, key);
	if (v < min || v > max)
		throw std::invalid_argument(std::string("key '") + key + "' out of range");
	return v;
}

constexpr std::int64_t max_unix = std::numeric_limits<std::int64_t>::max() / 1000000000 - 1;
// describe() reports a block as a 32-bit size; the kernel's blocks are 512 B at least.
constexpr std::uint32_t min_block_shift = 9, max_block_shift = 31;

LiveSnapshot from_json(const json &j)
{
	LiveSnapshot s;
	s.id_text = j.at("id").get<std::string>();
	s.id = parse_uuid(s.id_text).value();
	std::int64_t nanos = 0;
	conf::take(j, "created_nanos", nanos);
	if (nanos < 0 || nanos > 999999999)
		throw std::invalid_argument("key 'created_nanos' out of range");
	s.created = from_unix(number<std::int64_t>(j, "created", 0, max_unix)) +
		    std::chrono::duration_cast<system_clock::duration>(std::chrono::nanoseconds(nanos));
	s.expires = from_unix(number<std::int64_t>(j, "expires", 0, max_unix));
	s.lease = std::chrono::seconds(number<std::int64_t>(j, "lease", 0));
	s.label = j.at("label").get<std::string>();
	s.diff_bytes = number<std::uint64_t>(j, "diff_bytes");
	for (const auto &d : j.at("devices")) {
		SnapshotDeviceState m;
		m.device = d.at("device").get<std::string>();
		m.image_path = d.at("image").get<std::string>();
		m.size_bytes = number<std::uint64_t>(d, "size");
		m.block_shift = number<std::uint32_t>(d, "block_shift", min_block_shift, max_block_shift);
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
			LiveSnapshot s = from_json(json::parse(value));
			if (s.id_text != id)
				throw std::invalid_argument("it names snapshot " + s.id_text);
			out.emplace(id, std::move(s));
		} catch (const std::exception &e) {
			spdlog::error("snapshot record {} unreadable ({}): releasing it", id, e.what());
			store_.erase_record(name);
		}
	}
	return out;
}

} // namespace bk::agent
