#include "codec.hpp"

#include "bk/storage/error.hpp"
#include "bk/util/zstd.h"

namespace bk::storage {

bool zstd_compress(ByteView in, int level, Bytes &out)
{
	if (in.size() < 2)
		return false;
	out.resize(in.size() - 1);
	const std::size_t n = util::zstd_compress(in.data(), in.size(), out.data(), out.size(), level);
	out.resize(n);
	return n != 0;
}

void zstd_decompress(ByteView in, std::size_t raw_len, Bytes &out)
{
	out.resize(raw_len);
	if (!util::zstd_decompress(in.data(), in.size(), out.data(), raw_len))
		throw Error(Errc::corrupt, "chunk does not decompress to its recorded length");
}

} // namespace bk::storage
