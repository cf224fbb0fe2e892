#include "codec.hpp"

#include <zstd.h>

#include <memory>

#include "bk/storage/error.hpp"

namespace bk::storage {

namespace {

struct CCtxFree {
	void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
	void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};

}  // namespace

bool zstd_compress(ByteView in, int level, Bytes& out)
{
	thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
	if (!ctx)
		throw Error(Errc::io, "ZSTD_createCCtx failed");
	// A bound of in.size() - 1 makes zstd give up early on incompressible data.
	if (in.size() < 2)
		return false;
	out.resize(in.size() - 1);
	std::size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), in.data(), in.size(), level);
	if (ZSTD_isError(n))
		return false;  // dstSize_tooSmall: not worth compressing
	out.resize(n);
	return true;
}

void zstd_decompress(ByteView in, std::size_t raw_len, Bytes& out)
{
	thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
	if (!ctx)
		throw Error(Errc::io, "ZSTD_createDCtx failed");
	out.resize(raw_len);
	std::size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), in.data(), in.size());
	if (ZSTD_isError(n) || n != raw_len)
		throw Error(Errc::corrupt, "chunk does not decompress to its recorded length");
}

}  // namespace bk::storage
