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

bkagent::v1::Agent::Stub &Context::agent()
{
	if (stub_)
		return *stub_;
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
	stub_ = bkagent::v1::Agent::NewStub(client::connect(target));
	return *stub_;
}

std::unique_ptr<grpc::ClientContext> Context::call(int seconds)
{
	auto ctx = std::make_unique<grpc::ClientContext>();
	ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
	return ctx;
}

void Context::print(const nlohmann::json &j, const std::string &text) const
{
	if (json)
		std::cout << j.dump(2) << '\n';
	else
		std::cout << text;
}

} // namespace bk::cli
