// A thin driver over bk_storage for bench/repo/run.sh: times one operation on an image
// file and prints its summary as JSON. Passphrase from $BK_PASSPHRASE.
//   repo_bench init REPO
//   repo_bench backup REPO IMAGE DEVICE [BASE CHANGED_CHUNKS_FILE]
//   repo_bench restore REPO POINT TARGET
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bk/storage/error.hpp"
#include "bk/storage/repository.hpp"

using namespace bk::storage;

namespace {

std::string passphrase()
{
	const char *p = std::getenv("BK_PASSPHRASE");
	return p ? p : "";
}

int backup(int argc, char **argv)
{
	Repository repo = Repository::open(argv[2], passphrase());
	int fd = ::open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		std::perror(argv[3]);
		return 1;
	}
	BackupRequest req;
	req.device = argv[4];
	req.size = static_cast<std::uint64_t>(::lseek(fd, 0, SEEK_END));
	std::vector<std::uint64_t> changed;
	if (argc == 7) {
		req.base = argv[5];
		std::ifstream list(argv[6]);
		for (std::uint64_t c; list >> c;)
			changed.push_back(c);
	}
	PointInfo p = backup_fd(repo, req, fd, req.base.empty() ? nullptr : &changed);
	::close(fd);
	const BackupStats &s = p.stats;
	nlohmann::json j = {{"point", p.id},
			    {"seconds", s.seconds},
			    {"bytes_read", s.bytes_read},
			    {"bytes_new", s.bytes_new},
			    {"bytes_dedup", s.bytes_dedup},
			    {"bytes_zero", s.bytes_zero},
			    {"bytes_stored", s.bytes_stored}};
	std::printf("%s\n", j.dump().c_str());
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	const std::string op = argc > 1 ? argv[1] : "";
	try {
		if (op == "init" && argc == 3) {
			InitOptions o;
			o.passphrase = passphrase();
			Repository::init(argv[2], o);
			return 0;
		}
		if (op == "backup" && (argc == 5 || argc == 7))
			return backup(argc, argv);
		if (op == "restore" && argc == 5) {
			RestoreStats s = Repository::open(argv[2], passphrase()).restore(argv[3], argv[4]);
			std::printf("{\"seconds\": %.3f}\n", s.seconds);
			return 0;
		}
	} catch (const Error &e) {
		std::fprintf(stderr, "repo_bench: %s (%s)\n", e.what(), to_string(e.code()));
		return 1;
	}
	std::fprintf(stderr, "usage: see bench/repo/repo_bench.cpp\n");
	return 2;
}
