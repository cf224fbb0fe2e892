#include "core/image_io.h"

#include "bk/util/crc32c.h"
#include "bk/util/unique_fd.h"
#include "bk/util/zstd.h"
#include "core/api_error.h"
#include "core/token_proto.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace bk::agent {

namespace {

ApiError past_end(const SnapshotDeviceState &dev, std::uint64_t offset, std::uint64_t length)
{
	return {grpc::StatusCode::OUT_OF_RANGE,
		bkagent::v1::RANGE_PAST_END,
		"range [" + std::to_string(offset) + ", +" + std::to_string(length) + ") passes the end of " + dev.device + " (" +
			std::to_string(dev.size_bytes) + " bytes)",
		{{"device", dev.device}}};
}

void check_range(const SnapshotDeviceState &dev, std::uint64_t offset, std::uint64_t length)
{
	if (length == 0)
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "empty range");
	if (offset > dev.size_bytes || length > dev.size_bytes - offset)
		throw past_end(dev, offset, length);
}

util::UniqueFd open_image(const SnapshotDeviceState &dev)
{
	util::UniqueFd fd(::open(dev.image_path.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd)
		throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
			       "cannot open image " + dev.image_path + ": " + std::strerror(errno));
	return fd;
}

// Splits extents on holes of the image where it has any (files in tests,
// sparse-aware devices); block devices report none and cost one lseek.
class HoleFinder {
public:
	HoleFinder(int fd, std::uint64_t size, std::uint64_t block) : fd_(fd), block_(block)
	{
		const off_t hole = ::lseek(fd, 0, SEEK_HOLE);
		sparse_ = hole >= 0 && static_cast<std::uint64_t>(hole) < size;
	}

	// Calls emit(offset, length, zero) for block-aligned pieces of the extent.
	template <typename Emit> void split(std::uint64_t off, std::uint64_t len, const Emit &emit) const
	{
		const std::uint64_t end = off + len;
		while (sparse_ && off < end) {
			const off_t data = ::lseek(fd_, static_cast<off_t>(off), SEEK_DATA);
			std::uint64_t hole_end = data < 0 ? end : std::min<std::uint64_t>(data, end);
			hole_end = hole_end == end ? end : hole_end / block_ * block_;
			if (hole_end > off) {
				emit(off, hole_end - off, true);
				off = hole_end;
				continue;
			}
			const off_t hole = ::lseek(fd_, static_cast<off_t>(off), SEEK_HOLE);
			std::uint64_t data_end = hole < 0 ? end : std::min<std::uint64_t>(hole, end);
			data_end = data_end == end ? end : std::max(off + block_, (data_end + block_ - 1) / block_ * block_);
			data_end = std::min(data_end, end);
			emit(off, data_end - off, false);
			off = data_end;
		}
		if (off < end)
			emit(off, end - off, false);
	}

private:
	int fd_;
	std::uint64_t block_;
	bool sparse_ = false;
};

} // namespace

void list_changed_extents(const cbt::Store &store, const SnapshotDeviceState &dev, const std::optional<cbt::Token> &since,
			  const bkagent::v1::Range *range, std::uint32_t page_size,
			  const std::function<bool(const bkagent::v1::ChangedExtentsPage &)> &write)
{
	if (page_size > max_extents_per_page)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::REQUEST_TOO_LARGE,
			       "at most " + std::to_string(max_extents_per_page) + " extents per page");
	if (page_size == 0)
		page_size = max_extents_per_page;
	std::uint64_t offset = 0, length = dev.size_bytes;
	if (range) {
		check_range(dev, range->offset(), range->length());
		offset = range->offset();
		length = range->length();
	}
	const std::uint64_t block = std::uint64_t{1} << dev.block_shift;
	const std::uint64_t first_block = offset / block;
	const std::uint64_t end_block = (offset + length + block - 1) / block;

	const util::UniqueFd fd = open_image(dev);
	const HoleFinder holes(fd.get(), dev.size_bytes, block);
	bkagent::v1::ChangedExtentsPage page;
	page.set_cbt_block_size(static_cast<std::uint32_t>(block));
	to_proto(dev.token, page.mutable_token());
	std::uint64_t total = 0;
	bool open = true;
	auto flush = [&] {
		open = open && write(page);
		page.clear_extents();
		return open;
	};
	auto add = [&](std::uint64_t off, std::uint64_t len, bool zero) {
		auto *e = page.add_extents();
		e->set_offset(off);
		e->set_length(len);
		e->set_changed(true);
		e->set_zero(zero);
		total += len;
		if (static_cast<std::uint32_t>(page.extents_size()) >= page_size)
			flush();
	};
	auto on_run = [&](const cbt::BlockRun &run) {
		const std::uint64_t off = run.first * block;
		const std::uint64_t len = std::min((run.first + run.count) * block, dev.size_bytes) - off;
		holes.split(off, len, add);
		return open;
	};
	if (since)
		store.changed_since(dev.device, *since, dev.token, first_block, end_block, on_run);
	else
		on_run({first_block, end_block - first_block});
	if (!open)
		return;
	page.set_last(true);
	page.set_changed_bytes_total(total);
	write(page);
}

