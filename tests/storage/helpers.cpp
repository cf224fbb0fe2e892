#include "helpers.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
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
		       const std::string &base, const std::vector<std::uint64_t> *changed, std::int64_t time)
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
