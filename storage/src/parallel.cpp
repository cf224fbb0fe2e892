#include "parallel.hpp"

namespace bk::storage {

unsigned worker_count(unsigned requested)
{
	if (requested > 0)
		return requested;
	unsigned hw = std::thread::hardware_concurrency();
	return hw > 0 ? hw : 2;
}

void parallel_for(unsigned threads, std::uint64_t n, const std::function<void(std::uint64_t)> &fn)
{
	std::atomic<std::uint64_t> next{0};
	std::atomic<bool> stop{false};
	std::mutex mutex;
	std::exception_ptr failure;
	auto run = [&] {
		for (std::uint64_t i; !stop.load() && (i = next++) < n;) {
			try {
				fn(i);
			} catch (...) {
				std::lock_guard lock(mutex);
				if (!failure)
					failure = std::current_exception();
				stop = true;
			}
		}
	};
	{
		std::vector<std::jthread> pool;
		for (unsigned t = 1; t < worker_count(threads); ++t)
			pool.emplace_back(run);
		run();
	}
	if (failure)
		std::rethrow_exception(failure);
}

} // namespace bk::storage
