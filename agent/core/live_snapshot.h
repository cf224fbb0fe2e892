// A live snapshot as the daemon holds it: its members, lease and read slots.
#pragma once

#include "driver/driver.h"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace bk::agent {

struct SnapshotDeviceState {
	std::string device; // canonical origin path
	std::string image_path;
	std::uint64_t size_bytes = 0;
	std::uint32_t block_shift = 0;
	cbt::Token token;
};

// Bounds concurrent ReadExtents streams of one snapshot.
class ReadSlots {
public:
	explicit ReadSlots(std::uint32_t slots) : free_(slots) {}
	// Waits for a slot; false when `give_up` turned true meanwhile.
	bool acquire(const std::function<bool()> &give_up);
	void release();

private:
	std::mutex mutex_;
	std::condition_variable cv_;
	std::uint32_t free_;
};

struct LiveSnapshot {
	Uuid id{};
	std::string id_text;
	std::chrono::system_clock::time_point created;
	std::chrono::system_clock::time_point expires;
	std::chrono::seconds lease{};
	std::string label;
	std::uint64_t diff_bytes = 0;
	std::vector<SnapshotDeviceState> devices;
	std::shared_ptr<ReadSlots> reads;

	const SnapshotDeviceState &member(const std::string &device) const; // NOT_FOUND
};

} // namespace bk::agent
