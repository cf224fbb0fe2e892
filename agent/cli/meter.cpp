#include "cli/meter.h"

#include "cli/output.h"

#include <unistd.h>

#include <iostream>

namespace bk::cli {

Meter::Meter(bool json) : on_(!json && ::isatty(2)) {}

Meter::~Meter()
{
	if (!what_.empty())
		std::cerr << '\n';
}

void Meter::update(const std::string &what, const storage::Progress &p)
{
	const std::lock_guard lock(mutex_);
	const auto now = std::chrono::steady_clock::now();
	if (what != what_) {
		if (!what_.empty())
			std::cerr << '\n';
		what_ = what;
		start_ = now;
	} else if (now - last_ < std::chrono::milliseconds(250) && p.done != p.total) {
		return;
	}
	last_ = now;
	const double secs = std::chrono::duration<double>(now - start_).count();
	const double rate = secs > 0 ? static_cast<double>(p.done) / secs : 0;
	std::string line = what + "  " + human_bytes(p.done);
	if (p.total > 0)
		line += " / " + human_bytes(p.total);
	line += "  " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s";
	if (p.total > p.done && rate > 0)
		line += "  ETA " + std::to_string(static_cast<long>(static_cast<double>(p.total - p.done) / rate)) + "s";
	std::cerr << '\r' << line << "\033[K" << std::flush;
}

} // namespace bk::cli
