// The operation a crash test kills: one backup or one prune on a repository, run in its
// own process. Prints the number of crash points it passed (see BK_TEST_CRASH_AFTER).
// REPO is a directory or s3://... (with BK_TEST_S3_ENV, as the tests that run it).
//   crash_tool backup REPO IMAGE DEVICE TIME BASE|- CHANGED|- [HOST]   (CHANGED: 3,7,9)
//   crash_tool prune REPO KEEP_LAST [HOST]   (HOST: only that host's points may go)
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "../../storage/src/fs.hpp"
#include "helpers.hpp"

using namespace bk::storage;

int main(int argc, char **argv)
{
	const std::string op = argc > 1 ? argv[1] : "";
	try {
		if (op == "backup" && (argc == 8 || argc == 9)) {
			Repository repo = Repository::open(argv[2], test::kPass, test::test_storage());
			BackupRequest req;
			req.device = argv[4];
			req.size = std::filesystem::file_size(argv[3]);
			req.time = std::atoll(argv[5]);
			req.base = std::string(argv[6]) == "-" ? "" : argv[6];
			req.host = argc == 9 ? argv[8] : "";
			std::vector<std::uint64_t> changed;
			std::stringstream list(argv[7]);
			for (std::string item; std::getline(list, item, ',');)
				if (item != "-")
					changed.push_back(std::stoull(item));
			Fd fd = open_file(argv[3], O_RDONLY);
			backup_fd(repo, req, fd.get(), req.base.empty() ? nullptr : &changed);
		} else if (op == "prune" && (argc == 4 || argc == 5)) {
			Repository repo = Repository::open(argv[2], test::kPass, test::test_storage());
			PruneOptions opt;
			opt.keep.last = static_cast<unsigned>(std::atoi(argv[3]));
			if (argc == 5)
				opt.host = argv[4];
			repo.prune(opt);
		} else {
			std::fprintf(stderr, "usage: see crash_tool.cpp\n");
			return 2;
		}
	} catch (const std::exception &e) {
		std::fprintf(stderr, "crash_tool: %s\n", e.what());
		return 1;
	}
	std::printf("%ld\n", crash_points_passed());
	return 0;
}
