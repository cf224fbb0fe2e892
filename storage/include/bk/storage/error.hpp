// Error discipline of the storage library: every failure is thrown as bk::storage::Error,
// whose code() tells callers (the CLI, the server) what kind of failure it is.
#pragma once

#include <stdexcept>
#include <string>

namespace bk::storage {

enum class Errc {
	io,                 // a system call failed (see the message for errno)
	corrupt,            // data failed authentication, a hash check or parsing
	bad_passphrase,     // the repository key could not be unwrapped
	locked,             // another process holds the repository lock
	not_found,          // no such repository, restore point or device
	invalid_argument,   // the caller broke an API precondition
	unsupported_format, // a repository written by a newer or unknown format version
};

const char *to_string(Errc code) noexcept;

class Error : public std::runtime_error {
public:
	Error(Errc code, const std::string &what) : std::runtime_error(what), code_(code) {}
	Errc code() const noexcept { return code_; }

private:
	Errc code_;
};

// Throws Errc::io with `what` and the text of the current errno.
[[noreturn]] void throw_errno(const std::string &what);

} // namespace bk::storage
