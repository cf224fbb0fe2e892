#include "core/snapshots.h"

#include "core/api_error.h"
#include "core/diff_storage.h"
#include "core/token_proto.h"

#include <google/protobuf/util/time_util.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace bk::agent {

namespace {

using google::protobuf::util::TimeUtil;
using nlohmann::json;
using std::chrono::system_clock;

constexpr std::string_view record_prefix = "snapshot/";
constexpr std::size_t expired_memory = 256;

std::int64_t to_unix(system_clock::time_point t)
{
	return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

system_clock::time_point from_unix(std::int64_t s) { return system_clock::time_point(std::chrono::seconds(s)); }

std::int64_t to_unix_nanos(system_clock::time_point t)
{
	return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The nanoseconds within t's second: a snapshot's creation time orders the
// restore points made from it, and two may be taken within one second.
std::int64_t sub_second(system_clock::time_point t) { return to_unix_nanos(t) % 1000000000; }

google::protobuf::Timestamp stamp(system_clock::time_point t) { return TimeUtil::NanosecondsToTimestamp(to_unix_nanos(t)); }

ApiError not_found(const std::string &id, bool expired)
{
	return {grpc::StatusCode::NOT_FOUND, expired ? bkagent::v1::LEASE_EXPIRED : bkagent::v1::SNAPSHOT_NOT_FOUND,
		"no live snapshot " + id + (expired ? " (its lease expired)" : ""), {{"snapshot_id", id}}};
}

json to_json(const LiveSnapshot &s)
{
	json devices = json::array();
	for (const auto &d : s.devices)
		devices.push_back({{"device", d.device},
				   {"image", d.image_path},
				   {"size", d.size_bytes},
				   {"block_shift", d.block_shift},
				   {"token", cbt::format_token(d.token)}});
	return {{"id", s.id_text},	     {"created", to_unix(s.created)}, {"created_nanos", sub_second(s.created)},
		{"expires", to_unix(s.expires)},
		{"lease", s.lease.count()},  {"label", s.label},	      {"diff_bytes", s.diff_bytes},
		{"devices", devices}};
}

LiveSnapshot from_json(const json &j)
{
	LiveSnapshot s;
	s.id_text = j.at("id").get<std::string>();
	s.id = parse_uuid(s.id_text).value();
	s.created = from_unix(j.at("created").get<std::int64_t>()) +
		    std::chrono::duration_cast<system_clock::duration>(
			    std::chrono::nanoseconds(j.value("created_nanos", std::int64_t{0})));
	s.expires = from_unix(j.at("expires").get<std::int64_t>());
	s.lease = std::chrono::seconds(j.at("lease").get<std::int64_t>());
	s.label = j.at("label").get<std::string>();
	s.diff_bytes = j.at("diff_bytes").get<std::uint64_t>();
	for (const auto &d : j.at("devices")) {
		SnapshotDeviceState m;
		m.device = d.at("device").get<std::string>();
		m.image_path = d.at("image").get<std::string>();
		m.size_bytes = d.at("size").get<std::uint64_t>();
		m.block_shift = d.at("block_shift").get<std::uint32_t>();
		m.token = cbt::parse_token(d.at("token").get<std::string>()).value();
		s.devices.push_back(std::move(m));
	}
	return s;
}

} // namespace

bool ReadSlots::acquire(const std::function<bool()> &give_up)
{
	std::unique_lock lock(mutex_);
	while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return free_ > 0; }))
		if (give_up())
			return false;
	--free_;
	return true;
}

void ReadSlots::release()
{
	{
		std::lock_guard lock(mutex_);
		++free_;
	}
	cv_.notify_one();
}

const SnapshotDeviceState &LiveSnapshot::member(const std::string &device) const
{
	for (const auto &d : devices)
		if (d.device == device)
			return d;
	throw ApiError(grpc::StatusCode::NOT_FOUND, bkagent::v1::DEVICE_NOT_FOUND,
		       device + " is not part of snapshot " + id_text, {{"device", device}, {"snapshot_id", id_text}});
}

