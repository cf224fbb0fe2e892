// A directory under $TMPDIR removed with everything in it at scope exit (a
// static one: when the process exits).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include <cstdlib>

#include <stdlib.h>

namespace bk::test {

class TempDir {
public:
	explicit TempDir(const std::string &prefix = "bkagent-test")
	{
		std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
		if (!mkdtemp(tmpl.data()))
			throw std::runtime_error("mkdtemp failed");
		path_ = tmpl;
	}
	// BK_TEST_KEEP=1 keeps it for a post-mortem (daemon logs, state).
	~TempDir()
	{
		if (std::getenv("BK_TEST_KEEP"))
			return;
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	const std::filesystem::path &path() const { return path_; }
	std::string operator/(const std::string &name) const { return (path_ / name).string(); }

private:
	std::filesystem::path path_;
};

} // namespace bk::test
