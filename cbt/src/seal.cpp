#include "bk/cbt/seal.h"

#include "bk/util/crc32c.h"

#include <array>
#include <cstring>

namespace bk::cbt {

namespace {

constexpr std::string_view magic = "BKSEAL\r\n";
constexpr std::uint32_t max_text = 4096;        // paths, serials, reasons
constexpr std::uint32_t max_fingerprint = 2048; // a superblock and a log block
constexpr std::uint64_t max_map = std::uint64_t{1} << 32;

class Writer {
public:
	template <typename T> void put(const T &v)
	{
		const auto *p = reinterpret_cast<const char *>(&v);
		out.append(p, sizeof v);
	}
	void text(std::string_view s)
	{
		put(static_cast<std::uint32_t>(s.size()));
		out.append(s);
	}
	std::string out;
};

class Reader {
public:
	explicit Reader(std::string_view in) : in_(in) {}
	template <typename T> T get()
	{
		T v;
		const std::string_view bytes = take(sizeof v);
		std::memcpy(&v, bytes.data(), bytes.size());
		return v;
	}
	std::string text(std::uint32_t limit)
	{
		const auto n = get<std::uint32_t>();
		if (n > limit)
			throw SealError("seal: field too long");
		return std::string(take(n));
	}
	std::string_view take(std::uint64_t n)
	{
		if (n > in_.size())
			throw SealError("seal: truncated");
		const std::string_view part = in_.substr(0, n);
		in_.remove_prefix(n);
		return part;
	}
	bool done() const { return in_.empty(); }

private:
	std::string_view in_;
};

std::uint32_t be32(const std::uint8_t *p)
{
	return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
std::uint64_t be64(const std::uint8_t *p) { return std::uint64_t{be32(p)} << 32 | be32(p + 4); }

template <std::size_t N> std::array<std::uint8_t, N> read_at(const DeviceReader &read, std::uint64_t size, std::uint64_t offset)
{
	std::array<std::uint8_t, N> buf{};
	if (offset > size || size - offset < N)
		throw SealError("seal: filesystem layout points past the end of the device");
	read(offset, N, buf.data());
	return buf;
}

std::string as_text(const std::uint8_t *p, std::size_t n) { return {reinterpret_cast<const char *>(p), n}; }

// xfs: the superblock sector, and the head of the internal log. Each 512-byte
// block of the log begins with the cycle (lap) that wrote it (a record
// header's at offset 4, after its magic): the head is where the cycle of the
// first block drops to the last block's.
Fingerprint xfs_fingerprint(const DeviceReader &read, std::uint64_t size, const std::array<std::uint8_t, 512> &sb)
{
	const std::uint32_t block_size = be32(&sb[4]);
	const std::uint64_t log_start = be64(&sb[48]);
	const std::uint32_t ag_blocks = be32(&sb[84]);
	const std::uint32_t log_blocks = be32(&sb[96]);
	const unsigned ag_block_log = sb[124];
	if (log_start == 0)
		throw SealError("seal: xfs with an external log: its writes cannot be seen");
	if (block_size < 512 || block_size > 65536 || ag_block_log > 31 || log_blocks == 0)
		throw SealError("seal: xfs superblock out of range");
	const std::uint64_t log_block = (log_start >> ag_block_log) * ag_blocks + (log_start & ((std::uint64_t{1} << ag_block_log) - 1));
	const std::uint64_t log_offset = log_block * block_size;
	const std::uint64_t bbs = std::uint64_t{log_blocks} * block_size / 512;
	if (log_offset / block_size != log_block || log_offset > size || (size - log_offset) / 512 < bbs)
		throw SealError("seal: xfs log past the end of the device");
	auto cycle = [&](std::uint64_t bb) {
		const auto b = read_at<8>(read, size, log_offset + bb * 512);
		return be32(b.data()) == 0xFEEDBABE ? be32(&b[4]) : be32(b.data());
	};
	const std::uint32_t first = cycle(0);
	std::uint64_t head = 0;
	if (cycle(bbs - 1) != first) {
		std::uint64_t lo = 0, hi = bbs - 1; // cycle(lo) == first, cycle(hi) != first
		while (hi - lo > 1) {
			const std::uint64_t mid = lo + (hi - lo) / 2;
			(cycle(mid) == first ? lo : hi) = mid;
		}
		head = hi;
	}
	const auto last = read_at<512>(read, size, log_offset + (head ? head - 1 : bbs - 1) * 512);
	Writer w;
	w.out = as_text(sb.data(), sb.size());
	w.put(first);
	w.put(head);
	w.out.append(as_text(last.data(), last.size()));
	return {"xfs", std::move(w.out)};
}

} // namespace

std::string encode_seal(const Seal &s)
{
	Writer w;
	w.out.append(magic);
	w.put(seal_version);
	w.put(static_cast<std::uint32_t>(s.kind));
	w.text(s.device.path);
	w.text(s.device.serial);
	w.put(s.device.size_bytes);
	w.put(s.device.block_shift);
	w.put(s.device.block_count);
	w.text(s.device.fs.kind);
	w.text(s.device.fs.bytes);
	w.put(s.sealed.generation);
	w.put(s.sealed.sequence);
	w.put(s.successor);
	w.text(s.why);
	w.put(static_cast<std::uint64_t>(s.map.size()));
	w.out.append(reinterpret_cast<const char *>(s.map.data()), s.map.size());
	w.put(util::crc32c(0, w.out.data(), w.out.size()));
	return std::move(w.out);
}

Seal decode_seal(std::string_view bytes)
{
	if (bytes.size() < magic.size() + 4 || bytes.substr(0, magic.size()) != magic)
		throw SealError("seal: not a seal file");
	const std::string_view body = bytes.substr(0, bytes.size() - 4);
	std::uint32_t crc = 0;
	std::memcpy(&crc, bytes.data() + body.size(), sizeof crc);
	if (crc != util::crc32c(0, body.data(), body.size()))
		throw SealError("seal: checksum mismatch (damaged or truncated)");
	Reader r(body.substr(magic.size()));
	if (const auto version = r.get<std::uint32_t>(); version != seal_version)
		throw SealError("seal: format version " + std::to_string(version) + ", this tool reads " + std::to_string(seal_version));
	Seal s;
	const auto kind = r.get<std::uint32_t>();
	if (kind > static_cast<std::uint32_t>(Seal::Kind::rejected))
		throw SealError("seal: unknown record kind");
	s.kind = static_cast<Seal::Kind>(kind);
	s.device.path = r.text(max_text);
	s.device.serial = r.text(max_text);
	s.device.size_bytes = r.get<std::uint64_t>();
	s.device.block_shift = r.get<std::uint32_t>();
	s.device.block_count = r.get<std::uint64_t>();
	s.device.fs.kind = r.text(max_text);
	s.device.fs.bytes = r.text(max_fingerprint);
	s.sealed.generation = r.get<Generation>();
	s.sealed.sequence = r.get<std::uint32_t>();
	s.successor = r.get<Generation>();
	s.why = r.text(max_text);
	const auto map_size = r.get<std::uint64_t>();
	const bool has_map = s.kind != Seal::Kind::rejected;
	if (map_size > max_map || map_size != (has_map ? s.device.block_count : 0))
		throw SealError("seal: map size does not match the device's map");
	const std::string_view map = r.take(map_size);
	s.map.assign(map.begin(), map.end());
	if (!r.done())
		throw SealError("seal: trailing bytes");
	return s;
}

std::optional<std::string> seal_mismatch(const DeviceState &sealed, const DeviceState &now)
{
	if (sealed.path != now.path)
		return "sealed for " + sealed.path + ", found on " + now.path;
	if (sealed.serial != now.serial)
		return "device serial changed (\"" + sealed.serial + "\" -> \"" + now.serial + "\"): another disk";
	if (sealed.size_bytes != now.size_bytes)
		return "device size changed (" + std::to_string(sealed.size_bytes) + " -> " + std::to_string(now.size_bytes) + " bytes)";
	if (sealed.block_shift != now.block_shift || sealed.block_count != now.block_count)
		return "change map geometry changed";
	if (sealed.fs.kind != now.fs.kind)
		return "filesystem changed (" + sealed.fs.kind + " -> " + now.fs.kind + ")";
	if (sealed.fs.bytes != now.fs.bytes)
		return "the " + sealed.fs.kind +
		       " filesystem was written since the seal (its superblock or log changed: mounted elsewhere?)";
	return std::nullopt;
}

Fingerprint fingerprint(const DeviceReader &read, std::uint64_t size)
{
	if (size >= 2048) {
		const auto ext = read_at<1024>(read, size, 1024);
		if (ext[0x38] == 0x53 && ext[0x39] == 0xEF)
			return {"ext", as_text(ext.data(), ext.size())};
	}
	if (size >= 512) {
		const auto sb = read_at<512>(read, size, 0);
		if (std::memcmp(sb.data(), "XFSB", 4) == 0)
			return xfs_fingerprint(read, size, sb);
	}
	return {"none", {}};
}

} // namespace bk::cbt
