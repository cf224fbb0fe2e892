// Writes the fuzz targets' seed corpora: SEEDS/{config,index,pack,point,lock,agent_config,seal}/
// (agent_config is deploy/bkagentd.conf, given as AGENT_CONF) and the agent's
// (agent_seeds.cpp; JOB_CONF is deploy/jobs/nightly.conf). The
// files come from real repositories (encrypted and not) holding full and incremental
// points of two devices, written through the library as the storage tests do; index,
// pack and point files are re-sealed under the targets' fixed keys.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>

#include "../storage/helpers.hpp"
#include "agent_seeds.hpp"
#include "bk/cbt/seal.h"
#include "bk/cbt/store.h"
#include "chain_record.h"
#include "config.hpp"
#include "fs.hpp"
#include "fuzz_common.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "serial.hpp"

using namespace bk::storage;

namespace {

void put(const fs::path &dir, const std::string &name, std::uint8_t mode, ByteView body)
{
	std::ofstream out(dir / name, std::ios::binary);
	out.put(static_cast<char>(mode));
	out.write(reinterpret_cast<const char *>(body.data()), static_cast<std::streamsize>(body.size()));
}

void put_raw(const fs::path &dir, const std::string &name, ByteView body)
{
	std::ofstream out(dir / name, std::ios::binary);
	out.write(reinterpret_cast<const char *>(body.data()), static_cast<std::streamsize>(body.size()));
}

// Two devices, each a full then an incremental point.
void fill(Repository &repo, const fs::path &scratch)
{
	std::mt19937_64 rng(17);
	const std::size_t size = 6 * test::kChunk + 4096;
	for (auto [device, fill] : {std::pair{"vda", test::Fill::mixed}, std::pair{"vdb", test::Fill::text}}) {
		auto image = test::make_image(fill, size, rng);
		PointInfo full = test::backup_image(repo, scratch / device, image, device);
		auto changed = test::mutate(image, 2, rng);
		test::backup_image(repo, scratch / device, image, device, full.id, &changed);
	}
}

void seeds_of(bool encrypted, const fs::path &out)
{
	test::ScratchDir dir;
	const Layout layout{make_local_backend(dir / "repo")};
	Repository repo = Repository::init(dir / "repo", test::small_repo_options(encrypted));
	fill(repo, dir.path());
	const std::string tag = encrypted ? "enc" : "plain";
	const RepoConfig config = load_config(layout);
	const Crypto real(unlock_master_key(config, test::kPass), encrypted);
	const Crypto fixed = fuzz::fixed_crypto(encrypted);
	put_raw(out / "config", tag, layout.store().get(Layout::config()));

	int n = 0;
	for (const ObjectEntry &e : layout.store().list(Layout::index())) {
		auto entries = decode_segment(real, layout.store().get(e.key));
		const std::string name = tag + "-" + std::to_string(n++);
		put(out / "index", name + "-file", fuzz::mode_byte(0, encrypted), encode_segment(fixed, entries));
		put(out / "index", name + "-payload", fuzz::mode_byte(1, encrypted), encode_segment_payload(entries));
	}

	const Index index = Index::load(layout, real);
	PackReader packs(layout);
	n = 0;
	for (const auto &[id, loc] : index.entries()) {
		if (n == 6)
			break;
		Bytes record, plain;
		packs.read(loc, record);
		decode_record(real, record, id, loc.raw_len, plain);
		Record rec = encode_chunk(fixed, fixed.chunk_id(plain), plain, 3);
		rec.header.insert(rec.header.end(), rec.body.begin(), rec.body.end());
		const std::string name = tag + "-" + std::to_string(n++);
		put(out / "pack", name + "-record", fuzz::mode_byte(0, encrypted), rec.header);
		put(out / "pack", name + "-plain", fuzz::mode_byte(1, encrypted), ByteView(plain).first(4096));
	}

	const Layout resealed{make_local_backend(dir / "resealed")};
	resealed.store().create();
	n = 0;
	for (const std::string &id : list_point_ids(layout)) {
		Manifest m = read_manifest(layout, real, id);
		const std::string name = tag + "-" + std::to_string(n++);
		put(out / "point", name + "-header", fuzz::mode_byte(0, encrypted), encode_point_header(m.info));
		ByteWriter list;
		list.u64(m.info.size);
		list.u32(m.info.chunk_size);
		list.raw(encode_chunk_list(m.chunks));
		put(out / "point", name + "-list", fuzz::mode_byte(1, encrypted), list.bytes());
		m.info.id = fuzz::kPointId;
		write_manifest(resealed, fixed, m);
		put(out / "point", name + "-file", fuzz::mode_byte(2, encrypted), resealed.store().get(Layout::point(fuzz::kPointId)));
	}
}

// Seal records of each kind, and a small xfs-like image for the fingerprint mode.
void seal_seeds(const fs::path &dir)
{
	auto put_seal = [&](const std::string &name, std::uint8_t mode, const std::string &bytes) {
		put(dir, name, mode, ByteView(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()));
	};
	bk::cbt::Seal s;
	s.device = {"/dev/vdb", "disk1", 1 << 20, 12, 256, {"ext", std::string(1024, 'e')}};
	s.sealed.generation.fill(1);
	s.sealed.sequence = 3;
	s.map.assign(256, 0);
	s.map[7] = 2;
	s.map[200] = 3;
	put_seal("seal", 0, bk::cbt::encode_seal(s));
	s.kind = bk::cbt::Seal::Kind::carry;
	s.successor.fill(2);
	put_seal("carry", 0, bk::cbt::encode_seal(s));
	s.kind = bk::cbt::Seal::Kind::rejected;
	s.map.clear();
	s.why = "device size changed";
	put_seal("rejected", 0, bk::cbt::encode_seal(s));
	// xfs: 512-byte blocks, 128 per AG (agblklog 7), a 64-block log at block 16
	// whose first 10 blocks are of cycle 2, the rest of cycle 1.
	std::string image(64 << 10, '\0');
	auto be = [&](std::size_t at, std::uint64_t v, int n) {
		for (int i = n - 1; i >= 0; --i, v >>= 8)
			image[at + i] = static_cast<char>(v & 0xff);
	};
	image.replace(0, 4, "XFSB");
	be(4, 512, 4);
	be(48, 16, 8);
	be(84, 128, 4);
	be(96, 64, 4);
	image[124] = 7;
	for (int bb = 0; bb < 64; ++bb)
		be(16 * 512 + bb * 512, bb < 10 ? 2 : 1, 4);
	put_seal("xfs", 1, image);
	image.replace(0, 4, "none");
	image[1024 + 0x38] = 0x53;
	image[1024 + 0x39] = static_cast<char>(0xef);
	put_seal("ext", 1, image);
}

// Chain records as a real CBT store writes them: one generation, then each
// sequence wrap the kernel links, up to a full chain; and a committed one.
void chain_seeds(const fs::path &dir, const fs::path &scratch)
{
	bk::cbt::Store store(scratch.string());
	const bk::cbt::Geometry geo{12, 64};
	const bk::cbt::MapReader all = [](std::uint64_t, std::uint64_t count, std::uint8_t *out) { std::memset(out, 1, count); };
	bk::cbt::Token last{{}, 0};
	for (std::uint8_t g = 1; g <= bk::cbt::max_segments; ++g) {
		bk::cbt::Token next{{}, 1};
		next.generation.fill(g);
		store.record_snapshot("d", next, geo, all, last.sequence ? std::optional(last) : std::nullopt);
		next.sequence = 200;
		store.record_snapshot("d", next, geo, all);
		last = next;
		const std::string rec = bk::cbt::encode_chain(*store.chain("d"));
		put_raw(dir, "chain-" + std::to_string(g), ByteView(reinterpret_cast<const std::uint8_t *>(rec.data()), rec.size()));
	}
	store.commit("d", last);
	const std::string rec = bk::cbt::encode_chain(*store.chain("d"));
	put_raw(dir, "committed", ByteView(reinterpret_cast<const std::uint8_t *>(rec.data()), rec.size()));
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 4) {
		std::fprintf(stderr, "usage: %s SEEDS_DIR AGENT_CONF JOB_CONF\n", argv[0]);
		return 2;
	}
	const fs::path out = argv[1];
	fs::remove_all(out);
	for (const char *t : {"config", "index", "pack", "point", "lock", "agent_config", "seal", "chain_record"})
		fs::create_directories(out / t);
	seal_seeds(out / "seal");
	chain_seeds(out / "chain_record", out / "chain-store");
	fs::remove_all(out / "chain-store");
	for (bool encrypted : {true, false})
		seeds_of(encrypted, out);
	for (const char *pid : {"4242", ""})
		put_raw(out / "lock", pid[0] ? "pid" : "empty", ByteView(reinterpret_cast<const std::uint8_t *>(pid), std::strlen(pid)));
	fs::copy_file(argv[2], out / "agent_config" / "bkagentd.conf");
	bk::fuzz::write_agent_seeds(out, argv[3]);
	return 0;
}
