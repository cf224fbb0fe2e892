// Repository corruption sweep: one file of a repository with full and incremental points
// of several devices is damaged at a time (a flipped byte, a zeroed range, a truncation,
// a deletion, a duplicate, a swap; config, index segment, pack, point or lock file, at
// seeded random places), then:
//   - open refuses clearly (corrupt, bad passphrase, unsupported format, not found) and
//     modifies nothing, or
//   - restore is the oracle: a point restores bit-exact or fails with Errc::corrupt having
//     written only its own authenticated chunks; a silently wrong restore fails the test;
//   - verify names exactly the points that fail to restore (none missed, no false alarm);
//   - prune keeps every surviving point restorable bit-exact.
// BK_SEED reproduces a run, BK_SWEEP_CASES sets its length (default 100).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "../kernel/test_seed.h"
#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

using Image = std::vector<std::uint8_t>;

// The undamaged repository and the content of each of its points.
struct Original {
	ScratchDir dir;
	fs::path repo = dir / "repo";
	std::map<std::string, Image> images;          // point id -> device content
	std::map<std::string, std::string> device_of; // point id -> device
};

const Original &original()
{
	// Built once for all cases; destroyed at exit, which removes its directory.
	static const std::unique_ptr<Original> o = [] {
		auto o = std::make_unique<Original>();
		Repository repo = Repository::init(o->repo, small_repo_options());
		std::mt19937_64 rng(5);
		const Fill fills[] = {Fill::mixed, Fill::text, Fill::sparse};
		for (int d = 0; d < 3; ++d) {
			const std::string device = "dev" + std::to_string(d);
			Image image = make_image(fills[d], 5 * kChunk + 777 * static_cast<std::size_t>(d), rng);
			PointInfo base = backup_image(repo, o->dir / "src", image, device);
			o->images[base.id] = image;
			for (int k = 0; k < 2; ++k) {
				auto changed = mutate(image, 2, rng);
				base = backup_image(repo, o->dir / "src", image, device, base.id, &changed);
				o->images[base.id] = image;
			}
		}
		for (const PointInfo &p : repo.points())
			o->device_of[p.id] = p.device;
		return o;
	}();
	return *o;
}

std::map<std::string, std::string> snapshot(const fs::path &repo)
{
	std::map<std::string, std::string> files;
	for (const auto &e : fs::recursive_directory_iterator(repo))
		if (e.is_regular_file())
			files[fs::relative(e.path(), repo).string()] = sha256_file(e.path());
	return files;
}

enum class Kind { config, index, pack, point, lock };
enum class Op { flip, zero, truncate, remove, duplicate, swap };
const char *const kKinds[] = {"config", "index", "pack", "point", "lock"};
const char *const kOps[] = {"flip", "zero", "truncate", "delete", "duplicate", "swap"};

std::vector<fs::path> files_of(const fs::path &repo, Kind kind)
{
	std::vector<fs::path> out;
	auto add_dir = [&](const fs::path &dir, const std::string &ext) {
		for (const auto &e : fs::recursive_directory_iterator(dir))
			if (e.is_regular_file() && e.path().extension() == ext)
				out.push_back(e.path());
	};
	switch (kind) {
	case Kind::config: out.push_back(repo / "config"); break;
	case Kind::index: add_dir(repo / "index", ".idx"); break;
	case Kind::pack: add_dir(repo / "packs", ".pack"); break;
	case Kind::point: add_dir(repo / "points", ".point"); break;
	case Kind::lock: out = {repo / "locks" / "write", repo / "locks" / "delete"}; break;
	}
	std::sort(out.begin(), out.end());
	return out;
}

// A name for a copy of `file` that readers of its kind will pick up.
fs::path duplicate_name(const fs::path &file, Kind kind, std::mt19937_64 &rng)
{
	char hex[40];
	switch (kind) {
	case Kind::index:
		std::snprintf(hex, sizeof hex, "%016llx.idx", static_cast<unsigned long long>(rng() % 1000 + 100));
		return file.parent_path() / hex;
	case Kind::pack:
		std::snprintf(hex, sizeof hex, "%016llx%016llx.pack", static_cast<unsigned long long>(rng()),
			      static_cast<unsigned long long>(rng()));
		return file.parent_path().parent_path() / std::string(hex, 2) / hex;
	case Kind::point:
		std::snprintf(hex, sizeof hex, "%016llx.point", static_cast<unsigned long long>(rng()));
		return file.parent_path() / hex;
	default: return file.string() + ".copy";
	}
}

