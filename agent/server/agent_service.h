// bkagent.v1.Agent over gRPC: authentication, error mapping, and calls into
// the core.
#pragma once

#include "bk/cbt/store.h"
#include "core/api_error.h"
#include "core/config.h"
#include "core/devices.h"
#include "core/event_hub.h"
#include "core/snapshots.h"
#include "driver/driver.h"
#include "server/auth.h"

#include <bkagent/v1/bkagent.grpc.pb.h>

#include <atomic>
#include <chrono>

namespace bk::agent {

class AgentService final : public bkagent::v1::Agent::Service {
public:
	AgentService(const Config &config, Driver &driver, cbt::Store &store, Devices &devices, Snapshots &snapshots, EventHub &events,
		     const Authenticator &auth);

	// New calls fail with UNAVAILABLE/SHUTTING_DOWN; streams end. Returns
	// once no call runs any more, or after `grace`.
	void stop(std::chrono::milliseconds grace);

	grpc::Status GetCapabilities(grpc::ServerContext *ctx, const bkagent::v1::GetCapabilitiesRequest *req,
				     bkagent::v1::Capabilities *resp) override;
	grpc::Status ListDevices(grpc::ServerContext *ctx, const bkagent::v1::ListDevicesRequest *req,
				 bkagent::v1::ListDevicesResponse *resp) override;
	grpc::Status StartTracking(grpc::ServerContext *ctx, const bkagent::v1::StartTrackingRequest *req,
				   bkagent::v1::Device *resp) override;
	grpc::Status StopTracking(grpc::ServerContext *ctx, const bkagent::v1::StopTrackingRequest *req,
				  bkagent::v1::StopTrackingResponse *resp) override;
	grpc::Status CreateSnapshot(grpc::ServerContext *ctx, const bkagent::v1::CreateSnapshotRequest *req,
				    bkagent::v1::Snapshot *resp) override;
	grpc::Status RenewLease(grpc::ServerContext *ctx, const bkagent::v1::RenewLeaseRequest *req, bkagent::v1::Lease *resp) override;
	grpc::Status ReleaseSnapshot(grpc::ServerContext *ctx, const bkagent::v1::ReleaseSnapshotRequest *req,
				     bkagent::v1::ReleaseSnapshotResponse *resp) override;
	grpc::Status ListSnapshots(grpc::ServerContext *ctx, const bkagent::v1::ListSnapshotsRequest *req,
				   bkagent::v1::ListSnapshotsResponse *resp) override;
	grpc::Status GetChangedExtents(grpc::ServerContext *ctx, const bkagent::v1::GetChangedExtentsRequest *req,
				       grpc::ServerWriter<bkagent::v1::ChangedExtentsPage> *writer) override;
	grpc::Status ReadExtents(grpc::ServerContext *ctx, const bkagent::v1::ReadExtentsRequest *req,
				 grpc::ServerWriter<bkagent::v1::DataChunk> *writer) override;
	grpc::Status CommitBackup(grpc::ServerContext *ctx, const bkagent::v1::CommitBackupRequest *req,
				  bkagent::v1::CommitBackupResponse *resp) override;
	grpc::Status WatchEvents(grpc::ServerContext *ctx, const bkagent::v1::WatchEventsRequest *req,
				 grpc::ServerWriter<bkagent::v1::Event> *writer) override;

private:
	// Authenticates, runs `body`, and turns exceptions into statuses.
	template <typename Body> grpc::Status call(grpc::ServerContext *ctx, const char *rpc, const std::string &device, const Body &body);
	// The snapshot and the member device a request names.
	std::pair<std::shared_ptr<const LiveSnapshot>, const SnapshotDeviceState *> member(const std::string &snapshot_id,
											   const std::string &device);

	const Config &config_;
	Driver &driver_;
	cbt::Store &store_;
	Devices &devices_;
	Snapshots &snapshots_;
	EventHub &events_;
	const Authenticator &auth_;
	std::atomic<bool> stopping_{false};
	std::atomic<int> active_{0}; // calls running
};

// The gRPC status for `e`, its reason also attached to `ctx`'s trailers.
grpc::Status to_status(grpc::ServerContext *ctx, const ApiError &e);

} // namespace bk::agent
