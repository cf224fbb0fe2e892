// Host simulator of copy-on-write snapshots over the module's chunk table
// and difference-storage allocator.  A simulated origin device holds a
// stamp per sector; writers, image readers, COW copies and the agent's
// storage additions run as I/Os whose two phases (the data transfer, then
// the completion) a seeded scheduler delivers in random order.  The write
// path is the module's own C: the span rule and the run planner of
// cow_plan.c, over chunk.c's table.  A copy is of a run of adjacent chunks:
// a read of the origin (after which the held writes go) and then a write of
// the difference storage (after which the image reads parked on the run's
// chunks go).  Checked:
// - every image read that succeeds returns the device content at take time
//   (the take drains writes first, as the module's freeze and drain do);
// - every origin write goes down eventually (none held forever) and the
//   origin ends as the writes left it: each sector holds the stamp of a
//   write that covers it and completed no earlier than the last submission
//   of a write covering it;
// - a write released once passes again when resubmitted (split bios);
// - when the difference storage overflows or a copy fails, image reads fail
//   with EIO from then on while origin writes go on untouched.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "kernel_logic.h"
#include "test_seed.h"

namespace {

constexpr std::uint64_t kNever = ~0ULL;
constexpr std::uint64_t kInitialStamp = 1ULL << 40; // + sector
constexpr std::uint64_t kStorageSectors = 1 << 12;
constexpr std::uint32_t kMaxExtents = 48;
constexpr unsigned kMaxBatch = 32; // the module's BK_DECIDE_BATCH

struct Stats {
	std::uint64_t schedules = 0, copies = 0, waits = 0, reader_waits = 0;
	std::uint64_t image_reads = 0, diff_reads = 0, origin_reads = 0;
	std::uint64_t failed_snapshots = 0, eio_reads = 0, nowait_rejects = 0;
	std::uint64_t low_space = 0, storage_adds = 0, grown = 0;
	std::uint64_t parked_reads = 0, writes_while_storing = 0;
};

struct Config {
	std::uint64_t capacity;
	u32 per_copy;   // chunks in one copy at most
	unsigned batch; // runs planned per pass
	int writes, reads, max_inflight, take_after;
	std::uint64_t initial_storage; // sectors
	bool ample;                    // storage for every chunk: no overflow
	unsigned agent_per_mille;      // answers a low-space event
	unsigned cow_error_per_mille;
	unsigned nowait_percent;
};

struct Write {
	std::uint64_t sector, len, stamp;
	std::uint64_t submitted, completed = kNever;
	bool nowait, rejected = false;
};

// A piece of an image read, within one chunk.
struct Piece {
	u64 chunk, lo, hi;
};

struct Io {
	enum Kind { kOriginWrite, kCowRead, kCowWrite, kImageOrigin, kImageDiff };
	Kind kind;
	std::uint64_t ref;   // write index or chunk
	std::uint64_t where; // origin sector or difference storage position
	std::uint64_t len;
	std::uint64_t to; // image reads: sector of data[0]
	bool executed = false;
	std::vector<std::uint64_t> data;
	u32 chunks = 1; // copies: the run's length
};

class CowSim {
public:
	CowSim(std::uint64_t seed, Stats &stats) : rng_(seed), stats_(stats)
	{
		configure();
		origin_.resize(cfg_.capacity);
		for (std::uint64_t s = 0; s < cfg_.capacity; s++)
			origin_[s] = kInitialStamp + s;
		storages_.assign(3, std::vector<std::uint64_t>(kStorageSectors));
		cursors_.assign(3, 0);
	}

