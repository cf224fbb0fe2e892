#include "client/client.h"
#include "bk/util/crc32c.h"
#include "bk/util/zstd.h"
#include "client/files.h"

namespace bk::client {

namespace v1 = bkagent::v1;

namespace {

// Short calls, the snapshot take (freeze, hooks, CBT fold), whole-stream calls.
constexpr std::chrono::seconds call_deadline(30), create_deadline(300), changes_deadline(600), stream_deadline(24 * 3600);

std::unique_ptr<grpc::ClientContext> context(std::chrono::seconds deadline)
{
	auto ctx = std::make_unique<grpc::ClientContext>();
	ctx->set_deadline(std::chrono::system_clock::now() + deadline);
	return ctx;
}

bkagent::v1::ErrorInfo error_info(const grpc::Status &status)
{
	bkagent::v1::RpcStatus details;
	bkagent::v1::ErrorInfo info;
	if (!details.ParseFromString(status.error_details()))
		return info;
	for (const auto &any : details.details())
		if (any.type_url().ends_with("/google.rpc.ErrorInfo") && info.ParseFromString(any.value()))
			return info;
	return info;
}

} // namespace

std::shared_ptr<grpc::Channel> connect(const Target &target)
{
	grpc::ChannelArguments args;
	args.SetMaxReceiveMessageSize(8 << 20);
	if (target.address.starts_with("unix:"))
		return grpc::CreateCustomChannel(target.address, grpc::InsecureChannelCredentials(), args);
	grpc::SslCredentialsOptions ssl;
	if (!target.ca_file.empty())
		ssl.pem_root_certs = read_file(target.ca_file);
	if (!target.cert_file.empty())
		ssl.pem_cert_chain = read_file(target.cert_file);
	if (!target.key_file.empty())
		ssl.pem_private_key = read_file(target.key_file);
	if (!target.server_name.empty())
		args.SetSslTargetNameOverride(target.server_name);
	auto creds = grpc::SslCredentials(ssl);
	if (!target.token.empty())
		creds = grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(target.token));
	return grpc::CreateCustomChannel(target.address, creds, args);
}

CallError::CallError(const grpc::Status &status) : std::runtime_error(status.error_message()), code_(status.error_code())
{
	const auto info = error_info(status);
	reason_ = info.reason();
	for (const auto &[k, v] : info.metadata())
		metadata_[k] = v;
}

void check(const grpc::Status &status)
{
	if (!status.ok())
		throw CallError(status);
}

std::string reason_of(const grpc::Status &status) { return error_info(status).reason(); }

bool full_read_needed(const std::string &reason)
{
	return reason == "CBT_RESET" || reason == "UNCLEAN_SHUTDOWN" || reason == "UNKNOWN_TOKEN";
}

const char *code_name(grpc::StatusCode code)
{
	switch (code) {
	case grpc::StatusCode::OK: return "OK";
	case grpc::StatusCode::CANCELLED: return "CANCELLED";
	case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
	case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
	case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
	case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
	case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
	case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
	case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
	case grpc::StatusCode::ABORTED: return "ABORTED";
	case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
	case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
	case grpc::StatusCode::INTERNAL: return "INTERNAL";
	case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
	case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
	case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
	default: return "UNKNOWN";
	}
}

void check_chunk(const bkagent::v1::DataChunk &chunk)
{
	if (!chunk.zero() && chunk.data().size() != chunk.length())
		throw std::runtime_error("the agent sent a chunk at offset " + std::to_string(chunk.offset()) +
					 " whose data does not match its length");
	const std::uint32_t crc =
		chunk.zero() ? bk::util::crc32c_zeroes(chunk.length()) : bk::util::crc32c(0, chunk.data().data(), chunk.data().size());
	if (crc != chunk.checksum())
		throw std::runtime_error("checksum mismatch in the chunk at offset " + std::to_string(chunk.offset()));
}

void open_chunk(v1::DataChunk &chunk, std::string &frame, std::uint32_t max_length)
{
	const auto at = [&chunk] { return " at offset " + std::to_string(chunk.offset()); };
	if (chunk.length() > max_length)
		throw std::runtime_error("the agent sent a chunk" + at() + " of " + std::to_string(chunk.length()) +
					 " bytes, more than the " + std::to_string(max_length) + " asked for");
	frame.clear();
	switch (chunk.compression()) {
	case v1::COMPRESSION_NONE: break;
	case v1::ZSTD:
		if (chunk.zero())
			throw std::runtime_error("the agent sent a zero chunk" + at() + " marked compressed");
		frame.resize(chunk.length());
		if (!util::zstd_decompress(chunk.data().data(), chunk.data().size(), frame.data(), frame.size()))
			throw std::runtime_error("the agent sent a zstd chunk" + at() +
						 " that is damaged or does not decompress to its length");
		chunk.mutable_data()->swap(frame);
		chunk.set_compression(v1::COMPRESSION_NONE);
		break;
	default: throw std::runtime_error("the agent sent a chunk" + at() + " in an unknown compression");
	}
	check_chunk(chunk);
}

Client::Client(const Target &target) : Client(connect(target)) {}

