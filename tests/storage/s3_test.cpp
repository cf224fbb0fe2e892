// What only the S3 backend has: multipart uploads, lease locks, listing pages, its error
// paths, many writers into one bucket, kill -9 and a stopped radosgw.
// Runs in the s3 registration only (BK_TEST_S3_ENV; a real Ceph radosgw).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../../storage/src/fs.hpp"
#include "../../storage/src/s3_client.hpp"
#include "bk/storage/error.hpp"
#include "crash_harness.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

class S3 : public ::testing::Test {
protected:
	void SetUp() override { ASSERT_TRUE(on_s3()) << "BK_TEST_S3_ENV must name the test cluster's env file"; }
};

// The bucket and the key prefix (with its trailing '/') of a test repository.
std::pair<std::string, std::string> bucket_and_prefix(const ScratchDir &dir)
{
	const std::string location = repo_location(dir);
	return {location.substr(5, location.find('/', 5) - 5), location.substr(location.find('/', 5) + 1) + "/"};
}

std::size_t unfinished_uploads(const ScratchDir &dir)
{
	const auto [bucket, prefix] = bucket_and_prefix(dir);
	const S3Client client(bucket, test_storage().s3);
	const S3Response uploads = client.call(S3Request("GET", "", query({{"prefix", prefix}, {"uploads", ""}})), "uploads");
	return XmlDoc::all(XmlDoc(uploads.body).root(), "Upload").size();
}

TEST_F(S3, PacksOverThePartSizeGoUpInPartsAndRestoreBitExact)
{
	ScratchDir dir;
	StorageOptions storage = test_storage();
	storage.s3.part_size = 5u << 20;
	storage.s3.parallel_uploads = 3;
	InitOptions o = small_repo_options();
	o.chunk_size = 1u << 20;
	o.pack_size = 12u << 20;
	Repository repo = Repository::init(repo_location(dir), o, storage);
	std::mt19937_64 rng(41);
	const auto image = make_image(Fill::random, 14 * o.chunk_size + 7, rng);
	const PointInfo p = backup_image(repo, dir / "src", image, "big");
	RecordProperty("backup_mib_per_s", std::to_string(static_cast<double>(image.size()) / (1 << 20) / p.stats.seconds));
	repo.restore(p.id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(image));
	EXPECT_TRUE(repo.verify().ok());

	// The large pack is a multipart object: its ETag is "<md5 of the part md5s>-<parts>".
	const auto [bucket, prefix] = bucket_and_prefix(dir);
	S3Client client(bucket, storage.s3);
	int multipart = 0;
	for (const ObjectEntry &e : repo_backend(dir)->list("packs")) {
		const std::string etag = client.call(S3Request("HEAD", prefix + e.key), "HEAD").etag;
		if (e.size > storage.s3.part_size) {
			EXPECT_TRUE(etag.ends_with("-3\"")) << e.key << " " << etag;
			++multipart;
		}
	}
	EXPECT_GE(multipart, 1);
	EXPECT_EQ(unfinished_uploads(dir), 0u); // none is left behind
}

TEST_F(S3, ALockOfACrashedHolderExpiresAfterItsLease)
{
	ScratchDir dir;
	StorageOptions storage = test_storage();
	storage.s3.lock_lease = std::chrono::seconds(6);
	BackupRequest req;
	req.device = "d";
	req.size = kChunk;
	// The holder: a child that takes the write lock and dies without releasing it (no
	// S3 request was made in this process before the fork, so no connection is shared).
	const pid_t child = ::fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		try {
			Repository repo = Repository::init(repo_location(dir), small_repo_options(), storage);
			BackupWriter w = repo.begin_backup(req);
			::_exit(0);
		} catch (...) {
			::_exit(1);
		}
	}
	int status = 0;
	ASSERT_EQ(::waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	// Backups share the write lock; a prune needs it alone, so the dead backup's
	// live lease holds it off until the lease runs out.
	Repository repo = Repository::open(repo_location(dir), kPass, storage);
	try {
		repo.prune({.keep = {.last = 1}});
		ADD_FAILURE() << "pruned under a live lease";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::locked);
		EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(child)), std::string::npos) << e.what();
	}
	EXPECT_NO_THROW(repo.points()); // a reader does not conflict with a writer
	std::this_thread::sleep_for(storage.s3.lock_lease + std::chrono::milliseconds(500));
	{
		BackupWriter w = repo.begin_backup(req);
		w.put_zero(0);
		EXPECT_EQ(w.commit().size, kChunk);
	}
	EXPECT_NO_THROW(repo.prune({.keep = {.last = 1}})); // the expired lease no longer counts
}

