// bkagent image pull: the backup server's read path as a command.
#include "cli/output.h"
#include "cli/registry.h"

#include "bk/cbt/token.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include <fcntl.h>
#include <unistd.h>

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

struct PullArgs {
	std::string snapshot, device, target, since;
	int streams = 2;
};

class Fd {
public:
	explicit Fd(const std::string &path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600))
	{
		if (fd_ < 0)
			throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
	}
	~Fd() { ::close(fd_); }
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	void write_at(const char *data, std::size_t len, std::uint64_t off) const
	{
		for (std::size_t done = 0; done < len;) {
			const ssize_t n = ::pwrite(fd_, data + done, len - done, static_cast<off_t>(off + done));
			if (n <= 0)
				throw std::runtime_error(std::string("write failed: ") + std::strerror(errno));
			done += static_cast<std::size_t>(n);
		}
	}
	void sync() const
	{
		if (::fsync(fd_) < 0 && errno != EINVAL)
			throw std::runtime_error(std::string("fsync failed: ") + std::strerror(errno));
	}

private:
	int fd_;
};

// A progress line on the terminal (stderr) while streams run.
class Progress {
public:
	Progress(bool on, std::uint64_t total, const std::atomic<std::uint64_t> &done) : total_(total), done_(done)
	{
		if (on)
			thread_ = std::thread([this] { loop(); });
	}
	~Progress() { stop(); }
	Progress(const Progress &) = delete;
	Progress &operator=(const Progress &) = delete;
	void stop()
	{
		if (!thread_.joinable())
			return;
		stop_ = true;
		thread_.join();
		std::fputs("\n", stderr);
	}

private:
	void loop() const
	{
		const auto start = std::chrono::steady_clock::now();
		while (!stop_) {
			const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
			const std::uint64_t done = done_;
			const double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
			const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0;
			std::fprintf(stderr, "\r%5.1f%%  %s of %s  %s/s  ETA %.0f s   ",
				     total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0,
				     human_bytes(done).c_str(), human_bytes(total_).c_str(),
				     human_bytes(static_cast<std::uint64_t>(rate)).c_str(), eta);
			std::this_thread::sleep_for(std::chrono::milliseconds(250));
		}
	}

	std::uint64_t total_;
	const std::atomic<std::uint64_t> &done_;
	std::atomic<bool> stop_{false};
	std::thread thread_;
};

// The extents to transfer: all of the device, or those changed since a token.
std::vector<v1::Extent> extents_of(Context &ctx, const PullArgs &args, std::string &token)
{
	v1::GetChangedExtentsRequest req;
	req.set_snapshot_id(args.snapshot);
	req.set_device(args.device);
	if (!args.since.empty()) {
		const auto t = bk::cbt::parse_token(args.since);
		if (!t)
			throw CLI::ValidationError("since", "'" + args.since + "' is not a change token");
		req.mutable_since()->set_generation(reinterpret_cast<const char *>(t->generation.data()), t->generation.size());
		req.mutable_since()->set_sequence(t->sequence);
	}
	auto call = Context::call(600);
	auto reader = ctx.agent().GetChangedExtents(call.get(), req);
	std::vector<v1::Extent> out;
	v1::ChangedExtentsPage page;
	while (reader->Read(&page)) {
		token = token_text(page.token());
		out.insert(out.end(), page.extents().begin(), page.extents().end());
	}
	bk::client::check(reader->Finish());
	return out;
}

