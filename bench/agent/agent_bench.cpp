// Agent speed, on the host with the FakeKernel double behind the real
// daemon (bench/agent/run.sh drives it; results in docs/bench.md):
//   read     - a snapshot image streamed by ReadExtents over loopback mTLS
//              and the Unix socket, 1..4 parallel streams, CRC-32C checked,
//              vs dd of the image and vs a bare TLS pipe of it (socat):
//              page-cached (the pipeline's own cost), then with the image
//              dropped from the cache before each run (a snapshot image is
//              read from its disk);
//   changes  - GetChangedExtents on a 2 TiB device with 1% of its blocks
//              changed, and the daemon's peak memory;
//   backup   - bench/repo's mixed image (random, text, zeros) over mTLS:
//              streamed and backed up into a repository (as
//              `bkagent backup --agent`), raw and zstd on the wire, vs the
//              bare TLS pipe of the same bytes.
#include "../../tests/agent/api_helpers.h"
#include "backup/backup.h"
#include "client/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

namespace {

using namespace bk::test;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Streams [0, size) over `streams` parallel ReadExtents calls; returns bytes.
std::uint64_t stream_image(bk::client::Client &agent, const std::string &id, const std::string &dev, std::uint64_t size, int streams,
			   v1::Compression compression = v1::COMPRESSION_NONE, bool elide_zeroes = false)
{
	std::vector<std::thread> threads;
	std::vector<std::uint64_t> got(static_cast<std::size_t>(streams));
	const std::uint64_t share = (size / streams + (1 << 20) - 1) / (1 << 20) * (1 << 20);
	for (int s = 0; s < streams; ++s)
		threads.emplace_back([&, s] {
			const std::uint64_t off = share * static_cast<std::uint64_t>(s);
			if (off >= size)
				return;
			v1::ReadExtentsRequest req;
			req.set_snapshot_id(id);
			req.set_device(dev);
			*req.add_ranges() = range(off, std::min(share, size - off));
			req.set_compression(compression);
			req.set_elide_zeroes(elide_zeroes);
			// The client checks every chunk, as for bkagent backup/image.
			agent.read_extents(req,
					   [&got, s](const v1::DataChunk &chunk) { got[static_cast<std::size_t>(s)] += chunk.length(); });
		});
	for (auto &t : threads)
		t.join();
	std::uint64_t total = 0;
	for (auto g : got)
		total += g;
	return total;
}

bk::client::Target unix_target(const Daemon &daemon)
{
	bk::client::Target t;
	t.address = "unix:" + daemon.socket();
	return t;
}

// The daemon logs its peak RSS when it stops.
std::string peak_rss(const Daemon &daemon)
{
	std::ifstream log(daemon.dir() / "bkagentd.log");
	std::string line, last = "n/a";
	while (std::getline(log, line))
		if (const auto at = line.find("peak RSS "); at != std::string::npos)
			last = line.substr(at + 9, line.find(')', at) - at - 9);
	return last;
}

// Drops the file's pages from the page cache (its next read comes from the disk).
void drop_cache(const std::string &path)
{
	const int fd = ::open(path.c_str(), O_RDONLY);
	if (fd < 0 || ::fdatasync(fd) != 0 || ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) != 0)
		std::abort();
	::close(fd);
}

double dd_seconds(const std::string &path)
{
	const auto t = Clock::now();
	if (std::system(("dd if=" + path + " of=/dev/null bs=1M status=none").c_str()) != 0)
		std::abort();
	return seconds_since(t);
}

int tls_pipe_port() { return 20000 + ::getpid() % 20000; }