	void run()
	{
		for (;;) {
			std::vector<void (CowSim::*)()> actions;

			if (!ios_.empty())
				actions.insert(actions.end(), 3, &CowSim::advance_io);
			if (may_issue_write())
				actions.push_back(&CowSim::issue_write);
			if (may_take())
				actions.push_back(&CowSim::take);
			if (taken_ && reads_issued_ < cfg_.reads)
				actions.push_back(&CowSim::issue_read);
			if (agent_requests_)
				actions.push_back(&CowSim::agent_adds_storage);
			if (actions.empty())
				break;
			(this->*actions[pick(actions.size())])();
			if (testing::Test::HasFatalFailure())
				return;
			now_++;
		}
		ASSERT_TRUE(held_.empty()) << held_.size() << " writes held forever";
		ASSERT_TRUE(parked_.empty()) << parked_.size() << " reads parked forever";
		ASSERT_TRUE(taken_);
		ASSERT_NO_FATAL_FAILURE(check_origin());
		ASSERT_NO_FATAL_FAILURE(read_whole_image());
		if (cfg_.ample && !cfg_.cow_error_per_mille) {
			ASSERT_EQ(table_.error, 0) << "ample storage overflowed";
		}
		stats_.failed_snapshots += table_.error != 0;
		stats_.grown += !table_.error && store_.used > initial_total_;
		stats_.schedules++;
	}

private:
	std::uint64_t pick(std::uint64_t n) { return rng_() % n; }
	bool chance(unsigned per_mille) { return pick(1000) < per_mille; }

	void configure()
	{
		u32 shift = 0;
		u64 count = 0;

		cfg_.capacity = 8 + pick(505);
		EXPECT_EQ(bk_cbt_geometry(cfg_.capacity, 1 + pick(200), 9 + pick(5), 20, &shift, &count), 0);
		chunk_mem_.resize(count);
		extent_mem_.resize(kMaxExtents);
		bk_chunk_init(&table_, chunk_mem_.data(), cfg_.capacity, shift, count);
		// The module's run length, or short runs to hit their boundaries.
		cfg_.per_copy = pick(2) ? bk_cow_chunks_per_copy(&table_) : static_cast<u32>(1 + pick(4));
		cfg_.batch = static_cast<unsigned>(1 + pick(kMaxBatch));
		cfg_.writes = 20 + static_cast<int>(pick(60));
		cfg_.reads = 5 + static_cast<int>(pick(25));
		cfg_.max_inflight = 1 + static_cast<int>(pick(6));
		cfg_.take_after = static_cast<int>(pick(cfg_.writes / 2));
		cfg_.ample = pick(10) < 7;
		cfg_.initial_storage = cfg_.ample ? cfg_.capacity + pick(64) : pick(4) << (shift - 9);
		cfg_.agent_per_mille = cfg_.ample ? 0 : pick(1001);
		cfg_.cow_error_per_mille = pick(20) == 0 ? 50 : 0;
		cfg_.nowait_percent = pick(10) == 0 ? 30 : 0;
	}

	// Storage in random pieces at random places on the three storages.
	void add_storage(std::uint64_t sectors)
	{
		while (sectors) {
			const unsigned dev = static_cast<unsigned>(pick(3));
			const std::uint64_t len = std::min<std::uint64_t>(sectors, 1 + pick(sectors));
			std::uint64_t start = cursors_[dev] + (pick(2) ? 0 : pick(8));

			if (start + len > kStorageSectors)
				return;
			if (bk_diff_add(&store_, dev, start, len))
				return; // extent array full: the storage stays
			cursors_[dev] = start + len;
			sectors -= len;
		}
	}

	bool inflight_writes_below(int limit) const
	{
		int n = static_cast<int>(held_.size());

		for (const Io &io : ios_)
			n += io.kind == Io::kOriginWrite;
		return n < limit;
	}

	bool may_issue_write() const
	{
		const int issued = static_cast<int>(writes_.size());

		if (issued >= cfg_.writes || (!taken_ && issued >= cfg_.take_after))
			return false; // done, or frozen for the take
		return inflight_writes_below(cfg_.max_inflight);
	}

	bool may_take() const { return !taken_ && static_cast<int>(writes_.size()) >= cfg_.take_after && inflight_writes_below(1); }

