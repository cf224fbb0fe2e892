// The one progress interface of long operations (backup, image pull,
// restore, verify): a CLI draws a meter, a job runner logs or reports.
#pragma once

#include "bk/storage/types.hpp"

#include <string>

namespace bk::backup {

class ProgressSink {
public:
	virtual ~ProgressSink() = default;
	// `what` names the work (a device, a target, "verify"); `p.total` is 0
	// when unknown. May be called from several threads at once.
	virtual void update(const std::string &what, const storage::Progress &p) = 0;
};

// storage's callback feeding `sink` under `what`; empty when sink is null.
storage::ProgressFn progress_fn(ProgressSink *sink, std::string what);

} // namespace bk::backup
