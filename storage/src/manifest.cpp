#include "manifest.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "bk/storage/error.hpp"
#include "codec.hpp"
#include "config.hpp"
#include "serial.hpp"

namespace bk::storage {

namespace {

constexpr std::size_t kMagicLen = 8;
// "BKpnt00" followed by the version digit.
std::string magic(int version) { return "BKpnt00" + std::to_string(version); }
constexpr std::size_t kPrefix = kMagicLen + 4;
constexpr int kZstdLevel = 3;

// A backup's duration in microseconds; up to 2^50 (35 years) a double holds it exactly,
// so a decoded point re-encodes to the same bytes.
constexpr std::uint64_t kMaxMicros = std::uint64_t{1} << 50;

std::uint64_t to_micros(double seconds)
{
	const double us = seconds * 1e6;
	if (!(us > 0))
		return 0;
	return us >= static_cast<double>(kMaxMicros) ? kMaxMicros : static_cast<std::uint64_t>(std::llround(us));
}

Bytes aad(int version, const std::string &id, char part)
{
	const std::string m = magic(version);
	Bytes a(m.begin(), m.end());
	a.insert(a.end(), id.begin(), id.end());
	a.push_back(static_cast<std::uint8_t>(part));
	return a;
}

struct PointFile {
	std::unique_ptr<ObjectReader> in;
	std::string where;
	std::uint64_t size = 0;
	std::uint32_t header_len = 0;
	int version = 0;
};

PointFile open_point(const Layout &layout, const std::string &id)
{
	PointFile f;
	f.where = layout.store().where(Layout::point(id));
	f.in = layout.store().open(Layout::point(id));
	f.size = f.in->size();
	Bytes prefix(kPrefix);
	f.in->read(prefix, 0);
	for (int v : {1, kPointVersion}) {
		const std::string m = magic(v);
		if (std::equal(m.begin(), m.end(), prefix.begin()))
			f.version = v;
	}
	if (f.version == 0)
		throw Error(Errc::corrupt, "not a restore point: " + f.where);
	ByteReader r(ByteView(prefix).subspan(kMagicLen));
	f.header_len = r.u32();
	if (f.header_len > f.size - kPrefix)
		throw Error(Errc::corrupt, "truncated restore point: " + f.where);
	return f;
}

PointInfo read_info(const PointFile &f, const Crypto &crypto, const std::string &id)
{
	Bytes sealed(f.header_len);
	f.in->read(sealed, kPrefix);
	PointInfo info = decode_point_header(crypto.open(aad(f.version, id, 'h'), sealed), f.version);
	if (info.id != id)
		throw Error(Errc::corrupt, "restore point id mismatch: " + f.where);
	return info;
}

} // namespace

std::uint64_t chunk_count(std::uint64_t size, std::uint32_t chunk_size) { return (size + chunk_size - 1) / chunk_size; }

Bytes encode_point_header(const PointInfo &p)
{
	ByteWriter w;
	w.str(p.id);
	w.str(p.device);
	w.u64(static_cast<std::uint64_t>(p.time));
	w.u32(p.nanos);
	w.u64(p.size);
	w.u32(p.chunk_size);
	w.str(p.base);
	w.str(p.token);
	const BackupStats &s = p.stats;
	for (std::uint64_t v :
	     {s.bytes_read, s.bytes_zero, s.bytes_dedup, s.bytes_new, s.bytes_stored, s.chunks_new, s.chunks_dedup, s.chunks_zero})
		w.u64(v);
	w.u64(to_micros(s.seconds));
	w.str(p.host);
	return std::move(w.bytes());
}

PointInfo decode_point_header(ByteView data, int version)
{
	ByteReader r(data);
	PointInfo p;
	p.id = r.str();
	p.device = r.str();
	p.time = static_cast<std::int64_t>(r.u64());
	p.nanos = r.u32();
	p.size = r.u64();
	p.chunk_size = r.u32();
	p.base = r.str();
	p.token = r.str();
	BackupStats &s = p.stats;
	for (std::uint64_t *v :
	     {&s.bytes_read, &s.bytes_zero, &s.bytes_dedup, &s.bytes_new, &s.bytes_stored, &s.chunks_new, &s.chunks_dedup, &s.chunks_zero})
		*v = r.u64();
	const std::uint64_t micros = r.u64();
	s.seconds = static_cast<double>(micros) / 1e6;
	if (version >= 2)
		p.host = r.str();
	r.expect_end();
	// Sealed, so only a bug or a key holder writes these; still, the chunk size divides and
	// the size must fit a file offset.
	if (!valid_chunk_size(p.chunk_size) || p.size > std::uint64_t{std::numeric_limits<off_t>::max()} || micros > kMaxMicros)
		throw Error(Errc::corrupt, "bad size, chunk size or duration in restore point " + p.id);
	return p;
}

Bytes encode_chunk_list(const std::vector<ChunkId> &chunks)
{
	Bytes ids;
	ids.reserve(chunks.size() * 32);
	for (const ChunkId &c : chunks)
		ids.insert(ids.end(), c.bytes.begin(), c.bytes.end());
	ByteWriter list;
	Bytes compressed;
	bool zstd = zstd_compress(ids, kZstdLevel, compressed);
	list.u8(zstd ? 1 : 0);
	list.u64(ids.size());
	list.raw(zstd ? compressed : ids);
	return std::move(list.bytes());
}

std::vector<ChunkId> decode_chunk_list(ByteView data, const PointInfo &info)
{
	ByteReader r(data);
	bool zstd = r.u8() != 0;
	std::uint64_t n = r.u64();
	if (n != chunk_count(info.size, info.chunk_size) * 32)
		throw Error(Errc::corrupt, "chunk list does not match the device size");
	ByteView rest = r.raw(r.remaining());
	Bytes ids;
	if (zstd)
		zstd_decompress(rest, n, ids);
	else
		ids.assign(rest.begin(), rest.end());
	if (ids.size() != n)
		throw Error(Errc::corrupt, "chunk list has the wrong length");
	std::vector<ChunkId> chunks(n / 32);
	for (std::size_t i = 0; i < chunks.size(); ++i)
		std::copy_n(ids.begin() + static_cast<std::ptrdiff_t>(i * 32), 32, chunks[i].bytes.begin());
	return chunks;
}

void write_manifest(const Layout &layout, const Crypto &crypto, const Manifest &m)
{
	Bytes header = crypto.seal(aad(kPointVersion, m.info.id, 'h'), encode_point_header(m.info));
	ByteWriter file;
	const std::string m2 = magic(kPointVersion);
	file.raw(ByteView(reinterpret_cast<const std::uint8_t *>(m2.data()), kMagicLen));
	file.u32(static_cast<std::uint32_t>(header.size()));
	file.raw(header);
	file.raw(crypto.seal(aad(kPointVersion, m.info.id, 'c'), encode_chunk_list(m.chunks)));
	layout.store().put(Layout::point(m.info.id), file.bytes());
}

PointInfo read_point_info(const Layout &layout, const Crypto &crypto, const std::string &id)
{
	try {
		return read_info(open_point(layout, id), crypto, id);
	} catch (const Error &e) {
		if (e.code() != Errc::corrupt)
			throw;
		throw Error(Errc::corrupt, "restore point " + id + ": " + e.what());
	}
}

Manifest read_manifest(const Layout &layout, const Crypto &crypto, const std::string &id)
{
	try {
		PointFile f = open_point(layout, id);
		Manifest m;
		m.info = read_info(f, crypto, id);
		std::uint64_t offset = kPrefix + f.header_len;
		Bytes sealed(f.size - offset);
		f.in->read(sealed, offset);
		m.chunks = decode_chunk_list(crypto.open(aad(f.version, id, 'c'), sealed), m.info);
		return m;
	} catch (const Error &e) {
		if (e.code() != Errc::corrupt)
			throw;
		throw Error(Errc::corrupt, "restore point " + id + ": " + e.what());
	}
}

std::vector<std::string> list_point_ids(const Layout &layout)
{
	std::vector<std::string> ids;
	for (const ObjectEntry &e : layout.store().list(Layout::points())) {
		const std::string name = e.key.substr(Layout::points().size() + 1);
		if (name.ends_with(".point") && name.find('/') == std::string::npos)
			ids.push_back(name.substr(0, name.size() - 6));
	}
	return ids;
}

} // namespace bk::storage
