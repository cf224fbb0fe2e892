// Seal records and filesystem fingerprints (cbt/include/bk/cbt/seal.h). Mode byte 0:
// the rest is a seal file: it decodes or is refused with SealError, and what decodes
// encodes back to the same bytes (one layout, nothing ignored) and matches itself.
// Mode byte 1: the rest is a device image: its fingerprint is SealError or the same on
// a second read, and no read leaves the device.
#include <cstdint>
#include <cstring>
#include <string>

#include "bk/cbt/seal.h"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::string_view body(reinterpret_cast<const char *>(data) + 1, size - 1);
	try {
		if (data[0] == 0) {
			const bk::cbt::Seal s = bk::cbt::decode_seal(body);
			bk::storage::fuzz::require(bk::cbt::encode_seal(s) == body, "a decoded seal encodes back to its bytes");
			bk::storage::fuzz::require(!bk::cbt::seal_mismatch(s.device, s.device), "a device matches itself");
		} else {
			auto read = [&](std::uint64_t off, std::size_t len, std::uint8_t *out) {
				bk::storage::fuzz::require(off <= body.size() && len <= body.size() - off, "reads stay on the device");
				std::memcpy(out, body.data() + off, len);
			};
			const auto fp = bk::cbt::fingerprint(read, body.size());
			bk::storage::fuzz::require(bk::cbt::fingerprint(read, body.size()) == fp,
						   "a fingerprint is a function of the bytes");
		}
	} catch (const bk::cbt::SealError &) {
	}
	return 0;
}
