// What only the S3 backend has: multipart uploads, lease locks, and its error paths.
// Runs in the s3 registration only (BK_TEST_S3_ENV; a real Ceph radosgw).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "../../storage/src/s3_client.hpp"
#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

class S3 : public ::testing::Test {
protected:
	void SetUp() override { ASSERT_TRUE(on_s3()) << "BK_TEST_S3_ENV must name the test cluster's env file"; }
};

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
	const std::string location = repo_location(dir);
	const std::string bucket = location.substr(5, location.find('/', 5) - 5);
	const std::string prefix = location.substr(location.find('/', 5) + 1) + "/";
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
	// No unfinished upload is left behind.
	const S3Response uploads = client.call(S3Request("GET", "", query({{"prefix", prefix}, {"uploads", ""}})), "uploads");
	EXPECT_TRUE(XmlDoc::all(XmlDoc(uploads.body).root(), "Upload").empty());
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

	Repository repo = Repository::open(repo_location(dir), kPass, storage);
	try {
		repo.begin_backup(req);
		ADD_FAILURE() << "took the write lock of a live lease";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::locked);
		EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(child)), std::string::npos) << e.what();
	}
	EXPECT_NO_THROW(repo.points()); // a reader does not conflict with a writer
	std::this_thread::sleep_for(storage.s3.lock_lease + std::chrono::milliseconds(500));
	BackupWriter w = repo.begin_backup(req);
	w.put_zero(0);
	EXPECT_EQ(w.commit().size, kChunk);
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

} // namespace
} // namespace bk::storage::test
