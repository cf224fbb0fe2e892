// The backup server's incremental loop against the real daemon: full image,
// writes, next snapshot, changed extents applied to the first copy must
// equal the second image; across restarts and kill -9.
#include "api_helpers.h"

#include <gtest/gtest.h>

#include <thread>

namespace bk::test {
namespace {

constexpr std::uint64_t disk_size = 24ULL << 20;

void incremental_loop(Daemon &daemon, v1::Agent::Stub &agent, std::uint64_t seed, int streams)
{
	std::mt19937_64 rng(seed);
	Disk a = make_disk(daemon.kernel(), "a", disk_size, 12);
	Disk b = make_disk(daemon.kernel(), "b", disk_size / 2, 16);
	scribble(daemon.kernel(), a, rng, 40);
	track(agent, a.path);
	track(agent, b.path);
	scribble(daemon.kernel(), b, rng, 20);

	v1::Snapshot s1 = snapshot(agent, {a.path, b.path});
	ASSERT_EQ(s1.devices_size(), 2);
	const std::string a_at_s1 = a.content, b_at_s1 = b.content;
	scribble(daemon.kernel(), a, rng, 30); // while the snapshot lives
	std::string copy_a(disk_size, '\0'), copy_b(disk_size / 2, '\0');
	full_copy(agent, s1, a.path, copy_a, streams);
	full_copy(agent, s1, b.path, copy_b, streams);
	ASSERT_TRUE(copy_a == a_at_s1) << "full copy differs from the content at the snapshot";
	ASSERT_TRUE(copy_b == b_at_s1);
	v1::CommitBackupRequest commit;
	commit.set_snapshot_id(s1.id());
	commit.set_device(a.path);
	v1::CommitBackupResponse committed;
	auto c = ctx();
	ASSERT_TRUE(agent.CommitBackup(c.get(), commit, &committed).ok());
	EXPECT_EQ(committed.baseline().SerializeAsString(), s1.devices(0).token().SerializeAsString());
	release(agent, s1.id());

	v1::ChangeToken ta = s1.devices(0).token(), tb = s1.devices(1).token();
	for (int round = 0; round < 3; ++round) {
		scribble(daemon.kernel(), a, rng, 25);
		scribble(daemon.kernel(), b, rng, 10);
		v1::Snapshot s = snapshot(agent, {a.path, b.path});
		const std::string a_now = a.content, b_now = b.content;
		scribble(daemon.kernel(), a, rng, 10); // after the take: must not leak in
		apply_incremental(agent, s, a.path, ta, copy_a, streams);
		apply_incremental(agent, s, b.path, tb, copy_b, streams);
		ASSERT_TRUE(copy_a == a_now) << "incremental copy of a differs, round " << round;
		ASSERT_TRUE(copy_b == b_now) << "incremental copy of b differs, round " << round;
		ta = s.devices(0).token();
		tb = s.devices(1).token();
		release(agent, s.id());
	}
}

TEST(AgentIncremental, LoopOverUnixSocket)
{
	Daemon daemon;
	daemon.start();
	incremental_loop(daemon, *daemon.unix_client(), 1, 1);
}

TEST(AgentIncremental, LoopOverMutualTlsWithParallelStreams)
{
	Daemon daemon({.tcp = true});
	daemon.start();
	ASSERT_GT(daemon.tcp_port(), 0);
	incremental_loop(daemon, *daemon.client(daemon.tls_target()), 2, 4);
}

// Restart (clean and kill -9) with the module still loaded: the kernel map
// and the synced store keep incrementals provable; snapshots taken before a
// kill -9 are adopted with their leases.
TEST(AgentIncremental, SurvivesRestartAndKill9)
{
	Daemon daemon;
	daemon.start();
	std::mt19937_64 rng(3);
	Disk d = make_disk(daemon.kernel(), "d", disk_size, 12);
	scribble(daemon.kernel(), d, rng, 30);
	track(*daemon.unix_client(), d.path);
	v1::Snapshot s1 = snapshot(*daemon.unix_client(), {d.path});
	std::string copy(disk_size, '\0');
	full_copy(*daemon.unix_client(), s1, d.path, copy, 1);
	release(*daemon.unix_client(), s1.id());

	scribble(daemon.kernel(), d, rng, 20);
	daemon.stop();
	scribble(daemon.kernel(), d, rng, 20); // while the daemon is down
	daemon.start();
	v1::Snapshot s2 = snapshot(*daemon.unix_client(), {d.path});
	const std::string at_s2 = d.content;
	scribble(daemon.kernel(), d, rng, 5);

	daemon.kill9(); // s2 is live
	scribble(daemon.kernel(), d, rng, 20);
	daemon.start();
	auto agent = daemon.unix_client();
	v1::ListSnapshotsResponse list;
	auto c = ctx();
	ASSERT_TRUE(agent->ListSnapshots(c.get(), {}, &list).ok());
	ASSERT_EQ(list.snapshots_size(), 1) << "the live snapshot must be adopted after kill -9";
	EXPECT_EQ(list.snapshots(0).id(), s2.id());
	apply_incremental(*agent, s2, d.path, s1.devices(0).token(), copy, 2);
	ASSERT_TRUE(copy == at_s2);
	release(*agent, s2.id());

	v1::Snapshot s3 = snapshot(*agent, {d.path});
	const std::string at_s3 = d.content;
	apply_incremental(*agent, s3, d.path, s2.devices(0).token(), copy, 1);
	ASSERT_TRUE(copy == at_s3);
	std::string image(disk_size, '\0');
	ASSERT_TRUE(read_into(*agent, s3.id(), d.path, {range(0, disk_size)}, image).ok());
	ASSERT_TRUE(image == at_s3);
	release(*agent, s3.id());
}

Changes changes_after_reload(Daemon &daemon, bool clean_stop, v1::ChangeToken &old_token)
{
	std::mt19937_64 rng(4);
	Disk d = make_disk(daemon.kernel(), "r", 4ULL << 20, 12);
	track(*daemon.unix_client(), d.path);
	v1::Snapshot s1 = snapshot(*daemon.unix_client(), {d.path});
	old_token = s1.devices(0).token();
	release(*daemon.unix_client(), s1.id());
	scribble(daemon.kernel(), d, rng, 10);
	if (clean_stop)
		daemon.stop();
	else
		daemon.kill9();
	daemon.kernel().reload(); // module reload: maps lost, new generations
	daemon.start();
	auto agent = daemon.unix_client();
	const v1::Device again = track(*agent, d.path);
	EXPECT_NE(again.current().generation(), old_token.generation());
	v1::Snapshot s2 = snapshot(*agent, {d.path});
	Changes ch = changed_extents(*agent, s2.id(), d.path, &old_token);
	release(*agent, s2.id());
	return ch;
}

TEST(AgentIncremental, ModuleReloadAfterCleanStopNeedsFullRead)
{
	Daemon daemon;
	daemon.start();
	v1::ChangeToken old;
	const Changes ch = changes_after_reload(daemon, true, old);
	EXPECT_EQ(ch.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
	EXPECT_EQ(ch.reason, "CBT_RESET");
	EXPECT_TRUE(ch.extents.empty());
}

TEST(AgentIncremental, ModuleReloadAfterKill9NeedsFullReadUnclean)
{
	Daemon daemon;
	daemon.start();
	v1::ChangeToken old;
	const Changes ch = changes_after_reload(daemon, false, old);
	EXPECT_EQ(ch.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
	EXPECT_EQ(ch.reason, "UNCLEAN_SHUTDOWN");
	// Committing the dead token is refused the same way.
	v1::CommitBackupRequest req;
	req.set_device(daemon.kernel().block_devices().at(0).path);
	*req.mutable_token() = old;
	v1::CommitBackupResponse resp;
	auto c = ctx();
	const auto s = daemon.unix_client()->CommitBackup(c.get(), req, &resp);
	EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
	EXPECT_EQ(reason_of(*c, s), "UNCLEAN_SHUTDOWN");
}

// 254 snapshots exhaust a generation's sequences: the module keeps the
// marks since the agent's anchor in a new generation linked to the old one,
// and the agent bridges the two. The backup loop stays incremental and its
// copy exact across the wrap; a token from before it, never committed,
// still gets an incremental.
TEST(AgentIncremental, SequenceWrapStaysIncremental)
{
	Daemon daemon;
	daemon.start();
	auto agent = daemon.unix_client();
	std::mt19937_64 rng(5);
	constexpr std::uint64_t size = 8 << 20; // 300 writes change part of it
	Disk d = make_disk(daemon.kernel(), "w", size, 12);
	scribble(daemon.kernel(), d, rng, 10);
	track(*agent, d.path);
	const v1::Snapshot first = snapshot(*agent, {d.path});
	std::string copy(size, '\0');
	full_copy(*agent, first, d.path, copy, 1);
	const std::string at_first = copy;
	release(*agent, first.id());
	v1::ChangeToken base = first.devices(0).token();
	int wraps = 0;
	for (int i = 0; i < 300; ++i) {
		scribble(daemon.kernel(), d, rng, 1);
		const v1::Snapshot s = snapshot(*agent, {d.path});
		const v1::ChangeToken &t = s.devices(0).token();
		wraps += t.sequence() == 1;
		if (i % 40 == 0 || t.sequence() == 1 || i == 299) {
			const std::string now = d.content;
			apply_incremental(*agent, s, d.path, base, copy, 1);
			ASSERT_TRUE(copy == now) << "copy differs after the incremental to " << t.sequence();
			base = t;
		}
		if (i == 299) {
			std::string old = at_first;
			apply_incremental(*agent, s, d.path, first.devices(0).token(), old, 1);
			EXPECT_TRUE(old == d.content) << "incremental from before the wrap";
		}
		release(*agent, s.id());
	}
	EXPECT_EQ(wraps, 1);
}

} // namespace
} // namespace bk::test
