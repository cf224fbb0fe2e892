// `bkagent serve` end to end: the real CLI execs the real nbdkit with the bkagent
// plugin; real NBD clients read it (libnbd from 8 threads, nbdcopy, nbdinfo, qemu-img,
// qemu-io). The export of every point must equal `bkagent restore` of that point.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "../agent/api_helpers.h"
#include "bk/storage/error.hpp"
#include "cli_run.h"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

struct Output {
	int code = -1;
	std::string out;
};

// Runs a shell command with the CLI's environment; stdout is captured.
Output shell(const std::string &cmd)
{
	Output r;
	FILE *p = ::popen(cmd.c_str(), "r");
	if (!p)
		return r;
	char buf[4096];
	for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
		r.out.append(buf, n);
	const int status = ::pclose(p);
	r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

std::string quoted(const std::string &s) { return "'" + s + "'"; }

std::string text_of(const fs::path &path)
{
	std::ifstream in(path);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One NBD connection through libnbd.
class Nbd {
public:
	explicit Nbd(const std::string &uri) : h_(nbd_create())
	{
		if (!h_ || nbd_connect_uri(h_, uri.c_str()) == -1)
			throw std::runtime_error(std::string("nbd connect: ") + nbd_get_error());
	}
	~Nbd() { nbd_close(h_); }
	Nbd(const Nbd &) = delete;
	Nbd &operator=(const Nbd &) = delete;

	std::int64_t size() { return nbd_get_size(h_); }
	// 0 on success, else the errno the server sent.
	int pread(std::vector<std::uint8_t> &buf, std::uint64_t offset)
	{
		return nbd_pread(h_, buf.data(), buf.size(), offset, 0) == 0 ? 0 : nbd_get_errno();
	}
	int pwrite(const std::vector<std::uint8_t> &buf, std::uint64_t offset)
	{
		return nbd_pwrite(h_, buf.data(), buf.size(), offset, 0) == 0 ? 0 : nbd_get_errno();
	}
	bool read_only() { return nbd_is_read_only(h_) == 1; }

private:
	nbd_handle *h_;
};

class ServeTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		::setenv("BKAGENT_PASSPHRASE", kPass, 1);
		::setenv("BKAGENT_NBDKIT_PLUGIN", BK_NBDKIT_PLUGIN, 1);
		repo_dir_ = dir_ / "repo";
		Repository repo = Repository::init(repo_dir_, small_repo_options());
		std::mt19937_64 rng(31);
		// Zero runs at the start, middle and end; a ragged last chunk.
		image_ = make_image(Fill::random, 50 * kChunk + 3000, rng);
		for (std::uint64_t c : {0, 1, 2, 10, 11, 12, 13, 30, 49})
			std::fill_n(image_.begin() + static_cast<std::ptrdiff_t>(c * kChunk), kChunk, 0);
		full_ = backup_image(repo, dir_ / "src", image_, "vdb").id;
		incremental_image_ = image_;
		auto changed = mutate(incremental_image_, 8, rng);
		incremental_ = backup_image(repo, dir_ / "src", incremental_image_, "vdb", full_, &changed).id;
	}

	void TearDown() override { stop(); }

	std::string cli(const std::string &args) const { return std::string(BK_CLI) + " --json " + args; }

	// `bkagent serve` in the foreground, up once its pid file exists; on a new socket
	// unless told which.
	std::string serve(const std::string &point, const std::string &extra = "", fs::path sock = {})
	{
		if (sock.empty())
			sock = dir_ / ("s" + std::to_string(++servers_));
		const fs::path pid = dir_ / "pid";
		fs::remove(pid);
		server_ = ::fork();
		if (server_ == 0) {
			const std::string cmd = "exec " +
						cli("serve " + point + " --repo " + quoted(repo_dir_) + " --listen unix:" + quoted(sock) +
						    " --pid-file " + quoted(pid) + " " + extra) +
						" > " + quoted(dir_ / "serve.out");
			::execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
			::_exit(127);
		}
		for (int i = 0; i < 400 && !fs::exists(pid); ++i) {
			std::this_thread::sleep_for(std::chrono::milliseconds(25));
			if (::waitpid(server_, nullptr, WNOHANG) == server_) {
				server_ = -1;
				throw std::runtime_error("bkagent serve exited early: " + text_of(dir_ / "serve.out"));
			}
		}
		if (!fs::exists(pid))
			throw std::runtime_error("bkagent serve did not become ready");
		const auto printed = nlohmann::json::parse(text_of(dir_ / "serve.out"));
		const std::string uri = "nbd+unix:///?socket=" + sock.string();
		EXPECT_EQ(printed["uri"], uri);
		return uri;
	}

	void stop()
	{
		if (server_ <= 0)
			return;
		// nbdkit exits on SIGTERM once its clients have gone: the tests close theirs
		// first, and a hang here is a failure rather than a stuck test.
		::kill(server_, SIGTERM);
		bool exited = false;
		for (int i = 0; i < 200 && !exited; ++i) {
			exited = ::waitpid(server_, nullptr, WNOHANG) == server_;
			if (!exited)
				std::this_thread::sleep_for(std::chrono::milliseconds(25));
		}
		if (!exited) {
			ADD_FAILURE() << "nbdkit did not exit on SIGTERM";
			::kill(server_, SIGKILL);
			::waitpid(server_, nullptr, 0);
		}
		server_ = -1;
	}

	std::string restored(const std::string &point) const
	{
		const fs::path out = dir_ / ("restore-" + point);
		EXPECT_EQ(shell(cli("restore " + point + " " + quoted(out) + " --repo " + quoted(repo_dir_))).code, 0);
		return out;
	}

	ScratchDir dir_;
	fs::path repo_dir_;
	std::vector<std::uint8_t> image_, incremental_image_;
	std::string full_, incremental_;
	pid_t server_ = -1;
	int servers_ = 0;
};

