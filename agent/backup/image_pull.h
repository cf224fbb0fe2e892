// Copying a snapshot image (or what changed in it since a token) into a file
// or block device over parallel ReadExtents streams: the backup server's read
// path without a repository (`bkagent image pull`).
#pragma once

#include "backup/progress.h"
#include "client/client.h"

#include <optional>
#include <string>

namespace bk::backup {

struct PullOptions {
	std::string snapshot, device, target;
	// The image TARGET holds; nullopt: copy the whole image.
	std::optional<bkagent::v1::ChangeToken> since;
	int streams = 2;
	ProgressSink *progress = nullptr; // streamed bytes of the bytes to stream, under `target`
};

struct PullResult {
	std::string token;       // of the image now in TARGET
	std::size_t extents = 0; // transferred (zero ones written locally)
	std::uint64_t bytes = 0; // written to TARGET
	std::uint64_t streamed_bytes = 0;
	double seconds = 0;
};

// Throws client::CallError (e.g. a full-read reason when `since` cannot be
// honoured) or std::system_error from TARGET; TARGET is synced on success.
PullResult pull_image(client::Client &agent, const PullOptions &opts);

} // namespace bk::backup