	void take()
	{
		expected_ = origin_;
		bk_diff_init(&store_, extent_mem_.data(), kMaxExtents, cfg_.ample ? 0 : pick(64));
		add_storage(cfg_.initial_storage);
		initial_total_ = store_.total;
		taken_ = true;
	}

	void issue_write()
	{
		Write w{};

		w.sector = pick(cfg_.capacity);
		w.len = 1 + pick(std::min<std::uint64_t>(cfg_.capacity - w.sector, pick(3) ? 8 : 64));
		w.stamp = writes_.size() + 1;
		w.submitted = now_;
		w.nowait = pick(100) < cfg_.nowait_percent;
		writes_.push_back(w);
		const std::uint64_t i = writes_.size() - 1;

		if (!taken_) {
			submit_origin_write(i);
			return;
		}
		held_.push_back(i);
		decide(i);
	}

	// Counts what holds write @w now, chunk by chunk: statistics only, the
	// decision is bk_cow_write_free()'s.
	void count_holds(const Write &w)
	{
		u64 first = 0, last = 0;

		if (!bk_chunk_span(&table_, w.sector, w.len, &first, &last))
			return;
		for (u64 c = first; c <= last; c++) {
			const u8 state = table_.chunks[c].state;

			if (!bk_chunk_write_free(&table_, c)) {
				stats_.waits++;
				stats_.reader_waits += state == BK_CHUNK_COPIED || state == BK_CHUNK_STORING;
			} else {
				stats_.writes_while_storing += state == BK_CHUNK_STORING;
			}
		}
	}

	// The filter, then the decider (kernel order): a write that may not
	// go at once fails if NOWAIT, else its copies are planned and started
	// and it waits until free.
	void decide(std::uint64_t i)
	{
		Write &w = writes_[i];
		u64 next = 0, last = 0;

		count_holds(w);
		if (bk_cow_write_free(&table_, w.sector, w.len)) {
			release(i);
			return;
		}
		if (w.nowait) {
			w.rejected = true;
			stats_.nowait_rejects++;
			held_.erase(std::find(held_.begin(), held_.end(), i));
			return;
		}
		ASSERT_TRUE(bk_chunk_span(&table_, w.sector, w.len, &next, &last));
		while (next <= last) {
			std::vector<bk_copy_run> runs(cfg_.batch);
			const u64 before = next;
			const unsigned n = bk_cow_plan(&table_, &next, last, cfg_.per_copy, runs.data(), cfg_.batch);

			ASSERT_GT(next, before) << "the planner made no progress";
			for (unsigned k = 0; k < n; k++)
				start_copy(runs[k]);
		}
		release_if_free(i);
	}

	void release(std::uint64_t i)
	{
		held_.erase(std::find(held_.begin(), held_.end(), i));
		submit_origin_write(i);
	}

	// A held write asks again (the decider's pass over held writes).
	void release_if_free(std::uint64_t i)
	{
		const Write &w = writes_[i];

		count_holds(w);
		if (bk_cow_write_free(&table_, w.sector, w.len))
			release(i);
	}

	void recheck_held()
	{
		const std::vector<std::uint64_t> held = held_;

		for (std::uint64_t i : held)
			release_if_free(i);
	}

	// A bio released once and seen again (split, resubmitted) must pass:
	// its chunks stay STORING or COPIED with no origin readers.
	void seen_again(const Write &w)
	{
		if (!taken_)
			return;
		ASSERT_TRUE(bk_cow_write_free(&table_, w.sector, w.len)) << "a resubmitted write was held";
	}

	void submit_origin_write(std::uint64_t i)
	{
		const Write &w = writes_[i];

		ios_.push_back({Io::kOriginWrite, i, w.sector, w.len, 0, false, {}});
	}

	void start_copy(const bk_copy_run &run)
	{
		const u64 last = run.first + run.count - 1;
		const u64 start = bk_chunk_start(&table_, run.first);
		Io io{Io::kCowRead, run.first, start, bk_chunk_start(&table_, last) - start + bk_chunk_sectors(&table_, last), 0,
		      false,        {}};

		stats_.copies++;
		io.chunks = run.count;
		ios_.push_back(std::move(io));
	}

