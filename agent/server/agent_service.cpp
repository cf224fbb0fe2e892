#include "server/agent_service.h"

#include "core/image_io.h"
#include "core/token_proto.h"
#include "driver/driver.h"

#include <spdlog/spdlog.h>

#include <thread>

namespace bk::agent {

namespace v1 = bkagent::v1;

namespace {

ReadOptions read_options(const v1::ReadExtentsRequest &req, const Config &config)
{
	ReadOptions o{req.chunk_bytes(), req.elide_zeroes(), std::nullopt};
	switch (req.compression()) {
	case v1::COMPRESSION_NONE: break;
	case v1::ZSTD: o.zstd_level = config.wire_zstd_level; break;
	default:
		throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, v1::BAD_REQUEST,
			       "unknown compression " + std::to_string(req.compression()));
	}
	return o;
}

} // namespace

grpc::Status to_status(grpc::ServerContext *ctx, const ApiError &e)
{
	const std::string reason = v1::Reason_Name(e.reason());
	ctx->AddTrailingMetadata("bkagent-reason", reason);
	v1::ErrorInfo info;
	info.set_reason(reason);
	info.set_domain("bkagent.v1");
	for (const auto &[k, v] : e.metadata())
		(*info.mutable_metadata())[k] = v;
	v1::RpcStatus status;
	status.set_code(static_cast<int>(e.code()));
	status.set_message(e.what());
	auto *any = status.add_details();
	any->set_type_url("type.googleapis.com/google.rpc.ErrorInfo");
	any->set_value(info.SerializeAsString());
	return {e.code(), e.what(), status.SerializeAsString()};
}

AgentService::AgentService(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, Snapshots &snapshots,
			   EventHub &events, const Authenticator &auth)
    : config_(config), driver_(driver), store_(store), devices_(devices), snapshots_(snapshots), events_(events), auth_(auth)
{
}

