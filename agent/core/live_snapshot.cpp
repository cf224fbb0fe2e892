#include "core/live_snapshot.h"

#include "core/api_error.h"

namespace bk::agent {

bool ReadSlots::acquire(const std::function<bool()> &give_up)
{
	std::unique_lock lock(mutex_);
	while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return free_ > 0; }))
		if (give_up())
			return false;
	--free_;
	return true;
}

void ReadSlots::release()
{
	{
		std::lock_guard lock(mutex_);
		++free_;
	}
	cv_.notify_one();
}

const SnapshotDeviceState &LiveSnapshot::member(const std::string &device) const
{
	for (const auto &d : devices)
		if (d.device == device)
			return d;
	throw ApiError(grpc::StatusCode::NOT_FOUND, bkagent::v1::DEVICE_NOT_FOUND, device + " is not part of snapshot " + id_text,
		       {{"device", device}, {"snapshot_id", id_text}});
}

} // namespace bk::agent
