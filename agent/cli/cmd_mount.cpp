// bkagent mount POINT DIR | umount DIR: a restore point's filesystem, read-only, without
// restoring it (cli/point_mount.h).
#include "cli/output.h"
#include "cli/point_mount.h"
#include "cli/registry.h"

#include <memory>

namespace {

using namespace bk::cli;

nlohmann::json shown(const MountRecord &m)
{
	return {{"point", m.point},   {"device", m.device}, {"partition", m.partition},
		{"source", m.source}, {"fstype", m.fstype}, {"dir", m.dir}};
}

void setup_mount(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<MountArgs>();
	auto *cmd = app.add_subcommand("mount", "Mount a restore point's filesystem read-only (NBD, no restore)");
	cmd->footer(R"(
Serves POINT with nbdkit (as `bkagent serve --writable` does: writes go to a
temporary overlay) on a private socket, attaches it to a free /dev/nbdN with
nbd-client, and mounts its filesystem on DIR read-only (xfs: nouuid). A journal
the snapshot left unreplayed is replayed into the overlay, so a crash-consistent
point shows its last committed state; the repository is never written. A point with one
partition mounts that partition, one without a partition table mounts the whole
device; with several, choose with --partition N (0: the whole device).
--fs-options adds mount options (-o). `bkagent umount DIR` undoes it all; a
failure at any step undoes the steps before it.

Needs root, the nbd kernel module (loaded with modprobe when absent), nbd-client,
blkid and mount. Refused: an unknown point (exit 4), a wrong passphrase (6), a
DIR that is already a mount point or a kernel without nbd (5).

Examples:
  bkagent mount 3fa2 /mnt/point --repo /backup/repo
  cp -a /mnt/point/etc/fstab /tmp/ && bkagent umount /mnt/point)");
	add_repo_options(cmd, args->repo);
	cmd->add_option("point", args->point, "restore point id or unique prefix")->required();
	cmd->add_option("dir", args->dir, "an existing directory to mount on")->required();
	cmd->add_option("--partition", args->partition, "partition number; 0: the whole device")->check(CLI::NonNegativeNumber);
	cmd->add_option("--fs-options", args->fs_options, "extra mount options, comma separated");
	cmd->callback([&ctx, args] {
		guarded([&] {
			const MountRecord m = mount_point(*args);
			ctx.print(shown(m),
				  "mounted point " + m.point + " (" + m.fstype + " on " + m.source + ") read-only on " + m.dir + "\n");
		});
	});
}

void setup_umount(CLI::App &app, Context &ctx)
{
	auto dir = std::make_shared<std::string>();
	auto *cmd = app.add_subcommand("umount", "Unmount a point mounted by `bkagent mount` and stop serving it");
	cmd->add_option("dir", *dir, "the directory given to `bkagent mount`")->required();
	cmd->callback([&ctx, dir] {
		guarded([&] {
			const MountRecord m = find_mount(*dir);
			unmount_point(m);
			ctx.print(shown(m), "unmounted point " + m.point + " from " + m.dir + ", " + m.device + " released\n");
		});
	});
}

void setup(CLI::App &app, Context &ctx)
{
	setup_mount(app, ctx);
	setup_umount(app, ctx);
}

} // namespace

BK_CLI_COMMAND(setup)
