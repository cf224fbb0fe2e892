#include "job/command.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace bk::job {

CommandResult run_command(const std::vector<std::string> &argv)
{
	std::vector<char *> args;
	args.reserve(argv.size() + 1);
	for (const std::string &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);
	int pipe_fds[2];
	if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
		return {};
	const pid_t pid = ::fork();
	if (pid < 0) {
		::close(pipe_fds[0]);
		::close(pipe_fds[1]);
		return {};
	}
	if (pid == 0) {
		::dup2(pipe_fds[1], STDOUT_FILENO);
		::dup2(pipe_fds[1], STDERR_FILENO);
		::execvp(args[0], args.data());
		::_exit(127);
	}
	::close(pipe_fds[1]);
	CommandResult r;
	char buf[4096];
	for (;;) {
		const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
		if (n > 0)
			r.output.append(buf, static_cast<std::size_t>(n));
		else if (n == 0 || errno != EINTR)
			break;
	}
	::close(pipe_fds[0]);
	int status = 0;
	while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

std::string first_line(const std::string &text) { return text.substr(0, text.find('\n')); }

} // namespace bk::job
