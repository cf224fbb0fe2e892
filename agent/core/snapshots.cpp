#include "core/snapshots.h"

#include "core/diff_storage.h"
#include "core/snapshot_proto.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace bk::agent {

namespace {

using std::chrono::system_clock;

constexpr std::size_t expired_memory = 256;

} // namespace

Snapshots::Snapshots(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, EventHub &events)
    : config_(config), driver_(driver), store_(store), devices_(devices), events_(events), hooks_(config.hooks_dir, config.hook_timeout),
      records_(store), expiry_([this] { return sweep(); })
{
}

std::chrono::seconds Snapshots::clamp_lease(const google::protobuf::Duration *lease) const
{
	if (!lease)
		return config_.lease_default;
	// Rounded up only when in range: a client's seconds near INT64_MAX would overflow.
	const bool too_long = lease->seconds() > config_.lease_max.count();
	const std::chrono::seconds s(lease->seconds() + (lease->nanos() > 0 && !too_long ? 1 : 0));
	if (too_long || s < config_.lease_min || s > config_.lease_max)
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST,
			       "lease must be between " + std::to_string(config_.lease_min.count()) + " and " +
				       std::to_string(config_.lease_max.count()) + " seconds");
	return s;
}

std::uint64_t Snapshots::storage_size(std::uint64_t requested, std::uint64_t group_bytes) const
{
	if (requested)
		return requested;
	const std::uint64_t share = group_bytes / 100 * config_.diff_storage_percent;
	return std::clamp(share, config_.diff_storage_min_bytes, config_.diff_storage_max_bytes);
}

ApiError Snapshots::not_found(const std::string &id) const
{
	const bool expired = std::find(expired_.begin(), expired_.end(), id) != expired_.end();
	return {grpc::StatusCode::NOT_FOUND,
		expired ? bkagent::v1::LEASE_EXPIRED : bkagent::v1::SNAPSHOT_NOT_FOUND,
		"no live snapshot " + id + (expired ? " (its lease expired)" : ""),
		{{"snapshot_id", id}}};
}

Snapshots::Group Snapshots::resolve(const bkagent::v1::CreateSnapshotRequest &req)
{
	const ModuleInfo module = driver_.version();
	if (static_cast<std::uint32_t>(req.devices_size()) > module.max_snapshot_devices)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::REQUEST_TOO_LARGE,
			       "at most " + std::to_string(module.max_snapshot_devices) + " devices per snapshot");
	Group group;
	std::set<DevNum> seen;
	for (const auto &path : req.devices()) {
		BlockDevice d = devices_.resolve(path);
		if (!seen.insert(d.dev).second)
			throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, d.path + " is named twice",
				       {{"device", d.path}});
		devices_.tracked(d);
		group.bytes += d.size_bytes;
		group.paths.push_back(d.path);
		group.members.push_back(std::move(d));
	}
	return group;
}

SnapshotInfo Snapshots::take(const bkagent::v1::CreateSnapshotRequest &req, const Group &group, int diff_fd)
{
	if (!req.pre_freeze_hook().empty())
		hooks_.run(req.pre_freeze_hook(), "pre-freeze", group.paths);
	PostThaw thaw(hooks_, req.post_thaw_hook(), group.paths);
	SnapshotInfo info;
	try {
		info = driver_.snapshot_create(group.paths, diff_fd, 0);
	} catch (...) {
		throw map_exception(group.paths.size() == 1 ? group.paths[0] : "");
	}
	if (!req.post_thaw_hook().empty()) {
		// A missing image name leaves the hook without it, never the
		// snapshot without its caller.
		try {
			std::vector<std::string> images;
			images.reserve(info.members.size());
			for (const SnapshotMember &m : info.members)
				images.push_back(driver_.image_path(m.image));
			thaw.taken(format_uuid(info.id), images);
		} catch (const std::exception &e) {
			spdlog::warn("post-thaw hook: no image names: {}", e.what());
		}
	}
	return info;
}

