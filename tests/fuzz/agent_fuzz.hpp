// Shared by the agent's fuzz targets and their seeds (agent_seeds.cpp).
#pragma once

#include <bkagent/v1/bkagent.pb.h>

#include <string>

namespace bk::fuzz {

// The snapshot whose record key fuzz_snapshot_record stores its input under.
inline const std::string kRecordId = "01234567-89ab-cdef-0123-456789abcdef";

// bkagent.v1.Agent: fuzz_agent_rpc's first byte indexes its methods.
inline const google::protobuf::ServiceDescriptor &agent_service()
{
	return *bkagent::v1::GetCapabilitiesRequest::descriptor()->file()->FindServiceByName("Agent");
}

} // namespace bk::fuzz
