// The two concurrency shapes the repository uses: a bounded queue between a producer and
// workers (backup), and a parallel loop over independent items (restore, verify, prune).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace bk::storage {

unsigned worker_count(unsigned requested);

template <class T> class BoundedQueue {
public:
	explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

	// Blocks while full; returns false (dropping the item) once closed.
	bool push(T item)
	{
		std::unique_lock lock(mutex_);
		not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
		if (closed_)
			return false;
		items_.push_back(std::move(item));
		not_empty_.notify_one();
		return true;
	}

	// Blocks while empty; returns nullopt once closed and drained.
	std::optional<T> pop()
	{
		std::unique_lock lock(mutex_);
		not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
		if (items_.empty())
			return std::nullopt;
		T item = std::move(items_.front());
		items_.pop_front();
		not_full_.notify_one();
		return item;
	}

	void close()
	{
		std::lock_guard lock(mutex_);
		closed_ = true;
		not_empty_.notify_all();
		not_full_.notify_all();
	}

private:
	std::mutex mutex_;
	std::condition_variable not_empty_;
	std::condition_variable not_full_;
	std::deque<T> items_;
	std::size_t capacity_;
	bool closed_ = false;
};

// Runs fn(i) for i in [0, n) on `threads` threads. The first exception stops the loop
// (items not yet started are skipped) and is rethrown.
void parallel_for(unsigned threads, std::uint64_t n, const std::function<void(std::uint64_t)> &fn);

} // namespace bk::storage
