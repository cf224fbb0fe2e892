// Regression tests of the repository decoders on hostile input: each case is a finding
// of the fuzz targets in tests/fuzz (docs/reliability.md), reduced to its cause.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "../../storage/src/config.hpp"
#include "../../storage/src/lock.hpp"
#include "../../storage/src/manifest.hpp"
#include "../../storage/src/pack.hpp"
#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

ByteView bytes_of(const std::string &s) { return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()}; }

// A held lock whose file holds garbage: the refusal must neither read a huge file nor
// echo its bytes as a pid.
TEST(Decoders, LockFileNamesItsHolderOnlyWhenItHoldsAPid)
{
	EXPECT_EQ(lock_holder(bytes_of("4242")), "4242");
	EXPECT_EQ(lock_holder(bytes_of("")), "");
	EXPECT_EQ(lock_holder(bytes_of("12\x1b[2J")), "");
	EXPECT_EQ(lock_holder(bytes_of("123456789012")), "");

	ScratchDir dir;
	const fs::path path = dir / "write";
	write_file(path, std::vector<std::uint8_t>(8 << 20, '7'));
	Fd holder = open_file(path, O_RDWR);
	ASSERT_EQ(::flock(holder.get(), LOCK_EX | LOCK_NB), 0);
	try {
		FileLock contender(path, FileLock::Mode::shared);
		FAIL() << "a held lock must refuse";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::locked);
		EXPECT_EQ(std::string(e.what()).find("by pid"), std::string::npos) << e.what();
	}
}

// The config is not authenticated: a field out of what init writes (a float where an
// integer belongs was undefined behaviour, chunk size 0 a later division by zero,
// a huge scrypt N a hang) must be refused as corrupt when the repository is opened.
TEST(Decoders, ConfigFieldsOutOfRangeAreCorrupt)
{
	ScratchDir dir;
	Repository::init(dir / "repo", small_repo_options());
	const auto raw = read_file(dir / "repo" / "config");
	const std::string good(raw.begin(), raw.end());
	EXPECT_NO_THROW(parse_config(bytes_of(good)));
	auto with = [&](const std::string &from, const std::string &to) {
		std::string text = good;
		const auto at = text.find(from);
		EXPECT_NE(at, std::string::npos) << from;
		return text.replace(at, from.size(), to);
	};
	const std::pair<std::string, std::string> bad[] = {
		{"\"chunk_size\": 65536", "\"chunk_size\": 0"},
		{"\"chunk_size\": 65536", "\"chunk_size\": 65537"},
		{"\"chunk_size\": 65536", "\"chunk_size\": 1e300"},
		{"\"zstd_level\": 3", "\"zstd_level\": -3"},
		{"\"n\": 1024", "\"n\": 1099511627776"},
		{"\"n\": 1024", "\"n\": 1000"},
		{"\"encryption\": \"aes-256-gcm\"", "\"encryption\": \"aes-256-gcn\""},
		{"\"format\": 2", "\"format\": 2.5"},
	};
	for (const auto &[from, to] : bad) {
		try {
			parse_config(bytes_of(with(from, to)));
			ADD_FAILURE() << to << " was accepted";
		} catch (const Error &e) {
			EXPECT_EQ(e.code(), Errc::corrupt) << to;
		}
	}
}

std::optional<Errc> decode_error(const PointInfo &p)
{
	try {
		decode_point_header(encode_point_header(p));
	} catch (const Error &e) {
		return e.code();
	}
	return std::nullopt;
}

// A chunk size of 0 divided by zero when the chunk list was checked; a size beyond off_t
// could not be restored.
TEST(Decoders, PointHeaderWithImpossibleSizesIsCorrupt)
{
	PointInfo p;
	p.id = "00000000000000ff";
	p.size = 5 * kChunk;
	p.chunk_size = kChunk;
	EXPECT_EQ(decode_error(p), std::nullopt);
	for (std::uint32_t cs : {0u, 1u, kChunk + 1, 128u << 20}) {
		p.chunk_size = cs;
		EXPECT_EQ(decode_error(p), Errc::corrupt) << cs;
	}
	p.chunk_size = kChunk;
	p.size = ~std::uint64_t{0};
	EXPECT_EQ(decode_error(p), Errc::corrupt);
}

// Durations were truncated to microseconds, so 3 us read back as 2.999... s·1e-6 and
// re-encoded as 2: a decoded point did not encode to the bytes it came from.
TEST(Decoders, PointHeaderReEncodesToTheSameBytes)
{
	PointInfo p;
	p.id = "00000000000000ff";
	p.size = kChunk;
	p.chunk_size = kChunk;
	for (double s : {3e-6, 0.1, 1234.567891, 1e9}) {
		p.stats.seconds = s;
		const Bytes once = encode_point_header(p);
		EXPECT_EQ(encode_point_header(decode_point_header(once)), once) << s;
	}
}

// An unencrypted record claiming a 704 MiB chunk made decoding allocate it before the
// body was checked (fuzz_pack, out of memory): a length above the largest chunk size is
// corrupt at once.
TEST(Decoders, RecordLongerThanAnyChunkIsCorrupt)
{
	const Crypto crypto(MasterKey::generate(), false);
	const Bytes plain(4096, 'x');
	const ChunkId id = crypto.chunk_id(plain);
	Record rec = encode_chunk(crypto, id, plain, 3);
	rec.header.insert(rec.header.end(), rec.body.begin(), rec.body.end());
	Bytes out;
	decode_record(crypto, rec.header, id, 4096, out);
	EXPECT_EQ(out, plain);
	Bytes huge = rec.header;
	const std::uint32_t raw = kMaxChunkSize + 1;
	std::memcpy(huge.data() + 40, &raw, 4); // little-endian host, as the format
	try {
		decode_record(crypto, huge, id, raw, out);
		FAIL() << "accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::corrupt);
		EXPECT_NE(std::string(e.what()).find("longer than any chunk size"), std::string::npos) << e.what();
	}
}

} // namespace
} // namespace bk::storage::test