// The same image through one mutual TLS connection without gRPC (socat),
// the client connecting to `connect` (0: straight to the server).
double tls_pipe_seconds(const std::string &image, const Certs &c, int connect = 0)
{
	const std::string port = std::to_string(tls_pipe_port());
	const std::string cmd = std::string(BK_BENCH_DIR "/tls_pipe.sh ") + image + " " + c.ca + " " + c.server_cert + " " + c.server_key +
				" " + c.client_cert + " " + c.client_key + " " + port + " " +
				std::to_string(connect ? connect : tls_pipe_port());
	std::FILE *out = ::popen(cmd.c_str(), "r");
	double seconds = 0;
	if (!out || std::fscanf(out, "%lf", &seconds) != 1 || ::pclose(out) != 0)
		std::abort();
	return seconds;
}

// One way to read the whole image; returns the seconds it took.
struct Way {
	const char *name;
	std::function<double()> run;
};

// The best time of each way over `rounds` rounds, the ways interleaved
// within a round so that a slow moment of the machine hits them all.
std::vector<double> best_of(const std::vector<Way> &ways, int rounds, const std::function<void()> &before_each)
{
	std::vector<double> best(ways.size(), 1e9);
	for (int r = 0; r < rounds; ++r)
		for (std::size_t i = 0; i < ways.size(); ++i) {
			before_each();
			best[i] = std::min(best[i], ways[i].run());
		}
	return best;
}

// Ratios against the first way (dd) and the second (the TLS pipe).
void print_ways(const std::vector<Way> &ways, const std::vector<double> &best, std::uint64_t size_mib)
{
	for (std::size_t i = 0; i < ways.size(); ++i)
		std::printf("  %-24s %6.2f s  %6.0f MiB/s  %4.0f%% of dd  %4.0f%% of the TLS pipe\n", ways[i].name, best[i],
			    static_cast<double>(size_mib) / best[i], 100 * best[0] / best[i], 100 * best[1] / best[i]);
}

void bench_read(std::uint64_t size_mib)
{
	Daemon daemon({.tcp = true});
	daemon.start();
	const std::uint64_t size = size_mib << 20;
	Disk d = make_disk(daemon.kernel(), "img", size, 12);
	// Incompressible content, written in 64 MiB pieces.
	std::FILE *urandom = std::fopen("/dev/urandom", "rb");
	std::string piece(64 << 20, '\0');
	for (std::uint64_t off = 0; off < size; off += piece.size()) {
		const std::size_t n = std::min<std::uint64_t>(piece.size(), size - off);
		if (std::fread(piece.data(), 1, n, urandom) != n)
			std::abort();
		daemon.kernel().write(d.path, off, piece.substr(0, n));
	}
	std::fclose(urandom);
	auto agent = daemon.client(daemon.tls_target());
	track(*agent, d.path);
	const v1::Snapshot snap = snapshot(*agent, {d.path}, 3600);
	const std::string image = snap.devices(0).image_path();
	bk::client::Client tls(daemon.tls_target()), local(unix_target(daemon));
	const auto dd = [&] { return dd_seconds(image); };
	const auto pipe = [&] { return tls_pipe_seconds(image, daemon.certs()); };
	const auto grpc = [&](bk::client::Client &client, int streams) {
		return [&, to = &client, streams] {
			const auto t = Clock::now();
			if (stream_image(*to, snap.id(), d.path, size, streams) != size)
				std::abort();
			return seconds_since(t);
		};
	};
	const std::vector<Way> cached = {
		{"dd bs=1M", dd},
		{"socat TLS pipe (peer)", pipe},
		{"gRPC mTLS, 1 stream", grpc(tls, 1)},
		{"gRPC mTLS, 2 streams", grpc(tls, 2)},
		{"gRPC mTLS, 4 streams", grpc(tls, 4)},
		{"gRPC unix, 1 stream", grpc(local, 1)},
		{"gRPC unix, 2 streams", grpc(local, 2)},
	};
	dd(); // warm the page cache
	std::printf("read: image %llu MiB, page-cached, best of 3\n", static_cast<unsigned long long>(size_mib));
	print_ways(cached, best_of(cached, 3, [] {}), size_mib);
	// Cold: each run reads the image from the disk, as a snapshot image is
	// read from its device.
	const std::vector<Way> cold(cached.begin(), cached.begin() + 4);
	std::printf("read: the same image dropped from the page cache before each run, best of 3\n");
	print_ways(cold, best_of(cold, 3, [&] { drop_cache(image); }), size_mib);
	release(*agent, snap.id());
	daemon.stop();
	std::printf("  daemon peak RSS            %s\n", peak_rss(daemon).c_str());
}

