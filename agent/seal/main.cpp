// bkagent-seal seal | restore: run by bkagent-seal.service at shutdown (after
// the data filesystems are unmounted) and at boot (before they are mounted).
#include "driver/kernel_driver.h"
#include "seal/sealer.h"

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {

int report(const std::vector<bk::agent::seal::Outcome> &outcomes)
{
	for (const auto &o : outcomes)
		std::printf("%s: %s\n", o.device.c_str(), o.what.c_str());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app("Carry the change maps of tracked devices over a clean reboot (docs/cbt.md)");
	app.require_subcommand(1);
	std::string state_dir = "/var/lib/bkagent";
	app.add_option("--state-dir", state_dir, "bkagentd's state_dir")->capture_default_str();
	auto *seal = app.add_subcommand("seal", "At shutdown: save the maps of the devices nothing can write any more");
	auto *restore = app.add_subcommand("restore", "At boot: attach the sealed devices, check and hand their seals to bkagentd");
	std::vector<std::string> only;
	seal->add_option("--device", only, "seal only this tracked device (repeatable; the root, by the shutdown hook)");
	double wait = 10;
	restore->add_option("--wait", wait, "seconds to wait for a sealed device to appear")->capture_default_str();
	std::string from = "/run/bkagent-seal";
	restore->add_option("--from", from, "take over the records a restore in the initramfs left in this state dir (the root's)")
		->capture_default_str();
	CLI11_PARSE(app, argc, argv);
	try {
		const bk::cbt::SealDir seals(std::filesystem::path(state_dir) / "seal");
		bk::agent::KernelDriver driver;
		if (seal->parsed())
			return report(bk::agent::seal::seal_all(driver, seals, only));
		report(bk::agent::seal::restore_all(driver, seals, std::chrono::milliseconds(static_cast<long>(wait * 1000))));
		if (std::filesystem::path(from) != std::filesystem::path(state_dir))
			report(bk::agent::seal::import_records(bk::cbt::SealDir(std::filesystem::path(from) / "seal"), seals));
		return 0;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "bkagent-seal: %s\n", e.what());
		return 1;
	}
}
