#include "cli_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

namespace bk::test {

CliRun run_cli(const std::string &socket, std::vector<std::string> args)
{
	args.insert(args.begin(), {BK_CLI, "--socket", socket, "--json"});
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	int out[2];
	if (::pipe(out) != 0)
		return {};
	const pid_t pid = ::fork();
	if (pid == 0) {
		::dup2(out[1], 1);
		::close(out[0]);
		::execv(BK_CLI, argv.data());
		::_exit(127);
	}
	::close(out[1]);
	CliRun r;
	char buf[4096];
	for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
		r.out.append(buf, static_cast<std::size_t>(n));
	::close(out[0]);
	int status = 0;
	::waitpid(pid, &status, 0);
	r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r;
}

std::string file_content(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace bk::test
