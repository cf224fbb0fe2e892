// The agent's error discipline: anything that cannot complete throws
// ApiError (status code + machine-readable reason); the gRPC layer turns it
// into a status with the reason in trailers. Lower layers throw their own
// exceptions (DriverError, cbt::FullReadNeeded, cbt::StoreError) which
// map_exception() translates. See docs/hacking.md.
#pragma once

#include <bkagent/v1/bkagent.pb.h>
#include <grpcpp/support/status.h>

#include <map>
#include <stdexcept>
#include <string>

namespace bk::agent {

using bkagent::v1::Reason;

class ApiError : public std::runtime_error {
public:
	ApiError(grpc::StatusCode code, Reason reason, const std::string &what, std::map<std::string, std::string> metadata = {})
	    : std::runtime_error(what), code_(code), reason_(reason), metadata_(std::move(metadata))
	{
	}
	grpc::StatusCode code() const { return code_; }
	Reason reason() const { return reason_; }
	const std::map<std::string, std::string> &metadata() const { return metadata_; }

private:
	grpc::StatusCode code_;
	Reason reason_;
	std::map<std::string, std::string> metadata_;
};

// Translates the current exception (inside a catch block) for a call about
// `device` (may be empty).
ApiError map_exception(const std::string &device);

} // namespace bk::agent
