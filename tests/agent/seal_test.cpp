// Seal records and their validation (docs/cbt.md, "Clean reboots"): every
// damage is refused, every change of the device found at boot is named, and
// the filesystem fingerprint sees what ext4 and xfs record of their writes
// (real mkfs and debugfs images).
#include "bk/cbt/seal.h"
#include "bk/util/crc32c.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

namespace {

using bk::cbt::decode_seal;
using bk::cbt::encode_seal;
using bk::cbt::Seal;
using bk::cbt::SealDir;
using bk::cbt::SealError;
namespace fs = std::filesystem;

Seal sample()
{
	Seal s;
	s.device = {"/dev/vdb", "disk1", 64 << 20, 12, 16384, {"ext", std::string(1024, 'x')}};
	s.sealed.generation.fill(7);
	s.sealed.sequence = 9;
	s.map.resize(s.device.block_count);
	std::mt19937 rng(1);
	for (auto &b : s.map)
		b = static_cast<std::uint8_t>(rng() % 10);
	return s;
}

TEST(Seal, RoundTrips)
{
	const Seal s = sample();
	const Seal back = decode_seal(encode_seal(s));
	EXPECT_EQ(back.kind, s.kind);
	EXPECT_EQ(back.device, s.device);
	EXPECT_EQ(back.sealed, s.sealed);
	EXPECT_EQ(back.map, s.map);

	Seal r = s;
	r.kind = Seal::Kind::rejected;
	r.map.clear();
	r.successor.fill(3);
	r.why = "size changed";
	const Seal rb = decode_seal(encode_seal(r));
	EXPECT_EQ(rb.why, r.why);
	EXPECT_EQ(rb.successor, r.successor);
	EXPECT_TRUE(rb.map.empty());
}

TEST(Seal, TruncatedIsRefused)
{
	const std::string bytes = encode_seal(sample());
	for (std::size_t n : {std::size_t{0}, std::size_t{7}, std::size_t{12}, std::size_t{100}, bytes.size() / 2, bytes.size() - 1})
		EXPECT_THROW(decode_seal(std::string_view(bytes).substr(0, n)), SealError) << n;
}

TEST(Seal, EveryFlippedByteIsRefused)
{
	Seal s = sample();
	s.map.resize(64);
	s.device.block_count = 64;
	const std::string bytes = encode_seal(s);
	for (std::size_t i = 0; i < bytes.size(); ++i) {
		std::string bad = bytes;
		bad[i] = static_cast<char>(bad[i] ^ 0x10);
		EXPECT_THROW(decode_seal(bad), SealError) << "byte " << i;
	}
}

// Re-sealed with a valid checksum: what the format checks beyond it.
std::string with_crc(std::string bytes)
{
	bytes.resize(bytes.size() - 4);
	const std::uint32_t crc = bk::util::crc32c(0, bytes.data(), bytes.size());
	bytes.append(reinterpret_cast<const char *>(&crc), 4);
	return bytes;
}

TEST(Seal, WrongVersionIsRefused)
{
	std::string bytes = encode_seal(sample());
	bytes[8] = 2; // the version follows the 8-byte magic
	try {
		decode_seal(with_crc(bytes));
		FAIL() << "version 2 accepted";
	} catch (const SealError &e) {
		EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
	}
}

TEST(Seal, MapOfAnotherSizeIsRefused)
{
	Seal s = sample();
	s.map.pop_back();
	EXPECT_THROW(decode_seal(encode_seal(s)), SealError);
}

TEST(Seal, MismatchNamesWhatChanged)
{
	const Seal s = sample();
	EXPECT_EQ(bk::cbt::seal_mismatch(s.device, s.device), std::nullopt);
	auto changed = [&](auto edit) {
		bk::cbt::DeviceState now = s.device;
		edit(now);
		return bk::cbt::seal_mismatch(s.device, now).value_or("");
	};
	EXPECT_NE(changed([](auto &d) { d.serial = "disk2"; }).find("serial"), std::string::npos);
	EXPECT_NE(changed([](auto &d) { d.path = "/dev/vdc"; }).find("/dev/vdc"), std::string::npos);
	EXPECT_NE(changed([](auto &d) { d.size_bytes += 4096; }).find("size"), std::string::npos);
	EXPECT_NE(changed([](auto &d) { d.block_shift = 13; }).find("geometry"), std::string::npos);
	EXPECT_NE(changed([](auto &d) { d.fs.kind = "xfs"; }).find("filesystem changed"), std::string::npos);
	// Stale: the filesystem recorded a mount or a write since the seal.
	EXPECT_NE(changed([](auto &d) { d.fs.bytes[100] = 'y'; }).find("written since the seal"), std::string::npos);
}

TEST(SealDir, RecordsAreNamedByDeviceAndSurviveReopen)
{
	bk::test::TempDir dir;
	const SealDir seals(dir.path() / "seal");
	Seal s = sample();
	seals.write(s);
	EXPECT_EQ(seals.devices(Seal::Kind::seal), std::vector<std::string>{"/dev/vdb"});
	EXPECT_TRUE(seals.devices(Seal::Kind::carry).empty());
	EXPECT_EQ(SealDir::device_of(seals.file("/dev/vdb", Seal::Kind::seal)), "/dev/vdb");
	EXPECT_EQ(seals.read("/dev/vdb", Seal::Kind::seal)->map, s.map);
	EXPECT_EQ(seals.read("/dev/vdc", Seal::Kind::seal), std::nullopt);
	for (const auto &e : fs::directory_iterator(seals.path()))
		EXPECT_NE(e.path().extension(), ".tmp");
	{
		std::ofstream(seals.file("/dev/vdb", Seal::Kind::seal), std::ios::binary | std::ios::app) << 'x';
	}
	EXPECT_THROW(seals.read("/dev/vdb", Seal::Kind::seal), SealError);
	seals.remove("/dev/vdb", Seal::Kind::seal);
	EXPECT_TRUE(seals.devices(Seal::Kind::seal).empty());
	EXPECT_EQ(seals.stamp(), "");
	seals.write_stamp("abc");
	EXPECT_EQ(SealDir(dir.path() / "seal").stamp(), "abc");
}

// --- fingerprints of real filesystem images ---

bk::cbt::Fingerprint image_fingerprint(const fs::path &image)
{
	std::ifstream in(image, std::ios::binary);
	const std::uint64_t size = fs::file_size(image);
	return bk::cbt::fingerprint(
		[&](std::uint64_t off, std::size_t len, std::uint8_t *out) {
			in.seekg(static_cast<std::streamoff>(off));
			in.read(reinterpret_cast<char *>(out), static_cast<std::streamsize>(len));
			ASSERT_TRUE(in);
		},
		size);
}

void run(const std::string &cmd) { ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd; }

fs::path sparse(const bk::test::TempDir &dir, const char *name, std::uint64_t size)
{
	const fs::path p = dir.path() / name;
	std::ofstream(p).close();
	fs::resize_file(p, size);
	return p;
}

// A sparse image of `size` bytes made by `mkfs` (a command taking its path),
// and its fingerprint, checked to be what reading it again gives.
std::pair<fs::path, bk::cbt::Fingerprint> made(const bk::test::TempDir &dir, const std::string &mkfs, std::uint64_t size)
{
	const fs::path img = sparse(dir, "image", size);
	run(mkfs + " " + img.string());
	const auto fp = image_fingerprint(img);
	EXPECT_EQ(image_fingerprint(img), fp) << "reading changes nothing";
	return {img, fp};
}

TEST(SealFingerprint, RawDeviceProvesNothing)
{
	bk::test::TempDir dir;
	const auto fp = image_fingerprint(sparse(dir, "raw", 1 << 20));
	EXPECT_EQ(fp.kind, "none");
	EXPECT_TRUE(fp.bytes.empty());
}

TEST(SealFingerprint, Ext4SeesADebugfsWrite)
{
	bk::test::TempDir dir;
	const auto [img, before] = made(dir, "mkfs.ext4 -q -F", 64 << 20);
	EXPECT_EQ(before.kind, "ext");
	run("debugfs -w -R 'mkdir written-while-down' " + img.string());
	EXPECT_NE(image_fingerprint(img), before);
}

TEST(SealFingerprint, XfsFollowsItsLogHead)
{
	bk::test::TempDir dir;
	const auto [img, before] = made(dir, "mkfs.xfs -q -f", 320 << 20);
	ASSERT_EQ(before.kind, "xfs");
	// A record written at the head, as a mount does: the head's first
	// block now carries the current cycle.
	std::uint64_t log_offset = 0, head = 0;
	{
		const std::string &b = before.bytes;
		auto be = [&](std::size_t at, int n) {
			std::uint64_t v = 0;
			for (int i = 0; i < n; ++i)
				v = v << 8 | static_cast<std::uint8_t>(b[at + i]);
			return v;
		};
		const std::uint64_t logstart = be(48, 8), agblocks = be(84, 4), bsize = be(4, 4);
		const unsigned agblklog = static_cast<std::uint8_t>(b[124]);
		log_offset = ((logstart >> agblklog) * agblocks + (logstart & ((1ULL << agblklog) - 1))) * bsize;
		std::memcpy(&head, b.data() + 512 + 4, 8);
		std::uint32_t first = 0; // the fingerprint's own fields are native
		std::memcpy(&first, b.data() + 512, 4);
		ASSERT_GT(head, 0U) << "a fresh log's head is past its unmount record";
		std::fstream f(img, std::ios::binary | std::ios::in | std::ios::out);
		f.seekp(static_cast<std::streamoff>(log_offset + head * 512));
		const char cycle[4] = {static_cast<char>(first >> 24), static_cast<char>(first >> 16), static_cast<char>(first >> 8),
				       static_cast<char>(first)};
		f.write(cycle, 4);
	}
	const auto after = image_fingerprint(img);
	EXPECT_NE(after, before);
	std::uint64_t head_after = 0;
	std::memcpy(&head_after, after.bytes.data() + 512 + 4, 8);
	EXPECT_EQ(head_after, head + 1);
}

TEST(SealFingerprint, XfsWithAnExternalLogIsRefused)
{
	bk::test::TempDir dir;
	const fs::path img = sparse(dir, "xfs", 320 << 20);
	const fs::path log = sparse(dir, "log", 64 << 20);
	run("mkfs.xfs -q -f -l logdev=" + log.string() + " " + img.string());
	EXPECT_THROW(image_fingerprint(img), SealError);
}

} // namespace
