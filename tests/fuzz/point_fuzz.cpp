// Restore points: kind 0 is a sealed header's plaintext, kind 1 a chunk list's plaintext
// (after the device size u64 and chunk size u32 of a header it must match), kind 2 a whole point file
// read as point kPointId. Whatever decodes must re-encode to the same content.
#include <fcntl.h>

#include <cstdint>
#include <optional>

#include "bk/storage/error.hpp"
#include "fs.hpp"
#include "fuzz_common.hpp"
#include "manifest.hpp"
#include "serial.hpp"
#include "temp_dir.h"

using namespace bk::storage;

namespace {

// A repository skeleton for the whole-file kind, one per process.
struct Scratch {
	fs::path dir;
	Layout layout;
};

const Scratch &scratch_dir()
{
	static const bk::test::TempDir dir("bk-point-fuzz");
	static const Scratch s = [] {
		Scratch sc{dir.path(), Layout{make_local_backend(dir.path().string())}};
		sc.layout.store().create();
		return sc;
	}();
	return s;
}

const Layout &scratch() { return scratch_dir().layout; }

bool same(const PointInfo &a, const PointInfo &b) { return encode_point_header(a) == encode_point_header(b); }

void file_round_trip(const Crypto &crypto, const Manifest &m)
{
	write_manifest(scratch(), crypto, m);
	Manifest again = read_manifest(scratch(), crypto, m.info.id);
	fuzz::require(same(again.info, m.info) && again.chunks == m.chunks, "point file re-encodes to the same manifest");
}

// Decodes `in` as the mode says; nullopt when it is refused (Errc::corrupt and the like).
struct Decoded {
	PointInfo info;
	std::vector<ChunkId> chunks;
};

std::optional<Decoded> decode(const fuzz::Mode &mode, const Crypto &crypto, ByteView in)
{
	try {
		Decoded d;
		if (mode.kind == 0) {
			d.info = decode_point_header(in);
		} else if (mode.kind == 1) {
			ByteReader r(in);
			d.info.size = r.u64();
			d.info.chunk_size = r.u32();
			d.info = decode_point_header(encode_point_header(d.info)); // as a header would be
			d.chunks = decode_chunk_list(in.subspan(12), d.info);
		} else {
			const fs::path file = scratch_dir().dir / Layout::point(fuzz::kPointId); // no fsync per input
			{
				Fd fd = open_file(file, O_WRONLY | O_CREAT | O_TRUNC);
				pwrite_all(fd.get(), in, 0, file);
			}
			PointInfo info = read_point_info(scratch(), crypto, fuzz::kPointId);
			Manifest m = read_manifest(scratch(), crypto, fuzz::kPointId);
			fuzz::require(same(info, m.info), "header read alone equals the manifest's");
			d.info = m.info;
			d.chunks = m.chunks;
		}
		return d;
	} catch (const Error &) {
		return std::nullopt;
	}
}

} // namespace

void fuzz::test_input(const fuzz::Input &input)
{
	const auto &[mode, in, crypto] = input;
	std::optional<Decoded> d = decode(mode, crypto, in);
	if (!d)
		return;
	if (mode.kind == 0)
		fuzz::require(same(decode_point_header(encode_point_header(d->info)), d->info),
			      "point header re-encodes to the same content");
	else if (mode.kind == 1)
		fuzz::require(decode_chunk_list(encode_chunk_list(d->chunks), d->info) == d->chunks,
			      "chunk list re-encodes to the same ids");
	else
		file_round_trip(crypto, Manifest{d->info, d->chunks});
}
