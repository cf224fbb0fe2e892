// Kernel events turned into API events: low space grows the snapshot's
// difference storage, overflows and failures mark the snapshot failed.
#pragma once

#include "core/config.h"
#include "core/event_hub.h"
#include "core/snapshots.h"

namespace bk::agent {

class KernelEvents {
public:
	KernelEvents(const Config &config, Driver &driver, Snapshots &snapshots, EventHub &events)
	    : config_(config), driver_(driver), snapshots_(snapshots), events_(events)
	{
	}

	void handle(const KernelEvent &e);

private:
	// Adds as much storage as the snapshot started with; the message says how it went.
	std::string grow(const std::string &id);

	const Config &config_;
	Driver &driver_;
	Snapshots &snapshots_;
	EventHub &events_;
};

} // namespace bk::agent
