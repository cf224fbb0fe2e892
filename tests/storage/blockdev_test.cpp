// Restore onto a real block device (a loop device): zero chunks must be written, the
// device must be large enough, and --only-differences must write only what differs.
// Skipped where loop devices cannot be set up (not root, no loop driver).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

// A loop device over a file, detached on destruction.
class LoopDevice {
public:
	static std::optional<std::string> attach(const fs::path &file)
	{
		std::string cmd = "losetup -f --show " + file.string() + " 2>/dev/null";
		FILE *p = ::popen(cmd.c_str(), "r");
		if (!p)
			return std::nullopt;
		char buf[64] = {};
		bool ok = std::fgets(buf, sizeof buf, p) != nullptr;
		int rc = ::pclose(p);
		std::string dev(buf);
		if (!ok || rc != 0 || dev.empty())
			return std::nullopt;
		dev.pop_back(); // newline
		return dev;
	}
	explicit LoopDevice(std::string dev) : dev_(std::move(dev)) {}
	// Best effort (the packages' _FORTIFY_SOURCE marks system() warn_unused_result,
	// which a (void) cast does not silence).
	~LoopDevice() { [[maybe_unused]] const int rc = std::system(("losetup -d " + dev_).c_str()); }
	LoopDevice(const LoopDevice &) = delete;
	LoopDevice &operator=(const LoopDevice &) = delete;
	const std::string &path() const { return dev_; }

private:
	std::string dev_;
};

TEST(BlockDevice, RestoreWritesZerosAndOnlyDifferences)
{
	ScratchDir dir;
	std::mt19937_64 rng(31);
	const std::size_t dev_size = 24 * kChunk;
	write_file(dir / "backing", make_image(Fill::random, dev_size, rng)); // stale garbage
	auto dev = LoopDevice::attach(dir / "backing");
	if (!dev)
		GTEST_SKIP() << "no loop device available";
	LoopDevice loop(*dev);

	Repository repo = Repository::init(dir / "repo", small_repo_options());
	auto image = make_image(Fill::sparse, 20 * kChunk + 512, rng);
	PointInfo p = backup_image(repo, dir / "src", image, "d");
	RestoreStats s = repo.restore(p.id, loop.path());
	EXPECT_EQ(s.bytes_written, image.size()) << "zero chunks are written on a device";
	auto on_device = read_file(loop.path());
	on_device.resize(image.size());
	EXPECT_EQ(sha256(on_device), sha256(image));

	// Change a little on the device; only those chunks are rewritten.
	auto drifted = image;
	std::vector<std::uint64_t> touched = mutate(drifted, 2, rng);
	drifted.resize(dev_size);
	write_file(loop.path(), drifted);
	RestoreOptions opt;
	opt.only_differences = true;
	s = repo.restore(p.id, loop.path(), opt);
	EXPECT_LE(s.chunks_written, touched.size());
	EXPECT_GE(s.chunks_written, 1u);
	on_device = read_file(loop.path());
	on_device.resize(image.size());
	EXPECT_EQ(sha256(on_device), sha256(image));

	{ // a claimed device (mounted, or held exclusively as here) is refused
		int holder = ::open(loop.path().c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
		ASSERT_GE(holder, 0);
		EXPECT_THROW(repo.restore(p.id, loop.path()), Error);
		::close(holder);
	}

	PointInfo big = backup_image(repo, dir / "src", make_image(Fill::text, dev_size + 1, rng), "big");
	try {
		repo.restore(big.id, loop.path());
		ADD_FAILURE() << "restored onto a device smaller than the point";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::invalid_argument);
	}
}

} // namespace
} // namespace bk::storage::test
