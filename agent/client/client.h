// The typed client of bkagentd (one method per RPC, failures thrown as
// CallError) and its error reasons: shared by the CLI, the backup library,
// tests and benches (e.g. `bkagent backup --agent HOST:PORT`).
#pragma once

#include <bkagent/v1/bkagent.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bk::client {

inline constexpr const char *default_socket = "/run/bkagent/bkagentd.sock";

// Where and how to reach an agent. `address` is "unix:/path" for the local
// socket, otherwise "host:port" over mutual TLS with a bearer token.
struct Target {
	std::string address = std::string("unix:") + default_socket;
	std::string ca_file;     // CA of the agent's server certificate
	std::string cert_file;   // client certificate (PEM)
	std::string key_file;    // client key (PEM)
	std::string token;       // bearer token
	std::string server_name; // TLS name to verify when it differs from host
};

std::shared_ptr<grpc::Channel> connect(const Target &target);

// A failed call: the gRPC status and the agent's reason name.
class CallError : public std::runtime_error {
public:
	explicit CallError(const grpc::Status &status);
	grpc::StatusCode code() const { return code_; }
	const std::string &reason() const { return reason_; }
	const std::map<std::string, std::string> &metadata() const { return metadata_; }

private:
	grpc::StatusCode code_;
	std::string reason_;
	std::map<std::string, std::string> metadata_;
};

// Throws CallError unless `status` is OK.
void check(const grpc::Status &status);

// The reason ("CBT_RESET", ...) in a status's details, or "".
std::string reason_of(const grpc::Status &status);

// True for the reasons that mean "read the whole device".
bool full_read_needed(const std::string &reason);

const char *code_name(grpc::StatusCode code);

// The API's ceiling of ReadExtents chunks (Capabilities.max_chunk_bytes is at
// most this).
inline constexpr std::uint32_t api_max_chunk_bytes = 1U << 20;

// Throws std::runtime_error when a streamed raw chunk's data does not match
// its length or its CRC-32C: damage between the agent's read and here must
// never reach a copy.
void check_chunk(const bkagent::v1::DataChunk &chunk);

// Turns a streamed chunk into a checked raw one in place: a ZSTD chunk is
// decompressed into exactly `length` bytes (at most `max_length`) and its
// frame moved to `frame` (cleared for a raw chunk). Throws
// std::runtime_error for a chunk over `max_length`, an unknown compression,
// a frame that is damaged or does not hold exactly `length` bytes, or a CRC
// mismatch (check_chunk).
void open_chunk(bkagent::v1::DataChunk &chunk, std::string &frame, std::uint32_t max_length);

// What GetChangedExtents streamed, collected.
struct ChangedExtents {
	bkagent::v1::ChangeToken token; // of the snapshot's image
	std::vector<bkagent::v1::Extent> extents;
	std::uint64_t changed_bytes = 0;
};

// One agent. Calls are thread-safe (parallel ReadExtents streams share it);
// each has a deadline fit for it; a failed call throws CallError.
class Client {
public:
	explicit Client(const Target &target);
	explicit Client(std::shared_ptr<grpc::Channel> channel);

	bkagent::v1::Capabilities capabilities();
	std::vector<bkagent::v1::Device> list_devices(bool tracked_only);
	bkagent::v1::Device start_tracking(const std::string &device);
	void stop_tracking(const std::string &device);

	bkagent::v1::Snapshot create_snapshot(const bkagent::v1::CreateSnapshotRequest &req);
	// nullopt: the daemon's default lease.
	bkagent::v1::Lease renew_lease(const std::string &snapshot, std::optional<std::chrono::seconds> lease);
	void release_snapshot(const std::string &snapshot);
	std::vector<bkagent::v1::Snapshot> list_snapshots();

	// Streams the pages to `page_sink` as they come.
	void changed_extents(const bkagent::v1::GetChangedExtentsRequest &req,
			     const std::function<void(const bkagent::v1::ChangedExtentsPage &)> &page_sink);
	ChangedExtents changed_extents(const bkagent::v1::GetChangedExtentsRequest &req);
	// Streams the chunks to `sink`, each opened by open_chunk() first (raw,
	// checked) and handed on with the zstd frame it came as ("" when raw).
	void read_extents(const bkagent::v1::ReadExtentsRequest &req,
			  const std::function<void(const bkagent::v1::DataChunk &, std::string_view frame)> &sink);
	// The same for a sink that needs no frames.
	void read_extents(const bkagent::v1::ReadExtentsRequest &req, const std::function<void(const bkagent::v1::DataChunk &)> &sink);
	bkagent::v1::CommitBackupResponse commit_backup(const bkagent::v1::CommitBackupRequest &req);
	// Streams events to `sink` until it returns false (then cancels the call).
	void watch_events(const std::function<bool(const bkagent::v1::Event &)> &sink);

private:
	std::unique_ptr<bkagent::v1::Agent::Stub> stub_;
};

// A snapshot held for one scope: created by the constructor, released by the
// destructor however the scope ends (a failed release is left to the lease).
class SnapshotHold {
public:
	SnapshotHold(Client &agent, const bkagent::v1::CreateSnapshotRequest &req);
	~SnapshotHold();
	SnapshotHold(const SnapshotHold &) = delete;
	SnapshotHold &operator=(const SnapshotHold &) = delete;
	const bkagent::v1::Snapshot &get() const { return snap_; }

private:
	Client &agent_;
	bkagent::v1::Snapshot snap_;
};

} // namespace bk::client
