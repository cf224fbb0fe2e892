// Pre-freeze / post-thaw hook scripts, named in requests, living in the
// configured hooks directory (never a path from the wire).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace bk::agent {

class Hooks {
public:
	Hooks(std::string dir, std::chrono::seconds timeout) : dir_(std::move(dir)), timeout_(timeout) {}

	// Names of the runnable hooks (regular, executable, root-owned, not
	// group/world-writable).
	std::vector<std::string> available() const;
	// Runs hook `name` with BKAGENT_PHASE=`phase`, BKAGENT_DEVICES and the
	// NAME=VALUE entries of `env`.
	// Throws ApiError: INVALID_ARGUMENT for an unknown name,
	// FAILED_PRECONDITION/HOOK_FAILED for a non-zero exit or timeout.
	void run(const std::string &name, const std::string &phase, const std::vector<std::string> &devices,
		 const std::vector<std::string> &env = {}) const;

private:
	std::string path_of(const std::string &name) const;

	std::string dir_;
	std::chrono::seconds timeout_;
};

// Runs the post-thaw hook `name` (none when empty) when the scope ends,
// after a failed take as after a good one. Its failure is logged, not
// thrown: the snapshot, or the take's own error, is what the caller needs.
class PostThaw {
public:
	PostThaw(const Hooks &hooks, std::string name, const std::vector<std::string> &devices)
	    : hooks_(hooks), name_(std::move(name)), devices_(devices)
	{
	}
	~PostThaw();
	PostThaw(const PostThaw &) = delete;
	PostThaw &operator=(const PostThaw &) = delete;

	// The take succeeded: the hook also gets BKAGENT_SNAPSHOT_ID and
	// BKAGENT_SNAPSHOT_IMAGES (the image devices, in BKAGENT_DEVICES' order),
	// which are still there while it runs.
	void taken(const std::string &id, const std::vector<std::string> &images);

private:
	const Hooks &hooks_;
	std::string name_;
	const std::vector<std::string> &devices_;
	std::vector<std::string> env_;
};

} // namespace bk::agent
