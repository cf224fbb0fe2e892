// Little-endian encoding of the on-disk metadata structures.
#pragma once

#include <cstdint>
#include <string>

#include "bk/storage/error.hpp"
#include "bk/storage/types.hpp"

namespace bk::storage {

class ByteWriter {
public:
	void u8(std::uint8_t v) { out_.push_back(v); }
	void u32(std::uint32_t v) { put(v, 4); }
	void u64(std::uint64_t v) { put(v, 8); }
	void raw(ByteView data) { out_.insert(out_.end(), data.begin(), data.end()); }
	void str(const std::string &s)
	{
		u32(static_cast<std::uint32_t>(s.size()));
		out_.insert(out_.end(), s.begin(), s.end());
	}
	Bytes &bytes() { return out_; }

private:
	void put(std::uint64_t v, int n)
	{
		for (int i = 0; i < n; ++i)
			out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
	}
	Bytes out_;
};

class ByteReader {
public:
	explicit ByteReader(ByteView in) : in_(in) {}
	std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
	std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
	std::uint64_t u64() { return get(8); }
	ByteView raw(std::size_t n)
	{
		need(n);
		ByteView out = in_.subspan(pos_, n);
		pos_ += n;
		return out;
	}
	std::string str()
	{
		ByteView s = raw(u32());
		return std::string(s.begin(), s.end());
	}
	std::size_t remaining() const { return in_.size() - pos_; }
	void expect_end() const
	{
		if (pos_ != in_.size())
			throw Error(Errc::corrupt, "trailing bytes in metadata");
	}

private:
	void need(std::size_t n) const
	{
		if (in_.size() - pos_ < n)
			throw Error(Errc::corrupt, "truncated metadata");
	}
	std::uint64_t get(int n)
	{
		need(static_cast<std::size_t>(n));
		std::uint64_t v = 0;
		for (int i = 0; i < n; ++i)
			v |= std::uint64_t{in_[pos_ + static_cast<std::size_t>(i)]} << (8 * i);
		pos_ += static_cast<std::size_t>(n);
		return v;
	}
	ByteView in_;
	std::size_t pos_ = 0;
};

} // namespace bk::storage
