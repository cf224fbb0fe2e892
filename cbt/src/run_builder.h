// Turns set bits of chunk bitmaps into maximal runs of blocks.
#pragma once

#include "bk/cbt/store.h"

#include <bit>
#include <cstring>
#include <functional>
#include <string_view>

namespace bk::cbt {

class RunBuilder {
public:
	RunBuilder(std::uint64_t first, std::uint64_t end, const std::function<bool(const BlockRun &)> &sink)
	    : first_(first), end_(end), sink_(sink)
	{
	}

	// Adds the set bits of `bitmap` (bit i = block base + i). False once the
	// sink asked to stop.
	bool add_bitmap(std::uint64_t base, std::string_view bitmap)
	{
		for (std::size_t w = 0; w * 8 < bitmap.size(); ++w) {
			std::uint64_t word = 0;
			std::memcpy(&word, bitmap.data() + w * 8, std::min<std::size_t>(8, bitmap.size() - w * 8));
			while (word) {
				const int bit = std::countr_zero(word);
				const int len = std::countr_one(word >> bit);
				if (!add(base + w * 64 + bit, static_cast<std::uint64_t>(len)))
					return false;
				word = len + bit >= 64 ? 0 : word & ~(((std::uint64_t{1} << len) - 1) << bit);
			}
		}
		return true;
	}

	bool add(std::uint64_t first, std::uint64_t count)
	{
		std::uint64_t end = std::min(first + count, end_);
		first = std::max(first, first_);
		if (first >= end)
			return !stopped_;
		if (pending_.count && pending_.first + pending_.count == first) {
			pending_.count += end - first;
			return !stopped_;
		}
		flush();
		pending_ = {first, end - first};
		return !stopped_;
	}

	void flush()
	{
		if (pending_.count && !stopped_)
			stopped_ = !sink_(pending_);
		pending_ = {};
	}

	bool stopped() const { return stopped_; }

private:
	std::uint64_t first_, end_;
	const std::function<bool(const BlockRun &)> &sink_;
	BlockRun pending_;
	bool stopped_ = false;
};

} // namespace bk::cbt