void Snapshots::record_members(const SnapshotInfo &info, const Group &group, LiveSnapshot &snap)
{
	for (std::size_t i = 0; i < group.members.size(); ++i) {
		const std::string &path = group.paths[i];
		const SnapshotMember &m = info.members.at(i);
		const TrackerInfo t = driver_.tracker_info(path);
		try {
			const auto link = driver_.cbt_anchor(path, {m.token.generation, 0});
			store_.record_snapshot(
				path, m.token, {t.block_shift, t.block_count},
				[&](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
					driver_.cbt_read(path, m.token.generation, first, count, out);
				},
				link);
			// The store holds every change up to the token: a sequence
			// wrap may now drop the marks of older writes.
			driver_.cbt_anchor(path, m.token);
		} catch (const DriverError &e) {
			if (e.code().value() != ESTALE)
				throw;
			// The map restarted right after the take: the image is fine,
			// its token just cannot anchor an incremental.
			spdlog::warn("{}: change map restarted during snapshot {}", path, snap.id_text);
			devices_.reconcile(path, driver_.tracker_info(path).generation);
		}
		snap.devices.push_back({path, driver_.image_path(m.image), group.members[i].size_bytes, t.block_shift, m.token});
	}
}

bkagent::v1::Snapshot Snapshots::create(const bkagent::v1::CreateSnapshotRequest &req)
{
	if (req.devices().empty())
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "no device to snapshot");
	const auto lease = clamp_lease(req.has_lease() ? &req.lease() : nullptr);
	const Group group = resolve(req);

	std::lock_guard create_lock(create_mutex_);
	auto snap = std::make_shared<LiveSnapshot>();
	snap->diff_bytes = storage_size(req.diff_storage_bytes(), group.bytes);
	const util::UniqueFd diff = make_diff_storage(config_.diff_dir, snap->diff_bytes);
	const SnapshotInfo info = take(req, group, diff.get());
	snap->id = info.id;
	snap->id_text = format_uuid(info.id);
	try {
		record_members(info, group, *snap);
		snap->created = system_clock::now();
		snap->lease = lease;
		snap->expires = snap->created + lease;
		snap->label = req.label();
		snap->reads = std::make_shared<ReadSlots>(config_.max_parallel_reads);
		records_.save(*snap);
	} catch (...) {
		ApiError e = map_exception("");
		try {
			driver_.snapshot_destroy(info.id);
		} catch (const DriverError &d) {
			spdlog::error("cannot destroy half-made snapshot {}: {}", snap->id_text, d.what());
		}
		throw e;
	}
	{
		std::lock_guard lock(mutex_);
		live_[snap->id_text] = snap;
	}
	expiry_.wake();
	std::string names;
	for (const auto &p : group.paths)
		names += " " + p;
	spdlog::info("snapshot {} taken of{} (lease {}s)", snap->id_text, names, lease.count());
	return describe(*snap, driver_, std::nullopt);
}

std::shared_ptr<const LiveSnapshot> Snapshots::get(const std::string &id)
{
	std::lock_guard lock(mutex_);
	auto it = live_.find(id);
	if (it == live_.end())
		throw not_found(id);
	return it->second;
}

std::shared_ptr<const LiveSnapshot> Snapshots::find(const std::string &id)
{
	std::lock_guard lock(mutex_);
	auto it = live_.find(id);
	return it == live_.end() ? nullptr : it->second;
}

void Snapshots::check_alive(const LiveSnapshot &snap)
{
	bool failed;
	{
		std::lock_guard lock(mutex_);
		failed = failed_.contains(snap.id_text);
	}
	if (!failed) {
		try {
			failed = driver_.snapshot_info(snap.id).failed;
		} catch (const DriverError &) {
			failed = true;
		}
	}
	if (failed)
		throw ApiError(grpc::StatusCode::FAILED_PRECONDITION, bkagent::v1::SNAPSHOT_FAILED,
			       "snapshot " + snap.id_text + " failed; its images are unreadable", {{"snapshot_id", snap.id_text}});
}

void Snapshots::mark_failed(const std::string &id, const std::string &error)
{
	std::lock_guard lock(mutex_);
	if (live_.contains(id))
		failed_[id] = error;
}

bkagent::v1::Lease Snapshots::renew(const std::string &id, const google::protobuf::Duration &lease)
{
	const auto s = clamp_lease(lease.seconds() || lease.nanos() ? &lease : nullptr);
	std::shared_ptr<LiveSnapshot> snap;
	{
		std::lock_guard lock(mutex_);
		auto it = live_.find(id);
		if (it == live_.end())
			throw not_found(id);
		// Copy-on-write: readers keep the version they hold.
		snap = std::make_shared<LiveSnapshot>(*it->second);
		snap->lease = s;
		snap->expires = system_clock::now() + s;
		it->second = snap;
	}
	records_.save(*snap);
	expiry_.wake();
	bkagent::v1::Lease out;
	*out.mutable_expires_at() = stamp(snap->expires);
	out.mutable_duration()->set_seconds(s.count());
	return out;
}