TEST_F(S3, ALeaseIsRenewedWhileItsHolderWorks)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	Repository other = open_repo(dir, kPass);
	BackupRequest req;
	req.device = "d";
	req.size = kChunk;
	BackupWriter w = repo.begin_backup(req);
	std::this_thread::sleep_for(test_storage().s3.lock_lease + std::chrono::seconds(2));
	try {
		other.prune({.keep = {.last = 1}});
		ADD_FAILURE() << "prune took the write lock of a renewed lease";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::locked);
	}
	w.put_zero(0);
	EXPECT_NO_THROW(w.commit());
}

TEST_F(S3, WrongKeysAndAMissingBucketAreClearErrors)
{
	ScratchDir dir;
	const std::string secret = std::getenv("AWS_SECRET_ACCESS_KEY") ? std::getenv("AWS_SECRET_ACCESS_KEY") : "";
	::setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	try {
		init_repo(dir, small_repo_options());
		ADD_FAILURE() << "wrong keys were accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::io);
		EXPECT_NE(std::string(e.what()).find("403"), std::string::npos) << e.what();
	}
	::setenv("AWS_SECRET_ACCESS_KEY", secret.c_str(), 1);
	try {
		Repository::open("s3://no-such-bucket-bk/x", kPass, test_storage());
		ADD_FAILURE() << "opened a repository in a missing bucket";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::not_found);
	}
	StorageOptions no_endpoint = test_storage();
	no_endpoint.s3.endpoint.clear();
	EXPECT_THROW(Repository::open(repo_location(dir), kPass, no_endpoint), Error);
}

// Two processes of two hosts back up into one bucket at once, beside a backup held open
// here: nobody waits, chunks shared with what is stored are deduplicated, every point
// restores bit-exact.
TEST_F(S3, TwoHostsBackUpIntoOneBucketAtOnce)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(77);
	const auto base = make_image(Fill::mixed, 24 * kChunk + 99, rng);
	std::map<std::string, std::vector<std::uint8_t>> image_of; // host -> its newest image
	const PointInfo first = backup_image(repo, dir / "src", base, "/dev/sda", "", nullptr, 0, "alpha");
	BackupRequest gamma_req;
	gamma_req.device = "/dev/sdb";
	gamma_req.size = kChunk;
	gamma_req.host = "gamma";
	BackupWriter beside = repo.begin_backup(gamma_req);
	std::vector<ToolChild> children;
	for (const std::string host : {"alpha", "beta"}) {
		auto image = base;
		mutate(image, 2, rng);
		write_file(dir / host, image);
		image_of[host] = image;
		children.push_back(start_tool({"backup", repo_location(dir), (dir / host).string(), "/dev/sda", "0", "-", "-", host}));
	}
	for (const ToolChild &c : children) {
		const ToolExit e = finish_tool(c);
		EXPECT_TRUE(e.ok()) << e.output;
		RecordProperty("backup_seconds", std::to_string(e.seconds));
	}
	beside.put_zero(0);
	const PointInfo gamma = beside.commit();
	image_of["gamma"] = std::vector<std::uint8_t>(kChunk);

	const std::vector<PointInfo> points = repo.points();
	ASSERT_EQ(points.size(), 4u);
	for (const PointInfo &p : points) {
		repo.restore(p.id, dir / "out");
		EXPECT_EQ(sha256_file(dir / "out"), sha256(p.id == first.id ? base : image_of[p.host])) << p.host;
		if (p.id == first.id || p.id == gamma.id)
			continue;
		// At most 8 of the 25 chunks changed: the rest is found in the index.
		EXPECT_GE(p.stats.bytes_dedup, 10u * kChunk) << p.host;
		EXPECT_LT(p.stats.bytes_stored, p.stats.bytes_read) << p.host;
	}
	EXPECT_TRUE(repo.verify().ok());
	VerifyOptions alpha;
	alpha.host = "alpha";
	EXPECT_EQ(repo.verify(alpha).points, 2u);
}

