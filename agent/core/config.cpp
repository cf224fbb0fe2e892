#include "core/config.h"
#include "conf/json_keys.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bk::agent {

using conf::reject_unknown;
using conf::take;
using conf::take_seconds;
using nlohmann::json;

Config Config::parse(const std::string &text)
{
	const json j = conf::parse_object(text);
	reject_unknown(j,
		       {"unix_socket", "unix_allowed_uids", "tcp", "reflection", "state_dir", "diff_dir", "lease_default_seconds",
			"lease_min_seconds", "lease_max_seconds", "diff_storage_percent", "diff_storage_min_bytes",
			"diff_storage_max_bytes", "hooks_dir", "hook_timeout_seconds", "max_parallel_reads", "wire_zstd_level",
			"log_level"},
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
	take(j, "wire_zstd_level", c.wire_zstd_level);
	take(j, "log_level", c.log_level);
	if (j.contains("tcp") && !j["tcp"].is_null()) {
		const json &t = conf::section(j, "tcp", {"listen", "cert_file", "key_file", "client_ca_file", "token_file"});
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
	if (c.wire_zstd_level < min_wire_zstd_level || c.wire_zstd_level > max_wire_zstd_level)
		throw std::invalid_argument("wire_zstd_level must be in " + std::to_string(min_wire_zstd_level) + ".." +
					    std::to_string(max_wire_zstd_level));
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
