#include "client/client.h"
#include "client/crc32c.h"
#include "client/files.h"

namespace bk::client {

namespace {

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

CallError::CallError(const grpc::Status &status)
	: std::runtime_error(status.error_message()), code_(status.error_code())
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
	const std::uint32_t crc = chunk.zero() ? bk::agent::crc32c_zeroes(chunk.length())
					       : bk::agent::crc32c(0, chunk.data().data(), chunk.data().size());
	if (crc != chunk.checksum())
		throw std::runtime_error("checksum mismatch in the chunk at offset " + std::to_string(chunk.offset()));
}

} // namespace bk::client
