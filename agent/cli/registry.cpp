#include "cli/registry.h"

#include <fstream>
#include <iostream>

namespace bk::cli {

namespace {
std::vector<Setup> &registry()
{
	static std::vector<Setup> all;
	return all;
}
} // namespace

bool register_command(Setup setup)
{
	registry().push_back(setup);
	return true;
}

const std::vector<Setup> &commands() { return registry(); }

client::Client &Context::agent()
{
	if (client_)
		return *client_;
	client::Target target;
	target.address = "unix:" + socket;
	if (!remote.empty()) {
		target.address = remote;
		target.ca_file = ca_file;
		target.cert_file = cert_file;
		target.key_file = key_file;
		target.server_name = server_name;
		if (!token_file.empty()) {
			std::ifstream in(token_file);
			if (!std::getline(in, target.token) || target.token.empty())
				throw std::runtime_error("cannot read a token from " + token_file);
		}
	}
	client_ = std::make_unique<client::Client>(target);
	return *client_;
}

void Context::print(const nlohmann::json &j, const std::string &text) const
{
	if (json)
		std::cout << j.dump(2) << '\n';
	else
		std::cout << text;
}

} // namespace bk::cli