	// The old data of the run is in memory: held writes may go; then it
	// is stored (kernel order: read, release writes, allocate, write).
	void copy_read(Io &io)
	{
		const int error = chance(cfg_.cow_error_per_mille) ? -EIO : 0;
		const bool was_failed = table_.error != 0;
		u64 pos = 0;
		bool low = false;

		for (u64 c = io.ref; c < io.ref + io.chunks; c++) {
			bk_chunk_copy_read(&table_, c, error);
			if (error) {
				ASSERT_EQ(table_.chunks[c].state, BK_CHUNK_FAILED);
			} else {
				ASSERT_EQ(table_.chunks[c].state, BK_CHUNK_STORING);
			}
		}
		recheck_held(); // failed: every held write goes
		if (!was_failed && table_.error)
			retry_parked(); // and every parked read fails
		if (error)
			return;
		const int ret = bk_diff_alloc(&store_, io.len, &pos, &low);

		if (low) {
			stats_.low_space++;
			if (chance(cfg_.agent_per_mille))
				agent_requests_++;
		}
		if (ret) {
			ASSERT_EQ(ret, -ENOSPC);
			copy_done(io, 0, ret);
			return;
		}
		Io store{Io::kCowWrite, io.ref, pos, io.len, 0, false, std::move(io.data)};

		store.chunks = io.chunks;
		ios_.push_back(std::move(store));
	}

	void copy_done(const Io &io, u64 pos, int error)
	{
		const bool was_failed = table_.error != 0;
		const u64 start = bk_chunk_start(&table_, io.ref);

		for (u64 c = io.ref; c < io.ref + io.chunks; c++) {
			bk_chunk_copy_done(&table_, c, pos + bk_chunk_start(&table_, c) - start, error);
			if (error) {
				ASSERT_EQ(table_.chunks[c].state, BK_CHUNK_FAILED);
			}
		}
		// Storing frees no write (the read did), unless it failed.
		if (!was_failed && table_.error)
			recheck_held();
		retry_parked();
	}

	void agent_adds_storage()
	{
		agent_requests_--;
		stats_.storage_adds++;
		add_storage(1 + pick(8ULL << (table_.shift - 9)));
	}

	// An image read of a random range, split at chunk boundaries.
	void issue_read()
	{
		const std::uint64_t sector = pick(cfg_.capacity);
		const std::uint64_t len = 1 + pick(std::min<std::uint64_t>(cfg_.capacity - sector, 24));
		u64 first = 0, last = 0;

		reads_issued_++;
		stats_.image_reads++;
		ASSERT_TRUE(bk_chunk_span(&table_, sector, len, &first, &last));
		for (u64 c = first; c <= last; c++) {
			const u64 start = bk_chunk_start(&table_, c);

			read_piece({c, std::max<u64>(sector, start), std::min<u64>(sector + len, start + bk_chunk_sectors(&table_, c))});
		}
	}

	void read_piece(const Piece &p)
	{
		const u64 start = bk_chunk_start(&table_, p.chunk);
		u64 pos = 0;
		const int d = bk_chunk_read(&table_, p.chunk, &pos);

		if (d < 0) {
			ASSERT_EQ(d, -EIO);
			ASSERT_NE(table_.error, 0);
			stats_.eio_reads++;
		} else if (d == BK_READ_DIFF) {
			ios_.push_back({Io::kImageDiff, p.chunk, pos + p.lo - start, p.hi - p.lo, p.lo, false, {}});
		} else if (d == BK_READ_WAIT) {
			ASSERT_EQ(table_.chunks[p.chunk].state, BK_CHUNK_STORING);
			stats_.parked_reads++;
			parked_.push_back(p);
		} else {
			ASSERT_EQ(d, BK_READ_ORIGIN);
			ios_.push_back({Io::kImageOrigin, p.chunk, p.lo, p.hi - p.lo, p.lo, false, {}});
		}
	}

