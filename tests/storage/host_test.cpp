// Many hosts, one repository: points name their host, chunks deduplicate across hosts,
// and listing, restore, verify and prune select per host or take all of them.
#include <gtest/gtest.h>

#include <map>

#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

TEST(Hosts, EachHostKeepsItsOwnPointsAndChunksDedupAcrossHosts)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	std::mt19937_64 rng(18);
	const auto shared = make_image(Fill::random, 8 * kChunk, rng);
	std::map<std::string, std::vector<std::uint8_t>> images; // point id -> image
	std::map<std::string, std::vector<std::string>> of_host; // host -> its points, oldest first
	std::int64_t time = 1700000000;
	// Both hosts call their disk /dev/sda: the device names collide, the hosts keep them apart.
	for (int round = 0; round < 2; ++round)
		for (const std::string host : {"alpha", "beta"}) {
			auto image = shared;
			mutate(image, 1, rng);
			const PointInfo p = backup_image(repo, dir / "src", image, "/dev/sda", "", nullptr, ++time, host);
			EXPECT_EQ(p.host, host);
			if (host == "beta" && round == 0) { // alpha stored the shared chunks first
				EXPECT_LT(p.stats.bytes_new, image.size() / 2) << "no dedup across hosts";
			}
			images[p.id] = image;
			of_host[host].push_back(p.id);
		}

	for (const PointInfo &p : repo.points())
		EXPECT_EQ(of_host[p.host].size(), 2u) << p.id << " of " << p.host;
	const std::string alpha_old = of_host["alpha"][0], beta_old = of_host["beta"][0];
	EXPECT_EQ(repo.point(alpha_old, "alpha").id, alpha_old);
	try {
		repo.point(alpha_old, std::string("beta"));
		ADD_FAILURE() << "resolved alpha's point among beta's";
	} catch (const Error &e) {
		EXPECT_EQ(e.code(), Errc::not_found);
		EXPECT_NE(std::string(e.what()).find("of host beta"), std::string::npos) << e.what();
	}
	VerifyOptions of;
	of.host = "beta";
	const VerifyReport v = repo.verify(of);
	EXPECT_TRUE(v.ok());
	EXPECT_EQ(v.points, 2u);
	of.host = "gamma";
	EXPECT_EQ(repo.verify(of).points, 0u);

	// One host's retention never touches the other's points of the same device name.
	PruneReport r = repo.prune({.keep = {.last = 1}, .host = "alpha"});
	EXPECT_EQ(r.removed, std::vector<std::string>{alpha_old});
	// Without --host the policy applies to each host's devices on their own.
	r = repo.prune({.keep = {.last = 1}});
	EXPECT_EQ(r.removed, std::vector<std::string>{beta_old});
	ASSERT_EQ(repo.points().size(), 2u);
	for (const PointInfo &p : repo.points()) {
		EXPECT_EQ(p.id, of_host[p.host][1]);
		repo.restore(p.id, dir / "out");
		EXPECT_EQ(sha256_file(dir / "out"), sha256(images[p.id])) << p.host;
	}
	EXPECT_TRUE(repo.verify().ok());
}

TEST(Hosts, AnInvalidHostIdIsRefused)
{
	ScratchDir dir;
	Repository repo = init_repo(dir, small_repo_options());
	BackupRequest req;
	req.device = "d";
	req.size = kChunk;
	for (const std::string &bad : {std::string("two words"), std::string(65, 'h'), std::string("a/b"), std::string("ä")}) {
		req.host = bad;
		try {
			repo.begin_backup(req);
			ADD_FAILURE() << "host id '" << bad << "' was accepted";
		} catch (const Error &e) {
			EXPECT_EQ(e.code(), Errc::invalid_argument) << bad;
		}
	}
	EXPECT_TRUE(valid_host_id(default_host_id())) << default_host_id();
	req.host.clear();
	BackupWriter w = repo.begin_backup(req);
	w.put_zero(0);
	EXPECT_EQ(w.commit().host, default_host_id());
}

} // namespace
} // namespace bk::storage::test