// Damages one file; returns a description (empty when the case does not apply).
std::string damage(const fs::path &repo, Kind kind, Op op, std::mt19937_64 &rng)
{
	std::vector<fs::path> files = files_of(repo, kind);
	if (files.empty())
		return "";
	const fs::path file = files[rng() % files.size()];
	Image data = read_file(file);
	std::string what = std::string(kOps[static_cast<int>(op)]) + " " + fs::relative(file, repo).string();
	switch (op) {
	case Op::flip: {
		if (data.empty())
			return "";
		const std::size_t at = rng() % data.size();
		data[at] ^= static_cast<std::uint8_t>(1 + rng() % 255);
		write_file(file, data);
		return what + " @" + std::to_string(at);
	}
	case Op::zero: {
		if (data.empty())
			return "";
		const std::size_t at = rng() % data.size(), len = std::min<std::size_t>(1 + rng() % 4096, data.size() - at);
		std::fill_n(data.begin() + static_cast<std::ptrdiff_t>(at), len, 0);
		write_file(file, data);
		return what + " @" + std::to_string(at) + "+" + std::to_string(len);
	}
	case Op::truncate: {
		const std::size_t len = data.empty() ? 0 : rng() % data.size();
		fs::resize_file(file, len);
		return what + " to " + std::to_string(len);
	}
	case Op::remove: fs::remove(file); return what;
	case Op::duplicate: {
		const fs::path copy = duplicate_name(file, kind, rng);
		fs::copy_file(file, copy);
		return what + " as " + fs::relative(copy, repo).string();
	}
	case Op::swap: {
		if (files.size() < 2)
			return "";
		fs::path other = files[rng() % files.size()];
		if (other == file)
			other = files[(std::find(files.begin(), files.end(), file) - files.begin() + 1) % files.size()];
		write_file(file, read_file(other));
		write_file(other, data);
		return what + " with " + fs::relative(other, repo).string();
	}
	}
	return "";
}

struct Counts {
	int cases = 0, refused = 0, damaged = 0, detected = 0, harmless = 0, false_alarms = 0, missed = 0;
	std::map<std::string, std::pair<int, int>> by_kind; // kind -> cases, detected
};

// The oracle: does point `id` restore, and if not, did it write only its own chunks?
enum class Restored { exact, corrupt, absent };

Restored restore_oracle(Repository &repo, const std::string &id, const Image *image, const fs::path &target, const std::string &where)
{
	const Image stale(3 * kChunk, 0xee);
	write_file(target, stale);
	try {
		RestoreOptions one_thread; // the cases are small: threads cost more than they save
		one_thread.threads = 1;
		repo.restore(id, target, one_thread);
	} catch (const Error &e) {
		if (e.code() == Errc::not_found)
			return Restored::absent;
		EXPECT_EQ(e.code(), Errc::corrupt) << where << ": restore " << id << ": " << e.what();
		const Image got = read_file(target);
		if (got == stale || !image)
			return Restored::corrupt;
		EXPECT_EQ(got.size(), image->size()) << where;
		for (std::size_t off = 0; off < std::min(got.size(), image->size()); off += kChunk) {
			const std::size_t len = std::min<std::size_t>(kChunk, got.size() - off);
			const auto *g = got.data() + off;
			const bool own = std::equal(g, g + len, image->data() + off);
			const bool untouched = std::all_of(g, g + len, [](std::uint8_t b) { return b == 0; });
			EXPECT_TRUE(own || untouched) << where << ": restore " << id << " wrote an unauthenticated chunk at " << off;
		}
		return Restored::corrupt;
	}
	EXPECT_TRUE(image && read_file(target) == *image) << where << ": point " << id << " restored WRONG data";
	return Restored::exact;
}

