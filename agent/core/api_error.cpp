#include "core/api_error.h"

#include "bk/cbt/store.h"
#include "driver/driver.h"

#include <cerrno>

namespace bk::agent {

namespace {

Reason full_reason(cbt::FullReason r)
{
	switch (r) {
	case cbt::FullReason::cbt_reset: return bkagent::v1::CBT_RESET;
	case cbt::FullReason::unclean_shutdown: return bkagent::v1::UNCLEAN_SHUTDOWN;
	case cbt::FullReason::unknown_token: return bkagent::v1::UNKNOWN_TOKEN;
	}
	return bkagent::v1::UNKNOWN_TOKEN;
}

ApiError from_errno(int code, const std::string &what, const std::map<std::string, std::string> &md)
{
	using grpc::StatusCode;
	switch (code) {
	case ENOENT:
	case ENODEV: return {StatusCode::NOT_FOUND, bkagent::v1::DEVICE_NOT_FOUND, what, md};
	case ENOTBLK: return {StatusCode::INVALID_ARGUMENT, bkagent::v1::NOT_BLOCK_DEVICE, what, md};
	case EBUSY: return {StatusCode::FAILED_PRECONDITION, bkagent::v1::DEVICE_BUSY, what, md};
	case ESTALE: return {StatusCode::FAILED_PRECONDITION, bkagent::v1::CBT_RESET, what, md};
	case ERANGE: return {StatusCode::OUT_OF_RANGE, bkagent::v1::RANGE_PAST_END, what, md};
	case ENOSPC: return {StatusCode::RESOURCE_EXHAUSTED, bkagent::v1::NO_SPACE, what, md};
	case EPERM:
	case EACCES: return {StatusCode::PERMISSION_DENIED, bkagent::v1::PERMISSION_DENIED, what, md};
	case EINVAL: return {StatusCode::INVALID_ARGUMENT, bkagent::v1::BAD_REQUEST, what, md};
	default: return {StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR, what, md};
	}
}

} // namespace

ApiError map_exception(const std::string &device)
{
	std::map<std::string, std::string> md;
	if (!device.empty())
		md["device"] = device;
	try {
		throw;
	} catch (const ApiError &e) {
		return e;
	} catch (const ModuleUnavailable &e) {
		return {grpc::StatusCode::UNAVAILABLE, bkagent::v1::MODULE_NOT_LOADED, e.what(), md};
	} catch (const DriverError &e) {
		return from_errno(e.code().value(), e.what(), md);
	} catch (const cbt::FullReadNeeded &e) {
		return {grpc::StatusCode::FAILED_PRECONDITION, full_reason(e.reason()), e.what(), md};
	} catch (const std::exception &e) {
		return {grpc::StatusCode::INTERNAL, bkagent::v1::INTERNAL_ERROR, e.what(), md};
	}
}

} // namespace bk::agent