Snapshots::Snapshots(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, EventHub &events)
	: config_(config), driver_(driver), store_(store), devices_(devices), events_(events),
	  hooks_(config.hooks_dir, config.hook_timeout), expiry_([this] { expiry_loop(); })
{
}

Snapshots::~Snapshots()
{
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	cv_.notify_all();
	expiry_.join();
}

std::chrono::seconds Snapshots::clamp_lease(const google::protobuf::Duration *lease) const
{
	if (!lease)
		return config_.lease_default;
	const std::chrono::seconds s(lease->seconds() + (lease->nanos() > 0 ? 1 : 0));
	if (s < config_.lease_min || s > config_.lease_max)
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

void Snapshots::persist(const LiveSnapshot &snap)
{
	store_.put_record(std::string(record_prefix) + snap.id_text, to_json(snap).dump());
}

bkagent::v1::Snapshot Snapshots::create(const bkagent::v1::CreateSnapshotRequest &req)
{
	if (req.devices().empty())
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "no device to snapshot");
	const auto lease = clamp_lease(req.has_lease() ? &req.lease() : nullptr);
	const ModuleInfo module = driver_.version();
	if (static_cast<std::uint32_t>(req.devices_size()) > module.max_snapshot_devices)
		throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::REQUEST_TOO_LARGE,
			       "at most " + std::to_string(module.max_snapshot_devices) + " devices per snapshot");

	std::vector<BlockDevice> members;
	std::set<DevNum> seen;
	std::uint64_t group_bytes = 0;
	for (const auto &path : req.devices()) {
		BlockDevice d = devices_.resolve(path);
		if (!seen.insert(d.dev).second)
			throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST,
				       d.path + " is named twice", {{"device", d.path}});
		devices_.tracked(d);
		group_bytes += d.size_bytes;
		members.push_back(std::move(d));
	}
	std::vector<std::string> paths;
	paths.reserve(members.size());
	for (const auto &m : members)
		paths.push_back(m.path);

	std::lock_guard create_lock(create_mutex_);
	auto snap = std::make_shared<LiveSnapshot>();
	snap->diff_bytes = storage_size(req.diff_storage_bytes(), group_bytes);
	UniqueFd diff = make_diff_storage(config_.diff_dir, snap->diff_bytes);

	if (!req.pre_freeze_hook().empty())
		hooks_.run(req.pre_freeze_hook(), "pre-freeze", paths);
	SnapshotInfo info;
	try {
		info = driver_.snapshot_create(paths, diff.get(), 0);
	} catch (...) {
		ApiError e = map_exception(paths.size() == 1 ? paths[0] : "");
		if (!req.post_thaw_hook().empty()) {
			try {
				hooks_.run(req.post_thaw_hook(), "post-thaw", paths);
			} catch (const ApiError &hook) {
				spdlog::warn("post-thaw hook after failed snapshot: {}", hook.what());
			}
		}
		throw e;
	}
	snap->id = info.id;
	snap->id_text = format_uuid(info.id);
	if (!req.post_thaw_hook().empty()) {
		try {
			hooks_.run(req.post_thaw_hook(), "post-thaw", paths);
		} catch (const ApiError &e) {
			spdlog::warn("snapshot {}: {}", snap->id_text, e.what());
		}
	}

	try {
		for (std::size_t i = 0; i < members.size(); ++i) {
			const SnapshotMember &m = info.members.at(i);
			const TrackerInfo t = driver_.tracker_info(paths[i]);
			SnapshotDeviceState d{paths[i], driver_.image_path(m.image), members[i].size_bytes,
					      t.block_shift, m.token};
			try {
				store_.record_snapshot(paths[i], m.token, {t.block_shift, t.block_count},
						       [&](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
							       driver_.cbt_read(paths[i], m.token.generation, first,
										count, out);
						       });
			} catch (const DriverError &e) {
				if (e.code() != ESTALE)
					throw;
				// The map restarted right after the take: the image is fine,
				// its token just cannot anchor an incremental.
				spdlog::warn("{}: change map restarted during snapshot {}", paths[i], snap->id_text);
				store_.reconcile(paths[i], driver_.tracker_info(paths[i]).generation);
			}
			snap->devices.push_back(std::move(d));
		}
		snap->created = system_clock::now();
		snap->lease = lease;
		snap->expires = snap->created + lease;
		snap->label = req.label();
		snap->reads = std::make_shared<ReadSlots>(config_.max_parallel_reads);
		persist(*snap);
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
	cv_.notify_all();
	std::string names;
	for (const auto &p : paths)
		names += " " + p;
	spdlog::info("snapshot {} taken of{} (lease {}s)", snap->id_text, names, lease.count());
	return describe(*snap);
}

