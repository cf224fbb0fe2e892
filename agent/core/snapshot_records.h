// Live snapshots persisted in the CBT store, so that a restarted daemon
// adopts the snapshots its previous run left in the kernel.
#pragma once

#include "core/live_snapshot.h"

#include "bk/cbt/store.h"

#include <map>
#include <string>

namespace bk::agent {

class SnapshotRecords {
public:
	explicit SnapshotRecords(cbt::Store &store) : store_(store) {}

	void save(const LiveSnapshot &snap);
	void erase(const std::string &id);
	// Every readable record by id; unreadable ones are logged and erased.
	std::map<std::string, LiveSnapshot> load();

private:
	cbt::Store &store_;
};

} // namespace bk::agent