// A link slower than loopback: forwards connections from its port to
// 127.0.0.1:target, the target-to-client direction paced to `rate` bytes/s
// (the bulk direction of a read; requests pass unpaced). In userspace so
// that the shared machine's own loopback stays as it is.
class SlowLink {
public:
	SlowLink(int target, double rate) : target_(target), rate_(rate)
	{
		listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sockaddr_in a = loopback(0);
		socklen_t len = sizeof a;
		if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || ::listen(listener_, 8) != 0 ||
		    ::getsockname(listener_, reinterpret_cast<sockaddr *>(&a), &len) != 0)
			std::abort();
		port_ = ntohs(a.sin_port);
		acceptor_ = std::thread([this] { accept_loop(); });
	}
	~SlowLink()
	{
		::shutdown(listener_, SHUT_RDWR);
		acceptor_.join();
		::close(listener_);
		for (const int fd : fds_)
			::shutdown(fd, SHUT_RDWR);
		for (auto &t : pumps_)
			t.join();
		for (const int fd : fds_)
			::close(fd);
	}
	SlowLink(const SlowLink &) = delete;
	SlowLink &operator=(const SlowLink &) = delete;
	int port() const { return port_; }

private:
	static sockaddr_in loopback(int port)
	{
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons(static_cast<std::uint16_t>(port));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return a;
	}
	void accept_loop()
	{
		for (int client; (client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
			const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			const sockaddr_in a = loopback(target_);
			if (server < 0 || ::connect(server, reinterpret_cast<const sockaddr *>(&a), sizeof a) != 0)
				std::abort();
			fds_.insert(fds_.end(), {client, server});
			pumps_.emplace_back([client, server] { pump(client, server, 0); });
			pumps_.emplace_back([this, client, server] { pump(server, client, rate_); });
		}
	}
	// Copies until EOF, then half-closes; `rate` 0: unpaced. An idle link
	// earns no credit: each piece leaves no earlier than the last one's
	// transmission time after it.
	static void pump(int from, int to, double rate)
	{
		std::vector<char> buf(64 << 10);
		auto next = Clock::now();
		for (ssize_t n; (n = ::read(from, buf.data(), buf.size())) > 0;) {
			if (rate > 0) {
				next = std::max(next, Clock::now());
				std::this_thread::sleep_until(next);
				next += std::chrono::duration_cast<Clock::duration>(
					std::chrono::duration<double>(static_cast<double>(n) / rate));
			}
			for (ssize_t done = 0; done < n;) {
				const ssize_t w = ::write(to, buf.data() + done, static_cast<std::size_t>(n - done));
				if (w <= 0)
					return;
				done += w;
			}
		}
		::shutdown(to, SHUT_WR);
	}

	int target_, listener_ = -1, port_ = 0;
	double rate_;
	std::thread acceptor_;
	std::vector<int> fds_;
	std::vector<std::thread> pumps_;
};

