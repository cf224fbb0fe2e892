// Reboots over the fake kernel (a module reload loses every map, as a reboot
// does) with bkagent-seal's own seal and restore (docs/cbt.md, "Clean
// reboots"): a sealed clean stop keeps the chain incremental and exact
// across reboots, one without a seal is UNCLEAN_SHUTDOWN, and a filesystem
// written while the host was down is CBT_RESET, each said by track status.
#include "api_helpers.h"
#include "seal/sealer.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

namespace bk::test {
namespace {

constexpr std::uint64_t disk_size = 16ULL << 20;

// A fake disk holding an ext4 filesystem made before tracking.
Disk ext4_disk(FakeKernel &kernel, const std::string &name)
{
	Disk d = make_disk(kernel, name, disk_size, 12);
	EXPECT_EQ(std::system(("mkfs.ext4 -q -F " + d.path + " >/dev/null 2>&1").c_str()), 0);
	std::ifstream in(d.path, std::ios::binary);
	d.content.assign(std::istreambuf_iterator<char>(in), {});
	return d;
}

struct Reboot {
	std::vector<agent::seal::Outcome> sealed, restored;
};

// Daemon stop, the seal (unless `seal` is false: a crash), the module's
// maps lost, `while_down` (writes behind every tracker's back), the boot's
// restore, daemon start.
Reboot reboot(Daemon &daemon, bool seal, const std::function<void()> &while_down = {})
{
	const cbt::SealDir seals(daemon.dir().path() / "state" / "seal");
	Reboot r;
	daemon.stop();
	if (seal)
		r.sealed = agent::seal::seal_all(daemon.kernel(), seals);
	daemon.kernel().reload();
	if (while_down)
		while_down();
	r.restored = agent::seal::restore_all(daemon.kernel(), seals, std::chrono::milliseconds(0));
	EXPECT_TRUE(seals.devices(cbt::Seal::Kind::seal).empty()) << "a seal serves one boot only";
	daemon.start();
	return r;
}

std::string note_of(v1::Agent::Stub &agent, const std::string &path) { return track(agent, path).chain_note(); }

TEST(AgentSeal, CleanRebootsStayIncrementalAndExact)
{
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(11);
	Disk d = ext4_disk(daemon.kernel(), "s");
	track(*daemon.unix_client(), d.path);
	const v1::Snapshot s1 = snapshot(*daemon.unix_client(), {d.path});
	std::string copy(disk_size, '\0');
	full_copy(*daemon.unix_client(), s1, d.path, copy, 1);
	release(*daemon.unix_client(), s1.id());
	const v1::ChangeToken base = s1.devices(0).token();

	// Two reboots, the second before any snapshot of the first's generation.
	for (int boot = 1; boot <= 2; ++boot) {
		scribble(daemon.kernel(), d, rng, 15);
		const Reboot r = reboot(daemon, true);
		ASSERT_EQ(r.sealed.size(), 1U);
		EXPECT_TRUE(r.sealed[0].ok) << r.sealed[0].what;
		ASSERT_EQ(r.restored.size(), 1U);
		EXPECT_TRUE(r.restored[0].ok) << r.restored[0].what;
		EXPECT_NE(note_of(*daemon.unix_client(), d.path).find("carried over a clean reboot"), std::string::npos);
	}
	scribble(daemon.kernel(), d, rng, 15);
	auto agent = daemon.unix_client();
	const v1::Snapshot s2 = snapshot(*agent, {d.path});
	EXPECT_NE(s2.devices(0).token().generation(), base.generation());
	const std::string at_s2 = d.content;
	scribble(daemon.kernel(), d, rng, 5); // after the take: must not leak in
	apply_incremental(*agent, s2, d.path, base, copy, 1);
	ASSERT_TRUE(copy == at_s2) << "incremental across two reboots differs from the image";
	release(*agent, s2.id());

	// And on from the new generation, through one more reboot.
	scribble(daemon.kernel(), d, rng, 10);
	reboot(daemon, true);
	agent = daemon.unix_client();
	const v1::Snapshot s3 = snapshot(*agent, {d.path});
	const std::string at_s3 = d.content;
	apply_incremental(*agent, s3, d.path, s2.devices(0).token(), copy, 1);
	ASSERT_TRUE(copy == at_s3);
	release(*agent, s3.id());
}

// A fresh tracked ext4 disk, one snapshot, writes, then a reboot (`seal`,
// `while_down` as for reboot()): what the boot's restore did, track status's
// note and how the changes since that snapshot are answered.
struct AfterReboot {
	Reboot reboot;
	std::string note;
	Changes changes;
};
AfterReboot reboot_after_snapshot(Daemon &daemon, const std::string &name, bool seal,
				  const std::function<void(const Disk &, const cbt::SealDir &)> &while_down = {})
{
	std::mt19937_64 rng(name[0]);
	Disk d = ext4_disk(daemon.kernel(), name);
	track(*daemon.unix_client(), d.path);
	const v1::Snapshot s1 = snapshot(*daemon.unix_client(), {d.path});
	release(*daemon.unix_client(), s1.id());
	scribble(daemon.kernel(), d, rng, 10);
	const cbt::SealDir seals(daemon.dir().path() / "state" / "seal");
	AfterReboot out;
	out.reboot = reboot(daemon, seal, [&] {
		if (while_down)
			while_down(d, seals);
	});
	auto agent = daemon.unix_client();
	out.note = note_of(*agent, d.path);
	const v1::Snapshot s2 = snapshot(*agent, {d.path});
	out.changes = changed_extents(*agent, s2.id(), d.path, &s1.devices(0).token());
	release(*agent, s2.id());
	EXPECT_EQ(out.changes.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
	return out;
}

TEST(AgentSeal, RebootWithoutASealIsUncleanShutdown)
{
	Daemon daemon;
	daemon.start();
	const AfterReboot r = reboot_after_snapshot(daemon, "u", false); // the daemon stopped cleanly, the host did not
	EXPECT_TRUE(r.reboot.restored.empty());
	EXPECT_NE(r.note.find("UNCLEAN_SHUTDOWN: no seal at boot"), std::string::npos) << r.note;
	EXPECT_EQ(r.changes.reason, "UNCLEAN_SHUTDOWN");
}

// The root's way (docs/cbt.md, "The root filesystem"): the shutdown hook
// seals only the root, onto the seal device; the initramfs restores it into
// /run; the unit's restore takes the record over for the daemon.
TEST(AgentSeal, RootSealedByTheHookCarriesThroughTheInitramfs)
{
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(5);
	Disk root = ext4_disk(daemon.kernel(), "r");
	Disk data = ext4_disk(daemon.kernel(), "d"); // tracked too: the hook must leave it alone
	auto agent = daemon.unix_client();
	track(*agent, root.path);
	track(*agent, data.path);
	const v1::Snapshot s1 = snapshot(*agent, {root.path});
	std::string copy(disk_size, '\0');
	full_copy(*agent, s1, root.path, copy, 1);
	release(*agent, s1.id());
	scribble(daemon.kernel(), root, rng, 15);

	const cbt::SealDir state(daemon.dir().path() / "state" / "seal");
	const cbt::SealDir device(daemon.dir().path() / "seal-device" / "seal");
	const cbt::SealDir initramfs(daemon.dir().path() / "run" / "seal");
	daemon.stop();
	const auto sealed = agent::seal::seal_all(daemon.kernel(), device, {root.path});
	ASSERT_EQ(sealed.size(), 1U) << "only the root";
	EXPECT_EQ(sealed[0].device, root.path);
	EXPECT_TRUE(sealed[0].ok) << sealed[0].what;
	daemon.kernel().reload();
	// The initramfs: the seal off the device into /run, then restore there.
	std::filesystem::create_directories(initramfs.path());
	const auto file = device.file(root.path, cbt::Seal::Kind::seal);
	std::filesystem::rename(file, initramfs.path() / file.filename());
	ASSERT_EQ(agent::seal::restore_all(daemon.kernel(), initramfs, std::chrono::milliseconds(0)).size(), 1U);
	// The unit: its own restore, then the initramfs's record taken over.
	agent::seal::restore_all(daemon.kernel(), state, std::chrono::milliseconds(0));
	const auto taken = agent::seal::import_records(initramfs, state);
	ASSERT_EQ(taken.size(), 1U);
	EXPECT_NE(taken[0].what.find("(carried)"), std::string::npos) << taken[0].what;
	EXPECT_TRUE(initramfs.devices(cbt::Seal::Kind::carry).empty()) << "moved, not copied";
	EXPECT_TRUE(agent::seal::import_records(device, state).empty()) << "no record on the seal device";
	EXPECT_TRUE(agent::seal::import_records(cbt::SealDir(daemon.dir().path() / "none"), state).empty());
	daemon.start();
	agent = daemon.unix_client();
	EXPECT_NE(note_of(*agent, root.path).find("carried over a clean reboot"), std::string::npos);
	const v1::Snapshot s2 = snapshot(*agent, {root.path});
	const std::string at_s2 = root.content;
	apply_incremental(*agent, s2, root.path, s1.devices(0).token(), copy, 1);
	ASSERT_TRUE(copy == at_s2) << "incremental across the root's reboot differs from the image";
	release(*agent, s2.id());
}

TEST(AgentSeal, FilesystemWrittenWhileDownIsCbtReset)
{
	Daemon daemon;
	daemon.start();
	const AfterReboot r = reboot_after_snapshot(daemon, "w", true, [](const Disk &d, const cbt::SealDir &) {
		// Another system writes the filesystem: the tracker cannot see it.
		ASSERT_EQ(std::system(("debugfs -w -R 'mkdir elsewhere' " + d.path + " >/dev/null 2>&1").c_str()), 0);
	});
	ASSERT_EQ(r.reboot.restored.size(), 1U);
	EXPECT_FALSE(r.reboot.restored[0].ok);
	EXPECT_NE(r.reboot.restored[0].what.find("written since the seal"), std::string::npos) << r.reboot.restored[0].what;
	EXPECT_NE(r.note.find("CBT_RESET: seal rejected at boot"), std::string::npos) << r.note;
	EXPECT_EQ(r.changes.reason, "CBT_RESET");
}

// A damaged seal file is rejected (CBT_RESET), not trusted and not fatal.
TEST(AgentSeal, DamagedSealIsCbtReset)
{
	Daemon daemon;
	daemon.start();
	const AfterReboot r = reboot_after_snapshot(daemon, "x", true, [](const Disk &d, const cbt::SealDir &seals) {
		std::fstream f(seals.file(d.path, cbt::Seal::Kind::seal), std::ios::binary | std::ios::in | std::ios::out);
		f.seekp(100);
		f.put('\x7f');
	});
	ASSERT_EQ(r.reboot.restored.size(), 1U);
	EXPECT_NE(r.reboot.restored[0].what.find("checksum"), std::string::npos) << r.reboot.restored[0].what;
	EXPECT_EQ(r.changes.reason, "CBT_RESET");
}

// Random reboot cycles mixing sealed clean stops, crashes (no seal, daemon
// killed) and clean daemon stops without a seal, with random writes: after
// every sealed one the incremental is exact, after every other one the old
// token is refused as UNCLEAN_SHUTDOWN and a full copy starts over. 8
// cycles (~3 s each on an idle machine); BK_SEAL_CYCLES=N for more.
TEST(AgentSeal, RandomRebootCycles)
{
	const char *env = std::getenv("BK_SEAL_CYCLES");
	const int cycles = env ? std::atoi(env) : 8;
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(15);
	Disk d = ext4_disk(daemon.kernel(), "r");
	track(*daemon.unix_client(), d.path);
	std::string copy(disk_size, '\0');
	v1::Snapshot s = snapshot(*daemon.unix_client(), {d.path});
	full_copy(*daemon.unix_client(), s, d.path, copy, 1);
	release(*daemon.unix_client(), s.id());
	v1::ChangeToken base = s.devices(0).token();
	int incrementals = 0, fulls = 0;
	const cbt::SealDir seals(daemon.dir().path() / "state" / "seal");
	for (int cycle = 0; cycle < cycles; ++cycle) {
		scribble(daemon.kernel(), d, rng, 1 + static_cast<int>(rng() % 20));
		const unsigned stop = rng() % 3; // 0: sealed, 1: crash, 2: clean daemon stop, no seal
		if (stop == 1)
			daemon.kill9();
		else
			daemon.stop();
		if (stop == 0)
			agent::seal::seal_all(daemon.kernel(), seals);
		daemon.kernel().reload();
		agent::seal::restore_all(daemon.kernel(), seals, std::chrono::milliseconds(0));
		daemon.start();
		auto agent = daemon.unix_client();
		track(*agent, d.path);
		scribble(daemon.kernel(), d, rng, static_cast<int>(rng() % 10));
		s = snapshot(*agent, {d.path});
		const std::string now = d.content;
		if (stop == 0) {
			apply_incremental(*agent, s, d.path, base, copy, 1);
			ASSERT_TRUE(copy == now) << "cycle " << cycle << ": wrong incremental after a sealed reboot";
			++incrementals;
		} else {
			const Changes ch = changed_extents(*agent, s.id(), d.path, &base);
			ASSERT_EQ(ch.reason, "UNCLEAN_SHUTDOWN") << "cycle " << cycle << ": an unsealed reboot must be detected";
			full_copy(*agent, s, d.path, copy, 1);
			ASSERT_TRUE(copy == now);
			++fulls;
		}
		release(*agent, s.id());
		base = s.devices(0).token();
	}
	EXPECT_GT(incrementals, 0);
	EXPECT_GT(fulls, 0);
}

} // namespace
} // namespace bk::test
