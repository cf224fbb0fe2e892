// Where a repository lives: a local directory, or `s3://bucket/prefix` on an S3 service.
// An S3 location's settings; credentials never come from here in clear text, only from
// a credentials file or the usual AWS environment variables.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace bk::storage {

struct S3Options {
	std::string endpoint;         // http(s)://host[:port]; required (no implicit public default)
	bool virtual_host = false;    // bucket.host/key addressing instead of host/bucket/key
	std::string region;           // default: $AWS_REGION, else us-east-1
	std::string credentials_file; // AWS shared-credentials format; default: the environment
	std::string profile;          // section of credentials_file; default: $AWS_PROFILE or "default"
	bool verify_tls = true;
	std::string ca_file;                 // extra CA bundle for a private endpoint
	std::uint64_t part_size = 16u << 20; // a pack larger than this goes up as a multipart upload
	unsigned parallel_uploads = 4;       // parts of one pack in flight at once
	unsigned attempts = 6;               // per request, on 5xx, 429, timeouts and connection errors
	std::chrono::seconds lock_lease{60}; // a crashed holder's lock expires after this
};

struct StorageOptions {
	S3Options s3; // used when the location is s3://...
};

// True for `s3://...`.
bool is_s3_location(const std::string &location);

} // namespace bk::storage
