// Progress on stderr while attached to a terminal: bytes, throughput, ETA.
#pragma once

#include "backup/progress.h"

#include <chrono>
#include <mutex>
#include <string>

namespace bk::cli {

class Meter : public backup::ProgressSink {
public:
	explicit Meter(bool json);
	~Meter() override;
	Meter(const Meter &) = delete;
	Meter &operator=(const Meter &) = delete;

	// Null unless a meter is shown: the operation then skips reporting.
	backup::ProgressSink *sink() { return on_ ? this : nullptr; }
	void update(const std::string &what, const storage::Progress &p) override;

private:
	bool on_;
	std::mutex mutex_;
	std::string what_; // the work shown; a new one starts a new line
	std::chrono::steady_clock::time_point start_, last_;
};

} // namespace bk::cli