void run_case(const fs::path &work, std::mt19937_64 &rng, Counts &n)
{
	const Original &o = original();
	const fs::path repo_dir = work / "repo";
	fs::remove_all(work);
	fs::create_directories(work);
	fs::copy(o.repo, repo_dir, fs::copy_options::recursive);
	const Kind kind = static_cast<Kind>(rng() % 5);
	const Op op = static_cast<Op>(rng() % 6);
	const std::string where = kKinds[static_cast<int>(kind)] + std::string(": ") + damage(repo_dir, kind, op, rng);
	if (where.ends_with(": "))
		return; // does not apply (e.g. swap of the only file)
	++n.cases;
	auto &[kind_cases, kind_detected] = n.by_kind[kKinds[static_cast<int>(kind)]];
	++kind_cases;
	SCOPED_TRACE(where);
	const auto damaged_files = snapshot(repo_dir);

	std::optional<Repository> opened;
	try {
		opened.emplace(Repository::open(repo_dir, kPass));
	} catch (const Error &e) {
		EXPECT_TRUE(e.code() == Errc::corrupt || e.code() == Errc::bad_passphrase || e.code() == Errc::unsupported_format ||
			    e.code() == Errc::not_found)
			<< where << ": " << e.what();
		EXPECT_EQ(snapshot(repo_dir), damaged_files) << where << ": a refused open modified the repository";
		++n.refused;
		++n.detected;
		++kind_detected;
		return;
	}
	Repository &repo = *opened;

	// Points present after the damage: the originals and any duplicate.
	std::set<std::string> ids;
	for (const auto &[id, image] : o.images)
		ids.insert(id);
	for (const auto &e : fs::directory_iterator(repo_dir / "points"))
		ids.insert(e.path().stem().string());
	std::set<std::string> bad, good;
	for (const std::string &id : ids) {
		auto it = o.images.find(id);
		switch (restore_oracle(repo, id, it == o.images.end() ? nullptr : &it->second, work / "out", where)) {
		case Restored::exact: good.insert(id); break;
		case Restored::corrupt: bad.insert(id); break;
		case Restored::absent: break; // a deleted point file: undetectable, like a pruned point
		}
	}

	VerifyOptions one_thread;
	one_thread.threads = 1;
	const VerifyReport v = repo.verify(one_thread);
	const std::set<std::string> named(v.damaged_points.begin(), v.damaged_points.end());
	for (const std::string &id : bad)
		if (!named.contains(id)) {
			++n.missed;
			ADD_FAILURE() << where << ": verify does not name damaged point " << id;
		}
	for (const std::string &id : named)
		if (good.contains(id)) {
			++n.false_alarms;
			ADD_FAILURE() << where << ": verify names point " << id << ", which restores bit-exact";
		}
	if (!bad.empty()) {
		++n.damaged;
		EXPECT_FALSE(v.ok()) << where;
	}
	if (!v.ok()) {
		++n.detected;
		++kind_detected;
	} else {
		++n.harmless;
	}

	// Prune, done or refused, must leave every good point its policy keeps restorable (a
	// refused dry run means the policy could not even be evaluated: then all of them).
	PruneOptions keep;
	keep.keep.last = 1 + static_cast<unsigned>(rng() % 2);
	std::optional<std::set<std::string>> kept;
	try {
		PruneOptions dry = keep;
		dry.dry_run = true;
		const PruneReport r = repo.prune(dry);
		kept.emplace(r.kept.begin(), r.kept.end());
	} catch (const Error &e) {
		EXPECT_NE(e.code(), Errc::invalid_argument) << where << ": prune: " << e.what();
	}
	try {
		repo.prune(keep);
	} catch (const Error &e) {
		EXPECT_NE(e.code(), Errc::invalid_argument) << where << ": prune: " << e.what();
	}
	for (const std::string &id : good) {
		if (!kept || kept->contains(id)) {
			EXPECT_EQ(restore_oracle(repo, id, &o.images.at(id), work / "out", where + " after prune"), Restored::exact);
		}
	}
}

TEST(Sweep, EveryDamageIsRefusedOrNamedAndNothingElseIsLost)
{
	const char *env = std::getenv("BK_SWEEP_CASES");
	const int cases = env ? std::atoi(env) : 100;
	std::mt19937_64 rng(test_seed());
	ScratchDir work;
	Counts n;
	for (int i = 0; i < cases && !HasFailure(); ++i)
		run_case(work / "case", rng, n);
	std::printf("sweep: %d cases: %d refused at open, %d with points that fail to restore, %d detected by open or verify, "
		    "%d without effect, %d false alarms, %d missed\n",
		    n.cases, n.refused, n.damaged, n.detected, n.harmless, n.false_alarms, n.missed);
	for (const auto &[kind, c] : n.by_kind)
		std::printf("sweep: %s: %d cases, %d detected\n", kind.c_str(), c.first, c.second);
	EXPECT_EQ(n.false_alarms, 0);
	EXPECT_EQ(n.missed, 0);
}

// A newer format and a wrong passphrase: clear refusals, nothing modified.
TEST(Sweep, NewerFormatAndWrongPassphraseAreRefusedUntouched)
{
	ScratchDir work;
	fs::copy(original().repo, work / "repo", fs::copy_options::recursive);
	const auto before = snapshot(work / "repo");
	auto code_of_open = [&](const std::string &pass) -> std::optional<Errc> {
		try {
			Repository::open(work / "repo", pass);
		} catch (const Error &e) {
			return e.code();
		}
		return std::nullopt;
	};
	EXPECT_EQ(code_of_open("wrong passphrase"), Errc::bad_passphrase);
	EXPECT_EQ(snapshot(work / "repo"), before);

	Image config = read_file(work / "repo" / "config");
	std::string text(config.begin(), config.end());
	text.replace(text.find("\"format\": 2"), 11, "\"format\": 3");
	write_file(work / "repo" / "config", Image(text.begin(), text.end()));
	const auto newer = snapshot(work / "repo");
	EXPECT_EQ(code_of_open(kPass), Errc::unsupported_format);
	EXPECT_EQ(snapshot(work / "repo"), newer);
}

} // namespace
} // namespace bk::storage::test