double cpu_seconds()
{
	rusage self{};
	::getrusage(RUSAGE_SELF, &self);
	const auto s = [](const timeval &t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
	return s(self.ru_utime) + s(self.ru_stime);
}

std::string load_average()
{
	std::ifstream in("/proc/loadavg");
	std::string one, five;
	in >> one >> five;
	return one + " " + five;
}

// bench/repo's mixed image, moved over mTLS: the bare pipe, the stream alone
// (zero chunks elided, every chunk checked; zstd: decompressed too) and a
// full backup as `bkagent backup --agent` makes it, into a new repository on
// tmpfs each time (encrypted, 1 MiB chunks, zstd 3). Over loopback, then
// over a link paced to `link_mbit` (both the pipe and gRPC through it);
// `level`: the agent's wire_zstd_level.
void bench_backup(std::uint64_t size_mib, int rounds, double link_mbit, int level)
{
	Daemon daemon({.tcp = true, .lease_default_seconds = 3600, .wire_zstd_level = level});
	daemon.start();
	const std::uint64_t size = size_mib << 20;
	Disk d = make_disk(daemon.kernel(), "mixed", size, 16);
	const std::string mixed = daemon.dir() / "mixed.img";
	if (std::system(("python3 " BK_BENCH_DIR "/../repo/make_image.py " + std::to_string(size_mib) + " 1 " + mixed).c_str()) != 0)
		std::abort();
	{
		std::ifstream in(mixed, std::ios::binary);
		std::string piece(64 << 20, '\0');
		for (std::uint64_t off = 0; off < size; off += piece.size()) {
			in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
			daemon.kernel().write(d.path, off, piece.substr(0, static_cast<std::size_t>(in.gcount())));
		}
	}
	std::filesystem::remove(mixed);
	auto stub = daemon.client(daemon.tls_target());
	track(*stub, d.path);
	const v1::Snapshot snap = snapshot(*stub, {d.path}, 3600);
	const std::string image = snap.devices(0).image_path();
	const std::string repo_dir = "/dev/shm/bk-agent-bench-repo";
	dd_seconds(image); // page-cached, as in `read`

	for (const double mbit : {0.0, link_mbit}) {
		std::optional<SlowLink> agent_link, pipe_link;
		bk::client::Target target = daemon.tls_target();
		if (mbit > 0) {
			agent_link.emplace(daemon.tcp_port(), mbit * 1e6 / 8);
			pipe_link.emplace(tls_pipe_port(), mbit * 1e6 / 8);
			target.address = "127.0.0.1:" + std::to_string(agent_link->port());
		}
		bk::client::Client tls(target);
		std::uint64_t stored = 0;
		const auto pipe = [&] { return tls_pipe_seconds(image, daemon.certs(), pipe_link ? pipe_link->port() : 0); };
		const auto stream = [&](v1::Compression c) {
			return [&, c] {
				const auto t = Clock::now();
				if (stream_image(tls, snap.id(), d.path, size, 1, c, true) != size)
					std::abort();
				return seconds_since(t);
			};
		};
		const auto backup = [&](bool zstd) {
			return [&, zstd] {
				std::filesystem::remove_all(repo_dir);
				bk::storage::InitOptions init;
				init.passphrase = "bench";
				bk::storage::Repository::init(repo_dir, init);
				bk::storage::Repository repo = bk::storage::Repository::open(repo_dir, "bench");
				bk::backup::BackupOptions opts;
				opts.force_full = true;
				opts.wire_zstd = zstd;
				opts.host = "bench";
				const auto t = Clock::now();
				const bk::backup::DeviceResult r = bk::backup::back_up_device(tls, repo, snap, snap.devices(0), opts);
				const double s = seconds_since(t);
				stored = r.point.stats.bytes_stored;
				return s;
			};
		};
		const std::vector<Way> ways = {
			{"socat TLS pipe (peer)", pipe},     {"stream, raw", stream(v1::COMPRESSION_NONE)},
			{"stream, zstd", stream(v1::ZSTD)},  {"backup, raw wire", backup(false)},
			{"backup, zstd wire", backup(true)},
		};
		std::printf("backup: %llu MiB mixed image (1/3 random, text, zeros), mTLS over %s, agent zstd level %d, best of %d, "
			    "load %s\n",
			    static_cast<unsigned long long>(size_mib),
			    mbit > 0 ? (std::to_string(int(mbit)) + " Mbit/s").c_str() : "loopback", tls.capabilities().zstd_level(),
			    rounds, load_average().c_str());
		std::vector<double> best(ways.size(), 1e9), cpu(ways.size(), 0);
		std::vector<std::uint64_t> stored_by(ways.size(), 0);
		for (int r = 0; r < rounds; ++r)
			for (std::size_t i = 0; i < ways.size(); ++i) {
				const double c0 = cpu_seconds();
				const double s = ways[i].run();
				if (s < best[i]) {
					best[i] = s;
					cpu[i] = cpu_seconds() - c0;
					stored_by[i] = stored;
				}
				stored = 0;
			}
		for (std::size_t i = 0; i < ways.size(); ++i)
			std::printf("  %-22s %6.2f s  %5.0f%% of the pipe's time  client CPU %5.2f s%s\n", ways[i].name, best[i],
				    100 * best[i] / best[0], cpu[i],
				    stored_by[i] ? (", stored " + std::to_string(stored_by[i] >> 20) + " MiB").c_str() : "");
		std::printf("  load after: %s\n", load_average().c_str());
	}
	std::filesystem::remove_all(repo_dir);
	release(*stub, snap.id());
	daemon.stop();
}

void bench_changes(std::uint32_t block_shift, bool clustered)
{
	Daemon daemon;
	daemon.start();
	const std::uint64_t size = 2ULL << 40;
	const std::string dev = daemon.kernel().add_disk("big", size, block_shift);
	auto agent = daemon.unix_client();
	bk::client::Client client(unix_target(daemon));
	track(*agent, dev);
	const v1::Snapshot base = snapshot(*agent, {dev}, 3600);
	release(*agent, base.id());
	const std::uint64_t blocks = size >> block_shift;
	std::mt19937_64 rng(1);
	const std::uint64_t run = clustered ? 16 : 1;
	std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
	for (std::uint64_t i = 0; i < blocks / 100 / run; ++i)
		runs.emplace_back(rng() % (blocks - run), run);
	daemon.kernel().mark(dev, runs);
	auto t = Clock::now();
	const v1::Snapshot snap = snapshot(*agent, {dev}, 3600);
	const double take = seconds_since(t);
	double best = 1e9;
	Changes ch;
	for (int i = 0; i < 3; ++i) {
		t = Clock::now();
		v1::GetChangedExtentsRequest req;
		req.set_snapshot_id(snap.id());
		req.set_device(dev);
		*req.mutable_since() = base.devices(0).token();
		std::uint64_t extents = 0, bytes = 0;
		client.changed_extents(req, [&](const v1::ChangedExtentsPage &page) {
			extents += static_cast<std::uint64_t>(page.extents_size());
			if (page.last())
				bytes = page.changed_bytes_total();
		});
		best = std::min(best, seconds_since(t));
		ch.total = bytes;
		ch.extents.resize(extents);
	}
	std::printf("changes: 2 TiB, %u KiB blocks (%llu), 1%% changed %s: %zu extents, %.1f GiB\n", (1U << block_shift) >> 10,
		    static_cast<unsigned long long>(blocks), clustered ? "in runs of 16 blocks" : "as random single blocks",
		    ch.extents.size(), static_cast<double>(ch.total) / (1ULL << 30));
	std::printf("  snapshot (reads and folds the map)   %6.2f s\n", take);
	std::printf("  GetChangedExtents, whole stream      %6.3f s\n", best);
	release(*agent, snap.id());
	daemon.stop();
	std::printf("  daemon peak RSS                      %s\n", peak_rss(daemon).c_str());
}

} // namespace

int main(int argc, char **argv)
{
	const std::string what = argc > 1 ? argv[1] : "all";
	const std::uint64_t mib = argc > 2 ? std::stoull(argv[2]) : 2048;
	if (what == "read" || what == "all")
		bench_read(mib);
	if (what == "backup" || what == "all")
		bench_backup(mib, argc > 3 ? std::stoi(argv[3]) : 3, argc > 4 ? std::stod(argv[4]) : 1000,
			     argc > 5 ? std::stoi(argv[5]) : 1);
	if (what == "changes" || what == "all") {
		bench_changes(16, true);
		bench_changes(16, false);
		bench_changes(12, true);
	}
	return 0;
}
