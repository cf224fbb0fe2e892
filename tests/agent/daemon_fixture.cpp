#include "daemon_fixture.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bk::test {

namespace {

void sh(const std::string &cmd)
{
	if (std::system(cmd.c_str()) != 0)
		throw std::runtime_error("failed: " + cmd);
}

} // namespace

Certs Certs::make(const std::string &dir)
{
	Certs c;
	const std::string d = dir + "/";
	const std::string quiet = " >/dev/null 2>&1";
	auto ca = [&](const std::string &name) {
		sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=" + name + " -keyout " + d +
		   name + ".key -out " + d + name + ".pem" + quiet);
	};
	auto leaf = [&](const std::string &name, const std::string &issuer, const std::string &ext) {
		sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name + " -keyout " + d + name +
		   ".key -out " + d + name + ".csr" + quiet);
		std::ofstream(d + name + ".ext") << ext << '\n';
		sh("openssl x509 -req -in " + d + name + ".csr -CA " + d + issuer + ".pem -CAkey " + d + issuer +
		   ".key -CAcreateserial -days 2 -extfile " + d + name + ".ext -out " + d + name + ".pem" + quiet);
	};
	ca("ca");
	ca("rogue-ca");
	leaf("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
	leaf("client", "ca", "extendedKeyUsage=clientAuth");
	leaf("rogue", "rogue-ca", "extendedKeyUsage=clientAuth");
	c.ca = d + "ca.pem";
	c.server_cert = d + "server.pem";
	c.server_key = d + "server.key";
	c.client_cert = d + "client.pem";
	c.client_key = d + "client.key";
	c.rogue_cert = d + "rogue.pem";
	c.rogue_key = d + "rogue.key";
	c.token_file = d + "token";
	std::ofstream(c.token_file) << "s3cret-token-0123456789\n";
	return c;
}

Daemon::Daemon(DaemonOptions options) : options_(options), kernel_(dir_.path() / "kernel")
{
	std::filesystem::create_directories(hooks_dir());
	nlohmann::json config = {{"unix_socket", socket()},
				 {"state_dir", dir_ / "state"},
				 {"diff_dir", dir_ / "diff"},
				 {"hooks_dir", hooks_dir()},
				 {"hook_timeout_seconds", 5},
				 {"lease_min_seconds", options.lease_min_seconds},
				 {"lease_default_seconds", options.lease_default_seconds},
				 {"lease_max_seconds", 3600},
				 {"diff_storage_min_bytes", 1 << 20},
				 {"diff_storage_max_bytes", 4 << 20},
				 {"max_parallel_reads", options.max_parallel_reads},
				 {"wire_zstd_level", options.wire_zstd_level},
				 {"reflection", options.reflection},
				 {"log_level", "debug"}};
	if (options.tcp) {
		certs_ = Certs::make(dir_ / "");
		config["tcp"] = {{"listen", "127.0.0.1:0"},
				 {"cert_file", certs_.server_cert},
				 {"key_file", certs_.server_key},
				 {"client_ca_file", certs_.ca},
				 {"token_file", certs_.token_file}};
	}
	std::ofstream(config_file()) << "// written by the test fixture\n" << config.dump(2) << '\n';
}

Daemon::~Daemon()
{
	if (pid_ > 0)
		kill9();
}

void Daemon::start()
{
	std::filesystem::remove(dir_ / "state/tcp-port");
	const std::string log = dir_ / "bkagentd.log";
	// Everything the child needs is prepared before fork: after it, only
	// async-signal-safe calls.
	std::vector<std::string> env{"BK_FAKE_KERNEL_DIR=" + (dir_.path() / "kernel").string()};
	for (char **e = environ; *e; ++e)
		if (!std::string_view(*e).starts_with("JOURNAL_STREAM=") && !std::string_view(*e).starts_with("BK_FAKE"))
			env.emplace_back(*e);
	std::vector<char *> envp;
	for (auto &e : env)
		envp.push_back(e.data());
	envp.push_back(nullptr);
	const std::string config = config_file();
	const char *argv[] = {BK_FAKE_DAEMON, "--config", config.c_str(), nullptr};
	const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_ = ::fork();
	if (pid_ == 0) {
		::dup2(log_fd, 2);
		::execve(BK_FAKE_DAEMON, const_cast<char *const *>(argv), envp.data());
		::_exit(127);
	}
	::close(log_fd);
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
	while (std::chrono::steady_clock::now() < deadline) {
		int status = 0;
		if (::waitpid(pid_, &status, WNOHANG) == pid_) {
			pid_ = -1;
			throw std::runtime_error("daemon exited at start-up; see " + log);
		}
		// A fresh channel per try: a failed one backs off for seconds.
		bkagent::v1::Capabilities caps;
		auto c = ctx(1);
		if (std::filesystem::exists(socket()) && unix_client()->GetCapabilities(c.get(), {}, &caps).ok()) {
			if (options_.tcp)
				std::ifstream(dir_ / "state/tcp-port") >> tcp_port_;
			return;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	throw std::runtime_error("daemon did not answer; see " + log);
}

void Daemon::stop()
{
	ASSERT_GT(pid_, 0);
	::kill(pid_, SIGTERM);
	int status = 0;
	::waitpid(pid_, &status, 0);
	pid_ = -1;
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "daemon stop status " << status;
}

void Daemon::kill9()
{
	::kill(pid_, SIGKILL);
	int status = 0;
	::waitpid(pid_, &status, 0);
	pid_ = -1;
}

std::string Daemon::token() const
{
	std::string t;
	std::ifstream(certs_.token_file) >> t;
	return t;
}

std::unique_ptr<bkagent::v1::Agent::Stub> Daemon::unix_client() const
{
	client::Target t;
	t.address = "unix:" + socket();
	return client(t);
}

client::Target Daemon::tls_target() const
{
	client::Target t;
	t.address = "127.0.0.1:" + std::to_string(tcp_port_);
	t.ca_file = certs_.ca;
	t.cert_file = certs_.client_cert;
	t.key_file = certs_.client_key;
	t.token = token();
	return t;
}

std::unique_ptr<bkagent::v1::Agent::Stub> Daemon::client(const client::Target &t) const
{
	return bkagent::v1::Agent::NewStub(client::connect(t));
}

std::unique_ptr<grpc::ClientContext> ctx(int seconds)
{
	auto c = std::make_unique<grpc::ClientContext>();
	c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
	return c;
}

std::string reason_of(const grpc::ClientContext &context, const grpc::Status &status)
{
	const std::string details = client::reason_of(status);
	const auto &trailers = context.GetServerTrailingMetadata();
	const auto it = trailers.find("bkagent-reason");
	const std::string trailer = it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
	EXPECT_EQ(details, trailer) << "reason differs between details and trailer";
	return details;
}

} // namespace bk::test
