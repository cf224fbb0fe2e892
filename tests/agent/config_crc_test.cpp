// Config validation (what an admin gets wrong), the documented CRC-32C and the
// client's check of streamed chunks.
#include "bk/util/crc32c.h"
#include "bk/util/zstd.h"
#include "client/client.h"
#include "core/config.h"

#include <gtest/gtest.h>

#include <random>

namespace bk::agent {
namespace {

using util::all_zero;
using util::crc32c;
using util::crc32c_zeroes;

TEST(AgentConfig, DefaultsAndComments)
{
	const Config c = Config::parse("// all defaults\n{}");
	EXPECT_EQ(c.unix_socket, "/run/bkagent/bkagentd.sock");
	EXPECT_EQ(c.unix_allowed_uids, std::vector<std::uint32_t>{0});
	EXPECT_FALSE(c.tcp.has_value());
	EXPECT_FALSE(c.reflection);
	const Config t = Config::parse(R"({"lease_min_seconds": 1, "lease_default_seconds": 5, // short
		"tcp": {"listen": "[::]:7420", "cert_file": "c", "key_file": "k", "client_ca_file": "ca",
			"token_file": "t"}})");
	ASSERT_TRUE(t.tcp.has_value());
	EXPECT_EQ(t.tcp->listen, "[::]:7420");
	EXPECT_EQ(t.lease_default.count(), 5);
}

TEST(AgentConfig, RejectsMistakes)
{
	for (const char *bad : {
		     "not json",
		     "[]",
		     R"({"unix_sockett": "/x"})",       // typo
		     R"({"lease_min_seconds": "ten"})", // wrong type
		     R"({"lease_min_seconds": -1})",
		     R"({"lease_min_seconds": 1e40})",        // float cast was UB (fuzz_agent_config)
		     R"({"max_parallel_reads": 4294967297})", // truncated to 1
		     R"({"max_parallel_reads": -8})",
		     R"({"lease_min_seconds": 100, "lease_max_seconds": 10})",
		     R"({"max_parallel_reads": 0})",
		     R"({"diff_storage_percent": 0})",
		     R"({"wire_zstd_level": 20})", // ultra levels: refused
		     R"({"wire_zstd_level": -8})",
		     R"({"tcp": {"listen": "0.0.0.0:1"}})",                                                    // no TLS files: refused
		     R"({"tcp": {"listen": "x", "cert_file": "c", "key_file": "k", "client_ca_file": "ca"}})", // no token
		     R"({"tcp": {"listen": "x", "cert_file": "c", "key_file": "k", "client_ca_file": "ca",
			 "token_file": "t", "insecure": true}})",
	     })
		EXPECT_THROW(Config::parse(bad), std::invalid_argument) << bad;
}

TEST(AgentCrc32c, KnownValueAndPieces)
{
	EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u); // the value bkagent.proto documents
	EXPECT_EQ(crc32c(0, "", 0), 0u);
	std::mt19937 rng(1);
	std::string data(100003, '\0');
	for (auto &c : data)
		c = static_cast<char>(rng());
	const std::uint32_t whole = crc32c(0, data.data(), data.size());
	for (std::size_t cut : {1u, 7u, 8u, 4096u, 99999u}) // continuation over any split
		EXPECT_EQ(crc32c(crc32c(0, data.data(), cut), data.data() + cut, data.size() - cut), whole) << cut;
	for (std::size_t len : {0u, 1u, 4096u, 1000000u})
		EXPECT_EQ(crc32c_zeroes(len), crc32c(0, std::string(len, '\0').data(), len)) << len;
	EXPECT_TRUE(all_zero(std::string(13, '\0').data(), 13));
	std::string almost(4099, '\0');
	almost[4098] = 1;
	EXPECT_FALSE(all_zero(almost.data(), almost.size()));
}

TEST(AgentCrc32c, ClientRefusesDamagedChunks)
{
	bkagent::v1::DataChunk c;
	c.set_offset(1 << 20);
	c.set_data(std::string(4096, 'x'));
	c.set_length(4096);
	c.set_checksum(crc32c(0, c.data().data(), c.data().size()));
	EXPECT_NO_THROW(bk::client::check_chunk(c));
	bkagent::v1::DataChunk flipped = c;
	(*flipped.mutable_data())[4095] ^= 0x10;
	EXPECT_THROW(bk::client::check_chunk(flipped), std::runtime_error);
	bkagent::v1::DataChunk short_data = c;
	short_data.set_length(8192);
	EXPECT_THROW(bk::client::check_chunk(short_data), std::runtime_error);
	bkagent::v1::DataChunk zero;
	zero.set_zero(true);
	zero.set_length(65536);
	zero.set_checksum(crc32c_zeroes(65536));
	EXPECT_NO_THROW(bk::client::check_chunk(zero));
	zero.set_checksum(zero.checksum() + 1);
	EXPECT_THROW(bk::client::check_chunk(zero), std::runtime_error);
}

