// The daemon's gRPC service (agent/server) driven by hostile requests, in-process over
// the driver test double (tests/agent/fake_kernel): the daemon's parts wired as
// bkagentd wires them, its real gRPC server, a client on a socketpair whose server end
// is registered as a root Unix peer (so every call passes the real Authenticator as a
// local root caller would; the TCP path's token check is not fuzzed here).
//
// Input: [1 byte: the RPC, an index into bkagent.v1.Agent's methods][the request's
// bytes]. Bytes that parse as the request are made reachable first and sent
// re-serialized: a one-character snapshot_id picks a known snapshot (the live baseline
// or a released one), a one-character device or devices entry a known disk (two
// tracked, one not), a ChangeToken with a one-byte generation a known token's
// generation (keeping the input's sequence), and diff_storage_bytes is kept under
// max_diff_storage (the agent writes every byte of it). Bytes that do not parse are
// sent as they are: the server's own deserializer must refuse them.
//
// After each call, what a user relies on: a unary call answered before its deadline;
// an OK answer's messages parse and a DataChunk's checksum covers its bytes; a request
// that parses never gets INTERNAL (an unexpected exception); the daemon still answers;
// and the kernel's snapshots, the persisted records and ListSnapshots name the same
// snapshots (a refused call left none behind). Then the baseline is restored:
// snapshots the call made are released, tracking and the baseline snapshot are back.
#include <bkagent/v1/bkagent.grpc.pb.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/socket.h>

#include "agent_fuzz.hpp"
#include "bk/util/crc32c.h"
#include "client/client.h"
#include "core/devices.h"
#include "core/event_hub.h"
#include "core/snapshots.h"
#include "core/token_proto.h"
#include "fake_kernel.h"
#include "property.hpp"
#include "server/agent_service.h"
#include "server/auth.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
namespace v1 = bkagent::v1;
namespace pb = google::protobuf;
using bk::fuzz::require;

constexpr auto call_deadline = std::chrono::seconds(5);
constexpr auto watch_time = std::chrono::milliseconds(50); // WatchEvents streams until cancelled
constexpr std::uint64_t max_diff_storage = 8 << 20;

// The harness is never destroyed (its server runs until the process ends);
// its directory goes when the process exits.
fs::path make_scratch()
{
	static const bk::test::TempDir scratch("bk-agent-rpc-fuzz");
	const fs::path &dir = scratch.path();
	for (const char *sub : {"kernel", "state", "diff", "hooks"})
		fs::create_directories(dir / sub);
	// A hook that succeeds, so CreateSnapshot's hook path is reachable by name.
	std::ofstream(dir / "hooks" / "ok") << "#!/bin/sh\nexit 0\n";
	fs::permissions(dir / "hooks" / "ok", fs::perms::owner_all);
	return dir;
}

bk::agent::Config config_in(const fs::path &dir)
{
	bk::agent::Config c;
	c.state_dir = dir / "state";
	c.diff_dir = dir / "diff";
	c.hooks_dir = dir / "hooks";
	c.hook_timeout = std::chrono::seconds(2);
	c.diff_storage_min_bytes = 1 << 20;
	c.diff_storage_max_bytes = 4 << 20;
	c.max_parallel_reads = 2;
	return c;
}

class Harness {
public:
	Harness()
	    : dir_(make_scratch()), config_(config_in(dir_)), kernel_(dir_ / "kernel"), store_(config_.state_dir + "/cbt"),
	      devices_(kernel_, store_), snapshots_(config_, kernel_, store_, devices_, events_), auth_(peers_, {0}, ""),
	      service_(config_, kernel_, store_, devices_, snapshots_, events_, auth_)
	{
		disks_ = {kernel_.add_disk("disk0", 1 << 20, 12), kernel_.add_disk("disk1", (3 << 20) + 4096, 16),
			  kernel_.add_disk("disk2", 512 << 10, 12)};
		for (const auto &d : disks_)
			disk_devs_.push_back(kernel_.device(d).dev);
		grpc::ServerBuilder builder;
		builder.RegisterService(&service_);
		builder.SetMaxReceiveMessageSize(4 << 20);
		server_ = builder.BuildAndStart();
		int fds[2];
		require(server_ && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0, "server up");
		peers_.set(fds[0], 0);
		grpc::AddInsecureChannelFromFd(server_.get(), fds[0]);
		channel_ = grpc::CreateInsecureChannelFromFd("bkagent-fuzz", fds[1]);
		stub_ = v1::Agent::NewStub(channel_);
		generic_ = std::make_unique<grpc::GenericStub>(channel_);

		// Changes the baseline's tokens can be asked about: a committed and
		// released snapshot, then writes, then the baseline itself.
		for (int i = 0; i < 2; ++i)
			devices_.start(disks_[i]);
		kernel_.write(disks_[0], 8192, std::string(5000, 'a'));
		kernel_.write(disks_[1], 70000, std::string(100, 'b'));
		const v1::Snapshot first = take({disks_[0], disks_[1]});
		for (const auto &d : first.devices()) {
			store_.commit(d.device(), bk::agent::from_proto(d.token()));
			tokens_.push_back(d.token());
		}
		snapshots_.release(first.id());
		snapshot_ids_ = {"", first.id()};
		kernel_.write(disks_[0], 0, std::string(300, 'c'));
		kernel_.write(disks_[1], (3 << 20) - 10, std::string(20, 'd'));
		restore(check_daemon());
	}

