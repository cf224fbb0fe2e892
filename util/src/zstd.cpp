#include "bk/util/zstd.h"

#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

namespace bk::util {

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
		throw std::bad_alloc();
	return ctx.get();
}

bool looks_incompressible(const std::uint8_t *in, std::size_t len)
{
	if (len < 16 * kSample)
		return false;
	thread_local std::vector<std::uint8_t> sample, out;
	sample.clear();
	for (std::size_t k = 0; k < kSamples; ++k) {
		const std::uint8_t *s = in + k * (len / kSamples);
		sample.insert(sample.end(), s, s + kSample);
	}
	out.resize(ZSTD_compressBound(sample.size()));
	const std::size_t n = ZSTD_compressCCtx(cctx(), out.data(), out.size(), sample.data(), sample.size(), 1);
	return !ZSTD_isError(n) && n > sample.size() * 97 / 100;
}

} // namespace

std::size_t zstd_compress(const void *in, std::size_t len, void *out, std::size_t cap, int level)
{
	const auto *bytes = static_cast<const std::uint8_t *>(in);
	if (len < 2 || looks_incompressible(bytes, len))
		return 0;
	// A bound below the input makes zstd give up early on incompressible data.
	const std::size_t n = ZSTD_compressCCtx(cctx(), out, std::min(cap, len - 1), in, len, level);
	return ZSTD_isError(n) ? 0 : n; // dstSize_tooSmall: not worth compressing
}

bool zstd_decompress(const void *in, std::size_t len, void *out, std::size_t raw_len)
{
	thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
	if (!ctx)
		throw std::bad_alloc();
	const std::size_t n = ZSTD_decompressDCtx(ctx.get(), out, raw_len, in, len);
	return !ZSTD_isError(n) && n == raw_len;
}

} // namespace bk::util