	// A copy was stored (or the snapshot failed): parked reads ask again.
	void retry_parked()
	{
		const std::vector<Piece> parked = std::move(parked_);

		parked_.clear();
		for (const Piece &p : parked)
			read_piece(p);
	}

	void advance_io()
	{
		const std::uint64_t k = pick(ios_.size());

		if (!ios_[k].executed) {
			execute(ios_[k]);
			ios_[k].executed = true;
			return;
		}
		Io io = std::move(ios_[k]);
		ios_.erase(ios_.begin() + static_cast<std::ptrdiff_t>(k));
		complete(io);
	}

	// The data transfer: reads see the device as it is now.
	void execute(Io &io)
	{
		switch (io.kind) {
		case Io::kOriginWrite:
			ASSERT_NO_FATAL_FAILURE(seen_again(writes_[io.ref]));
			std::fill_n(origin_.begin() + static_cast<std::ptrdiff_t>(io.where), io.len, writes_[io.ref].stamp);
			break;
		case Io::kCowRead:
		case Io::kImageOrigin:
			io.data.assign(origin_.begin() + static_cast<std::ptrdiff_t>(io.where),
				       origin_.begin() + static_cast<std::ptrdiff_t>(io.where + io.len));
			break;
		case Io::kCowWrite: transfer_diff(io.where, io.data, true); break;
		case Io::kImageDiff:
			io.data.resize(io.len);
			transfer_diff(io.where, io.data, false);
			break;
		}
	}

	void complete(Io &io)
	{
		switch (io.kind) {
		case Io::kOriginWrite: writes_[io.ref].completed = now_; break;
		case Io::kCowRead: copy_read(io); break;
		case Io::kCowWrite: copy_done(io, io.where, chance(cfg_.cow_error_per_mille) ? -EIO : 0); break;
		case Io::kImageDiff:
			stats_.diff_reads++;
			check_image(io.to, io.data);
			break;
		case Io::kImageOrigin:
			stats_.origin_reads++;
			if (bk_chunk_read_done(&table_, io.ref)) {
				ASSERT_NE(table_.error, 0);
				stats_.eio_reads++;
			} else {
				check_image(io.to, io.data);
			}
			recheck_held();
			break;
		}
	}

	// Moves @data to or from linear position @pos, piece by piece.
	void transfer_diff(std::uint64_t pos, std::vector<std::uint64_t> &data, bool write)
	{
		std::uint64_t done = 0;

		while (done < data.size()) {
			u32 dev = 0;
			sector_t start = 0;
			u64 run = 0;

			ASSERT_EQ(bk_diff_map(&store_, pos + done, data.size() - done, &dev, &start, &run), 0);
			ASSERT_LT(dev, storages_.size());
			ASSERT_LE(start + run, kStorageSectors);
			for (u64 k = 0; k < run; k++) {
				std::uint64_t &cell = storages_[dev][start + k];

				if (write)
					cell = data[done + k];
				else
					data[done + k] = cell;
			}
			done += run;
		}
	}

	void check_image(std::uint64_t sector, const std::vector<std::uint64_t> &data)
	{
		for (std::size_t k = 0; k < data.size(); k++)
			ASSERT_EQ(data[k], expected_[sector + k]) << "image sector " << sector + k << " differs from take time";
	}

	void check_origin() const
	{
		for (std::uint64_t s = 0; s < cfg_.capacity; s++) {
			std::uint64_t last_submit = 0;
			bool covered = false;

			for (const Write &w : writes_) {
				if (!w.rejected && w.sector <= s && s < w.sector + w.len) {
					covered = true;
					last_submit = std::max(last_submit, w.submitted);
				}
			}
			if (!covered) {
				ASSERT_EQ(origin_[s], kInitialStamp + s) << "sector " << s;
				continue;
			}
			ASSERT_GE(origin_[s], 1U);
			ASSERT_LE(origin_[s], writes_.size()) << "sector " << s;
			const Write &w = writes_[origin_[s] - 1];
			ASSERT_FALSE(w.rejected);
			ASSERT_TRUE(w.sector <= s && s < w.sector + w.len);
			ASSERT_NE(w.completed, kNever);
			ASSERT_GT(w.completed, last_submit) << "sector " << s << " lost a later write";
		}
	}

