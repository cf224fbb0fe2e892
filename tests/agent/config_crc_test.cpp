// Config validation (what an admin gets wrong), the documented CRC-32C and the
// client's check of streamed chunks.
#include "bk/util/crc32c.h"
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

} // namespace
} // namespace bk::agent
