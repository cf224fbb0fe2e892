// Regression tests of the repository decoders on hostile input: each case is a finding
// of the fuzz targets in tests/fuzz (docs/reliability.md), reduced to its cause.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "../../storage/src/lock.hpp"
#include "bk/storage/error.hpp"
#include "helpers.hpp"

namespace bk::storage::test {
namespace {

ByteView bytes_of(const std::string& s)
{
	return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A held lock whose file holds garbage: the refusal must neither read a huge file nor
// echo its bytes as a pid.
TEST(Decoders, LockFileNamesItsHolderOnlyWhenItHoldsAPid)
{
	EXPECT_EQ(lock_holder(bytes_of("4242")), "4242");
	EXPECT_EQ(lock_holder(bytes_of("")), "");
	EXPECT_EQ(lock_holder(bytes_of("12\x1b[2J")), "");
	EXPECT_EQ(lock_holder(bytes_of("123456789012")), "");

	ScratchDir dir;
	const fs::path path = dir / "write";
	write_file(path, std::vector<std::uint8_t>(8 << 20, '7'));
	Fd holder = open_file(path, O_RDWR);
	ASSERT_EQ(::flock(holder.get(), LOCK_EX | LOCK_NB), 0);
	try {
		FileLock contender(path, FileLock::Mode::shared);
		FAIL() << "a held lock must refuse";
	} catch (const Error& e) {
		EXPECT_EQ(e.code(), Errc::locked);
		EXPECT_EQ(std::string(e.what()).find("by pid"), std::string::npos) << e.what();
	}
}

}  // namespace
}  // namespace bk::storage::test
