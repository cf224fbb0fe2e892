#include "cli/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

extern char **environ;

namespace bk::cli {

namespace {

// posix_spawn's file actions, released on every path.
class FileActions {
public:
	FileActions() { ::posix_spawn_file_actions_init(&fa_); }
	~FileActions() { ::posix_spawn_file_actions_destroy(&fa_); }
	FileActions(const FileActions &) = delete;
	FileActions &operator=(const FileActions &) = delete;
	posix_spawn_file_actions_t *get() { return &fa_; }

private:
	posix_spawn_file_actions_t fa_{};
};

} // namespace

Ran run(const std::vector<std::string> &argv, const RunOptions &opts)
{
	const bool capture = opts.capture;
	std::vector<char *> cargv;
	cargv.reserve(argv.size() + 1);
	for (const std::string &a : argv)
		cargv.push_back(const_cast<char *>(a.c_str()));
	cargv.push_back(nullptr);
	std::vector<char *> env;
	for (char **e = environ; *e; ++e)
		if (!std::string_view(*e).starts_with("BKAGENT_PASSPHRASE="))
			env.push_back(*e);
	env.push_back(nullptr);

	int pipe_fd[2] = {-1, -1};
	if (capture && ::pipe2(pipe_fd, O_CLOEXEC) != 0)
		throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
	FileActions fa;
	::posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
	if (capture)
		::posix_spawn_file_actions_adddup2(fa.get(), pipe_fd[1], 1);
	else
		::posix_spawn_file_actions_addopen(fa.get(), 1, "/dev/null", O_WRONLY, 0);
	if (opts.quiet)
		::posix_spawn_file_actions_addopen(fa.get(), 2, "/dev/null", O_WRONLY, 0);
	if (!opts.cwd.empty())
		::posix_spawn_file_actions_addchdir_np(fa.get(), opts.cwd.c_str());
	pid_t pid = -1;
	const int rc = ::posix_spawnp(&pid, cargv[0], fa.get(), nullptr, cargv.data(), env.data());
	Ran r;
	if (capture) {
		::close(pipe_fd[1]);
		char buf[4096];
		for (ssize_t n; rc == 0 && (n = ::read(pipe_fd[0], buf, sizeof buf)) > 0;)
			r.out.append(buf, static_cast<std::size_t>(n));
		::close(pipe_fd[0]);
	}
	if (rc != 0)
		return r;
	int status = 0;
	while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

} // namespace bk::cli
