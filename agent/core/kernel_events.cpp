#include "core/kernel_events.h"

#include "core/diff_storage.h"

#include <spdlog/spdlog.h>

namespace bk::agent {

std::string KernelEvents::grow(const std::string &id)
{
	const auto snap = snapshots_.find(id);
	if (!snap)
		return "difference storage running low";
	try {
		const util::UniqueFd more = make_diff_storage(config_.diff_dir, snap->diff_bytes);
		driver_.snapshot_add_storage(snap->id, more.get());
		return "difference storage running low: added " + std::to_string(snap->diff_bytes) + " bytes";
	} catch (const std::exception &x) {
		return std::string("difference storage running low; cannot grow: ") + x.what();
	}
}

void KernelEvents::handle(const KernelEvent &e)
{
	const std::string id = format_uuid(e.snapshot);
	bkagent::v1::Event ev;
	ev.set_snapshot_id(id);
	ev.set_diff_storage_bytes(e.storage_sectors * 512);
	ev.set_diff_used_bytes(e.used_sectors * 512);
	switch (e.type) {
	case KernelEventType::low_space:
		ev.set_type(bkagent::v1::EVENT_LOW_SPACE);
		ev.set_message(grow(id));
		break;
	case KernelEventType::overflow:
	case KernelEventType::snapshot_failed: {
		const bool overflow = e.type == KernelEventType::overflow;
		ev.set_type(overflow ? bkagent::v1::EVENT_OVERFLOW : bkagent::v1::EVENT_SNAPSHOT_FAILED);
		ev.set_message(overflow ? "difference storage full: snapshot failed"
					: "snapshot failed with error " + std::to_string(e.error));
		snapshots_.mark_failed(id, ev.message());
		break;
	}
	case KernelEventType::device_gone:
	case KernelEventType::cbt_reset:
		ev.clear_snapshot_id();
		ev.set_type(e.type == KernelEventType::device_gone ? bkagent::v1::EVENT_DEVICE_GONE : bkagent::v1::EVENT_CBT_RESET);
		ev.set_device(std::to_string(e.dev.major) + ":" + std::to_string(e.dev.minor));
		ev.set_message(e.type == KernelEventType::device_gone ? "tracked device removed"
								      : "change map restarted: next backup is full");
		break;
	}
	spdlog::warn("event {}: {} {}{}", bkagent::v1::EventType_Name(ev.type()), ev.snapshot_id(), ev.device(),
		     ev.message().empty() ? "" : ": " + ev.message());
	events_.publish(std::move(ev));
}

} // namespace bk::agent