void AgentService::stop(std::chrono::milliseconds grace)
{
	stopping_ = true;
	const auto deadline = std::chrono::steady_clock::now() + grace;
	while (active_ > 0 && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

template <typename Body>
grpc::Status AgentService::call(grpc::ServerContext *ctx, const char *rpc, const std::string &device, const Body &body)
{
	if (auto why = auth_.deny_reason(*ctx)) {
		spdlog::warn("{} from {} refused: {}", rpc, ctx->peer(), *why);
		return to_status(ctx, ApiError(grpc::StatusCode::UNAUTHENTICATED, v1::NOT_AUTHENTICATED, *why));
	}
	struct Active {
		std::atomic<int> &n;
		explicit Active(std::atomic<int> &count) : n(count) { ++n; }
		~Active() { --n; }
	} active(active_);
	if (stopping_)
		return to_status(ctx, ApiError(grpc::StatusCode::UNAVAILABLE, v1::SHUTTING_DOWN, "agent is stopping"));
	try {
		body();
		return grpc::Status::OK;
	} catch (...) {
		const ApiError e = map_exception(device);
		if (e.code() == grpc::StatusCode::INTERNAL)
			spdlog::error("{}: {}", rpc, e.what());
		else
			spdlog::info("{}: {} ({})", rpc, e.what(), v1::Reason_Name(e.reason()));
		return to_status(ctx, e);
	}
}

std::pair<std::shared_ptr<const LiveSnapshot>, const SnapshotDeviceState *> AgentService::member(const std::string &snapshot_id,
												 const std::string &device)
{
	auto snap = snapshots_.get(snapshot_id);
	const BlockDevice d = devices_.resolve(device);
	const SnapshotDeviceState *m = &snap->member(d.path);
	return {std::move(snap), m};
}

grpc::Status AgentService::GetCapabilities(grpc::ServerContext *ctx, const v1::GetCapabilitiesRequest *, v1::Capabilities *resp)
{
	return call(ctx, "GetCapabilities", "", [&] {
		resp->set_api_version("bkagent.v1");
		resp->set_api_revision(2);
		resp->set_agent_version(BK_AGENT_VERSION);
		resp->set_max_chunk_bytes(max_chunk_bytes);
		resp->set_max_ranges_per_read(max_ranges_per_read);
		resp->set_max_extents_per_page(max_extents_per_page);
		resp->set_max_parallel_reads(config_.max_parallel_reads);
		resp->mutable_min_lease()->set_seconds(config_.lease_min.count());
		resp->mutable_max_lease()->set_seconds(config_.lease_max.count());
		resp->set_checksum(v1::CRC32C);
		resp->add_compressions(v1::ZSTD);
		resp->set_zstd_level(config_.wire_zstd_level);
		for (const auto &h : Hooks(config_.hooks_dir, config_.hook_timeout).available())
			resp->add_hooks(h);
		try {
			const ModuleInfo m = driver_.version();
			resp->set_module_loaded(true);
			resp->set_module_version(std::to_string(m.module_major) + "." + std::to_string(m.module_minor) + "." +
						 std::to_string(m.module_patch));
			resp->set_uapi_version(m.uapi_version);
			resp->set_cbt_min_block_size(1U << m.cbt_min_block_shift);
			resp->set_cbt_max_block_size(1U << m.cbt_max_block_shift);
			resp->set_cbt_max_blocks(m.cbt_max_blocks);
			resp->set_max_trackers(m.max_trackers);
			resp->set_max_snapshot_devices(m.max_snapshot_devices);
		} catch (const ModuleUnavailable &) {
			resp->set_module_loaded(false);
		}
	});
}

grpc::Status AgentService::ListDevices(grpc::ServerContext *ctx, const v1::ListDevicesRequest *req, v1::ListDevicesResponse *resp)
{
	return call(ctx, "ListDevices", "", [&] {
		for (auto &d : devices_.list(req->tracked_only()))
			*resp->add_devices() = std::move(d);
	});
}

grpc::Status AgentService::StartTracking(grpc::ServerContext *ctx, const v1::StartTrackingRequest *req, v1::Device *resp)
{
	return call(ctx, "StartTracking", req->device(), [&] {
		*resp = devices_.start(req->device());
		spdlog::info("tracking {}", resp->path());
	});
}

grpc::Status AgentService::StopTracking(grpc::ServerContext *ctx, const v1::StopTrackingRequest *req, v1::StopTrackingResponse *)
{
	return call(ctx, "StopTracking", req->device(), [&] {
		devices_.stop(req->device());
		spdlog::info("stopped tracking {}", req->device());
	});
}

grpc::Status AgentService::CreateSnapshot(grpc::ServerContext *ctx, const v1::CreateSnapshotRequest *req, v1::Snapshot *resp)
{
	return call(ctx, "CreateSnapshot", req->devices_size() == 1 ? req->devices(0) : "", [&] { *resp = snapshots_.create(*req); });
}

grpc::Status AgentService::RenewLease(grpc::ServerContext *ctx, const v1::RenewLeaseRequest *req, v1::Lease *resp)
{
	return call(ctx, "RenewLease", "", [&] { *resp = snapshots_.renew(req->snapshot_id(), req->lease()); });
}

grpc::Status AgentService::ReleaseSnapshot(grpc::ServerContext *ctx, const v1::ReleaseSnapshotRequest *req, v1::ReleaseSnapshotResponse *)
{
	return call(ctx, "ReleaseSnapshot", "", [&] { snapshots_.release(req->snapshot_id()); });
}

grpc::Status AgentService::ListSnapshots(grpc::ServerContext *ctx, const v1::ListSnapshotsRequest *, v1::ListSnapshotsResponse *resp)
{
	return call(ctx, "ListSnapshots", "", [&] {
		for (auto &s : snapshots_.list())
			*resp->add_snapshots() = std::move(s);
	});
}

grpc::Status AgentService::GetChangedExtents(grpc::ServerContext *ctx, const v1::GetChangedExtentsRequest *req,
					     grpc::ServerWriter<v1::ChangedExtentsPage> *writer)
{
	return call(ctx, "GetChangedExtents", req->device(), [&] {
		std::optional<cbt::Token> since;
		if (req->has_since())
			since = from_proto(req->since());
		auto [snap, dev] = member(req->snapshot_id(), req->device());
		list_changed_extents(
			store_, *dev, since, req->has_range() ? &req->range() : nullptr, req->max_extents_per_page(),
			[&](const v1::ChangedExtentsPage &page) { return !ctx->IsCancelled() && !stopping_ && writer->Write(page); });
		if (ctx->IsCancelled())
			throw ApiError(grpc::StatusCode::CANCELLED, v1::REASON_UNSPECIFIED, "cancelled by the client");
	});
}

grpc::Status AgentService::ReadExtents(grpc::ServerContext *ctx, const v1::ReadExtentsRequest *req,
				       grpc::ServerWriter<v1::DataChunk> *writer)
{
	return call(ctx, "ReadExtents", req->device(), [&] {
		auto [snap, dev] = member(req->snapshot_id(), req->device());
		snapshots_.check_alive(*snap);
		const ReadOptions opts = read_options(*req, config_);
		if (!snap->reads->acquire([&] { return ctx->IsCancelled() || stopping_.load(); }))
			throw ApiError(grpc::StatusCode::CANCELLED, v1::REASON_UNSPECIFIED, "cancelled while waiting");
		struct Slot {
			ReadSlots &slots;
			~Slot() { slots.release(); }
		} slot{*snap->reads};
		try {
			read_extents(*dev, req->ranges(), opts,
				     [&](const v1::DataChunk &chunk) { return !ctx->IsCancelled() && !stopping_ && writer->Write(chunk); });
		} catch (const ApiError &e) {
			// A failed snapshot reads as EIO: say why.
			if (e.code() == grpc::StatusCode::INTERNAL)
				snapshots_.check_alive(*snap);
			throw;
		}
		if (ctx->IsCancelled())
			throw ApiError(grpc::StatusCode::CANCELLED, v1::REASON_UNSPECIFIED, "cancelled by the client");
	});
}

grpc::Status AgentService::CommitBackup(grpc::ServerContext *ctx, const v1::CommitBackupRequest *req, v1::CommitBackupResponse *resp)
{
	return call(ctx, "CommitBackup", req->device(), [&] {
		std::string device;
		cbt::Token token;
		if (req->snapshot_id().empty()) {
			if (!req->has_token())
				throw ApiError(grpc::StatusCode::INVALID_ARGUMENT, v1::BAD_REQUEST,
					       "name a snapshot_id or a token to commit");
			token = from_proto(req->token());
			device = devices_.resolve(req->device()).path;
		} else {
			auto [snap, dev] = member(req->snapshot_id(), req->device());
			device = dev->device;
			token = dev->token;
		}
		const cbt::Token baseline = store_.commit(device, token);
		to_proto(baseline, resp->mutable_baseline());
		spdlog::info("{}: baseline {}", device, cbt::format_token(baseline));
	});
}

grpc::Status AgentService::WatchEvents(grpc::ServerContext *ctx, const v1::WatchEventsRequest *, grpc::ServerWriter<v1::Event> *writer)
{
	return call(ctx, "WatchEvents", "", [&] {
		auto sub = events_.subscribe();
		struct Unsubscribe {
			EventHub &hub;
			std::shared_ptr<EventHub::Subscription> sub;
			~Unsubscribe() { hub.unsubscribe(sub); }
		} unsubscribe{events_, sub};
		// Headers first, so the client knows it is subscribed.
		writer->SendInitialMetadata();
		while (!ctx->IsCancelled() && !stopping_) {
			if (auto e = sub->next(std::chrono::milliseconds(200)); e && !writer->Write(*e))
				break;
		}
	});
}

} // namespace bk::agent