Client::Client(std::shared_ptr<grpc::Channel> channel) : stub_(v1::Agent::NewStub(std::move(channel))) {}

v1::Capabilities Client::capabilities()
{
	v1::Capabilities caps;
	check(stub_->GetCapabilities(context(call_deadline).get(), {}, &caps));
	return caps;
}

std::vector<v1::Device> Client::list_devices(bool tracked_only)
{
	v1::ListDevicesRequest req;
	req.set_tracked_only(tracked_only);
	v1::ListDevicesResponse resp;
	check(stub_->ListDevices(context(call_deadline).get(), req, &resp));
	return {resp.devices().begin(), resp.devices().end()};
}

v1::Device Client::start_tracking(const std::string &device)
{
	v1::StartTrackingRequest req;
	req.set_device(device);
	v1::Device resp;
	check(stub_->StartTracking(context(call_deadline).get(), req, &resp));
	return resp;
}

void Client::stop_tracking(const std::string &device)
{
	v1::StopTrackingRequest req;
	req.set_device(device);
	v1::StopTrackingResponse resp;
	check(stub_->StopTracking(context(call_deadline).get(), req, &resp));
}

v1::Snapshot Client::create_snapshot(const v1::CreateSnapshotRequest &req)
{
	v1::Snapshot snap;
	check(stub_->CreateSnapshot(context(create_deadline).get(), req, &snap));
	return snap;
}

v1::Lease Client::renew_lease(const std::string &snapshot, std::optional<std::chrono::seconds> lease)
{
	v1::RenewLeaseRequest req;
	req.set_snapshot_id(snapshot);
	if (lease)
		req.mutable_lease()->set_seconds(lease->count());
	v1::Lease resp;
	check(stub_->RenewLease(context(call_deadline).get(), req, &resp));
	return resp;
}

void Client::release_snapshot(const std::string &snapshot)
{
	v1::ReleaseSnapshotRequest req;
	req.set_snapshot_id(snapshot);
	v1::ReleaseSnapshotResponse resp;
	check(stub_->ReleaseSnapshot(context(call_deadline).get(), req, &resp));
}

std::vector<v1::Snapshot> Client::list_snapshots()
{
	v1::ListSnapshotsResponse resp;
	check(stub_->ListSnapshots(context(call_deadline).get(), {}, &resp));
	return {resp.snapshots().begin(), resp.snapshots().end()};
}

void Client::changed_extents(const v1::GetChangedExtentsRequest &req, const std::function<void(const v1::ChangedExtentsPage &)> &page_sink)
{
	auto ctx = context(changes_deadline);
	auto reader = stub_->GetChangedExtents(ctx.get(), req);
	v1::ChangedExtentsPage page;
	while (reader->Read(&page))
		page_sink(page);
	check(reader->Finish());
}

ChangedExtents Client::changed_extents(const v1::GetChangedExtentsRequest &req)
{
	ChangedExtents out;
	changed_extents(req, [&out](const v1::ChangedExtentsPage &page) {
		out.token = page.token();
		out.extents.insert(out.extents.end(), page.extents().begin(), page.extents().end());
		if (page.last())
			out.changed_bytes = page.changed_bytes_total();
	});
	return out;
}

void Client::read_extents(const v1::ReadExtentsRequest &req, const std::function<void(const v1::DataChunk &, std::string_view)> &sink)
{
	auto ctx = context(stream_deadline);
	auto reader = stub_->ReadExtents(ctx.get(), req);
	const std::uint32_t max_length = req.chunk_bytes() ? std::min(req.chunk_bytes(), api_max_chunk_bytes) : api_max_chunk_bytes;
	v1::DataChunk chunk;
	std::string frame;
	while (reader->Read(&chunk)) {
		open_chunk(chunk, frame, max_length);
		sink(chunk, frame);
	}
	check(reader->Finish());
}

void Client::read_extents(const v1::ReadExtentsRequest &req, const std::function<void(const v1::DataChunk &)> &sink)
{
	read_extents(req, [&sink](const v1::DataChunk &chunk, std::string_view) { sink(chunk); });
}

v1::CommitBackupResponse Client::commit_backup(const v1::CommitBackupRequest &req)
{
	v1::CommitBackupResponse resp;
	check(stub_->CommitBackup(context(call_deadline).get(), req, &resp));
	return resp;
}

void Client::watch_events(const std::function<bool(const v1::Event &)> &sink)
{
	grpc::ClientContext ctx;
	auto reader = stub_->WatchEvents(&ctx, {});
	v1::Event event;
	while (reader->Read(&event))
		if (!sink(event)) {
			ctx.TryCancel();
			(void)reader->Finish();
			return;
		}
	check(reader->Finish());
}

SnapshotHold::SnapshotHold(Client &agent, const v1::CreateSnapshotRequest &req) : agent_(agent), snap_(agent.create_snapshot(req)) {}

SnapshotHold::~SnapshotHold()
{
	try {
		agent_.release_snapshot(snap_.id());
	} catch (const CallError &) {
		// ignored: the lease releases it
	}
}

} // namespace bk::client
