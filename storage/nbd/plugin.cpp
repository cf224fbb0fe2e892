// nbdkit-bkagent-plugin: serves one restore point as a read-only NBD export through
// PointReader (`bkagent serve` runs nbdkit with it; see docs/repository.md).
//
//   nbdkit [--filter=cow] .../nbdkit-bkagent-plugin.so repo=DIR point=ID
//          [passphrase-fd=N] [cache=SIZE]
//
// The passphrase never appears on a command line: it is read from the inherited
// descriptor N (to its end or first newline), which is then closed.
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>

#include "bk/storage/error.hpp"
#include "bk/storage/repository.hpp"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace {

namespace st = bk::storage;

struct Config {
	std::string repo;
	std::string point;
	int passphrase_fd = -1;
	std::uint64_t cache_bytes = st::PointReaderOptions{}.cache_bytes;
};
Config config;
std::optional<st::Repository> repository; // get_ready: errors reach the user's terminal
std::optional<st::PointReader> reader;    // after_fork: its lock must belong to the server

int errno_of(const st::Error &e)
{
	switch (e.code()) {
	case st::Errc::invalid_argument: return EINVAL;
	case st::Errc::not_found: return ENOENT;
	case st::Errc::bad_passphrase: return EACCES;
	case st::Errc::locked: return EBUSY;
	default: return EIO; // corrupt, io: the client sees a failed read of that range
	}
}

// Reports a failed callback to nbdkit (the message, and the errno the client gets).
int fail(const std::exception &e, const std::string &where = "")
{
	nbdkit_error("%s%s", where.c_str(), e.what());
	const auto *storage = dynamic_cast<const st::Error *>(&e);
	nbdkit_set_error(storage ? errno_of(*storage) : EIO);
	return -1;
}

template <class Body> int guarded(Body &&body)
{
	try {
		body();
		return 0;
	} catch (const std::exception &e) {
		return fail(e);
	}
}

std::string read_passphrase(int fd)
{
	std::string text;
	char buf[256];
	for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			st::throw_errno("read passphrase-fd");
		text.append(buf, static_cast<std::size_t>(n));
	}
	::close(fd);
	return text.substr(0, text.find('\n'));
}

int bk_config(const char *key, const char *value)
{
	const std::string k = key;
	if (k == "repo") {
		config.repo = value;
	} else if (k == "point") {
		config.point = value;
	} else if (k == "passphrase-fd") {
		if (nbdkit_parse_int("passphrase-fd", value, &config.passphrase_fd) == -1)
			return -1;
	} else if (k == "cache") {
		const std::int64_t n = nbdkit_parse_size(value);
		if (n == -1)
			return -1;
		config.cache_bytes = static_cast<std::uint64_t>(n);
	} else {
		nbdkit_error("unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

int bk_config_complete()
{
	if (config.repo.empty() || config.point.empty()) {
		nbdkit_error("repo=DIR and point=ID are required");
		return -1;
	}
	return 0;
}

int bk_get_ready()
{
	return guarded([] {
		std::string pass = config.passphrase_fd >= 0 ? read_passphrase(config.passphrase_fd) : "";
		repository.emplace(st::Repository::open(config.repo, pass));
		config.point = repository->point(config.point).id; // a prefix becomes the id
	});
}

int bk_after_fork()
{
	return guarded([] { reader.emplace(repository->open_point(config.point, {.cache_bytes = config.cache_bytes})); });
}

void bk_unload()
{
	reader.reset();
	repository.reset();
}

void *bk_open(int /*readonly*/)
{
	return &*reader; // one reader serves every connection
}

std::int64_t bk_get_size(void * /*handle*/) { return static_cast<std::int64_t>(reader->size()); }

int bk_can_multi_conn(void * /*handle*/)
{
	return 1; // read-only: every connection sees the same image
}

int bk_can_extents(void * /*handle*/) { return 1; }

int bk_pread(void * /*handle*/, void *buf, std::uint32_t count, std::uint64_t offset, std::uint32_t /*flags*/)
{
	try {
		reader->read(offset, {static_cast<std::uint8_t *>(buf), count});
		return 0;
	} catch (const std::exception &e) {
		return fail(e, "read of " + std::to_string(count) + " bytes at " + std::to_string(offset) + ": ");
	}
}

int bk_extents(void * /*handle*/, std::uint32_t count, std::uint64_t offset, std::uint32_t flags, nbdkit_extents *extents)
{
	return guarded([&] {
		for (const st::ImageExtent &e : reader->extents(offset, count)) {
			const std::uint32_t type = e.zero ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0;
			if (nbdkit_add_extent(extents, e.offset, e.length, type) == -1)
				throw std::runtime_error("cannot add an extent");
			if (flags & NBDKIT_FLAG_REQ_ONE)
				break;
		}
	});
}

int bk_thread_model() { return NBDKIT_THREAD_MODEL_PARALLEL; }

nbdkit_plugin make_plugin()
{
	nbdkit_plugin p = nbdkit_plugin();
	p.name = "bkagent";
	p.longname = "bkagent restore point (read-only)";
	p.description = "Serves a restore point of a bkagent repository";
	p.config = bk_config;
	p.config_complete = bk_config_complete;
	p.config_help = "repo=DIR         repository directory (required)\n"
			"point=ID         restore point id or unique prefix (required)\n"
			"passphrase-fd=N  read the passphrase from inherited descriptor N\n"
			"cache=SIZE       chunk cache size (default 64M)";
	p.get_ready = bk_get_ready;
	p.after_fork = bk_after_fork;
	p.unload = bk_unload;
	p.open = bk_open;
	p.get_size = bk_get_size;
	p.can_multi_conn = bk_can_multi_conn;
	p.can_extents = bk_can_extents;
	p.pread = bk_pread;
	p.extents = bk_extents;
	p.thread_model = bk_thread_model;
	return p;
}

} // namespace

static nbdkit_plugin plugin = make_plugin();
NBDKIT_REGISTER_PLUGIN(plugin)
