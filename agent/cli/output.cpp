#include "cli/output.h"

#include <google/protobuf/util/time_util.h>

#include <limits>
#include <map>
#include <sstream>

namespace bk::cli {

namespace v1 = bkagent::v1;

std::string human_bytes(std::uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = static_cast<double>(bytes);
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		++u;
	}
	std::ostringstream out;
	out.precision(u ? 1 : 0);
	out << std::fixed << v << ' ' << units[u];
	return out.str();
}

std::string time_text(const google::protobuf::Timestamp &t) { return google::protobuf::util::TimeUtil::ToString(t); }

nlohmann::json to_json(const v1::Snapshot &s)
{
	nlohmann::json devices = nlohmann::json::array();
	for (const auto &d : s.devices())
		devices.push_back({{"device", d.device()},
				   {"image", d.image_path()},
				   {"size_bytes", d.size_bytes()},
				   {"cbt_block_size", d.cbt_block_size()},
				   {"token", token_text(d.token())}});
	return {{"id", s.id()},
		{"state", v1::SnapshotState_Name(s.state())},
		{"created_at", time_text(s.created_at())},
		{"lease_expires_at", time_text(s.lease().expires_at())},
		{"lease_seconds", s.lease().duration().seconds()},
		{"label", s.label()},
		{"diff_storage_bytes", s.diff_storage_bytes()},
		{"diff_used_bytes", s.diff_used_bytes()},
		{"error", s.error()},
		{"devices", devices}};
}

nlohmann::json to_json(const v1::Device &d)
{
	return {{"path", d.path()},
		{"major", d.major()},
		{"minor", d.minor()},
		{"size_bytes", d.size_bytes()},
		{"kind", d.kind()},
		{"state", v1::TrackingState_Name(d.state())},
		{"cbt_block_size", d.cbt_block_size()},
		{"current", token_text(d.current())},
		{"committed_baseline", token_text(d.committed_baseline())},
		{"filesystem", d.filesystem()},
		{"mountpoint", d.mountpoint()},
		{"chain_note", d.chain_note()}};
}

std::string to_text(const v1::Snapshot &s)
{
	std::ostringstream out;
	out << "snapshot " << s.id() << "  " << v1::SnapshotState_Name(s.state());
	if (!s.label().empty())
		out << "  \"" << s.label() << '"';
	out << "\n  lease until " << time_text(s.lease().expires_at()) << " (" << s.lease().duration().seconds()
	    << " s)\n  difference storage " << human_bytes(s.diff_used_bytes()) << " used of " << human_bytes(s.diff_storage_bytes())
	    << '\n';
	if (!s.error().empty())
		out << "  error: " << s.error() << '\n';
	for (const auto &d : s.devices())
		out << "  " << d.device() << " -> " << d.image_path() << "  " << human_bytes(d.size_bytes()) << "  token "
		    << token_text(d.token()) << '\n';
	return out.str();
}

CLI::Option *add_duration(CLI::App *cmd, const std::string &name, std::int64_t &seconds, const std::string &help)
{
	const std::map<std::string, std::int64_t> units{{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
	return cmd->add_option(name, seconds, help)
		->transform(CLI::AsNumberWithUnit(units, CLI::AsNumberWithUnit::CASE_SENSITIVE))
		->check(CLI::Range(std::int64_t{1}, std::numeric_limits<std::int64_t>::max()));
}

} // namespace bk::cli
