// Running the system tools the CLI drives (nbdkit, nbd-client, blkid, mount, cp).
#pragma once

#include <string>
#include <vector>

namespace bk::cli {

struct Ran {
	int status = -1; // exit status; -1 when it could not run or was killed
	std::string out; // stdout, when captured
};

struct RunOptions {
	bool capture = false; // stdout into Ran::out, else discarded
	bool quiet = false;   // stderr discarded, else inherited (the tool's own message)
	std::string cwd;      // empty: this process's
};

// Runs argv[0] (looked up in PATH) and waits for it. The child gets this process's
// environment minus $BKAGENT_PASSPHRASE, and stdin from /dev/null.
Ran run(const std::vector<std::string> &argv, const RunOptions &opts = {});

} // namespace bk::cli
