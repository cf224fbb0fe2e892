#include "bk/cbt/seal.h"

#include "bk/util/hex.h"
#include "bk/util/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <system_error>

namespace bk::cbt {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view stamp_name = "boot";

const char *suffix(Seal::Kind kind)
{
	switch (kind) {
	case Seal::Kind::seal: return ".seal";
	case Seal::Kind::carry: return ".carry";
	case Seal::Kind::rejected: return ".rejected";
	}
	return ".seal";
}

[[noreturn]] void fail(const std::string &what, const fs::path &p)
{
	throw std::system_error(errno, std::generic_category(), what + " " + p.string());
}

util::UniqueFd open_or_fail(const fs::path &p, int flags, mode_t mode = 0)
{
	util::UniqueFd fd(::open(p.c_str(), flags | O_CLOEXEC, mode));
	if (!fd)
		fail("open", p);
	return fd;
}

std::optional<std::string> slurp(const fs::path &p)
{
	std::ifstream in(p, std::ios::binary);
	if (!in)
		return std::nullopt;
	return std::string(std::istreambuf_iterator<char>(in), {});
}

} // namespace

fs::path SealDir::file(const std::string &device, Seal::Kind kind) const
{
	const auto *p = reinterpret_cast<const std::uint8_t *>(device.data());
	return dir_ / (util::to_hex(std::span(p, device.size())) + suffix(kind));
}

std::optional<std::string> SealDir::device_of(const fs::path &file)
{
	const auto bytes = util::from_hex(file.stem().string());
	if (!bytes || bytes->empty())
		return std::nullopt;
	return std::string(bytes->begin(), bytes->end());
}

void SealDir::sync_dir() const
{
	const util::UniqueFd d = open_or_fail(dir_, O_RDONLY | O_DIRECTORY);
	if (::fsync(d.get()) != 0)
		fail("fsync", dir_);
}

void SealDir::write_file(const fs::path &target, std::string_view bytes) const
{
	fs::create_directories(dir_);
	const fs::path tmp = target.string() + ".tmp";
	{
		const util::UniqueFd fd = open_or_fail(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		for (std::size_t done = 0; done < bytes.size();) {
			const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				fail("write", tmp);
			done += static_cast<std::size_t>(n);
		}
		if (::fsync(fd.get()) != 0)
			fail("fsync", tmp);
	}
	fs::rename(tmp, target);
	sync_dir();
}

void SealDir::write(const Seal &seal) const { write_file(file(seal.device.path, seal.kind), encode_seal(seal)); }

std::optional<Seal> SealDir::read(const std::string &device, Seal::Kind kind) const
{
	const auto bytes = slurp(file(device, kind));
	if (!bytes)
		return std::nullopt;
	return decode_seal(*bytes);
}

void SealDir::remove(const std::string &device, Seal::Kind kind) const
{
	if (fs::remove(file(device, kind)))
		sync_dir();
}

std::vector<std::string> SealDir::devices(Seal::Kind kind) const
{
	std::vector<std::string> out;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator(dir_, ec))
		if (e.path().extension() == suffix(kind))
			if (auto dev = device_of(e.path()))
				out.push_back(*dev);
	return out;
}

std::string SealDir::stamp() const { return slurp(dir_ / stamp_name).value_or(""); }

void SealDir::write_stamp(const std::string &stamp) const { write_file(dir_ / stamp_name, stamp); }

} // namespace bk::cbt
