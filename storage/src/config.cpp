#include "config.hpp"

#include <nlohmann/json.hpp>

#include "bk/storage/error.hpp"

namespace bk::storage {

namespace {

constexpr std::size_t kKekSize = 32;

Bytes key_aad(const RepoConfig& c)
{
	std::string a = "bkagent-repository-key:" + c.repo_id;
	return Bytes(a.begin(), a.end());
}

Bytes kek(const RepoConfig& c, const std::string& passphrase)
{
	return scrypt(passphrase, c.salt, c.kdf, kKekSize);
}

}  // namespace

RepoConfig load_config(const Layout& layout)
{
	Bytes raw;
	try {
		raw = read_file(layout.config());
	} catch (const Error& e) {
		if (e.code() == Errc::not_found)
			throw Error(Errc::not_found, "not a repository (no config): " + layout.root.string());
		throw;
	}
	return parse_config(raw);
}

RepoConfig parse_config(ByteView text)
{
	try {
		auto j = nlohmann::json::parse(text.begin(), text.end());
		RepoConfig c;
		c.format = j.at("format").get<std::uint32_t>();
		if (c.format != RepoConfig::kFormat)
			throw Error(Errc::unsupported_format,
				    "repository format " + std::to_string(c.format) + " is not supported");
		c.repo_id = j.at("repo_id").get<std::string>();
		c.chunk_size = j.at("chunk_size").get<std::uint32_t>();
		c.pack_size = j.at("pack_size").get<std::uint64_t>();
		c.zstd_level = j.at("zstd_level").get<int>();
		c.encrypted = j.at("encryption").get<std::string>() == "aes-256-gcm";
		if (c.encrypted) {
			const auto& k = j.at("kdf");
			c.kdf.n = k.at("n").get<std::uint64_t>();
			c.kdf.r = k.at("r").get<std::uint32_t>();
			c.kdf.p = k.at("p").get<std::uint32_t>();
			c.salt = from_hex(k.at("salt").get<std::string>());
		}
		c.key = from_hex(j.at("key").get<std::string>());
		return c;
	} catch (const nlohmann::json::exception& e) {
		throw Error(Errc::corrupt, "bad repository config: " + std::string(e.what()));
	}
}

std::string format_config(const RepoConfig& c)
{
	nlohmann::json j = {
		{"format", c.format},
		{"repo_id", c.repo_id},
		{"chunk_size", c.chunk_size},
		{"pack_size", c.pack_size},
		{"compression", "zstd"},
		{"zstd_level", c.zstd_level},
		{"encryption", c.encrypted ? "aes-256-gcm" : "none"},
		{"key", to_hex(c.key)},
	};
	if (c.encrypted)
		j["kdf"] = {{"name", "scrypt"}, {"n", c.kdf.n}, {"r", c.kdf.r}, {"p", c.kdf.p},
			    {"salt", to_hex(c.salt)}};
	return j.dump(2) + "\n";
}

void save_config(const Layout& layout, const RepoConfig& c)
{
	std::string text = format_config(c);
	write_file_atomic(layout.config(),
			  ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
			  layout.tmp());
}

MasterKey create_master_key(RepoConfig& c, const std::string& passphrase)
{
	MasterKey key = MasterKey::generate();
	if (c.encrypted) {
		c.salt = random_bytes(32);
		c.key = gcm_seal(kek(c, passphrase), key_aad(c), key.to_bytes());
	} else {
		c.key = key.to_bytes();
	}
	return key;
}

MasterKey unlock_master_key(const RepoConfig& c, const std::string& passphrase)
{
	if (!c.encrypted)
		return MasterKey::from_bytes(c.key);
	Bytes raw;
	if (!gcm_open(kek(c, passphrase), key_aad(c), c.key, raw))
		throw Error(Errc::bad_passphrase, "wrong passphrase for this repository");
	return MasterKey::from_bytes(raw);
}

}  // namespace bk::storage
