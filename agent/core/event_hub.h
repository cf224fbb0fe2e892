// Fans agent events out to every WatchEvents stream.
#pragma once

#include <bkagent/v1/bkagent.pb.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

namespace bk::agent {

class EventHub {
public:
	class Subscription {
	public:
		// Next event, or nullopt after `timeout`.
		std::optional<bkagent::v1::Event> next(std::chrono::milliseconds timeout);

	private:
		friend class EventHub;
		std::mutex mutex_;
		std::condition_variable cv_;
		std::deque<bkagent::v1::Event> queue_;
	};

	std::shared_ptr<Subscription> subscribe();
	void unsubscribe(const std::shared_ptr<Subscription> &s);
	// Stamps the time and delivers to all subscribers (slow ones drop the
	// oldest beyond a bound rather than grow without limit).
	void publish(bkagent::v1::Event event);

private:
	std::mutex mutex_;
	std::set<std::shared_ptr<Subscription>> subs_;
};

} // namespace bk::agent
