#include "core/snapshot_proto.h"

#include "core/token_proto.h"

#include <google/protobuf/util/time_util.h>

namespace bk::agent {

google::protobuf::Timestamp stamp(std::chrono::system_clock::time_point t)
{
	return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
		std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

bkagent::v1::Snapshot describe(const LiveSnapshot &snap, Driver &driver, const std::optional<std::string> &failure)
{
	bkagent::v1::Snapshot out;
	out.set_id(snap.id_text);
	*out.mutable_created_at() = stamp(snap.created);
	*out.mutable_lease()->mutable_expires_at() = stamp(snap.expires);
	out.mutable_lease()->mutable_duration()->set_seconds(snap.lease.count());
	out.set_label(snap.label);
	out.set_state(bkagent::v1::ACTIVE);
	out.set_diff_storage_bytes(snap.diff_bytes);
	try {
		const SnapshotInfo info = driver.snapshot_info(snap.id);
		out.set_diff_storage_bytes(info.storage_sectors * 512);
		out.set_diff_used_bytes(info.used_sectors * 512);
		if (info.failed) {
			out.set_state(bkagent::v1::FAILED);
			out.set_error("kernel error " + std::to_string(info.error));
		}
	} catch (const DriverError &e) {
		out.set_state(bkagent::v1::FAILED);
		out.set_error(e.what());
	}
	if (failure) {
		out.set_state(bkagent::v1::FAILED);
		out.set_error(*failure);
	}
	for (const auto &d : snap.devices) {
		auto *m = out.add_devices();
		m->set_device(d.device);
		m->set_image_path(d.image_path);
		m->set_size_bytes(d.size_bytes);
		m->set_cbt_block_size(1U << d.block_shift);
		to_proto(d.token, m->mutable_token());
	}
	return out;
}

} // namespace bk::agent
