#include "backup/image_pull.h"

#include "bk/util/unique_fd.h"
#include "client/token.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>

namespace bk::backup {

namespace v1 = bkagent::v1;

namespace {

constexpr std::uint64_t share_bytes = 64 << 20; // big extents are split so every stream gets work
constexpr std::size_t ranges_per_call = 1024;

void write_at(int fd, const char *data, std::size_t len, std::uint64_t off)
{
	for (std::size_t done = 0; done < len;) {
		const ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(off + done));
		if (n <= 0)
			throw std::system_error(errno, std::generic_category(), "write failed");
		done += static_cast<std::size_t>(n);
	}
}

void stream_share(client::Client &agent, const PullOptions &opts, const std::vector<v1::Range> &share, int fd, const std::string &zeros,
		  const std::function<void(std::uint64_t)> &streamed)
{
	for (std::size_t i = 0; i < share.size(); i += ranges_per_call) {
		v1::ReadExtentsRequest req;
		req.set_snapshot_id(opts.snapshot);
		req.set_device(opts.device);
		req.set_elide_zeroes(true);
		for (std::size_t k = i; k < std::min(i + ranges_per_call, share.size()); ++k)
			*req.add_ranges() = share[k];
		agent.read_extents(req, [&](const v1::DataChunk &chunk) {
			write_at(fd, chunk.zero() ? zeros.data() : chunk.data().data(), chunk.length(), chunk.offset());
			streamed(chunk.length());
		});
	}
}

} // namespace

PullResult pull_image(client::Client &agent, const PullOptions &opts)
{
	const auto start = std::chrono::steady_clock::now();
	v1::GetChangedExtentsRequest creq;
	creq.set_snapshot_id(opts.snapshot);
	creq.set_device(opts.device);
	if (opts.since)
		*creq.mutable_since() = *opts.since;
	const client::ChangedExtents changes = agent.changed_extents(creq);

	const util::UniqueFd out(::open(opts.target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
	if (!out)
		throw std::system_error(errno, std::generic_category(), "cannot open " + opts.target);
	PullResult result;
	result.token = client::token_text(changes.token);
	result.extents = changes.extents.size();
	std::vector<std::vector<v1::Range>> shares(static_cast<std::size_t>(std::max(1, opts.streams)));
	std::size_t next = 0;
	const std::string zeros(1 << 20, '\0');
	std::uint64_t to_stream = 0;
	for (const auto &e : changes.extents) {
		if (e.zero()) {
			for (std::uint64_t off = 0; off < e.length(); off += zeros.size())
				write_at(out.get(), zeros.data(), std::min<std::uint64_t>(zeros.size(), e.length() - off),
					 e.offset() + off);
			result.bytes += e.length();
			continue;
		}
		for (std::uint64_t off = 0; off < e.length(); off += share_bytes) {
			v1::Range r;
			r.set_offset(e.offset() + off);
			r.set_length(std::min<std::uint64_t>(share_bytes, e.length() - off));
			to_stream += r.length();
			shares[next++ % shares.size()].push_back(r);
		}
	}

	std::atomic<std::uint64_t> streamed{0};
	const auto count = [&](std::uint64_t n) {
		const std::uint64_t done = streamed += n;
		if (opts.progress)
			opts.progress->update(opts.target, {done, to_stream});
	};
	std::vector<std::exception_ptr> errors(shares.size());
	std::vector<std::thread> threads;
	threads.reserve(shares.size());
	for (std::size_t s = 0; s < shares.size(); ++s)
		threads.emplace_back([&, s] {
			try {
				stream_share(agent, opts, shares[s], out.get(), zeros, count);
			} catch (...) {
				errors[s] = std::current_exception();
			}
		});
	for (auto &t : threads)
		t.join();
	for (const auto &e : errors)
		if (e)
			std::rethrow_exception(e);
	if (::fsync(out.get()) < 0 && errno != EINVAL)
		throw std::system_error(errno, std::generic_category(), "fsync failed");
	result.streamed_bytes = streamed;
	result.bytes += result.streamed_bytes;
	result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	return result;
}

} // namespace bk::backup