void Snapshots::destroy(const std::string &id, bkagent::v1::EventType why, const std::string &message)
{
	std::shared_ptr<LiveSnapshot> snap;
	{
		std::lock_guard lock(mutex_);
		auto it = live_.find(id);
		if (it == live_.end())
			throw not_found(id);
		snap = it->second;
		live_.erase(it);
		failed_.erase(id);
		if (why == bkagent::v1::EVENT_LEASE_EXPIRED) {
			expired_.push_back(id);
			if (expired_.size() > expired_memory)
				expired_.pop_front();
		}
	}
	try {
		driver_.snapshot_destroy(snap->id);
	} catch (const DriverError &e) {
		if (e.code().value() != ENOENT)
			spdlog::error("snapshot {}: destroy failed: {}", id, e.what());
	}
	records_.erase(id);
	spdlog::info("snapshot {} released: {}", id, message);
	bkagent::v1::Event ev;
	ev.set_type(why);
	ev.set_snapshot_id(id);
	ev.set_message(message);
	events_.publish(std::move(ev));
}

void Snapshots::release(const std::string &id)
{
	get(id);
	destroy(id, bkagent::v1::EVENT_SNAPSHOT_RELEASED, "released by a client");
}

void Snapshots::release_all()
{
	std::vector<std::string> ids;
	{
		std::lock_guard lock(mutex_);
		for (const auto &[id, snap] : live_)
			ids.push_back(id);
	}
	for (const auto &id : ids) {
		try {
			destroy(id, bkagent::v1::EVENT_SNAPSHOT_RELEASED, "agent stopping");
		} catch (const std::exception &e) {
			spdlog::error("snapshot {}: {}", id, e.what());
		}
	}
}

std::vector<bkagent::v1::Snapshot> Snapshots::list()
{
	std::vector<std::pair<std::shared_ptr<LiveSnapshot>, std::optional<std::string>>> snaps;
	{
		std::lock_guard lock(mutex_);
		for (const auto &[id, snap] : live_) {
			const auto f = failed_.find(id);
			snaps.emplace_back(snap, f == failed_.end() ? std::nullopt : std::optional(f->second));
		}
	}
	std::vector<bkagent::v1::Snapshot> out;
	out.reserve(snaps.size());
	for (const auto &[snap, failure] : snaps)
		out.push_back(describe(*snap, driver_, failure));
	return out;
}

void Snapshots::adopt()
{
	std::vector<Uuid> kernel;
	try {
		kernel = driver_.snapshots();
	} catch (const ModuleUnavailable &) {
		kernel.clear();
	}
	std::set<std::string> in_kernel;
	for (const auto &id : kernel)
		in_kernel.insert(format_uuid(id));
	std::set<std::string> adopted;
	for (auto &[id, record] : records_.load()) {
		if (!in_kernel.contains(id)) {
			records_.erase(id);
			continue;
		}
		auto snap = std::make_shared<LiveSnapshot>(std::move(record));
		snap->reads = std::make_shared<ReadSlots>(config_.max_parallel_reads);
		std::lock_guard lock(mutex_);
		live_[id] = std::move(snap);
		adopted.insert(id);
		spdlog::info("snapshot {} adopted from the previous run", id);
	}
	for (const auto &id : kernel) {
		if (adopted.contains(format_uuid(id)))
			continue;
		spdlog::warn("snapshot {} has no owner (agent stopped while creating it): releasing it", format_uuid(id));
		try {
			driver_.snapshot_destroy(id);
		} catch (const DriverError &e) {
			spdlog::error("cannot release orphan snapshot: {}", e.what());
		}
	}
	expiry_.wake();
}

system_clock::time_point Snapshots::sweep()
{
	auto next = system_clock::time_point::max();
	std::vector<std::string> due;
	{
		std::lock_guard lock(mutex_);
		const auto now = system_clock::now();
		for (const auto &[id, snap] : live_) {
			if (snap->expires <= now)
				due.push_back(id);
			else
				next = std::min(next, snap->expires);
		}
	}
	for (const auto &id : due) {
		try {
			destroy(id, bkagent::v1::EVENT_LEASE_EXPIRED, "lease expired");
		} catch (const ApiError &) {
			// ignored: released concurrently
		}
	}
	return next;
}

} // namespace bk::agent
