// A restore point mounted read-only without restoring it: nbdkit serves the point on a
// private socket, nbd-client attaches it to a free /dev/nbdN, and its filesystem is
// mounted read-only, its journal replayed into nbdkit's cow overlay. A record
// under /run/bkagent/mounts/mount-XXXXXX/ lets `bkagent umount DIR` undo it all.
#pragma once

#include "cli/repo_options.h"

#include <nlohmann/json.hpp>

#include <string>
#include <sys/types.h>

namespace bk::cli {

struct MountArgs {
	RepoArgs repo;
	std::string point;
	std::string dir;
	int partition = -1; // -1: the only partition, or the whole device without a table
	std::string fs_options;
};

struct MountRecord {
	std::string point;     // restore point id
	std::string device;    // /dev/nbdN
	int partition = 0;     // 0: the whole device
	std::string source;    // what is mounted: /dev/nbdN or /dev/nbdNpK
	std::string fstype;    // blkid's name
	std::string dir;       // canonical mount point
	std::string state_dir; // /run/bkagent/mounts/mount-XXXXXX
	pid_t server = 0;      // nbdkit

	nlohmann::json to_json() const;
	static MountRecord from_json(const nlohmann::json &j);
};

// Mounts POINT on DIR; on any failure everything done so far is undone.
MountRecord mount_point(const MountArgs &args);

// The mount whose directory is DIR; NOT_FOUND when none is.
MountRecord find_mount(const std::string &dir);

// Unmounts, disconnects the device, stops nbdkit and removes the record.
void unmount_point(const MountRecord &m);

} // namespace bk::cli
