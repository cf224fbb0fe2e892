#include "core/devices.h"

#include "core/api_error.h"
#include "core/token_proto.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace bk::agent {

namespace {

// mountpoint and fstype by device path, from /proc/self/mounts.
std::map<std::string, std::pair<std::string, std::string>> mounts()
{
	std::map<std::string, std::pair<std::string, std::string>> out;
	std::ifstream in("/proc/self/mounts");
	for (std::string line; std::getline(in, line);) {
		std::istringstream f(line);
		std::string dev, dir, type;
		if (f >> dev >> dir >> type && dev.starts_with("/dev/"))
			out.emplace(dev, std::make_pair(dir, type));
	}
	return out;
}

} // namespace

cbt::Token from_proto(const bkagent::v1::ChangeToken &t)
{
	cbt::Token out;
	if (t.generation().size() != out.generation.size() || t.sequence() == 0)
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST,
			       "malformed change token: generation must be 16 bytes and sequence >= 1");
	std::memcpy(out.generation.data(), t.generation().data(), out.generation.size());
	out.sequence = t.sequence();
	return out;
}

BlockDevice Devices::resolve(const std::string &path)
{
	if (path.empty())
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, "no device given");
	try {
		return driver_.device(path);
	} catch (...) {
		throw map_exception(path);
	}
}

std::optional<TrackerInfo> Devices::tracker(const BlockDevice &device)
{
	const auto all = driver_.trackers();
	if (std::find(all.begin(), all.end(), device.dev) == all.end())
		return std::nullopt;
	return driver_.tracker_info(device.path);
}

TrackerInfo Devices::tracked(const BlockDevice &device)
{
	auto t = tracker(device);
	if (!t)
		throw ApiError(grpc::StatusCode::FAILED_PRECONDITION, bkagent::v1::NOT_TRACKED, device.path + " is not tracked",
			       {{"device", device.path}});
	return *t;
}

bkagent::v1::Device Devices::describe(const BlockDevice &device)
{
	bkagent::v1::Device d;
	d.set_path(device.path);
	d.set_major(device.dev.major);
	d.set_minor(device.dev.minor);
	d.set_size_bytes(device.size_bytes);
	d.set_kind(device.kind);
	d.set_state(bkagent::v1::UNTRACKED);
	if (auto t = tracker(device)) {
		d.set_state(t->state & state_cbt_error  ? bkagent::v1::CBT_ERROR
			    : t->state & state_gone     ? bkagent::v1::GONE
			    : t->state & state_snapshot ? bkagent::v1::IN_SNAPSHOT
							: bkagent::v1::TRACKING);
		d.set_cbt_block_size(1U << t->block_shift);
		to_proto({t->generation, t->sequence}, d.mutable_current());
		auto chain = store_.chain(device.path);
		if (chain && chain->generation() == t->generation && chain->committed())
			to_proto(*chain->committed(), d.mutable_committed_baseline());
		d.set_chain_note(store_.note(device.path));
	}
	const auto mounted = mounts();
	if (auto it = mounted.find(device.path); it != mounted.end()) {
		d.set_mountpoint(it->second.first);
		d.set_filesystem(it->second.second);
	}
	return d;
}

bkagent::v1::Device Devices::start(const std::string &path)
{
	const BlockDevice device = resolve(path);
	try {
		if (!tracker(device))
			driver_.attach(device.path);
		reconcile(device.path, driver_.tracker_info(device.path).generation);
	} catch (const DriverError &e) {
		if (e.code().value() == ENOSPC)
			throw ApiError(grpc::StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::TOO_MANY_TRACKERS, e.what(),
				       {{"device", device.path}});
		throw map_exception(device.path);
	}
	return describe(device);
}

void Devices::stop(const std::string &path)
{
	const BlockDevice device = resolve(path);
	tracked(device);
	try {
		driver_.detach(device.path);
	} catch (...) {
		throw map_exception(device.path);
	}
	store_.forget(device.path);
}

std::vector<bkagent::v1::Device> Devices::list(bool tracked_only)
{
	std::vector<bkagent::v1::Device> out;
	for (const auto &b : driver_.block_devices()) {
		auto d = describe(b);
		if (!tracked_only || d.state() != bkagent::v1::UNTRACKED)
			out.push_back(std::move(d));
	}
	return out;
}

void Devices::reconcile(const std::string &path, const cbt::Generation &generation)
{
	std::optional<cbt::Token> link;
	try {
		link = driver_.cbt_anchor(path, {generation, 0});
	} catch (const DriverError &e) {
		if (e.code().value() != ESTALE)
			throw;
		// The map restarted meanwhile: no link we could trust.
	}
	cbt::BootSeal boot;
	std::optional<cbt::Seal> record; // the boot's carry or rejection for this map
	if (seals_) {
		boot.stamp = seals_->stamp();
		for (const auto kind : {cbt::Seal::Kind::carry, cbt::Seal::Kind::rejected}) {
			try {
				record = seals_->read(path, kind);
			} catch (const std::exception &e) {
				record.emplace();
				record->kind = cbt::Seal::Kind::rejected;
				record->successor = generation;
				record->why = e.what();
			}
			if (record && record->successor == generation)
				break;
			record.reset();
		}
	}
	if (record && record->kind == cbt::Seal::Kind::carry) {
		boot.verdict = cbt::BootSeal::Verdict::carried;
		boot.sealed = record->sealed;
		boot.geometry = {record->device.block_shift, record->device.block_count};
		boot.sealed_map = [&record](std::uint64_t first, std::uint64_t count, std::uint8_t *out) {
			std::copy_n(record->map.begin() + static_cast<std::ptrdiff_t>(first), count, out);
		};
	} else if (record) {
		boot.verdict = cbt::BootSeal::Verdict::rejected;
		boot.why = record->why;
	}
	store_.reconcile(path, generation, link, boot);
	if (record)
		seals_->remove(path, record->kind);
}

void Devices::reconcile_all()
{
	for (const auto &b : driver_.block_devices())
		if (auto t = tracker(b))
			reconcile(b.path, t->generation);
}

} // namespace bk::agent