std::shared_ptr<const LiveSnapshot> Snapshots::get(const std::string &id)
{
	std::lock_guard lock(mutex_);
	auto it = live_.find(id);
	if (it == live_.end())
		throw not_found(id, std::find(expired_.begin(), expired_.end(), id) != expired_.end());
	return it->second;
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
			       "snapshot " + snap.id_text + " failed; its images are unreadable",
			       {{"snapshot_id", snap.id_text}});
}

bkagent::v1::Lease Snapshots::renew(const std::string &id, const google::protobuf::Duration &lease)
{
	const auto s = clamp_lease(lease.seconds() || lease.nanos() ? &lease : nullptr);
	std::shared_ptr<LiveSnapshot> snap;
	{
		std::lock_guard lock(mutex_);
		auto it = live_.find(id);
		if (it == live_.end())
			throw not_found(id, std::find(expired_.begin(), expired_.end(), id) != expired_.end());
		// Copy-on-write: readers keep the version they hold.
		snap = std::make_shared<LiveSnapshot>(*it->second);
		snap->lease = s;
		snap->expires = system_clock::now() + s;
		it->second = snap;
	}
	persist(*snap);
	cv_.notify_all();
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
			throw not_found(id, false);
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
		if (e.code() != ENOENT)
			spdlog::error("snapshot {}: destroy failed: {}", id, e.what());
	}
	store_.erase_record(std::string(record_prefix) + id);
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
	std::vector<std::shared_ptr<LiveSnapshot>> snaps;
	{
		std::lock_guard lock(mutex_);
		for (const auto &[id, snap] : live_)
			snaps.push_back(snap);
	}
	std::vector<bkagent::v1::Snapshot> out;
	out.reserve(snaps.size());
	for (const auto &s : snaps)
		out.push_back(describe(*s));
	return out;
}

bkagent::v1::Snapshot Snapshots::describe(const LiveSnapshot &snap)
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
		const SnapshotInfo info = driver_.snapshot_info(snap.id);
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
	{
		std::lock_guard lock(mutex_);
		if (auto it = failed_.find(snap.id_text); it != failed_.end()) {
			out.set_state(bkagent::v1::FAILED);
			out.set_error(it->second);
		}
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
	for (const auto &[name, value] : store_.records()) {
		if (!name.starts_with(record_prefix))
			continue;
		const std::string id = name.substr(record_prefix.size());
		if (!in_kernel.contains(id)) {
			store_.erase_record(name);
			continue;
		}
		try {
			auto snap = std::make_shared<LiveSnapshot>(from_json(json::parse(value)));
			snap->reads = std::make_shared<ReadSlots>(config_.max_parallel_reads);
			std::lock_guard lock(mutex_);
			live_[id] = std::move(snap);
			adopted.insert(id);
			spdlog::info("snapshot {} adopted from the previous run", id);
		} catch (const std::exception &e) {
			spdlog::error("snapshot record {} unreadable ({}): releasing it", id, e.what());
			store_.erase_record(name);
		}
	}
	for (const auto &id : kernel) {
		if (adopted.contains(format_uuid(id)))
			continue;
		spdlog::warn("snapshot {} has no owner (agent stopped while creating it): releasing it",
			     format_uuid(id));
		try {
			driver_.snapshot_destroy(id);
		} catch (const DriverError &e) {
			spdlog::error("cannot release orphan snapshot: {}", e.what());
		}
	}
	cv_.notify_all();
}

