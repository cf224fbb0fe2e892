#include "index.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>

#include "bk/storage/error.hpp"
#include "serial.hpp"

namespace bk::storage {

namespace {

constexpr char kMagic[] = "BKidx001";
constexpr std::size_t kMagicLen = 8;

ByteView magic() { return {reinterpret_cast<const std::uint8_t *>(kMagic), kMagicLen}; }

bool is_hex(std::string_view s)
{
	return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// <seq>.idx (format 1) or <seq>-<random>.idx; anything else (an editor's backup file)
// is not a segment.
std::vector<Index::Segment> list_segments(const Layout &layout)
{
	std::vector<Index::Segment> segments;
	for (const ObjectEntry &e : layout.store().list(Layout::index())) {
		const std::string_view name = std::string_view(e.key).substr(Layout::index().size() + 1);
		if (!name.ends_with(".idx"))
			continue;
		const std::string_view stem = name.substr(0, name.size() - 4);
		const bool old = stem.size() == 16, current = stem.size() == 33 && stem[16] == '-';
		if (!(old || current) || !is_hex(stem.substr(0, 16)) || (current && !is_hex(stem.substr(17))))
			continue;
		segments.push_back({std::stoull(std::string(stem.substr(0, 16)), nullptr, 16), e.key});
	}
	std::sort(segments.begin(), segments.end());
	return segments;
}

std::string segment_key(std::uint64_t seq)
{
	char name[48];
	std::snprintf(name, sizeof name, "%016lx-%s.idx", static_cast<unsigned long>(seq), random_hex(8).c_str());
	return Layout::index() + "/" + name;
}

} // namespace

Bytes encode_segment_payload(const std::vector<IndexEntry> &entries)
{
	ByteWriter w;
	w.bytes().reserve(8 + entries.size() * 64);
	w.u64(entries.size());
	for (const IndexEntry &e : entries) {
		w.raw(e.id.bytes);
		w.raw(e.loc.pack);
		w.u64(e.loc.offset);
		w.u32(e.loc.length);
		w.u32(e.loc.raw_len);
	}
	return std::move(w.bytes());
}

std::vector<IndexEntry> decode_segment_payload(ByteView payload)
{
	ByteReader r(payload);
	std::uint64_t n = r.u64();
	if (n > r.remaining() / 64)
		throw Error(Errc::corrupt, "bad entry count");
	std::vector<IndexEntry> entries(n);
	for (IndexEntry &e : entries) {
		ByteView b = r.raw(32);
		std::copy(b.begin(), b.end(), e.id.bytes.begin());
		b = r.raw(16);
		std::copy(b.begin(), b.end(), e.loc.pack.begin());
		e.loc.offset = r.u64();
		e.loc.length = r.u32();
		e.loc.raw_len = r.u32();
	}
	r.expect_end();
	return entries;
}

Bytes encode_segment(const Crypto &crypto, const std::vector<IndexEntry> &entries)
{
	Bytes file(magic().begin(), magic().end());
	Bytes sealed = crypto.seal(magic(), encode_segment_payload(entries));
	file.insert(file.end(), sealed.begin(), sealed.end());
	return file;
}

std::vector<IndexEntry> decode_segment(const Crypto &crypto, ByteView file)
{
	if (file.size() < kMagicLen || !std::equal(magic().begin(), magic().end(), file.begin()))
		throw Error(Errc::corrupt, "not an index segment");
	return decode_segment_payload(crypto.open(magic(), file.subspan(kMagicLen)));
}

Index Index::load(const Layout &layout, const Crypto &crypto, const std::function<void(const Error &)> &on_bad)
{
	Index index;
	index.segments_ = list_segments(layout);
	for (const Segment &segment : index.segments_) {
		const std::string &key = segment.key;
		std::vector<IndexEntry> entries;
		try {
			entries = decode_segment(crypto, layout.store().get(key));
		} catch (const Error &e) {
			if (e.code() != Errc::corrupt)
				throw;
			Error bad(Errc::corrupt, layout.store().where(key) + ": " + e.what());
			if (!on_bad)
				throw bad;
			on_bad(bad);
			continue;
		}
		index.map_.reserve(index.map_.size() + entries.size());
		for (const IndexEntry &e : entries)
			index.map_[e.id] = e.loc;
	}
	return index;
}

const ChunkLocation *Index::find(const ChunkId &id) const
{
	auto it = map_.find(id);
	return it == map_.end() ? nullptr : &it->second;
}

void write_segment(const Layout &layout, const Crypto &crypto, std::uint64_t seq, const std::vector<IndexEntry> &entries)
{
	layout.store().put(segment_key(seq), encode_segment(crypto, entries));
}

} // namespace bk::storage