TEST_F(ServeTest, ExportsOfFullAndIncrementalPointsEqualRestore)
{
	for (const std::string &point : {full_, incremental_}) {
		const std::string restore = restored(point);
		const std::string uri = serve(point.substr(0, 6)); // a unique prefix serves too
		const fs::path copy = dir_ / "copy";
		ASSERT_EQ(shell("nbdcopy " + quoted(uri) + " " + quoted(copy)).code, 0);
		EXPECT_EQ(sha256_file(copy), sha256_file(restore)) << point;
		EXPECT_EQ(sha256_file(copy), sha256(point == full_ ? image_ : incremental_image_));
		EXPECT_EQ(shell("qemu-img compare -q -f raw -F raw " + quoted(restore) + " " + quoted(uri)).code, 0);
		{
			Nbd nbd(uri);
			EXPECT_TRUE(nbd.read_only());
			EXPECT_NE(nbd.pwrite(std::vector<std::uint8_t>(512, 1), 0), 0);
		}
		// The passphrase reached nbdkit through a descriptor: not in its argv or environment.
		const std::string proc = "/proc/" + std::to_string(server_) + "/";
		const std::string cmdline = text_of(proc + "cmdline");
		EXPECT_NE(cmdline.find("nbdkit"), std::string::npos);
		EXPECT_EQ(cmdline.find(kPass), std::string::npos);
		EXPECT_EQ(text_of(proc + "environ").find(kPass), std::string::npos);
		stop();
	}
}

TEST_F(ServeTest, MapShowsTheZeroChunksAsHoles)
{
	const std::string uri = serve(full_);
	const Output map = shell("nbdinfo --map --json " + quoted(uri));
	ASSERT_EQ(map.code, 0);
	std::vector<std::pair<std::uint64_t, std::uint64_t>> holes; // offset, length of type 3
	std::uint64_t covered = 0;
	for (const auto &e : nlohmann::json::parse(map.out)) {
		EXPECT_EQ(e["offset"].get<std::uint64_t>(), covered);
		covered += e["length"].get<std::uint64_t>();
		if (e["type"] == 3)
			holes.emplace_back(e["offset"].get<std::uint64_t>(), e["length"].get<std::uint64_t>());
		else
			EXPECT_EQ(e["type"], 0);
	}
	EXPECT_EQ(covered, image_.size());
	const std::vector<std::pair<std::uint64_t, std::uint64_t>> want = {
		{0, 3 * kChunk}, {10 * kChunk, 4 * kChunk}, {30 * kChunk, kChunk}, {49 * kChunk, kChunk}};
	EXPECT_EQ(holes, want);
}