	// Sends `bytes` as a request of `method`, checks the answer and the daemon after it.
	void run(const pb::MethodDescriptor &method, const std::string &bytes)
	{
		std::unique_ptr<pb::Message> request(pb::MessageFactory::generated_factory()->GetPrototype(method.input_type())->New());
		const bool parsed = request->ParseFromString(bytes);
		if (parsed)
			reachable(*request);
		const bool forever = method.name() == "WatchEvents";
		const Answer answer = call(method, parsed ? request->SerializeAsString() : bytes, forever ? watch_time : call_deadline);
		if (!forever)
			require(answer.status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED,
				"a unary call answers before its deadline");
		if (parsed && answer.status.error_code() == grpc::StatusCode::INTERNAL) {
			std::fprintf(stderr, "%s: %s\n", method.name().c_str(), answer.status.error_message().c_str());
			require(false, "a request that parses gets a reasoned answer, not INTERNAL");
		}
		if (answer.status.ok())
			check_messages(method, answer.messages);
		restore(check_daemon());
	}

private:
	struct Answer {
		grpc::Status status;
		std::vector<std::string> messages;
	};

	// One call of any kind through the generic stub: one request message, every
	// response message, the status.
	Answer call(const pb::MethodDescriptor &method, const std::string &bytes, std::chrono::milliseconds deadline)
	{
		grpc::ClientContext ctx;
		ctx.set_deadline(std::chrono::system_clock::now() + deadline);
		grpc::CompletionQueue cq;
		auto next = [&cq](std::intptr_t tag) {
			void *got = nullptr;
			bool ok = false;
			require(cq.Next(&got, &ok) && got == reinterpret_cast<void *>(tag), "completion queue in order");
			return ok;
		};
		const std::string name = "/" + method.service()->full_name() + "/" + method.name();
		auto stream = generic_->PrepareCall(&ctx, name, &cq);
		stream->StartCall(reinterpret_cast<void *>(1));
		Answer answer;
		bool open = next(1);
		if (open) {
			grpc::Slice slice(bytes);
			stream->Write(grpc::ByteBuffer(&slice, 1), reinterpret_cast<void *>(2));
			open = next(2);
		}
		if (open) {
			stream->WritesDone(reinterpret_cast<void *>(3));
			open = next(3);
		}
		for (;;) {
			grpc::ByteBuffer buffer;
			stream->Read(&buffer, reinterpret_cast<void *>(4));
			if (!next(4))
				break;
			grpc::Slice joined;
			require(buffer.TrySingleSlice(&joined).ok() || buffer.DumpToSingleSlice(&joined).ok(), "response bytes");
			answer.messages.emplace_back(reinterpret_cast<const char *>(joined.begin()), joined.size());
		}
		stream->Finish(&answer.status, reinterpret_cast<void *>(5));
		next(5);
		cq.Shutdown();
		void *tag = nullptr;
		bool ok = false;
		while (cq.Next(&tag, &ok)) {
		}
		return answer;
	}

	// The substitutions of the header comment, through the request's descriptor.
	void reachable(pb::Message &msg)
	{
		const pb::Reflection &r = *msg.GetReflection();
		const pb::Descriptor &d = *msg.GetDescriptor();
		for (int i = 0; i < d.field_count(); ++i) {
			const pb::FieldDescriptor &f = *d.field(i);
			const std::string &name = f.name();
			if (f.type() == pb::FieldDescriptor::TYPE_STRING && (name == "snapshot_id" || name.starts_with("device"))) {
				const auto &known = name == "snapshot_id" ? snapshot_ids_ : disks_;
				auto pick = [&known](const std::string &s) {
					return s.size() == 1 ? known[static_cast<std::uint8_t>(s[0]) % known.size()] : s;
				};
				if (f.is_repeated())
					for (int j = 0; j < r.FieldSize(msg, &f); ++j)
						r.SetRepeatedString(&msg, &f, j, pick(r.GetRepeatedString(msg, &f, j)));
				else
					r.SetString(&msg, &f, pick(r.GetString(msg, &f)));
			} else if (name == "diff_storage_bytes") {
				r.SetUInt64(&msg, &f, r.GetUInt64(msg, &f) % (max_diff_storage + 1));
			} else if (f.message_type() == v1::ChangeToken::descriptor() && r.HasField(msg, &f)) {
				auto &token = dynamic_cast<v1::ChangeToken &>(*r.MutableMessage(&msg, &f));
				if (token.generation().size() == 1)
					token.set_generation(
						tokens_[static_cast<std::uint8_t>(token.generation()[0]) % tokens_.size()].generation());
			}
		}
	}

