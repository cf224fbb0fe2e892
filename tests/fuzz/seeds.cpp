// Writes the fuzz targets' seed corpora: SEEDS/{config,index,pack,point,lock,agent_config}/
// (the last is deploy/bkagentd.conf, given as AGENT_CONF) and the agent's
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

} // namespace

int main(int argc, char **argv)
{
	if (argc != 4) {
		std::fprintf(stderr, "usage: %s SEEDS_DIR AGENT_CONF JOB_CONF\n", argv[0]);
		return 2;
	}
	const fs::path out = argv[1];
	fs::remove_all(out);
	for (const char *t : {"config", "index", "pack", "point", "lock", "agent_config"})
		fs::create_directories(out / t);
	for (bool encrypted : {true, false})
		seeds_of(encrypted, out);
	for (const char *pid : {"4242", ""})
		put_raw(out / "lock", pid[0] ? "pid" : "empty", ByteView(reinterpret_cast<const std::uint8_t *>(pid), std::strlen(pid)));
	fs::copy_file(argv[2], out / "agent_config" / "bkagentd.conf");
	bk::fuzz::write_agent_seeds(out, argv[3]);
	return 0;
}