TEST_F(ServeTest, EightParallelReadersGetTheirRanges)
{
	const std::string uri = serve(incremental_, "--cache-mib 1"); // 16 chunks for 8 readers
	std::atomic<int> wrong{0}, failed{0};
	std::vector<std::thread> readers;
	for (int t = 0; t < 8; ++t)
		readers.emplace_back([&, t] {
			std::mt19937_64 rng(200 + t);
			try {
				Nbd nbd(uri);
				for (int i = 0; i < 150; ++i) {
					const std::uint64_t offset = rng() % incremental_image_.size();
					std::vector<std::uint8_t> buf(
						std::min<std::uint64_t>(incremental_image_.size() - offset, 1 + rng() % (4 * kChunk)));
					if (nbd.pread(buf, offset) != 0)
						++failed;
					else if (!std::equal(buf.begin(), buf.end(),
							     incremental_image_.begin() + static_cast<std::ptrdiff_t>(offset)))
						++wrong;
				}
			} catch (const std::exception &) {
				++failed;
			}
		});
	for (auto &r : readers)
		r.join();
	EXPECT_EQ(failed, 0);
	EXPECT_EQ(wrong, 0);
}

TEST_F(ServeTest, ACorruptPackFailsReadsOfItsChunksWithEioOnly)
{
	std::vector<fs::path> packs;
	for (const auto &e : fs::recursive_directory_iterator(repo_dir_ / "packs"))
		if (e.is_regular_file())
			packs.push_back(e.path());
	ASSERT_FALSE(packs.empty());
	std::sort(packs.begin(), packs.end());
	auto bytes = read_file(packs.front());
	bytes[bytes.size() / 3] ^= 0x01; // inside one chunk record
	write_file(packs.front(), bytes);

	const Repository repo = Repository::open(repo_dir_, kPass);
	int damaged = 0;
	for (const auto &[point, image] : {std::pair(full_, image_), std::pair(incremental_, incremental_image_)}) {
		// The chunks the library refuses are exactly the ones NBD reads fail with EIO.
		const PointReader reader = repo.open_point(point);
		const std::string uri = serve(point);
		{
			Nbd nbd(uri);
			for (std::uint64_t c = 0; c * kChunk < image.size(); ++c) {
				std::vector<std::uint8_t> buf(std::min<std::uint64_t>(kChunk, image.size() - c * kChunk));
				bool corrupt = false;
				try {
					reader.read(c * kChunk, buf);
				} catch (const Error &) {
					corrupt = true;
				}
				damaged += corrupt;
				const int err = nbd.pread(buf, c * kChunk);
				EXPECT_EQ(err, corrupt ? EIO : 0) << point << " chunk " << c;
				if (!corrupt) {
					EXPECT_TRUE(
						std::equal(buf.begin(), buf.end(), image.begin() + static_cast<std::ptrdiff_t>(c * kChunk)))
						<< point << " chunk " << c;
				}
			}
		}
		stop();
	}
	EXPECT_GE(damaged, 1);
}

