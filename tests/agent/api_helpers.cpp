#include "api_helpers.h"

#include "bk/util/crc32c.h"

#include <gtest/gtest.h>

#include <thread>

namespace bk::test {

Disk make_disk(FakeKernel &kernel, const std::string &name, std::uint64_t size, std::uint32_t block_shift)
{
	return {kernel.add_disk(name, size, block_shift), std::string(size, '\0')};
}

void write_disk(FakeKernel &kernel, Disk &disk, std::uint64_t off, const std::string &data)
{
	kernel.write(disk.path, off, data);
	disk.content.replace(off, data.size(), data);
}

std::string words(std::size_t n, std::mt19937_64 &rng)
{
	std::vector<std::string> vocabulary(1000);
	for (auto &w : vocabulary)
		for (std::uint64_t len = 2 + rng() % 8; len > 0; --len)
			w += static_cast<char>('a' + rng() % 26);
	std::string text;
	while (text.size() < n)
		text += vocabulary[rng() % vocabulary.size()] + ' ';
	text.resize(n);
	return text;
}

void scribble(FakeKernel &kernel, Disk &disk, std::mt19937_64 &rng, int writes)
{
	const std::uint64_t size = disk.content.size();
	for (int i = 0; i < writes; ++i) {
		const std::uint64_t len = 1 + rng() % (rng() % 4 ? 4096 : 200000);
		const std::uint64_t off = rng() % (size - std::min(len, size - 1));
		std::string data(std::min(len, size - off), '\0');
		if (rng() % 5) // one write in five writes zeroes
			for (auto &c : data)
				c = static_cast<char>(rng());
		kernel.write(disk.path, off, data);
		disk.content.replace(off, data.size(), data);
	}
}

v1::Device track(v1::Agent::Stub &agent, const std::string &device)
{
	v1::StartTrackingRequest req;
	req.set_device(device);
	v1::Device d;
	auto c = ctx();
	const auto s = agent.StartTracking(c.get(), req, &d);
	EXPECT_TRUE(s.ok()) << s.error_message();
	return d;
}

v1::Snapshot snapshot(v1::Agent::Stub &agent, const std::vector<std::string> &devices, int lease_seconds)
{
	v1::CreateSnapshotRequest req;
	for (const auto &d : devices)
		req.add_devices(d);
	if (lease_seconds)
		req.mutable_lease()->set_seconds(lease_seconds);
	v1::Snapshot snap;
	auto c = ctx();
	const auto s = agent.CreateSnapshot(c.get(), req, &snap);
	EXPECT_TRUE(s.ok()) << s.error_message();
	return snap;
}

void release(v1::Agent::Stub &agent, const std::string &id)
{
	v1::ReleaseSnapshotRequest req;
	req.set_snapshot_id(id);
	v1::ReleaseSnapshotResponse resp;
	auto c = ctx();
	const auto s = agent.ReleaseSnapshot(c.get(), req, &resp);
	EXPECT_TRUE(s.ok()) << s.error_message();
}

Changes changed_extents(v1::Agent::Stub &agent, const std::string &snapshot, const std::string &device, const v1::ChangeToken *since)
{
	v1::GetChangedExtentsRequest req;
	req.set_snapshot_id(snapshot);
	req.set_device(device);
	req.set_max_extents_per_page(7); // many pages
	if (since)
		*req.mutable_since() = *since;
	auto c = ctx();
	auto reader = agent.GetChangedExtents(c.get(), req);
	Changes out;
	v1::ChangedExtentsPage page;
	bool last_seen = false;
	while (reader->Read(&page)) {
		EXPECT_FALSE(last_seen) << "page after the last one";
		EXPECT_LE(page.extents_size(), 7);
		for (const auto &e : page.extents()) {
			if (!out.extents.empty()) {
				const auto &p = out.extents.back();
				EXPECT_GE(e.offset(), p.offset() + p.length()) << "extents overlap or go backwards";
			}
			EXPECT_GT(e.length(), 0u);
			EXPECT_EQ(e.offset() % page.cbt_block_size(), 0u);
			out.extents.push_back(e);
		}
		if (page.last()) {
			last_seen = true;
			out.total = page.changed_bytes_total();
		}
	}
	out.status = reader->Finish();
	out.reason = reason_of(*c, out.status);
	if (out.status.ok()) {
		EXPECT_TRUE(last_seen);
		std::uint64_t sum = 0;
		for (const auto &e : out.extents)
			sum += e.length();
		EXPECT_EQ(sum, out.total);
	}
	return out;
}

v1::Range range(std::uint64_t offset, std::uint64_t length)
{
	v1::Range r;
	r.set_offset(offset);
	r.set_length(length);
	return r;
}

namespace {

grpc::Status read_stream(v1::Agent::Stub &agent, const std::string &snapshot, const std::string &device,
			 const std::vector<v1::Range> &ranges, std::string &out)
{
	v1::ReadExtentsRequest req;
	req.set_snapshot_id(snapshot);
	req.set_device(device);
	req.set_elide_zeroes(true);
	for (const auto &r : ranges)
		*req.add_ranges() = r;
	auto c = ctx(120);
	auto reader = agent.ReadExtents(c.get(), req);
	v1::DataChunk chunk;
	std::size_t ri = 0;
	std::uint64_t expect = ranges.empty() ? 0 : ranges[0].offset();
	while (reader->Read(&chunk)) {
		while (ri < ranges.size() && expect == ranges[ri].offset() + ranges[ri].length())
			if (++ri < ranges.size())
				expect = ranges[ri].offset();
		EXPECT_LT(ri, ranges.size()) << "chunk beyond the requested ranges";
		EXPECT_EQ(chunk.offset(), expect) << "chunks out of order";
		EXPECT_LE(chunk.length(), 1U << 20);
		if (chunk.zero()) {
			EXPECT_TRUE(chunk.data().empty());
			EXPECT_EQ(chunk.checksum(), util::crc32c_zeroes(chunk.length()));
			out.replace(chunk.offset(), chunk.length(), std::string(chunk.length(), '\0'));
		} else {
			EXPECT_EQ(chunk.data().size(), chunk.length());
			EXPECT_EQ(chunk.checksum(), util::crc32c(0, chunk.data().data(), chunk.data().size()))
				<< "bad checksum at " << chunk.offset();
			out.replace(chunk.offset(), chunk.length(), chunk.data());
		}
		expect = chunk.offset() + chunk.length();
	}
	return reader->Finish();
}

} // namespace

grpc::Status read_into(v1::Agent::Stub &agent, const std::string &snapshot, const std::string &device, const std::vector<v1::Range> &ranges,
		       std::string &out, int streams)
{
	if (streams <= 1 || ranges.size() < 2) {
		if (streams > 1 && ranges.size() == 1) {
			// Split one big range so every stream has work.
			std::vector<v1::Range> parts;
			const std::uint64_t step = (ranges[0].length() / streams + 4095) / 4096 * 4096;
			for (std::uint64_t o = 0; o < ranges[0].length(); o += step)
				parts.push_back(range(ranges[0].offset() + o, std::min(step, ranges[0].length() - o)));
			return read_into(agent, snapshot, device, parts, out, streams);
		}
		return read_stream(agent, snapshot, device, ranges, out);
	}
	std::vector<std::vector<v1::Range>> shares(static_cast<std::size_t>(streams));
	for (std::size_t i = 0; i < ranges.size(); ++i)
		shares[i % shares.size()].push_back(ranges[i]);
	std::vector<std::string> parts(shares.size(), std::string(out.size(), '\0'));
	std::vector<grpc::Status> status(shares.size());
	std::vector<std::thread> threads;
	for (std::size_t i = 0; i < shares.size(); ++i)
		threads.emplace_back([&, i] {
			if (!shares[i].empty())
				status[i] = read_stream(agent, snapshot, device, shares[i], parts[i]);
		});
	for (auto &t : threads)
		t.join();
	for (std::size_t i = 0; i < shares.size(); ++i) {
		if (!status[i].ok())
			return status[i];
		for (const auto &r : shares[i])
			out.replace(r.offset(), r.length(), parts[i], r.offset(), r.length());
	}
	return grpc::Status::OK;
}

// Applies the changes since `base_token` in snapshot `snap` to `copy`.
void apply_incremental(v1::Agent::Stub &agent, const v1::Snapshot &snap, const std::string &device, const v1::ChangeToken &base_token,
		       std::string &copy, int streams)
{
	const Changes ch = changed_extents(agent, snap.id(), device, &base_token);
	ASSERT_TRUE(ch.status.ok()) << ch.status.error_message() << " " << ch.reason;
	EXPECT_LT(ch.total, copy.size()) << "an incremental should not be everything";
	std::vector<v1::Range> data;
	for (const auto &e : ch.extents) {
		if (e.zero())
			copy.replace(e.offset(), e.length(), std::string(e.length(), '\0'));
		else
			data.push_back(range(e.offset(), e.length()));
	}
	if (!data.empty()) {
		ASSERT_TRUE(read_into(agent, snap.id(), device, data, copy, streams).ok());
	}
}

void full_copy(v1::Agent::Stub &agent, const v1::Snapshot &snap, const std::string &device, std::string &copy, int streams)
{
	const Changes all = changed_extents(agent, snap.id(), device, nullptr);
	ASSERT_TRUE(all.status.ok()) << all.status.error_message();
	EXPECT_EQ(all.total, copy.size());
	std::vector<v1::Range> data;
	for (const auto &e : all.extents)
		if (!e.zero())
			data.push_back(range(e.offset(), e.length()));
	ASSERT_TRUE(read_into(agent, snap.id(), device, data, copy, streams).ok());
}

} // namespace bk::test
