#include "core/expiry.h"

namespace bk::agent {

ExpiryThread::ExpiryThread(Sweep sweep) : sweep_(std::move(sweep)), thread_([this] { loop(); }) {}

ExpiryThread::~ExpiryThread()
{
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	cv_.notify_all();
	thread_.join();
}

void ExpiryThread::wake()
{
	{
		std::lock_guard lock(mutex_);
		woken_ = true;
	}
	cv_.notify_all();
}

void ExpiryThread::loop()
{
	std::unique_lock lock(mutex_);
	while (!stopping_) {
		woken_ = false;
		lock.unlock();
		const auto next = sweep_();
		lock.lock();
		const auto now = std::chrono::system_clock::now();
		cv_.wait_until(lock, std::min(next, now + std::chrono::seconds(1)), [this] { return stopping_ || woken_; });
	}
}

} // namespace bk::agent
