#include "helpers.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>

namespace bk::storage::test {

ScratchDir::ScratchDir()
{
	std::string tmpl = (fs::temp_directory_path() / "bkstorage-XXXXXX").string();
	if (!::mkdtemp(tmpl.data()))
		throw std::runtime_error("mkdtemp failed");
	path_ = tmpl;
}

ScratchDir::~ScratchDir()
{
	std::error_code ec;
	fs::remove_all(path_, ec);
}

InitOptions small_repo_options(bool encrypted)
{
	InitOptions o;
	o.encrypted = encrypted;
	o.passphrase = encrypted ? kPass : "";
	o.chunk_size = kChunk;
	o.pack_size = 256 << 10;
	o.scrypt_n = 1 << 10;
	return o;
}

namespace {

struct S3Env {
	StorageOptions storage;
	std::string bucket;
};

// Reads `export NAME=VALUE` lines; the credentials go into the environment, where the
// S3 backend looks for them, as it would for a user.
std::optional<S3Env> load_s3_env()
{
	const char *file = std::getenv("BK_TEST_S3_ENV");
	if (!file || !*file)
		return std::nullopt;
	std::ifstream in(file);
	if (!in)
		throw std::runtime_error(std::string("BK_TEST_S3_ENV: cannot read ") + file);
	S3Env env;
	std::string line;
	while (std::getline(in, line)) {
		if (line.starts_with("export "))
			line.erase(0, 7);
		const auto eq = line.find('=');
		if (eq == std::string::npos)
			continue;
		const std::string name = line.substr(0, eq), value = line.substr(eq + 1);
		if (name == "S3_ENDPOINT")
			env.storage.s3.endpoint = value;
		else if (name == "BK_TEST_BUCKET")
			env.bucket = value;
		else if (name.starts_with("AWS_"))
			::setenv(name.c_str(), value.c_str(), 1);
	}
	if (env.storage.s3.endpoint.empty() || env.bucket.empty())
		throw std::runtime_error(std::string("BK_TEST_S3_ENV: no S3_ENDPOINT or BK_TEST_BUCKET in ") + file);
	// Short enough for the lease tests to wait out, long enough for a loaded test machine.
	env.storage.s3.lock_lease = std::chrono::seconds(20);
	return env;
}

const std::optional<S3Env> &s3_env()
{
	static const std::optional<S3Env> env = load_s3_env();
	return env;
}

} // namespace

bool on_s3() { return s3_env().has_value(); }

const StorageOptions &test_storage()
{
	static const StorageOptions local;
	return on_s3() ? s3_env()->storage : local;
}

std::string repo_location(const ScratchDir &dir, const std::string &name)
{
	if (!on_s3())
		return (dir / name).string();
	return "s3://" + s3_env()->bucket + "/" + dir.path().filename().string() + "/" + name;
}

Repository init_repo(const ScratchDir &dir, const InitOptions &options, const std::string &name)
{
	return Repository::init(repo_location(dir, name), options, test_storage());
}

Repository open_repo(const ScratchDir &dir, const std::string &passphrase, const std::string &name)
{
	return Repository::open(repo_location(dir, name), passphrase, test_storage());
}

std::shared_ptr<Backend> repo_backend(const ScratchDir &dir, const std::string &name)
{
	return open_backend(repo_location(dir, name), test_storage());
}

std::uint64_t packs_bytes(const ScratchDir &dir)
{
	std::uint64_t n = 0;
	for (const ObjectEntry &e : repo_backend(dir)->list("packs"))
		n += e.size;
	return n;
}

void overwrite_object(const ScratchDir &dir, const std::string &key, const std::vector<std::uint8_t> &bytes)
{
	if (on_s3())
		repo_backend(dir)->put(key, bytes);
	else
		write_file(dir / "repo" / key, bytes);
}

std::vector<std::uint8_t> make_image(Fill fill, std::size_t size, std::mt19937_64 &rng)
{
	std::vector<std::uint8_t> img(size);
	auto random_bytes = [&](std::size_t from, std::size_t to) {
		for (std::size_t i = from; i < to; ++i)
			img[i] = static_cast<std::uint8_t>(rng());
	};
	auto text = [&](std::size_t from, std::size_t to) {
		static const std::string words[] = {"block ", "device ",   "backup ",   "chunk ", "the ",
						    "of ",    "restore\n", "snapshot ", "ext4 ",  "journal "};
		for (std::size_t i = from; i < to;) {
			const std::string &w = words[rng() % std::size(words)];
			for (char c : w)
				if (i < to)
					img[i++] = static_cast<std::uint8_t>(c);
		}
	};
	switch (fill) {
	case Fill::random: random_bytes(0, size); break;
	case Fill::text: text(0, size); break;
	case Fill::zeros: break;
	case Fill::sparse: // a few islands of data in zeros, not chunk aligned
		for (int k = 0; k < 4 && size > 0; ++k) {
			std::size_t at = rng() % size;
			random_bytes(at, std::min(size, at + 5000 + rng() % 40000));
		}
		break;
	case Fill::mixed:
		for (std::size_t at = 0; at < size; at += kChunk / 2) {
			std::size_t end = std::min(size, at + kChunk / 2);
			switch (rng() % 3) {
			case 0: random_bytes(at, end); break;
			case 1: text(at, end); break;
			default: break;
			}
		}
		break;
	}
	return img;
}

std::vector<std::uint64_t> mutate(std::vector<std::uint8_t> &image, int count, std::mt19937_64 &rng)
{
	std::vector<std::uint64_t> touched;
	for (int k = 0; k < count; ++k) {
		std::size_t at = rng() % image.size();
		std::size_t end = std::min(image.size(), at + 1 + rng() % (3 * kChunk));
		bool zero = rng() % 4 == 0;
		for (std::size_t i = at; i < end; ++i)
			image[i] = zero ? 0 : static_cast<std::uint8_t>(rng());
		for (std::uint64_t c = at / kChunk; c <= (end - 1) / kChunk; ++c)
			touched.push_back(c);
	}
	std::sort(touched.begin(), touched.end());
	touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
	return touched;
}

void write_file(const fs::path &path, const std::vector<std::uint8_t> &data)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out.write(reinterpret_cast<const char *>(data.data()), static_cast<std::streamsize>(data.size()));
	if (!out)
		throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::uint8_t> read_file(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string sha256(const std::vector<std::uint8_t> &data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
	static constexpr char digits[] = "0123456789abcdef";
	std::string hex;
	for (unsigned i = 0; i < len; ++i) {
		hex.push_back(digits[md[i] >> 4]);
		hex.push_back(digits[md[i] & 15]);
	}
	return hex;
}

std::string sha256_file(const fs::path &path) { return sha256(read_file(path)); }

PointInfo backup_image(Repository &repo, const fs::path &file, const std::vector<std::uint8_t> &image, const std::string &device,
		       const std::string &base, const std::vector<std::uint64_t> *changed, std::int64_t time, const std::string &host)
{
	write_file(file, image);
	int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		throw std::runtime_error("cannot open " + file.string());
	BackupRequest req;
	req.device = device;
	req.size = image.size();
	req.base = base;
	req.time = time;
	req.host = host;
	try {
		PointInfo p = backup_fd(repo, req, fd, changed);
		::close(fd);
		return p;
	} catch (...) {
		::close(fd);
		throw;
	}
}

} // namespace bk::storage::test