	static void check_messages(const pb::MethodDescriptor &method, const std::vector<std::string> &messages)
	{
		require(method.server_streaming() || messages.size() == 1, "a unary call answers one message");
		for (const auto &bytes : messages) {
			std::unique_ptr<pb::Message> m(pb::MessageFactory::generated_factory()->GetPrototype(method.output_type())->New());
			require(m->ParseFromString(bytes), "a response parses as its type");
			if (auto *chunk = dynamic_cast<v1::DataChunk *>(m.get())) {
				// A zstd chunk's frame decompresses to its length's bytes first.
				std::string frame;
				bool opened = true;
				try {
					bk::client::open_chunk(*chunk, frame, bk::client::api_max_chunk_bytes);
				} catch (const std::runtime_error &) {
					opened = false;
				}
				require(opened, "a chunk opens (its frame holds its length's bytes)");
				const std::string &data = chunk->data();
				require(chunk->zero() ? data.empty() : data.size() == chunk->length(), "a chunk holds its length's bytes");
				require(chunk->checksum() == (chunk->zero() ? bk::util::crc32c_zeroes(chunk->length())
									    : bk::util::crc32c(0, data.data(), data.size())),
					"a chunk's checksum covers its bytes");
			}
		}
	}

	// Returns the live snapshots' ids.
	std::set<std::string> check_daemon()
	{
		grpc::ClientContext caps_ctx, list_ctx;
		caps_ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
		list_ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
		v1::Capabilities caps;
		require(stub_->GetCapabilities(&caps_ctx, {}, &caps).ok(), "the daemon still answers");
		v1::ListSnapshotsResponse listed;
		require(stub_->ListSnapshots(&list_ctx, {}, &listed).ok(), "the daemon still lists its snapshots");
		std::set<std::string> live, kernel, records;
		for (const auto &s : listed.snapshots())
			live.insert(s.id());
		for (const auto &id : kernel_.snapshots())
			kernel.insert(bk::agent::format_uuid(id));
		for (const auto &[name, value] : store_.records())
			if (name.starts_with("snapshot/"))
				records.insert(name.substr(9));
		require(live == kernel && kernel == records, "kernel snapshots, records and ListSnapshots agree");
		return live;
	}

	v1::Snapshot take(const std::vector<std::string> &devices)
	{
		v1::CreateSnapshotRequest req;
		for (const auto &d : devices)
			req.add_devices(d);
		req.mutable_lease()->set_seconds(config_.lease_max.count());
		return snapshots_.create(req);
	}

	// The state every input starts from: disk0 and disk1 tracked, disk2 not, only the
	// baseline snapshot of disk0 live (disk1 is free for the input's snapshots).
	void restore(const std::set<std::string> &live)
	{
		for (const auto &id : live)
			if (id != snapshot_ids_[0])
				snapshots_.release(id);
		std::set<bk::agent::DevNum> tracked;
		for (const auto &dev : kernel_.trackers())
			tracked.insert(dev);
		for (std::size_t i = 0; i < disks_.size(); ++i) {
			if (i < 2 && !tracked.contains(disk_devs_[i]))
				devices_.start(disks_[i]);
			if (i == 2 && tracked.contains(disk_devs_[i]))
				devices_.stop(disks_[i]);
		}
		if (!live.contains(snapshot_ids_[0])) {
			const v1::Snapshot base = take({disks_[0]});
			snapshot_ids_[0] = base.id();
			tokens_.resize(2);
			tokens_.push_back(base.devices(0).token());
		}
		// An input may have shortened its lease: a baseline that expired mid-input
		// would break the agreement check.
		if (snapshots_.get(snapshot_ids_[0])->expires < std::chrono::system_clock::now() + std::chrono::hours(1)) {
			pb::Duration lease;
			lease.set_seconds(config_.lease_max.count());
			snapshots_.renew(snapshot_ids_[0], lease);
		}
	}

	fs::path dir_;
	bk::agent::Config config_;
	bk::test::FakeKernel kernel_;
	bk::cbt::Store store_;
	bk::agent::EventHub events_;
	bk::agent::Devices devices_;
	bk::agent::Snapshots snapshots_;
	bk::agent::UnixPeers peers_;
	bk::agent::Authenticator auth_;
	bk::agent::AgentService service_;
	std::unique_ptr<grpc::Server> server_;
	std::shared_ptr<grpc::Channel> channel_;
	std::unique_ptr<v1::Agent::Stub> stub_;
	std::unique_ptr<grpc::GenericStub> generic_;
	std::vector<std::string> disks_;
	std::vector<bk::agent::DevNum> disk_devs_;
	std::vector<std::string> snapshot_ids_; // [0]: the live baseline, [1]: a released snapshot
	std::vector<v1::ChangeToken> tokens_;   // the released snapshot's two, the baseline's
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	spdlog::set_level(spdlog::level::off);
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	// Never destroyed: the server's threads outlive the statics at exit.
	static Harness &harness = *new Harness;
	if (size == 0)
		return 0;
	const pb::ServiceDescriptor &service = bk::fuzz::agent_service();
	harness.run(*service.method(data[0] % service.method_count()), std::string(reinterpret_cast<const char *>(data) + 1, size - 1));
	return 0;
}
