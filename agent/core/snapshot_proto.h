// A live snapshot rendered as the API's Snapshot, with the kernel's view of
// its difference storage and health.
#pragma once

#include "core/live_snapshot.h"

#include <bkagent/v1/bkagent.pb.h>

#include <optional>

namespace bk::agent {

google::protobuf::Timestamp stamp(std::chrono::system_clock::time_point t);

// `failure`: the error an event marked it failed with, if any.
bkagent::v1::Snapshot describe(const LiveSnapshot &snap, Driver &driver, const std::optional<std::string> &failure);

} // namespace bk::agent
