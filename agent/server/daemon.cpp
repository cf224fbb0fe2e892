#include "server/daemon.h"

#include "bk/cbt/store.h"
#include "client/files.h"
#include "core/config.h"
#include "core/devices.h"
#include "core/event_hub.h"
#include "core/kernel_events.h"
#include "core/snapshots.h"
#include "server/agent_service.h"
#include "server/logging.h"
#include "server/unix_listener.h"

#include <CLI/CLI.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/resource.h>

namespace bk::agent {

namespace {

std::string first_line(const std::string &path)
{
	std::string text = client::read_file(path);
	text = text.substr(0, text.find('\n'));
	if (text.empty())
		throw std::runtime_error(path + " is empty");
	return text;
}

std::shared_ptr<grpc::ServerCredentials> tls_credentials(const TcpConfig &tcp)
{
	grpc::SslServerCredentialsOptions opts(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
	opts.pem_root_certs = client::read_file(tcp.client_ca_file);
	opts.pem_key_cert_pairs.push_back({client::read_file(tcp.key_file), client::read_file(tcp.cert_file)});
	return grpc::SslServerCredentials(opts);
}

void make_private_dir(const std::string &dir)
{
	try {
		std::filesystem::create_directories(dir);
		std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
	} catch (const std::filesystem::filesystem_error &e) {
		if (e.code() != std::errc::read_only_file_system)
			throw;
		// The usual cause: bkagentd.service's ProtectSystem=strict.
		throw std::runtime_error(dir + " is read-only for bkagentd; under systemd a directory outside "
					       "/var/lib/bkagent needs ReadWritePaths= in a drop-in (bkagentd.conf(5))");
	}
}

// Forwards kernel events until `stop`.
void event_loop(Driver &driver, KernelEvents &handler, const std::atomic<bool> &stop)
{
	while (!stop) {
		try {
			if (auto e = driver.next_event(std::chrono::milliseconds(250)))
				handler.handle(*e);
		} catch (const ModuleUnavailable &) {
			std::this_thread::sleep_for(std::chrono::seconds(1));
		} catch (const std::exception &e) {
			spdlog::error("event loop: {}", e.what());
			std::this_thread::sleep_for(std::chrono::seconds(1));
		}
	}
}

void watchdog_loop(std::uint64_t usec, const std::atomic<bool> &stop)
{
	const auto period = std::chrono::microseconds(usec / 2);
	auto next = std::chrono::steady_clock::now();
	while (!stop) {
		if (std::chrono::steady_clock::now() >= next) {
			sd_notify(0, "WATCHDOG=1");
			next += period;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
}

// SIGTERM and SIGINT, blocked in every thread and taken with sigwait().
const sigset_t &stop_signals()
{
	static const sigset_t set = [] {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGTERM);
		sigaddset(&s, SIGINT);
		return s;
	}();
	return set;
}

int run(const Config &config, Driver &driver)
{
	make_private_dir(config.state_dir);
	make_private_dir(config.diff_dir);
	std::filesystem::create_directories(std::filesystem::path(config.unix_socket).parent_path());

	cbt::Store store(config.state_dir + "/cbt");
	if (!store.previous_run_clean())
		spdlog::warn("previous run did not stop cleanly; change maps of restarted devices need a full read");
	EventHub events;
	Devices devices(driver, store, cbt::SealDir(config.state_dir + "/seal"));
	Snapshots snapshots(config, driver, store, devices, events);
	try {
		devices.reconcile_all();
	} catch (const ModuleUnavailable &e) {
		spdlog::warn("{}", e.what());
	}
	snapshots.adopt();

	UnixPeers peers;
	const std::string token = config.tcp ? first_line(config.tcp->token_file) : "";
	Authenticator auth(peers, config.unix_allowed_uids, token);
	AgentService service(config, driver, store, devices, snapshots, events, auth);

	grpc::EnableDefaultHealthCheckService(true);
	if (config.reflection)
		grpc::reflection::InitProtoReflectionServerBuilderPlugin();
	grpc::ServerBuilder builder;
	int tcp_port = 0;
	if (config.tcp)
		builder.AddListeningPort(config.tcp->listen, tls_credentials(*config.tcp), &tcp_port);
	builder.RegisterService(&service);
	builder.SetMaxReceiveMessageSize(4 << 20);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server || (config.tcp && tcp_port == 0))
		throw std::runtime_error("cannot start the gRPC server" + (config.tcp ? " on " + config.tcp->listen : std::string()));
	server->GetHealthCheckService()->SetServingStatus("bkagent.v1.Agent", true);
	if (config.tcp) {
		// The port actually bound (listen may say :0), for scripts and tests.
		std::ofstream(config.state_dir + "/tcp-port") << tcp_port << '\n';
		spdlog::info("listening on {} (port {}, mTLS + bearer token)", config.tcp->listen, tcp_port);
	}
	UnixListener unix_listener(config.unix_socket, peers);
	unix_listener.start(*server);
	spdlog::info("bkagentd {} ready on {}{}", BK_AGENT_VERSION, config.unix_socket, config.reflection ? " (reflection on)" : "");

	std::atomic<bool> stop{false};
	KernelEvents kernel_events(config, driver, snapshots, events);
	std::thread events_thread(event_loop, std::ref(driver), std::ref(kernel_events), std::cref(stop));
	std::uint64_t watchdog_usec = 0;
	std::thread watchdog;
	if (sd_watchdog_enabled(0, &watchdog_usec) > 0)
		watchdog = std::thread(watchdog_loop, watchdog_usec, std::cref(stop));
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s%s", config.unix_socket.c_str(), config.tcp ? " and TCP" : "");

	int sig = 0;
	sigwait(&stop_signals(), &sig);
	spdlog::info("signal {}: stopping", sig);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: releasing snapshots");
	server->GetHealthCheckService()->SetServingStatus("bkagent.v1.Agent", false);
	unix_listener.stop();
	// Running calls get a grace period; streams see the stop and end.
	service.stop(std::chrono::seconds(5));
	server->Shutdown(std::chrono::system_clock::now());
	stop = true;
	events_thread.join();
	if (watchdog.joinable())
		watchdog.join();
	snapshots.release_all();
	store.mark_clean_shutdown();
	rusage usage{};
	::getrusage(RUSAGE_SELF, &usage);
	spdlog::info("stopped cleanly (peak RSS {} KiB)", usage.ru_maxrss);
	return 0;
}

} // namespace

int daemon_main(int argc, char **argv, std::unique_ptr<Driver> driver)
{
	// First thing: every thread started later inherits the blocked mask.
	pthread_sigmask(SIG_BLOCK, &stop_signals(), nullptr);
	CLI::App app{"bkagentd: the bkagent daemon (gRPC API bkagent.v1 for backup servers and the bkagent CLI)"};
	std::string config_path = "/etc/bkagent/bkagentd.conf";
	bool check_only = false;
	app.add_option("-c,--config", config_path, "configuration file (JSON with // comments)")->capture_default_str();
	app.add_flag("--check-config", check_only, "validate the configuration and exit");
	app.set_version_flag("--version", BK_AGENT_VERSION);
	CLI11_PARSE(app, argc, argv);

	try {
		const bool explicit_config = app.count("--config") > 0;
		const Config config = explicit_config || std::filesystem::exists(config_path) ? Config::load(config_path) : Config{};
		setup_logging(config.log_level);
		if (check_only) {
			std::puts("configuration OK");
			return 0;
		}
		return run(config, *driver);
	} catch (const std::exception &e) {
		spdlog::critical("{}", e.what());
		sd_notifyf(0, "STATUS=failed: %s", e.what());
		return 1;
	}
}

} // namespace bk::agent
