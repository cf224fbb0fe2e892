// A thread that sweeps expired leases: it calls `sweep` (which releases what
// is due and returns the next expiry) at that time, when woken, and at least
// every second, since wall-clock jumps move expiries.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace bk::agent {

class ExpiryThread {
public:
	using Sweep = std::function<std::chrono::system_clock::time_point()>;
	explicit ExpiryThread(Sweep sweep);
	~ExpiryThread(); // stops and joins
	ExpiryThread(const ExpiryThread &) = delete;
	ExpiryThread &operator=(const ExpiryThread &) = delete;

	// An expiry changed: sweep now.
	void wake();

private:
	void loop();

	Sweep sweep_;
	std::mutex mutex_;
	std::condition_variable cv_;
	bool stopping_ = false;
	bool woken_ = false;
	std::thread thread_;
};

} // namespace bk::agent
