// Unit tests of the COW chunk state machine.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>

#include "kernel_logic.h"

namespace {

// 100 sectors in 4 KiB chunks: 13 chunks, the last one 4 sectors long.
class Chunks : public testing::Test {
protected:
	void SetUp() override
	{
		mem.fill(bk_chunk{0xdead, 7, BK_CHUNK_COPIED}); // init clears
		bk_chunk_init(&t, mem.data(), 100, 12, mem.size());
	}

	std::array<bk_chunk, 13> mem{};
	bk_chunk_table t{};
	u64 pos = 0;
};

TEST_F(Chunks, SpanClipsAtTheEnd)
{
	u64 first = 0, last = 0;

	ASSERT_TRUE(bk_chunk_span(&t, 0, 1, &first, &last));
	EXPECT_EQ(first, 0U);
	EXPECT_EQ(last, 0U);
	ASSERT_TRUE(bk_chunk_span(&t, 7, 2, &first, &last));
	EXPECT_EQ(last, 1U);
	ASSERT_TRUE(bk_chunk_span(&t, 95, 10, &first, &last));
	EXPECT_EQ(first, 11U);
	EXPECT_EQ(last, 12U);
	ASSERT_TRUE(bk_chunk_span(&t, 5, UINT64_MAX, &first, &last));
	EXPECT_EQ(first, 0U);
	EXPECT_EQ(last, 12U);
	EXPECT_FALSE(bk_chunk_span(&t, 100, 1, &first, &last));
	EXPECT_FALSE(bk_chunk_span(&t, 5, 0, &first, &last));
	EXPECT_EQ(bk_chunk_start(&t, 12), 96U);
	EXPECT_EQ(bk_chunk_sectors(&t, 12), 4U);
	EXPECT_EQ(bk_chunk_sectors(&t, 11), 8U);
}

TEST_F(Chunks, FirstWriteCopiesLaterWritesWaitThenGo)
{
	EXPECT_EQ(bk_chunk_write(&t, 3), BK_WRITE_COPY);
	EXPECT_EQ(mem[3].state, BK_CHUNK_COPYING);
	EXPECT_EQ(bk_chunk_write(&t, 3), BK_WRITE_WAIT); // overlapping
	bk_chunk_copy_read(&t, 3, 0);
	bk_chunk_copy_done(&t, 3, 640, 0);
	EXPECT_EQ(bk_chunk_write(&t, 3), BK_WRITE_GO); // resubmitted too
	EXPECT_EQ(bk_chunk_read(&t, 3, &pos), BK_READ_DIFF);
	EXPECT_EQ(pos, 640U);
	EXPECT_EQ(mem[3].readers, 0U);
}

// Once read, the old data is safe in memory: writes go, image reads wait
// for the difference storage.
TEST_F(Chunks, StoringLetsWritesGoAndHoldsImageReads)
{
	EXPECT_EQ(bk_chunk_write(&t, 4), BK_WRITE_COPY);
	EXPECT_EQ(bk_chunk_read(&t, 4, &pos), BK_READ_ORIGIN); // origin intact
	bk_chunk_copy_read(&t, 4, 0);
	EXPECT_EQ(mem[4].state, BK_CHUNK_STORING);
	EXPECT_FALSE(bk_chunk_write_free(&t, 4)); // reader left
	EXPECT_EQ(bk_chunk_read_done(&t, 4), 0);
	EXPECT_TRUE(bk_chunk_write_free(&t, 4));
	EXPECT_EQ(bk_chunk_read(&t, 4, &pos), BK_READ_WAIT);
	EXPECT_EQ(mem[4].readers, 0U);
	bk_chunk_copy_done(&t, 4, 72, 0);
	EXPECT_EQ(bk_chunk_read(&t, 4, &pos), BK_READ_DIFF);
	EXPECT_EQ(pos, 72U);
}

TEST_F(Chunks, FailedOriginReadFailsTheSnapshot)
{
	EXPECT_EQ(bk_chunk_write(&t, 6), BK_WRITE_COPY);
	bk_chunk_copy_read(&t, 6, -EIO);
	EXPECT_EQ(mem[6].state, BK_CHUNK_FAILED);
	EXPECT_EQ(t.error, -EIO);
	EXPECT_EQ(bk_chunk_write(&t, 6), BK_WRITE_GO);
	EXPECT_EQ(bk_chunk_read(&t, 0, &pos), -EIO);
}

TEST_F(Chunks, NowaitStartsNoCopy)
{
	EXPECT_FALSE(bk_chunk_write_free(&t, 0));
	EXPECT_EQ(mem[0].state, BK_CHUNK_EMPTY);
	EXPECT_EQ(bk_chunk_write(&t, 0), BK_WRITE_COPY);
	bk_chunk_copy_read(&t, 0, 0);
	bk_chunk_copy_done(&t, 0, 8, 0);
	EXPECT_TRUE(bk_chunk_write_free(&t, 0));
}

TEST_F(Chunks, OriginReadersHoldWritesUntilDone)
{
	EXPECT_EQ(bk_chunk_read(&t, 5, &pos), BK_READ_ORIGIN);
	EXPECT_EQ(bk_chunk_write(&t, 5), BK_WRITE_COPY);
	EXPECT_EQ(bk_chunk_read(&t, 5, &pos), BK_READ_ORIGIN); // still there
	EXPECT_EQ(mem[5].readers, 2U);
	bk_chunk_copy_read(&t, 5, 0);
	EXPECT_EQ(bk_chunk_write(&t, 5), BK_WRITE_WAIT);
	bk_chunk_copy_done(&t, 5, 0, 0);
	EXPECT_EQ(bk_chunk_write(&t, 5), BK_WRITE_WAIT);
	EXPECT_EQ(bk_chunk_read_done(&t, 5), 0);
	EXPECT_EQ(bk_chunk_write(&t, 5), BK_WRITE_WAIT);
	EXPECT_EQ(bk_chunk_read_done(&t, 5), 0);
	EXPECT_EQ(bk_chunk_write(&t, 5), BK_WRITE_GO);
}

TEST_F(Chunks, FailureReleasesWritesAndFailsReads)
{
	EXPECT_EQ(bk_chunk_read(&t, 1, &pos), BK_READ_ORIGIN);
	EXPECT_EQ(bk_chunk_write(&t, 1), BK_WRITE_COPY);
	EXPECT_EQ(bk_chunk_write(&t, 2), BK_WRITE_COPY);
	bk_chunk_copy_read(&t, 2, 0);
	bk_chunk_copy_done(&t, 2, 0, -ENOSPC);
	EXPECT_EQ(mem[2].state, BK_CHUNK_FAILED);
	EXPECT_EQ(t.error, -ENOSPC);
	EXPECT_EQ(bk_chunk_write(&t, 1), BK_WRITE_GO); // COPYING
	EXPECT_EQ(bk_chunk_write(&t, 9), BK_WRITE_GO); // EMPTY
	EXPECT_EQ(mem[9].state, BK_CHUNK_EMPTY);
	EXPECT_EQ(bk_chunk_read(&t, 9, &pos), -EIO);
	EXPECT_EQ(bk_chunk_read_done(&t, 1), -EIO); // in flight: torn
	bk_chunk_fail(&t, -EIO);
	EXPECT_EQ(t.error, -ENOSPC) << "the first error stays";
}

} // namespace