void read_extents(const SnapshotDeviceState &dev, const google::protobuf::RepeatedPtrField<bkagent::v1::Range> &ranges,
		  const ReadOptions &opts, const std::function<bool(const bkagent::v1::DataChunk &)> &write)
{
	std::uint32_t chunk_bytes = opts.chunk_bytes;
	if (chunk_bytes > max_chunk_bytes)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::REQUEST_TOO_LARGE,
			       "chunk_bytes above " + std::to_string(max_chunk_bytes));
	if (static_cast<std::uint32_t>(ranges.size()) > max_ranges_per_read)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::REQUEST_TOO_LARGE,
			       "at most " + std::to_string(max_ranges_per_read) + " ranges per request");
	if (ranges.empty())
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "no range to read");
	chunk_bytes = chunk_bytes ? std::max<std::uint32_t>(chunk_bytes / 4096 * 4096, 4096) : max_chunk_bytes;

	std::vector<std::pair<std::uint64_t, std::uint64_t>> sorted;
	for (const auto &r : ranges) {
		check_range(dev, r.offset(), r.length());
		sorted.emplace_back(r.offset(), r.length());
	}
	std::sort(sorted.begin(), sorted.end());
	for (std::size_t i = 1; i < sorted.size(); ++i)
		if (sorted[i - 1].first + sorted[i - 1].second > sorted[i].first)
			throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "ranges overlap");

	const util::UniqueFd fd = open_image(dev);
	::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
	bkagent::v1::DataChunk chunk;
	std::string frame; // a compressed chunk's frame, swapped with its data to send it
	for (const auto &r : ranges) {
		for (std::uint64_t off = r.offset(); off < r.offset() + r.length();) {
			const auto len = static_cast<std::uint32_t>(std::min<std::uint64_t>(chunk_bytes, r.offset() + r.length() - off));
			std::string *data = chunk.mutable_data();
			data->resize(len);
			for (std::uint32_t done = 0; done < len;) {
				const ssize_t n = ::pread(fd.get(), data->data() + done, len - done, static_cast<off_t>(off + done));
				if (n <= 0)
					throw ApiError(grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR,
						       "read of " + dev.image_path + " at " + std::to_string(off + done) +
							       " failed: " + (n == 0 ? "short read" : std::strerror(errno)),
						       {{"device", dev.device}});
				done += static_cast<std::uint32_t>(n);
			}
			chunk.set_offset(off);
			chunk.set_length(len);
			const bool zero = opts.elide_zeroes && util::all_zero(data->data(), len);
			chunk.set_zero(zero);
			chunk.set_checksum(zero ? util::crc32c_zeroes(len) : util::crc32c(0, data->data(), len));
			if (zero)
				data->clear();
			std::size_t packed = 0;
			if (opts.zstd_level && !zero) {
				frame.resize(len);
				packed = util::zstd_compress(data->data(), len, frame.data(), len, *opts.zstd_level);
			}
			chunk.set_compression(packed ? bkagent::v1::ZSTD : bkagent::v1::COMPRESSION_NONE);
			if (packed) {
				frame.resize(packed);
				data->swap(frame);
			}
			const bool more = write(chunk);
			if (packed)
				data->swap(frame); // the read buffer again
			if (!more)
				return;
			off += len;
		}
	}
}

} // namespace bk::agent