TEST_F(ServeTest, RefusesUnknownPointWrongPassphraseAndExistingTargets)
{
	const std::string repo = " --repo " + quoted(repo_dir_);
	const fs::path sock = dir_ / "taken.sock";
	EXPECT_EQ(shell(cli("serve 0123456789abcdef" + repo + " --listen unix:" + quoted(sock))).code, 4);
	EXPECT_EQ(shell("BKAGENT_PASSPHRASE=wrong " + cli("serve " + full_ + repo + " --listen unix:" + quoted(sock))).code, 6);
	write_file(sock, {});
	const Output taken = shell(cli("serve " + full_ + repo + " --listen unix:" + quoted(sock) + " 2>&1"));
	EXPECT_EQ(taken.code, 7);
	EXPECT_NE(taken.out.find("already exists"), std::string::npos) << taken.out;
	// A port in use is refused before nbdkit starts.
	const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof addr;
	ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
	ASSERT_EQ(::listen(fd, 1), 0);
	ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len), 0);
	const Output busy = shell(cli("serve " + full_ + repo + " --listen 127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + " 2>&1"));
	::close(fd);
	EXPECT_EQ(busy.code, 7);
	EXPECT_NE(busy.out.find("in use"), std::string::npos) << busy.out;
}

// `bkagent mount`, `umount` and `restore --files` refuse before touching any device; the
// mounts themselves run in the VM (vm_repo_mount): this host has no nbd.
TEST_F(ServeTest, MountRefusesUnknownPointWrongPassphraseMountedTargetAndNoNbd)
{
	const std::string repo = " --repo " + quoted(repo_dir_);
	const fs::path dir = dir_ / "mnt";
	fs::create_directories(dir);
	EXPECT_EQ(shell(cli("mount 0123456789abcdef " + quoted(dir) + repo)).code, 4);
	EXPECT_EQ(shell("BKAGENT_PASSPHRASE=wrong " + cli("mount " + full_ + " " + quoted(dir) + repo)).code, 6);
	EXPECT_EQ(shell(cli("mount " + full_ + " " + quoted(dir_ / "absent") + repo)).code, 4);
	const Output mounted = shell(cli("mount " + full_ + " /" + repo));
	EXPECT_EQ(mounted.code, 5);
	EXPECT_NE(mounted.out.find("already a mount point"), std::string::npos) << mounted.out;
	EXPECT_EQ(shell(cli("umount " + quoted(dir))).code, 4);
	EXPECT_EQ(shell(cli("restore " + full_ + " --files etc/fstab" + repo)).code, 2); // no --to
	EXPECT_EQ(shell(cli("restore " + full_ + " --files ../etc --to " + quoted(dir) + repo)).code, 7);
	EXPECT_EQ(shell(cli("restore " + full_ + repo)).code, 7); // neither a target nor --files

	if (fs::exists("/sys/block/nbd0") || shell("modprobe -n -q nbd").code == 0)
		GTEST_SKIP() << "this kernel has nbd: the refusal below needs one without";
	for (const std::string &cmd :
	     {"mount " + full_ + " " + quoted(dir), "restore " + full_ + " --files etc --to " + quoted(dir_ / "out")}) {
		const Output no_nbd = shell(cli(cmd + repo));
		EXPECT_EQ(no_nbd.code, 5) << cmd;
		EXPECT_NE(no_nbd.out.find("modprobe nbd"), std::string::npos) << no_nbd.out;
	}
	EXPECT_TRUE(fs::is_empty(dir));
	EXPECT_FALSE(fs::exists("/run/bkagent/mounts") && !fs::is_empty("/run/bkagent/mounts"));
}

TEST_F(ServeTest, WritesGoToOverlaysNeverToTheRepository)
{
	const std::vector<std::uint8_t> ones(2 * kChunk, 0x5a);
	{
		Nbd nbd(serve(full_, "--writable")); // nbdkit's cow filter
		EXPECT_FALSE(nbd.read_only());
		EXPECT_EQ(nbd.pwrite(ones, 5 * kChunk + 100), 0);
		std::vector<std::uint8_t> back(ones.size());
		EXPECT_EQ(nbd.pread(back, 5 * kChunk + 100), 0);
		EXPECT_EQ(back, ones);
	}
	stop();
	// A qcow2 overlay: the VM's view lives in the file, the export stays the point.
	const fs::path overlay = dir_ / "vm.qcow2";
	const std::string uri = serve(full_, "--writable-overlay " + quoted(overlay));
	EXPECT_EQ(shell("qemu-io -f qcow2 -c 'write -P 0x5a 65536 131072' " + quoted(overlay) + " >/dev/null").code, 0);
	EXPECT_EQ(shell("qemu-io -f qcow2 -c 'read -P 0x5a 65536 131072' " + quoted(overlay) + " | grep -q 'read 131072'").code, 0);
	EXPECT_NE(shell("qemu-img compare -q -f qcow2 -F raw " + quoted(overlay) + " " + quoted(uri)).code, 0);
	const fs::path copy = dir_ / "copy";
	ASSERT_EQ(shell("nbdcopy " + quoted(uri) + " " + quoted(copy)).code, 0);
	EXPECT_EQ(sha256_file(copy), sha256(image_));
	stop();
	// Serving again refuses to replace the overlay.
	EXPECT_EQ(shell(cli("serve " + full_ + " --repo " + quoted(repo_dir_) + " --listen unix:" + quoted(dir_ / "other.sock") +
			    " --writable-overlay " + quoted(overlay)))
			  .code,
		  7);
	EXPECT_TRUE(Repository::open(repo_dir_, kPass).verify().ok());
	EXPECT_EQ(sha256_file(restored(full_)), sha256(image_));
}

TEST_F(ServeTest, TlsPskAndDaemonMode)
{
	const fs::path psk = dir_ / "keys.psk";
	{
		std::ofstream(psk) << "alice:000102030405060708090a0b0c0d0e0f\n";
	}
	const fs::path sock = dir_ / "tls.sock", pid = dir_ / "daemon.pid";
	ASSERT_EQ(shell(cli("serve " + full_ + " --repo " + quoted(repo_dir_) + " --listen unix:" + quoted(sock) + " --tls-psk " +
			    quoted(psk) + " --daemon --pid-file " + quoted(pid) + " >/dev/null"))
			  .code,
		  0);
	for (int i = 0; i < 400 && !fs::exists(pid); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(25));
	ASSERT_TRUE(fs::exists(pid));
	const pid_t daemon = std::stoi(text_of(pid));
	const std::string tls_uri = "nbds+unix://alice@/?socket=" + sock.string() + "&tls-psk-file=" + psk.string();
	const Output size = shell("nbdinfo --size " + quoted(tls_uri));
	EXPECT_EQ(size.code, 0);
	EXPECT_EQ(size.out, std::to_string(image_.size()) + "\n");
	EXPECT_NE(shell("nbdinfo --size " + quoted("nbd+unix:///?socket=" + sock.string()) + " 2>/dev/null").code, 0);
	::kill(daemon, SIGTERM);
}

// Every file of a directory tree and its sha256.
std::map<std::string, std::string> file_sums(const fs::path &dir)
{
	std::map<std::string, std::string> sums;
	for (const auto &e : fs::recursive_directory_iterator(dir))
		if (e.is_regular_file())
			sums[fs::relative(e.path(), dir)] = sha256_file(e.path());
	return sums;
}

// A busybox root filesystem image (mkfs.ext4 -d: no loop device) whose /sbin/init is
// instant/root-init.sh: it prints the token and the sha256 of /data, writes
// /root/written-at-boot and powers off.
std::vector<std::uint8_t> root_filesystem(const fs::path &dir, const std::string &token, const std::vector<std::uint8_t> &data)
{
	const fs::path root = dir / "root";
	for (const char *d : {"bin", "sbin", "etc", "proc", "dev", "root"})
		fs::create_directories(root / d);
	fs::copy_file("/bin/busybox", root / "bin/busybox"); // static: the root needs no libc
	std::istringstream applets(shell("/bin/busybox --list").out);
	for (std::string name; std::getline(applets, name);)
		if (name != "busybox")
			fs::create_symlink("busybox", root / "bin" / name);
	fs::copy_file(BK_INSTANT_DIR "/root-init.sh", root / "sbin/init");
	fs::permissions(root / "sbin/init", fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
	std::ofstream(root / "etc/bk-token") << token << "\n";
	write_file(root / "data", data);
	const fs::path image = dir / "rootfs.img";
	if (shell("mkfs.ext4 -q -F -d " + quoted(root) + " " + quoted(image) + " 24M").code != 0)
		throw std::runtime_error("mkfs.ext4 -d failed");
	return read_file(image);
}

// Instant recovery: a point of a disk that holds a root filesystem boots in QEMU on this
// host. Debian's kernel, root on the export through QEMU's own NBD client (the qcow2 that
// --writable-overlay creates is backed by the NBD URI), TCG. The guest reads the point,
// writes a file and powers off: the file is in the overlay, not in the point, and the
// repository is unchanged and verifies. The disk is backed up as a user's is: the real
// daemon (with the FakeKernel driver) and `bkagent backup`.
TEST_F(ServeTest, InstantRecoveryBootsAPointWithWritesInTheOverlay)
{
	std::mt19937_64 rng(41);
	const std::string token = std::to_string(rng());
	const std::vector<std::uint8_t> data = make_image(Fill::random, 3 << 20, rng);
	const std::vector<std::uint8_t> image = root_filesystem(dir_.path(), token, data);
	std::string point;
	{
		bk::test::Daemon daemon;
		daemon.start();
		const bk::test::Disk disk = bk::test::make_disk(daemon.kernel(), "vdr", image.size(), 12);
		bk::test::track(*daemon.unix_client(), disk.path);
		daemon.kernel().write(disk.path, 0, std::string(image.begin(), image.end()));
		const bk::test::CliRun backup = bk::test::run_cli(daemon.socket(), {"backup", disk.path, "--repo", repo_dir_});
		ASSERT_EQ(backup.code, 0) << backup.out;
		point = backup.json()["points"][0]["id"];
	}
	const auto repo_before = file_sums(repo_dir_);

	const fs::path initramfs = dir_ / "initramfs.cpio";
	Output kernel = shell("/usr/bin/python3 " BK_VM_DIR "/bkvm/boot_assets.py " BK_VM_CACHE " " BK_INSTANT_DIR "/initramfs-init.sh " +
			      quoted(initramfs) + " virtio_pci virtio_blk ext4 crc32c_generic");
	ASSERT_EQ(kernel.code, 0);
	kernel.out.pop_back(); // the newline
	const fs::path vmlinux = kernel.out;

	const fs::path overlay = dir_ / "boot.qcow2", sock = dir_ / "boot.sock";
	const std::string uri = serve(point, "--writable-overlay " + quoted(overlay), sock);
	// A live export's socket is refused (a stopped one's is replaced: below).
	EXPECT_EQ(shell(cli("serve " + point + " --repo " + quoted(repo_dir_) + " --listen unix:" + quoted(sock) + " >/dev/null")).code, 7);
	// What docs/admin.md tells a user to run, but the kernel and initramfs (a real disk's
	// bootloader finds its own) and TCG, one vCPU.
	const auto started = std::chrono::steady_clock::now();
	const Output console = shell("timeout 300 qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 256 -nodefaults -display none "
				     "-no-reboot -serial stdio -kernel " +
				     quoted(vmlinux) + " -initrd " + quoted(initramfs) +
				     " -append 'console=ttyS0 quiet panic=-1 root=/dev/vda' -drive file=" + quoted(overlay) +
				     ",format=qcow2,if=virtio </dev/null 2>&1");
	std::cout << "guest ran " << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s\n";
	EXPECT_EQ(console.code, 0) << console.out;
	EXPECT_NE(console.out.find("BK_INSTANT_SHELL " + token), std::string::npos) << console.out;
	EXPECT_NE(console.out.find("BK_INSTANT_SHA256 " + sha256(data)), std::string::npos) << console.out;
	EXPECT_NE(console.out.find("BK_INSTANT_WRITTEN"), std::string::npos) << console.out;
	stop();

	// The overlay keeps the guest's write: serve the point again at the same URI (nbdkit
	// left its socket behind) and read the filesystem the guest left (remounted
	// read-only before power-off: clean).
	EXPECT_EQ(serve(point, "", sock), uri);
	const fs::path booted = dir_ / "booted.img";
	ASSERT_EQ(shell("qemu-img convert -f qcow2 -O raw " + quoted(overlay) + " " + quoted(booted)).code, 0);
	stop();
	auto debugfs_cat = [](const fs::path &img, const std::string &file) {
		return shell("debugfs -R 'cat " + file + "' " + quoted(img) + " 2>/dev/null").out;
	};
	EXPECT_EQ(shell("e2fsck -fn " + quoted(booted) + " >/dev/null 2>&1").code, 0);
	EXPECT_EQ(debugfs_cat(booted, "/root/written-at-boot"), "written at boot: " + token + "\n");
	// The point is the image that was backed up, without the file.
	const fs::path restore = restored(point);
	EXPECT_EQ(sha256_file(restore), sha256(image));
	EXPECT_EQ(debugfs_cat(restore, "/root/written-at-boot"), "");
	EXPECT_EQ(debugfs_cat(restore, "/etc/bk-token"), token + "\n");

	EXPECT_EQ(file_sums(repo_dir_), repo_before) << "the repository was written";
	const Output verify = shell(cli("verify --repo " + quoted(repo_dir_)));
	EXPECT_EQ(verify.code, 0) << verify.out;
}

} // namespace
} // namespace bk::storage::test
