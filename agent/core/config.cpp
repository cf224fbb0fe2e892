#include "core/config.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace bk::agent {

namespace {

using nlohmann::json;

// Reads key `name` of `obj` into `out` when present, rejecting wrong types.
template <typename T> void take(const json &obj, const char *name, T &out)
{
	if (!obj.contains(name))
		return;
	if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
		// get<T>() casts a float or an out-of-range number (1e40: undefined behaviour).
		const json &v = obj.at(name);
		const bool ok = std::is_signed_v<T> ? v.is_number_integer() && v.get<std::int64_t>() >= std::numeric_limits<T>::min() &&
							      v.get<std::int64_t>() <= std::numeric_limits<T>::max()
						    : v.is_number_unsigned() && v.get<std::uint64_t>() <= std::numeric_limits<T>::max();
		if (!ok)
			throw std::invalid_argument(std::string("config key '") + name + "': not an integer in range");
	}
	try {
		out = obj.at(name).get<T>();
	} catch (const json::exception &e) {
		throw std::invalid_argument(std::string("config key '") + name + "': " + e.what());
	}
}

void take_seconds(const json &obj, const char *name, std::chrono::seconds &out)
{
	std::int64_t s = out.count();
	take(obj, name, s);
	if (s < 0)
		throw std::invalid_argument(std::string("config key '") + name + "' must be >= 0");
	out = std::chrono::seconds(s);
}

void reject_unknown(const json &obj, const std::set<std::string> &known, const std::string &where)
{
	for (const auto &[key, value] : obj.items())
		if (!known.contains(key))
			throw std::invalid_argument("unknown config key '" + where + key + "'");
}

} // namespace

Config Config::parse(const std::string &text)
{
	json j;
	try {
		j = json::parse(text, nullptr, true, /*ignore_comments=*/true);
	} catch (const json::exception &e) {
		throw std::invalid_argument(std::string("config is not valid JSON: ") + e.what());
	}
	if (!j.is_object())
		throw std::invalid_argument("config must be a JSON object");
	reject_unknown(j,
		       {"unix_socket", "unix_allowed_uids", "tcp", "reflection", "state_dir", "diff_dir", "lease_default_seconds",
			"lease_min_seconds", "lease_max_seconds", "diff_storage_percent", "diff_storage_min_bytes",
			"diff_storage_max_bytes", "hooks_dir", "hook_timeout_seconds", "max_parallel_reads", "log_level"},
		       "");
	Config c;
	take(j, "unix_socket", c.unix_socket);
	take(j, "unix_allowed_uids", c.unix_allowed_uids);
	take(j, "reflection", c.reflection);
	take(j, "state_dir", c.state_dir);
	take(j, "diff_dir", c.diff_dir);
	take_seconds(j, "lease_default_seconds", c.lease_default);
	take_seconds(j, "lease_min_seconds", c.lease_min);
	take_seconds(j, "lease_max_seconds", c.lease_max);
	take(j, "diff_storage_percent", c.diff_storage_percent);
	take(j, "diff_storage_min_bytes", c.diff_storage_min_bytes);
	take(j, "diff_storage_max_bytes", c.diff_storage_max_bytes);
	take(j, "hooks_dir", c.hooks_dir);
	take_seconds(j, "hook_timeout_seconds", c.hook_timeout);
	take(j, "max_parallel_reads", c.max_parallel_reads);
	take(j, "log_level", c.log_level);
	if (j.contains("tcp") && !j["tcp"].is_null()) {
		const json &t = j["tcp"];
		if (!t.is_object())
			throw std::invalid_argument("config key 'tcp' must be an object");
		reject_unknown(t, {"listen", "cert_file", "key_file", "client_ca_file", "token_file"}, "tcp.");
		TcpConfig tcp;
		take(t, "listen", tcp.listen);
		take(t, "cert_file", tcp.cert_file);
		take(t, "key_file", tcp.key_file);
		take(t, "client_ca_file", tcp.client_ca_file);
		take(t, "token_file", tcp.token_file);
		for (const auto *v : {&tcp.listen, &tcp.cert_file, &tcp.key_file, &tcp.client_ca_file, &tcp.token_file})
			if (v->empty())
				throw std::invalid_argument("tcp needs listen, cert_file, key_file, client_ca_file "
							    "and token_file (mTLS and a bearer token are mandatory)");
		c.tcp = tcp;
	}
	if (c.lease_min > c.lease_max || c.lease_default < c.lease_min || c.lease_default > c.lease_max)
		throw std::invalid_argument("lease bounds must satisfy min <= default <= max");
	if (c.max_parallel_reads == 0)
		throw std::invalid_argument("max_parallel_reads must be >= 1");
	if (c.diff_storage_percent == 0 || c.diff_storage_percent > 100)
		throw std::invalid_argument("diff_storage_percent must be in 1..100");
	return c;
}

Config Config::load(const std::string &path)
{
	std::ifstream in(path);
	if (!in)
		throw std::invalid_argument("cannot read config " + path);
	std::stringstream text;
	text << in.rdbuf();
	return parse(text.str());
}

} // namespace bk::agent
