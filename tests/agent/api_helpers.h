// Client-side helpers for the daemon tests: the backup server's moves.
#pragma once

#include "daemon_fixture.h"

#include <random>
#include <string>
#include <vector>

namespace bk::test {

namespace v1 = bkagent::v1;

// A fake disk plus the test's model of its content.
struct Disk {
	std::string path;
	std::string content;
};

Disk make_disk(FakeKernel &kernel, const std::string &name, std::uint64_t size, std::uint32_t block_shift);
// Random writes (some runs, some zeroes) to the disk and its model.
void scribble(FakeKernel &kernel, Disk &disk, std::mt19937_64 &rng, int writes);

// Writes `data` at `off` to the disk and its model.
void write_disk(FakeKernel &kernel, Disk &disk, std::uint64_t off, const std::string &data);
// `n` bytes of words picked at random from 1000: text that zstd compresses
// about 2x.
std::string words(std::size_t n, std::mt19937_64 &rng);

v1::Device track(v1::Agent::Stub &agent, const std::string &device);
v1::Snapshot snapshot(v1::Agent::Stub &agent, const std::vector<std::string> &devices, int lease_seconds = 0);
void release(v1::Agent::Stub &agent, const std::string &id);

struct Changes {
	grpc::Status status;
	std::string reason;
	std::vector<v1::Extent> extents;
	std::uint64_t total = 0;
};
Changes changed_extents(v1::Agent::Stub &agent, const std::string &snapshot, const std::string &device, const v1::ChangeToken *since);

// Reads `ranges` of the image into `out` (same offsets), checking every
// chunk: within the ranges, in order, CRC-32C right, zero chunks empty.
// `streams` > 1 splits the work over parallel streams.
grpc::Status read_into(v1::Agent::Stub &agent, const std::string &snapshot, const std::string &device, const std::vector<v1::Range> &ranges,
		       std::string &out, int streams = 1);

v1::Range range(std::uint64_t offset, std::uint64_t length);

// Applies the changes since `base_token` in snapshot `snap` to `copy`
// (fails the test when they are not an incremental).
void apply_incremental(v1::Agent::Stub &agent, const v1::Snapshot &snap, const std::string &device, const v1::ChangeToken &base_token,
		       std::string &copy, int streams);
// Reads all of the device's image in `snap` into `copy`.
void full_copy(v1::Agent::Stub &agent, const v1::Snapshot &snap, const std::string &device, std::string &copy, int streams);

} // namespace bk::test
