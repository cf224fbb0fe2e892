// Shared fixtures for the storage tests: scratch directories, image generators, sha256.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "../../storage/src/backend.hpp"
#include "bk/storage/repository.hpp"

namespace bk::storage::test {

namespace fs = std::filesystem;

inline constexpr std::uint32_t kChunk = 64 << 10; // small chunks keep the tests fast
inline constexpr const char *kPass = "correct horse battery staple";

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class ScratchDir {
public:
	ScratchDir();
	ScratchDir(const ScratchDir &) = delete;
	ScratchDir &operator=(const ScratchDir &) = delete;
	~ScratchDir();
	const fs::path &path() const { return path_; }
	fs::path operator/(const std::string &name) const { return path_ / name; }

private:
	fs::path path_;
};

InitOptions small_repo_options(bool encrypted = true);

// The backend the repository tests run against: by default a directory `name` in the
// scratch dir; with BK_TEST_S3_ENV=FILE (the s3 ctest registration: `ceph-s3.sh env`
// output plus BK_TEST_BUCKET) a fresh prefix s3://bucket/<scratch dir name>/<name>.
bool on_s3();
const StorageOptions &test_storage();
std::string repo_location(const ScratchDir &dir, const std::string &name = "repo");
Repository init_repo(const ScratchDir &dir, const InitOptions &options, const std::string &name = "repo");
Repository open_repo(const ScratchDir &dir, const std::string &passphrase, const std::string &name = "repo");
// The repository's objects, for tests that inspect or damage them.
std::shared_ptr<Backend> repo_backend(const ScratchDir &dir, const std::string &name = "repo");
std::uint64_t packs_bytes(const ScratchDir &dir);
// Replaces an object's bytes the way damage would: in place for a file (a reader that
// has it open sees the change), by a PUT on S3.
void overwrite_object(const ScratchDir &dir, const std::string &key, const std::vector<std::uint8_t> &bytes);

enum class Fill { random, text, zeros, sparse, mixed };
std::vector<std::uint8_t> make_image(Fill fill, std::size_t size, std::mt19937_64 &rng);
// Overwrites `count` random byte ranges (up to 3 chunks long, sometimes with zeros) and
// returns the chunk indexes they touch.
std::vector<std::uint64_t> mutate(std::vector<std::uint8_t> &image, int count, std::mt19937_64 &rng);

void write_file(const fs::path &path, const std::vector<std::uint8_t> &data);
std::vector<std::uint8_t> read_file(const fs::path &path);
std::string sha256(const std::vector<std::uint8_t> &data);
std::string sha256_file(const fs::path &path);

// Backs up `image` (written to a file next to the repository first).
PointInfo backup_image(Repository &repo, const fs::path &file, const std::vector<std::uint8_t> &image, const std::string &device,
		       const std::string &base = "", const std::vector<std::uint64_t> *changed = nullptr, std::int64_t time = 0,
		       const std::string &host = "");

} // namespace bk::storage::test