	// After all I/O: every chunk reads back as at take time (or EIO).
	void read_whole_image()
	{
		for (u64 c = 0; c < table_.count; c++) {
			const std::uint64_t start = bk_chunk_start(&table_, c);
			Io io{Io::kImageDiff, c, 0, bk_chunk_sectors(&table_, c), start, false, {}};
			u64 pos = 0;
			const int d = bk_chunk_read(&table_, c, &pos);

			ASSERT_NE(d, BK_READ_WAIT) << "chunk still STORING after all I/O";
			ASSERT_EQ(d < 0, table_.error != 0) << "failed image must EIO";
			if (d < 0)
				continue;
			if (d == BK_READ_ORIGIN) {
				io.kind = Io::kImageOrigin;
				io.where = start;
			} else {
				io.where = pos;
			}
			execute(io);
			complete(io);
		}
	}

	std::mt19937_64 rng_;
	Stats &stats_;
	Config cfg_{};
	std::vector<std::uint64_t> origin_, expected_;
	std::vector<std::vector<std::uint64_t>> storages_;
	std::vector<std::uint64_t> cursors_;
	std::vector<bk_chunk> chunk_mem_;
	std::vector<bk_diff_extent> extent_mem_;
	bk_chunk_table table_{};
	bk_diff_store store_{};
	std::vector<Write> writes_;
	std::vector<std::uint64_t> held_;
	std::vector<Piece> parked_;
	std::vector<Io> ios_;
	std::uint64_t initial_total_ = 0;
	std::uint64_t now_ = 1;
	int reads_issued_ = 0;
	unsigned agent_requests_ = 0;
	bool taken_ = false;
};

TEST(CowSim, ImageEqualsTakeTimeUnderRandomSchedules)
{
	const std::uint64_t seed = test_seed();
	Stats stats;

	for (std::uint64_t i = 0; i < 10000; i++) {
		SCOPED_TRACE(testing::Message() << "BK_SEED=" << seed << " schedule " << i);
		CowSim sim(seed + i, stats);

		ASSERT_NO_FATAL_FAILURE(sim.run());
	}
	std::cout << stats.schedules << " schedules: " << stats.copies << " copies, " << stats.waits << " held (" << stats.reader_waits
		  << " by image readers), " << stats.image_reads << " image reads (" << stats.diff_reads << " diff, " << stats.origin_reads
		  << " origin, " << stats.eio_reads << " EIO), " << stats.failed_snapshots << " failed snapshots, " << stats.low_space
		  << " low-space events, " << stats.storage_adds << " additions, " << stats.grown << " snapshots outgrew their "
		  << "first storage, " << stats.nowait_rejects << " NOWAIT refusals, " << stats.parked_reads
		  << " image reads parked on STORING chunks, " << stats.writes_while_storing << " writes let through while "
		  << "their chunk was being stored\n";
	// Each path must have been exercised, or the test proves nothing.
	EXPECT_GT(stats.copies, 0U);
	EXPECT_GT(stats.reader_waits, 0U);
	EXPECT_GT(stats.diff_reads, 0U);
	EXPECT_GT(stats.origin_reads, 0U);
	EXPECT_GT(stats.failed_snapshots, 0U);
	EXPECT_GT(stats.eio_reads, 0U);
	EXPECT_GT(stats.low_space, 0U);
	EXPECT_GT(stats.storage_adds, 0U);
	EXPECT_GT(stats.grown, 0U);
	EXPECT_GT(stats.nowait_rejects, 0U);
	EXPECT_GT(stats.parked_reads, 0U);
	EXPECT_GT(stats.writes_while_storing, 0U);
}

} // namespace
