#include "core/event_hub.h"

#include <google/protobuf/util/time_util.h>

namespace bk::agent {

namespace {
constexpr std::size_t max_queued = 1024;
}

std::optional<bkagent::v1::Event> EventHub::Subscription::next(std::chrono::milliseconds timeout)
{
	std::unique_lock lock(mutex_);
	if (!cv_.wait_for(lock, timeout, [this] { return !queue_.empty(); }))
		return std::nullopt;
	auto e = std::move(queue_.front());
	queue_.pop_front();
	return e;
}

std::shared_ptr<EventHub::Subscription> EventHub::subscribe()
{
	auto s = std::make_shared<Subscription>();
	std::lock_guard lock(mutex_);
	subs_.insert(s);
	return s;
}

void EventHub::unsubscribe(const std::shared_ptr<Subscription> &s)
{
	std::lock_guard lock(mutex_);
	subs_.erase(s);
}

void EventHub::publish(bkagent::v1::Event event)
{
	*event.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
	std::lock_guard lock(mutex_);
	for (const auto &s : subs_) {
		std::lock_guard slock(s->mutex_);
		if (s->queue_.size() >= max_queued)
			s->queue_.pop_front();
		s->queue_.push_back(event);
		s->cv_.notify_one();
	}
}

} // namespace bk::agent