void pull(Context &ctx, const PullArgs &args)
{
	const auto start = std::chrono::steady_clock::now();
	std::string token;
	const std::vector<v1::Extent> extents = extents_of(ctx, args, token);
	const Fd out(args.target);
	std::vector<std::vector<v1::Range>> shares(static_cast<std::size_t>(std::max(1, args.streams)));
	std::uint64_t zero_bytes = 0;
	std::size_t next = 0;
	const std::string zeros(1 << 20, '\0');
	for (const auto &e : extents) {
		if (e.zero()) {
			for (std::uint64_t off = 0; off < e.length(); off += zeros.size())
				out.write_at(zeros.data(), std::min<std::uint64_t>(zeros.size(), e.length() - off), e.offset() + off);
			zero_bytes += e.length();
			continue;
		}
		// Split big extents so every stream gets a share of the work.
		for (std::uint64_t off = 0; off < e.length(); off += 64 << 20) {
			v1::Range r;
			r.set_offset(e.offset() + off);
			r.set_length(std::min<std::uint64_t>(64 << 20, e.length() - off));
			shares[next++ % shares.size()].push_back(r);
		}
	}
	std::atomic<std::uint64_t> read_bytes{0};
	std::uint64_t to_read = 0;
	for (const auto &share : shares)
		for (const auto &r : share)
			to_read += r.length();
	Progress progress(!ctx.json && ::isatty(2), to_read, read_bytes);
	std::vector<std::exception_ptr> errors(shares.size());
	std::vector<std::thread> threads;
	for (std::size_t s = 0; s < shares.size(); ++s)
		threads.emplace_back([&, s] {
			try {
				for (std::size_t i = 0; i < shares[s].size(); i += 1024) {
					v1::ReadExtentsRequest req;
					req.set_snapshot_id(args.snapshot);
					req.set_device(args.device);
					req.set_elide_zeroes(true);
					for (std::size_t k = i; k < std::min(i + 1024, shares[s].size()); ++k)
						*req.add_ranges() = shares[s][k];
					auto call = Context::call(24 * 3600);
					auto reader = ctx.agent().ReadExtents(call.get(), req);
					v1::DataChunk chunk;
					while (reader->Read(&chunk)) {
						bk::client::check_chunk(chunk);
						if (chunk.zero())
							out.write_at(zeros.data(), chunk.length(), chunk.offset());
						else
							out.write_at(chunk.data().data(), chunk.length(), chunk.offset());
						read_bytes += chunk.length();
					}
					bk::client::check(reader->Finish());
				}
			} catch (...) {
				errors[s] = std::current_exception();
			}
		});
	for (auto &t : threads)
		t.join();
	progress.stop();
	for (const auto &e : errors)
		if (e)
			std::rethrow_exception(e);
	out.sync();
	const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	const std::uint64_t total = read_bytes + zero_bytes;
	ctx.print({{"snapshot", args.snapshot},
		   {"device", args.device},
		   {"target", args.target},
		   {"since", args.since},
		   {"token", token},
		   {"extents", extents.size()},
		   {"bytes", total},
		   {"streamed_bytes", read_bytes.load()},
		   {"seconds", secs}},
		  "pulled " + human_bytes(total) + " in " + std::to_string(extents.size()) + " extents (" +
			  human_bytes(read_bytes) + " streamed) into " + args.target + " in " + std::to_string(secs) +
			  " s; image token " + token + "\n");
}

void setup(CLI::App &app, Context &ctx)
{
	auto *image = app.add_subcommand("image", "Snapshot images");
	image->require_subcommand(1);
	auto args = std::make_shared<PullArgs>();
	auto *p = image->add_subcommand("pull", "Copy a snapshot image (or what changed in it) into a file or device");
	p->footer(R"(
Streams the image of DEVICE in snapshot ID through the API (as a backup
server does) into TARGET, verifying every chunk's CRC-32C. With --since,
only the extents changed since that token are written: TARGET must then
hold the image of the token's snapshot, and becomes this one's. Exit code 5
with reason CBT_RESET/UNCLEAN_SHUTDOWN/UNKNOWN_TOKEN means: pull without
--since.
Examples:
  bkagent image pull 6f1c... /dev/vdb /backup/vdb.img
  bkagent image pull 7a2d... /dev/vdb /backup/vdb.img --since 5f0c...e1:3)");
	p->add_option("id", args->snapshot, "snapshot id")->required();
	p->add_option("device", args->device, "device in the snapshot")->required();
	p->add_option("target", args->target, "file or block device to write")->required();
	p->add_option("--since", args->since, "change token of the image TARGET holds");
	p->add_option("--streams", args->streams, "parallel read streams")->capture_default_str()->check(CLI::Range(1, 64));
	p->callback([&ctx, args] { pull(ctx, *args); });
}

} // namespace

BK_CLI_COMMAND(setup)
