#include "crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "bk/storage/error.hpp"
#include "bk/util/hex.h"

namespace bk::storage {

namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;
constexpr std::size_t kMac = 32;

struct CipherCtxFree {
	void operator()(EVP_CIPHER_CTX *ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

CipherCtx new_cipher_ctx()
{
	CipherCtx ctx(EVP_CIPHER_CTX_new());
	if (!ctx)
		throw Error(Errc::io, "EVP_CIPHER_CTX_new failed");
	return ctx;
}

int to_int(std::size_t n)
{
	if (n > static_cast<std::size_t>(INT32_MAX))
		throw Error(Errc::invalid_argument, "buffer too large for one cipher call");
	return static_cast<int>(n);
}

std::array<std::uint8_t, kMac> hmac(ByteView key, ByteView a, ByteView b)
{
	std::array<std::uint8_t, kMac> out{};
	Bytes joined; // only used for small sealed metadata; chunk ids use one-shot HMAC
	joined.reserve(a.size() + b.size());
	joined.insert(joined.end(), a.begin(), a.end());
	joined.insert(joined.end(), b.begin(), b.end());
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key.data(), to_int(key.size()), joined.data(), joined.size(), out.data(), &len))
		throw Error(Errc::io, "HMAC failed");
	return out;
}

} // namespace

bool ChunkId::is_zero() const noexcept
{
	return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string ChunkId::hex() const { return to_hex(bytes); }

MasterKey MasterKey::generate() { return from_bytes(random_bytes(kSize)); }

MasterKey MasterKey::from_bytes(ByteView raw)
{
	if (raw.size() != kSize)
		throw Error(Errc::corrupt, "master key has the wrong length");
	MasterKey key;
	std::copy_n(raw.begin(), key.enc.size(), key.enc.begin());
	std::copy_n(raw.begin() + key.enc.size(), key.id.size(), key.id.begin());
	return key;
}

Bytes MasterKey::to_bytes() const
{
	Bytes out(enc.begin(), enc.end());
	out.insert(out.end(), id.begin(), id.end());
	return out;
}

Crypto::~Crypto() { OPENSSL_cleanse(&key_, sizeof key_); }

ChunkId Crypto::chunk_id(ByteView data) const
{
	ChunkId id;
	unsigned len = 0;
	if (!HMAC(EVP_sha256(), key_.id.data(), static_cast<int>(key_.id.size()), data.data(), data.size(), id.bytes.data(), &len))
		throw Error(Errc::io, "HMAC failed");
	if (id.is_zero()) // reserved for zero chunks; unreachable in practice (p = 2^-256)
		throw Error(Errc::corrupt, "chunk id collides with the zero marker");
	return id;
}

Bytes Crypto::seal(ByteView aad, ByteView plain) const
{
	if (encrypted_)
		return gcm_seal(key_.enc, aad, plain);
	Bytes out(plain.begin(), plain.end());
	auto tag = hmac(key_.id, aad, plain);
	out.insert(out.end(), tag.begin(), tag.end());
	return out;
}

Bytes Crypto::open(ByteView aad, ByteView sealed) const
{
	if (encrypted_) {
		Bytes plain;
		if (!gcm_open(key_.enc, aad, sealed, plain))
			throw Error(Errc::corrupt, "authentication failed");
		return plain;
	}
	if (sealed.size() < kMac)
		throw Error(Errc::corrupt, "sealed data too short");
	ByteView plain = sealed.first(sealed.size() - kMac);
	auto tag = hmac(key_.id, aad, plain);
	if (CRYPTO_memcmp(tag.data(), sealed.data() + plain.size(), kMac) != 0)
		throw Error(Errc::corrupt, "authentication failed");
	return Bytes(plain.begin(), plain.end());
}

Bytes gcm_seal(ByteView key, ByteView aad, ByteView plain)
{
	Bytes out(kNonce + plain.size() + kTag);
	if (RAND_bytes(out.data(), kNonce) != 1)
		throw Error(Errc::io, "RAND_bytes failed");
	CipherCtx ctx = new_cipher_ctx();
	int len = 0;
	bool ok = EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) == 1 &&
		  EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), to_int(aad.size())) == 1 &&
		  EVP_EncryptUpdate(ctx.get(), out.data() + kNonce, &len, plain.data(), to_int(plain.size())) == 1 &&
		  EVP_EncryptFinal_ex(ctx.get(), out.data() + kNonce + len, &len) == 1 &&
		  EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out.data() + kNonce + plain.size()) == 1;
	if (!ok)
		throw Error(Errc::io, "AES-GCM encryption failed");
	return out;
}

bool gcm_open(ByteView key, ByteView aad, ByteView sealed, Bytes &plain)
{
	if (sealed.size() < kNonce + kTag)
		return false;
	std::size_t n = sealed.size() - kNonce - kTag;
	plain.resize(n);
	// The tag is copied because the EVP interface takes a non-const pointer.
	std::array<std::uint8_t, kTag> tag{};
	std::copy_n(sealed.data() + kNonce + n, kTag, tag.begin());
	CipherCtx ctx = new_cipher_ctx();
	int len = 0;
	return EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) == 1 &&
	       EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), to_int(aad.size())) == 1 &&
	       EVP_DecryptUpdate(ctx.get(), plain.data(), &len, sealed.data() + kNonce, to_int(n)) == 1 &&
	       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) == 1 &&
	       EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &len) == 1;
}

Bytes scrypt(const std::string &passphrase, ByteView salt, const ScryptParams &params, std::size_t length)
{
	Bytes out(length);
	// 128 * r * N is scrypt's memory use; allow it plus slack.
	std::uint64_t maxmem = std::uint64_t{128} * params.r * params.n * params.p + (std::uint64_t{1} << 24);
	if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt.data(), salt.size(), params.n, params.r, params.p, maxmem, out.data(),
			   out.size()) != 1)
		throw Error(Errc::invalid_argument, "scrypt failed (bad parameters?)");
	return out;
}

Bytes random_bytes(std::size_t n)
{
	Bytes out(n);
	if (RAND_bytes(out.data(), to_int(n)) != 1)
		throw Error(Errc::io, "RAND_bytes failed");
	return out;
}

std::string random_hex(std::size_t n_bytes) { return to_hex(random_bytes(n_bytes)); }

Bytes from_hex(const std::string &hex)
{
	auto out = util::from_hex(hex);
	if (!out)
		throw Error(Errc::corrupt, "bad hex string");
	return std::move(*out);
}

} // namespace bk::storage
