#include "codec.hpp"

#include <zstd.h>

#include <memory>

#include "bk/storage/error.hpp"

namespace bk::storage {

namespace {

struct CCtxFree {
	void operator()(ZSTD_CCtx *c) const noexcept { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
	void operator()(ZSTD_DCtx *c) const noexcept { ZSTD_freeDCtx(c); }
};

constexpr std::size_t kSample = 4096;
constexpr std::size_t kSamples = 4;

ZSTD_CCtx *cctx()
{
	thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
	if (!ctx)
		throw Error(Errc::io, "ZSTD_createCCtx failed");
	return ctx.get();
}

// Compresses a few spread samples at the fastest level: when even they do not shrink,
// a full pass over the chunk (random or already compressed data) would be wasted.
bool looks_incompressible(ByteView in)
{
	if (in.size() < 16 * kSample)
		return false;
	thread_local Bytes sample, out;
	sample.clear();
	for (std::size_t k = 0; k < kSamples; ++k) {
		ByteView s = in.subspan(k * (in.size() / kSamples), kSample);
		sample.insert(sample.end(), s.begin(), s.end());
	}
	out.resize(ZSTD_compressBound(sample.size()));
	std::size_t n = ZSTD_compressCCtx(cctx(), out.data(), out.size(), sample.data(), sample.size(), 1);
	return !ZSTD_isError(n) && n > sample.size() * 97 / 100;
}

} // namespace

bool zstd_compress(ByteView in, int level, Bytes &out)
{
	if (looks_incompressible(in))
		return false;
	ZSTD_CCtx *ctx = cctx();
	// A bound of in.size() - 1 makes zstd give up early on incompressible data.
	if (in.size() < 2)
		return false;
	out.resize(in.size() - 1);
	std::size_t n = ZSTD_compressCCtx(ctx, out.data(), out.size(), in.data(), in.size(), level);
	if (ZSTD_isError(n))
		return false; // dstSize_tooSmall: not worth compressing
	out.resize(n);
	return true;
}

void zstd_decompress(ByteView in, std::size_t raw_len, Bytes &out)
{
	thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
	if (!ctx)
		throw Error(Errc::io, "ZSTD_createDCtx failed");
	out.resize(raw_len);
	std::size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), in.data(), in.size());
	if (ZSTD_isError(n) || n != raw_len)
		throw Error(Errc::corrupt, "chunk does not decompress to its recorded length");
}

} // namespace bk::storage