std::string zstd_of(const std::string &data, int level = 1)
{
	std::string frame(data.size(), '\0');
	frame.resize(util::zstd_compress(data.data(), data.size(), frame.data(), frame.size(), level));
	return frame;
}

bkagent::v1::DataChunk zstd_chunk(const std::string &plain, const std::string &frame)
{
	bkagent::v1::DataChunk c;
	c.set_offset(1 << 20);
	c.set_length(static_cast<std::uint32_t>(plain.size()));
	c.set_data(frame);
	c.set_compression(bkagent::v1::ZSTD);
	c.set_checksum(crc32c(0, plain.data(), plain.size()));
	return c;
}

// What a hostile or broken agent may send as a compressed chunk: refused with
// a clear error, never a crash nor a write past the announced length.
TEST(AgentWireZstd, ClientOpensGoodFramesAndRefusesBadOnes)
{
	std::string plain;
	for (int i = 0; plain.size() < 65536; ++i)
		plain += "block " + std::to_string(i % 97) + " of text; ";
	plain.resize(65536);
	const std::string frame = zstd_of(plain);
	ASSERT_FALSE(frame.empty());
	ASSERT_LT(frame.size(), plain.size() / 4);

	std::string got;
	bkagent::v1::DataChunk good = zstd_chunk(plain, frame);
	bk::client::open_chunk(good, got, 1 << 20);
	EXPECT_EQ(good.data(), plain) << "opened in place to the plaintext";
	EXPECT_EQ(good.compression(), bkagent::v1::COMPRESSION_NONE);
	EXPECT_EQ(got, frame) << "the frame it came as";

	const auto refused = [&got](bkagent::v1::DataChunk c, const std::string &why, std::uint32_t max = 1 << 20) {
		try {
			bk::client::open_chunk(c, got, max);
			ADD_FAILURE() << "accepted: " << why;
		} catch (const std::runtime_error &e) {
			EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
		}
	};
	// Announces less than the frame holds (a bomb must not overrun the buffer).
	bkagent::v1::DataChunk more = zstd_chunk(plain, frame);
	more.set_length(4096);
	more.set_checksum(crc32c(0, plain.data(), 4096));
	refused(more, "does not decompress to its length");
	bkagent::v1::DataChunk less = zstd_chunk(plain, frame);
	less.set_length(65536 + 4096);
	refused(less, "does not decompress to its length");
	// A frame that expands to far more than any chunk.
	const std::string bomb = zstd_of(std::string(8 << 20, 'a'));
	refused(zstd_chunk(plain, bomb), "does not decompress to its length");
	std::string damaged = frame;
	damaged[damaged.size() / 2] ^= 0x5a;
	refused(zstd_chunk(plain, damaged), "");
	refused(zstd_chunk(plain, frame.substr(0, frame.size() - 3)), "does not decompress to its length");
	refused(zstd_chunk(plain, "not a zstd frame"), "does not decompress to its length");
	bkagent::v1::DataChunk crc = zstd_chunk(plain, frame);
	crc.set_checksum(crc.checksum() ^ 1);
	refused(crc, "checksum mismatch");
	refused(zstd_chunk(plain, frame), "more than the 4096 asked for", 4096);
	bkagent::v1::DataChunk zero = zstd_chunk(plain, frame);
	zero.set_zero(true);
	refused(zero, "marked compressed");
	bkagent::v1::DataChunk unknown = zstd_chunk(plain, frame);
	unknown.set_compression(static_cast<bkagent::v1::Compression>(7));
	refused(unknown, "unknown compression");

	// Incompressible data is not compressed (the agent then sends it raw).
	std::mt19937_64 rng(3);
	std::string noise(1 << 20, '\0');
	for (auto &ch : noise)
		ch = static_cast<char>(rng());
	EXPECT_TRUE(zstd_of(noise).empty());
}

} // namespace
} // namespace bk::agent
