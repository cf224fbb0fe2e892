#include "core/diff_storage.h"

#include "core/api_error.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace bk::agent {

namespace {

// The module maps the file's blocks with bmap and writes them directly:
// fallocated (unwritten) extents have no mapped block, so every block must
// really be written once before the file is handed over.
void write_zeros(int fd, std::uint64_t bytes)
{
	static const std::vector<char> zeros(1 << 20);
	for (std::uint64_t done = 0; done < bytes;) {
		const auto n = static_cast<size_t>(std::min<std::uint64_t>(zeros.size(), bytes - done));
		const ssize_t w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(done));
		if (w <= 0)
			throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
				       std::string("cannot write difference storage: ") + std::strerror(errno));
		done += static_cast<std::uint64_t>(w);
	}
	if (::fdatasync(fd) < 0)
		throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
			       std::string("cannot sync difference storage: ") + std::strerror(errno));
}

} // namespace

util::UniqueFd make_diff_storage(const std::string &dir, std::uint64_t bytes)
{
	struct statvfs vfs {};
	if (::statvfs(dir.c_str(), &vfs) == 0 && bytes > static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::NO_SPACE,
			       "difference storage of " + std::to_string(bytes) + " bytes does not fit in " + dir);
	util::UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
	if (!fd)
		throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
			       "cannot create difference storage in " + dir + ": " + std::strerror(errno));
	if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(bytes)) < 0) {
		const int err = errno;
		throw ApiError(err == ENOSPC ? grpc::StatusCode::RESOURCE_EXHAUSTED : grpc::StatusCode::INTERNAL,
			       err == ENOSPC ? bkagent::v1::NO_SPACE : bkagent::v1::INTERNAL_ERROR,
			       "cannot allocate difference storage in " + dir + ": " + std::strerror(err));
	}
	write_zeros(fd.get(), bytes);
	return fd;
}

} // namespace bk::agent