void Snapshots::on_kernel_event(const KernelEvent &e)
{
	const std::string id = format_uuid(e.snapshot);
	bkagent::v1::Event ev;
	ev.set_snapshot_id(id);
	ev.set_diff_storage_bytes(e.storage_sectors * 512);
	ev.set_diff_used_bytes(e.used_sectors * 512);
	switch (e.type) {
	case KernelEventType::low_space: {
		ev.set_type(bkagent::v1::EVENT_LOW_SPACE);
		std::shared_ptr<LiveSnapshot> snap;
		{
			std::lock_guard lock(mutex_);
			if (auto it = live_.find(id); it != live_.end())
				snap = it->second;
		}
		ev.set_message("difference storage running low");
		if (snap) {
			try {
				UniqueFd more = make_diff_storage(config_.diff_dir, snap->diff_bytes);
				driver_.snapshot_add_storage(snap->id, more.get());
				ev.set_message("difference storage running low: added " +
					       std::to_string(snap->diff_bytes) + " bytes");
			} catch (const std::exception &x) {
				ev.set_message(std::string("difference storage running low; cannot grow: ") + x.what());
			}
		}
		break;
	}
	case KernelEventType::overflow:
	case KernelEventType::snapshot_failed: {
		const bool overflow = e.type == KernelEventType::overflow;
		ev.set_type(overflow ? bkagent::v1::EVENT_OVERFLOW : bkagent::v1::EVENT_SNAPSHOT_FAILED);
		ev.set_message(overflow ? "difference storage full: snapshot failed"
					: "snapshot failed with error " + std::to_string(e.error));
		std::lock_guard lock(mutex_);
		if (live_.contains(id))
			failed_[id] = ev.message();
		break;
	}
	case KernelEventType::device_gone:
	case KernelEventType::cbt_reset:
		ev.clear_snapshot_id();
		ev.set_type(e.type == KernelEventType::device_gone ? bkagent::v1::EVENT_DEVICE_GONE
								   : bkagent::v1::EVENT_CBT_RESET);
		ev.set_device(std::to_string(e.dev.major) + ":" + std::to_string(e.dev.minor));
		ev.set_message(e.type == KernelEventType::device_gone ? "tracked device removed"
								      : "change map restarted: next backup is full");
		break;
	}
	spdlog::warn("event {}: {} {}{}", bkagent::v1::EventType_Name(ev.type()), ev.snapshot_id(), ev.device(),
		     ev.message().empty() ? "" : ": " + ev.message());
	events_.publish(std::move(ev));
}

void Snapshots::expiry_loop()
{
	std::unique_lock lock(mutex_);
	while (!stopping_) {
		auto next = system_clock::time_point::max();
		std::vector<std::string> due;
		const auto now = system_clock::now();
		for (const auto &[id, snap] : live_) {
			if (snap->expires <= now)
				due.push_back(id);
			else
				next = std::min(next, snap->expires);
		}
		if (!due.empty()) {
			lock.unlock();
			for (const auto &id : due) {
				try {
					destroy(id, bkagent::v1::EVENT_LEASE_EXPIRED, "lease expired");
				} catch (const ApiError &) {
					// released concurrently
				}
			}
			lock.lock();
			continue;
		}
		// Wake at least every second: wall-clock jumps move expiries.
		cv_.wait_until(lock, std::min(next, now + std::chrono::seconds(1)));
	}
}

} // namespace bk::agent
