#include "core/diff_storage.h"

#include "core/api_error.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/statvfs.h>

namespace bk::agent {

UniqueFd make_diff_storage(const std::string &dir, std::uint64_t bytes)
{
	struct statvfs vfs {};
	if (::statvfs(dir.c_str(), &vfs) == 0 && bytes > static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::NO_SPACE,
			       "difference storage of " + std::to_string(bytes) + " bytes does not fit in " + dir);
	UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
	if (!fd)
		throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
			       "cannot create difference storage in " + dir + ": " + std::strerror(errno));
	if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(bytes)) < 0) {
		const int err = errno;
		throw ApiError(err == ENOSPC ? grpc::StatusCode::RESOURCE_EXHAUSTED : grpc::StatusCode::INTERNAL,
			       err == ENOSPC ? bkagent::v1::NO_SPACE : bkagent::v1::INTERNAL_ERROR,
			       "cannot allocate difference storage in " + dir + ": " + std::strerror(err));
	}
	return fd;
}

} // namespace bk::agent
