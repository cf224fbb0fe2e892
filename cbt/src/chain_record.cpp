#include "chain_record.h"

#include <cstring>
#include <limits>

namespace bk::cbt {

namespace {

// Fixed little-endian layout. The one-generation layout of before sequence
// wraps were carried (v1) is still read: its chain id is its generation and
// its ordinals are its sequences.
constexpr std::size_t v1_chain_size = 16 + 4 + 8 + 4 + 4 + 32;
constexpr std::size_t header_size = 16 + 4 + 8 + 4 + 4 + 4;
constexpr std::size_t segment_size = 16 + 4 + 32;

[[noreturn]] void corrupt(const char *why) { throw StoreError(std::string("cbt: corrupt chain record: ") + why); }

// What the store's queries rely on: ordinals offset + sequence ascend along
// the chain without wrapping, and a generation names one segment.
void check(const Chain &c)
{
	if (c.last_sequence > max_sequence || c.committed_sequence > max_sequence)
		corrupt("sequence out of range");
	for (std::size_t i = 0; i < c.segments.size(); ++i) {
		const Segment &seg = c.segments[i];
		if (seg.offset > std::numeric_limits<std::uint32_t>::max() - max_sequence)
			corrupt("ordinal overflow");
		if (i > 0 && seg.offset < c.segments[i - 1].offset)
			corrupt("ordinals go backwards");
		for (std::size_t j = 0; j < i; ++j)
			if (c.segments[j].generation == seg.generation)
				corrupt("a generation twice");
	}
}

} // namespace

std::string encode_chain(const Chain &c)
{
	std::string out(header_size + segment_size * c.segments.size(), '\0');
	char *p = out.data();
	auto put = [&p](const auto &v) {
		std::memcpy(p, &v, sizeof v);
		p += sizeof v;
	};
	put(c.id);
	put(c.geometry.block_shift);
	put(c.geometry.block_count);
	put(c.last_sequence);
	put(c.committed_sequence);
	put(static_cast<std::uint32_t>(c.segments.size()));
	for (const Segment &seg : c.segments) {
		put(seg.generation);
		put(seg.offset);
		put(seg.recorded);
	}
	return out;
}

Chain decode_chain(std::string_view in)
{
	Chain c;
	const char *p = in.data();
	auto get = [&p](auto &v) {
		std::memcpy(&v, p, sizeof v);
		p += sizeof v;
	};
	if (in.size() == v1_chain_size) {
		Segment seg;
		get(seg.generation);
		get(c.geometry.block_shift);
		get(c.geometry.block_count);
		get(c.last_sequence);
		get(c.committed_sequence);
		get(seg.recorded);
		c.id = seg.generation;
		c.segments.push_back(seg);
		check(c);
		return c;
	}
	std::uint32_t n = 0;
	if (in.size() >= header_size) {
		get(c.id);
		get(c.geometry.block_shift);
		get(c.geometry.block_count);
		get(c.last_sequence);
		get(c.committed_sequence);
		get(n);
	}
	if (n == 0 || n > max_segments || in.size() != header_size + segment_size * n)
		corrupt("wrong size");
	c.segments.resize(n);
	for (Segment &seg : c.segments) {
		get(seg.generation);
		get(seg.offset);
		get(seg.recorded);
	}
	check(c);
	return c;
}

} // namespace bk::cbt
