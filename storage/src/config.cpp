#include "config.hpp"

#include <nlohmann/json.hpp>

#include <bit>

#include "bk/storage/error.hpp"

namespace bk::storage {

namespace {

constexpr std::size_t kKekSize = 32;
constexpr std::size_t kWrappedKeySize = 12 + MasterKey::kSize + 16; // nonce | sealed | tag

Bytes key_aad(const RepoConfig &c)
{
	std::string a = "bkagent-repository-key:" + c.repo_id;
	return Bytes(a.begin(), a.end());
}

Bytes kek(const RepoConfig &c, const std::string &passphrase) { return scrypt(passphrase, c.salt, c.kdf, kKekSize); }

// The config is not authenticated (only the key is), so every field is checked against
// what init can write before anything divides by it, allocates by it or runs scrypt with it.
void check(bool ok, const std::string &what)
{
	if (!ok)
		throw Error(Errc::corrupt, "bad repository config: " + what);
}

std::uint64_t number(const nlohmann::json &j, const char *name, std::uint64_t min, std::uint64_t max)
{
	const auto &v = j.at(name);
	check(v.is_number_unsigned(), std::string(name) + " is not an unsigned integer");
	const auto n = v.get<std::uint64_t>();
	check(n >= min && n <= max, std::string(name) + " is out of range");
	return n;
}

} // namespace

RepoConfig load_config(const Layout &layout)
{
	Bytes raw;
	try {
		raw = layout.store().get(Layout::config());
	} catch (const Error &e) {
		if (e.code() == Errc::not_found)
			throw Error(Errc::not_found, "not a repository (no config): " + layout.store().location());
		throw;
	}
	return parse_config(raw);
}

RepoConfig parse_config(ByteView text)
{
	try {
		auto j = nlohmann::json::parse(text.begin(), text.end());
		RepoConfig c;
		const std::uint64_t format = number(j, "format", 0, ~std::uint64_t{0});
		if (format < RepoConfig::kOldestFormat || format > RepoConfig::kFormat)
			throw Error(Errc::unsupported_format, "repository format " + std::to_string(format) + " is not supported");
		c.format = static_cast<std::uint32_t>(format);
		c.repo_id = j.at("repo_id").get<std::string>();
		check(from_hex(c.repo_id).size() == 16, "repo_id is not 32 hex digits");
		c.chunk_size = static_cast<std::uint32_t>(number(j, "chunk_size", kMinChunkSize, kMaxChunkSize));
		check(valid_chunk_size(c.chunk_size), "chunk_size is not a power of two");
		c.pack_size = number(j, "pack_size", c.chunk_size, kMaxPackSize);
		c.zstd_level = static_cast<int>(number(j, "zstd_level", kMinZstdLevel, kMaxZstdLevel));
		check(j.at("compression").get<std::string>() == "zstd", "unknown compression");
		const std::string enc = j.at("encryption").get<std::string>();
		check(enc == "aes-256-gcm" || enc == "none", "unknown encryption " + enc);
		c.encrypted = enc == "aes-256-gcm";
		if (c.encrypted) {
			const auto &k = j.at("kdf");
			check(k.at("name").get<std::string>() == "scrypt", "unknown kdf");
			c.kdf.n = number(k, "n", 2, kMaxScryptN);
			check(std::has_single_bit(c.kdf.n), "scrypt n is not a power of two");
			c.kdf.r = static_cast<std::uint32_t>(number(k, "r", 1, 32));
			c.kdf.p = static_cast<std::uint32_t>(number(k, "p", 1, 16));
			c.salt = from_hex(k.at("salt").get<std::string>());
			check(c.salt.size() == 32, "salt is not 32 bytes");
		}
		c.key = from_hex(j.at("key").get<std::string>());
		check(c.key.size() == (c.encrypted ? kWrappedKeySize : MasterKey::kSize), "key has the wrong length");
		return c;
	} catch (const nlohmann::json::exception &e) {
		throw Error(Errc::corrupt, "bad repository config: " + std::string(e.what()));
	}
}

std::string format_config(const RepoConfig &c)
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
		j["kdf"] = {{"name", "scrypt"}, {"n", c.kdf.n}, {"r", c.kdf.r}, {"p", c.kdf.p}, {"salt", to_hex(c.salt)}};
	return j.dump(2) + "\n";
}

void save_config(const Layout &layout, const RepoConfig &c)
{
	std::string text = format_config(c);
	layout.store().put(Layout::config(), ByteView(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()));
}

void upgrade_config(const Layout &layout, const RepoConfig &config)
{
	if (config.format == RepoConfig::kFormat)
		return;
	RepoConfig upgraded = config;
	upgraded.format = RepoConfig::kFormat;
	save_config(layout, upgraded);
}

MasterKey create_master_key(RepoConfig &c, const std::string &passphrase)
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

MasterKey unlock_master_key(const RepoConfig &c, const std::string &passphrase)
{
	if (!c.encrypted)
		return MasterKey::from_bytes(c.key);
	Bytes raw;
	if (!gcm_open(kek(c, passphrase), key_aad(c), c.key, raw))
		throw Error(Errc::bad_passphrase, "wrong passphrase for this repository");
	return MasterKey::from_bytes(raw);
}

} // namespace bk::storage