// A prune started while another holds the repository refuses at once, naming the holder.
TEST_F(S3, TwoPrunesAtOnceTheSecondRefusesNamingTheFirst)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(78);
	for (int i = 0; i < 3; ++i)
		backup_image(repo, dir / "src", make_image(Fill::random, 3 * kChunk, rng), "d");
	const std::shared_ptr<Backend> backend = repo_backend(dir);
	bool refused = false;
	// The second starts once the first's lease object is visible; a first prune that was
	// already done by then (a fast machine) is simply tried again.
	for (int attempt = 0; attempt < 5 && !refused; ++attempt) {
		const ToolChild first = start_tool({"prune", repo_location(dir), "1"});
		for (int i = 0; i < 1000 && backend->list("locks/write").empty(); ++i)
			std::this_thread::sleep_for(std::chrono::milliseconds(2));
		const ToolExit second = finish_tool(start_tool({"prune", repo_location(dir), "1"}));
		const ToolExit one = finish_tool(first);
		EXPECT_TRUE(one.ok()) << one.output;
		if (second.ok())
			continue;
		refused = true;
		EXPECT_NE(second.output.find("repository is busy (write lock held by "), std::string::npos) << second.output;
		EXPECT_NE(second.output.find("pid " + std::to_string(first.pid) + ")"), std::string::npos) << second.output;
	}
	EXPECT_TRUE(refused) << "the two prunes never overlapped";
	EXPECT_EQ(repo.points().size(), 1u);
	EXPECT_TRUE(repo.verify().ok());
	EXPECT_NO_THROW(repo.prune({.keep = {.last = 1}}));
}

// kill -9 of backups (at a record, or after a random delay: mid-upload) and of prunes
// (after a delay) on S3: every check of crash_harness.hpp holds, and a last prune leaves
// no orphan pack and no unfinished upload.
TEST_F(S3, KillNineDuringBackupAndPruneLeavesASoundRepository)
{
	CrashHarness h;
	const Outcome backup = h.backup_child("a", 0, 0);
	h.check(h.all_points(), "calibration backup");
	const Outcome prune = h.prune_child(1, 0, 0);
	h.check({}, "calibration prune");
	ASSERT_GT(backup.crash_points, 0); // one per new record appended to a pack
	// A killed holder's lease objects stay until they expire: until then a prune (and,
	// after a killed prune, any reader) refuses, as it should.
	auto wait_out_leases = [](const Outcome &o) {
		if (o.killed)
			std::this_thread::sleep_for(test_storage().s3.lock_lease + std::chrono::seconds(1));
	};
	auto below = [&](double n) { return 1 + static_cast<long>(h.rng()() % static_cast<std::uint64_t>(std::max(1.0, n))); };
	int killed = 0;
	for (int iter = 0; iter < 4; ++iter) {
		Outcome o;
		std::string what = "iter " + std::to_string(iter);
		if (iter % 2 == 0) {
			const std::set<std::string> before = h.all_points();
			const long crash_after = iter == 0 ? below(static_cast<double>(backup.crash_points)) : 0;
			o = h.backup_child(iter % 4 ? "a" : "b", crash_after, crash_after ? 0 : below(backup.seconds * 1.2e6));
			wait_out_leases(o);
			h.check(before, "backup " + what);
		} else {
			while (h.point_count() < 4)
				h.check(h.all_points(), "refill");
			const std::set<std::string> must = h.kept_by(1);
			o = h.prune_child(1, 0, below(prune.seconds * 1.2e6));
			wait_out_leases(o);
			h.check(must, "prune " + what);
		}
		killed += o.killed;
		if (HasFatalFailure())
			return;
	}
	EXPECT_GE(killed, 2) << "too few runs were actually interrupted";
	Repository repo = h.open();
	repo.prune({.keep = {.last = 1}});
	const VerifyReport v = repo.verify();
	EXPECT_TRUE(v.ok());
	EXPECT_EQ(v.orphan_packs, 0u);
	EXPECT_EQ(unfinished_uploads(h.dir()), 0u);
}

