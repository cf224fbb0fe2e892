#include "core/hooks.h"

#include "core/api_error.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bk::agent {

namespace {

std::string joined(const std::vector<std::string> &words)
{
	std::string out;
	for (const auto &w : words)
		out += (out.empty() ? "" : " ") + w;
	return out;
}

bool runnable(const std::string &path)
{
	struct stat st {};
	return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR) && st.st_uid == 0 &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

} // namespace

std::vector<std::string> Hooks::available() const
{
	std::vector<std::string> out;
	std::error_code ec;
	for (const auto &e : std::filesystem::directory_iterator(dir_, ec))
		if (runnable(e.path().string()))
			out.push_back(e.path().filename().string());
	return out;
}

std::string Hooks::path_of(const std::string &name) const
{
	const bool plain = !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
	std::string path = dir_ + "/" + name;
	if (!plain || !runnable(path))
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST,
			       "no runnable hook named '" + name + "' in " + dir_);
	return path;
}

void Hooks::run(const std::string &name, const std::string &phase, const std::vector<std::string> &devices,
		const std::vector<std::string> &env) const
{
	const std::string path = path_of(name);
	std::vector<std::string> entries{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BKAGENT_PHASE=" + phase,
					 "BKAGENT_DEVICES=" + joined(devices)};
	entries.insert(entries.end(), env.begin(), env.end());
	std::vector<char *> envp;
	envp.reserve(entries.size() + 1);
	for (auto &e : entries)
		envp.push_back(e.data());
	envp.push_back(nullptr);

	const pid_t pid = ::fork();
	if (pid < 0)
		throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::HOOK_FAILED, "fork failed for hook " + name);
	if (pid == 0) {
		char *const argv[] = {const_cast<char *>(path.c_str()), nullptr};
		::setpgid(0, 0);
		::execve(path.c_str(), argv, envp.data());
		::_exit(127);
	}
	const auto deadline = std::chrono::steady_clock::now() + timeout_;
	int status = 0;
	while (::waitpid(pid, &status, WNOHANG) == 0) {
		if (std::chrono::steady_clock::now() > deadline) {
			::kill(-pid, SIGKILL);
			::kill(pid, SIGKILL);
			::waitpid(pid, &status, 0);
			throw ApiError(grpc::StatusCode::FAILED_PRECONDITION, bkagent::v1::HOOK_FAILED,
				       "hook " + name + " (" + phase + ") timed out");
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		throw ApiError(grpc::StatusCode::FAILED_PRECONDITION, bkagent::v1::HOOK_FAILED,
			       "hook " + name + " (" + phase + ") failed with status " + std::to_string(status));
}

void PostThaw::taken(const std::string &id, const std::vector<std::string> &images)
{
	env_ = {"BKAGENT_SNAPSHOT_ID=" + id, "BKAGENT_SNAPSHOT_IMAGES=" + joined(images)};
}

PostThaw::~PostThaw()
{
	if (name_.empty())
		return;
	try {
		hooks_.run(name_, "post-thaw", devices_, env_);
	} catch (const std::exception &e) {
		spdlog::warn("post-thaw hook: {}", e.what());
	}
}

} // namespace bk::agent
