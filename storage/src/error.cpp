#include "bk/storage/error.hpp"

#include <cerrno>
#include <cstring>

namespace bk::storage {

const char *to_string(Errc code) noexcept
{
	switch (code) {
	case Errc::io: return "io";
	case Errc::corrupt: return "corrupt";
	case Errc::bad_passphrase: return "bad_passphrase";
	case Errc::locked: return "locked";
	case Errc::not_found: return "not_found";
	case Errc::invalid_argument: return "invalid_argument";
	case Errc::unsupported_format: return "unsupported_format";
	}
	return "unknown";
}

void throw_errno(const std::string &what)
{
	int err = errno;
	throw Error(Errc::io, what + ": " + std::strerror(err));
}

} // namespace bk::storage