// ListObjectsV2 answers at most 1000 keys a page: the listing follows the continuation.
TEST_F(S3, AListingPagesPastAThousandKeys)
{
	ScratchDir dir;
	init_repo(dir, small_repo_options());
	const std::shared_ptr<Backend> backend = repo_backend(dir);
	constexpr int kKeys = 1003;
	std::atomic<int> next{0};
	std::vector<std::jthread> putters;
	for (int t = 0; t < 8; ++t)
		putters.emplace_back([&] {
			for (int i; (i = next++) < kKeys;)
				backend->put("many/" + std::to_string(10000 + i), std::vector<std::uint8_t>{1});
		});
	putters.clear();
	std::set<std::string> keys;
	for (const ObjectEntry &e : backend->list("many")) {
		keys.insert(e.key);
		EXPECT_EQ(e.size, 1u) << e.key;
	}
	EXPECT_EQ(keys.size(), std::size_t{kKeys});
	EXPECT_TRUE(keys.contains("many/10000") && keys.contains("many/11002"));
}

// radosgw stopped during a backup: the backup retries, then fails naming the request and
// publishes nothing; with radosgw restarted the next backup succeeds. Stops the shared
// radosgw, so ctest runs it alone (RUN_SERIAL).
class Radosgw {
public:
	Radosgw() : dir_(fs::path(std::getenv("BK_TEST_S3_ENV")).parent_path()) {}
	~Radosgw()
	{
		if (stopped_)
			start();
	}
	Radosgw(const Radosgw &) = delete;
	Radosgw &operator=(const Radosgw &) = delete;

	void stop()
	{
		std::ifstream in(dir_ / "run" / "rgw.pid");
		pid_t pid = 0;
		if (!(in >> pid) || pid <= 0 || ::kill(pid, SIGTERM) != 0)
			throw std::runtime_error("no radosgw to stop in " + dir_.string());
		stopped_ = true;
		for (int i = 0; i < 300 && fs::exists("/proc/" + std::to_string(pid)); ++i)
			std::this_thread::sleep_for(std::chrono::milliseconds(100));
		::kill(pid, SIGKILL);
	}
	void start()
	{
		const std::string cmd = std::string(BK_CEPH_S3_SCRIPT) + " start '" + dir_.string() + "' >/dev/null";
		stopped_ = std::system(cmd.c_str()) != 0;
		if (stopped_)
			throw std::runtime_error("cannot restart radosgw: " + cmd);
	}

private:
	fs::path dir_;
	bool stopped_ = false;
};

TEST(S3Outage, RadosgwStoppedDuringABackupFailsCleanlyAndTheNextBackupWorks)
{
	ASSERT_TRUE(on_s3());
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(79);
	const auto small = make_image(Fill::random, 2 * kChunk, rng);
	const PointInfo kept = backup_image(repo, dir / "small", small, "d");
	const auto image = make_image(Fill::random, 32 * kChunk, rng); // 8 packs of 256 KiB
	write_file(dir / "src", image);

	Radosgw rgw;
	std::chrono::steady_clock::time_point stopped_at;
	BackupRequest req;
	req.device = "d";
	req.size = image.size();
	req.progress = [&](const Progress &p) {
		if (p.done >= image.size() / 2 && stopped_at == std::chrono::steady_clock::time_point{}) {
			rgw.stop();
			stopped_at = std::chrono::steady_clock::now();
		}
	};
	const Fd fd = open_file(dir / "src", O_RDONLY);
	try {
		backup_fd(repo, req, fd.get());
		ADD_FAILURE() << "the backup succeeded without radosgw";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::io);
		const std::string what = e.what();
		EXPECT_NE(what.find("(after 6 attempts)"), std::string::npos) << what;
		EXPECT_NE(what.find(test_storage().s3.endpoint), std::string::npos) << what;
	}
	ASSERT_NE(stopped_at, std::chrono::steady_clock::time_point{}) << "radosgw was never stopped";
	RecordProperty("seconds_to_fail",
		       std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count()));

	rgw.start();
	const std::vector<PointInfo> points = repo.points();
	ASSERT_EQ(points.size(), 1u) << "a failed backup published a point";
	EXPECT_EQ(points[0].id, kept.id);
	EXPECT_TRUE(repo.verify().ok());
	const PointInfo next = backup_image(repo, dir / "src", image, "d");
	repo.restore(next.id, dir / "out");
	EXPECT_EQ(sha256_file(dir / "out"), sha256(image));
	EXPECT_TRUE(repo.verify().ok());
}

} // namespace
} // namespace bk::storage::test
