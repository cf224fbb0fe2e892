// Persistent changed-block tracking state in RocksDB (see docs/cbt.md).
#pragma once

#include "bk/cbt/token.h"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace rocksdb {
class DB;
class WriteBatch;
} // namespace rocksdb

namespace bk::cbt {

// Why an incremental cannot be proven: the caller must read everything.
enum class FullReason { cbt_reset, unclean_shutdown, unknown_token };
const char *reason_name(FullReason reason);

class FullReadNeeded : public std::runtime_error {
public:
	FullReadNeeded(FullReason reason, const std::string &what) : std::runtime_error(what), reason_(reason) {}
	FullReason reason() const { return reason_; }

private:
	FullReason reason_;
};

// RocksDB failed (I/O error, corruption): the store is unusable.
class StoreError : public std::runtime_error {
	using std::runtime_error::runtime_error;
};

// Shape of a device's change map.
struct Geometry {
	std::uint32_t block_shift = 0;
	std::uint64_t block_count = 0;
	friend bool operator==(const Geometry &, const Geometry &) = default;
};

// One kernel generation of a chain. Its token (generation, s) has the
// chain-wide ordinal s + offset; deltas are keyed by ordinal, so a chain
// carried over sequence wraps orders all its snapshots on one line.
struct Segment {
	Generation generation{};
	std::uint32_t offset = 0;
	std::array<std::uint64_t, 4> recorded{}; // bit s: snapshot s recorded
	bool has(std::uint32_t sequence) const;
	friend bool operator==(const Segment &, const Segment &) = default;
};

// What the store knows of one device: the snapshots recorded since the
// committed baseline, in the generations the kernel linked across wraps.
struct Chain {
	Generation id{}; // the chain's first generation: its deltas' key prefix
	Geometry geometry;
	std::vector<Segment> segments;        // oldest first; back(): the newest
	std::uint32_t last_sequence = 0;      // newest recorded snapshot, of back()
	std::uint32_t committed_sequence = 0; // of segments.front(); 0: none
	const Generation &generation() const { return segments.back().generation; }
	const Segment *segment(const Generation &generation) const;
	std::optional<Token> committed() const;
	friend bool operator==(const Chain &, const Chain &) = default;
};

// Generations a chain spans at most: tokens this many sequence wraps old
// answer UNKNOWN_TOKEN (bounds the deltas kept when nothing is committed).
inline constexpr std::size_t max_segments = 4;

// Reads `count` map bytes starting at block `first` of the device's
// current kernel map into `out` (the uAPI's BKSNAP_IOC_CBT_READ).
using MapReader = std::function<void(std::uint64_t first, std::uint64_t count, std::uint8_t *out)>;

// A run of blocks [first, first + count).
struct BlockRun {
	std::uint64_t first = 0;
	std::uint64_t count = 0;
};

// What the boot-time restore (bkagent-seal restore, docs/cbt.md "Clean
// reboots") left for a device whose map restarted.
struct BootSeal {
	// The restore run of this boot ("": none ran since the store began).
	std::string stamp;
	enum class Verdict { none, carried, rejected } verdict = Verdict::none;
	Token sealed;         // carried: the sealed generation, and its sequence
	Geometry geometry;    // carried: of the sealed map
	MapReader sealed_map; // carried: reads the sealed map's bytes
	std::string why;      // rejected: the check that failed
};

class Store {
public:
	// Opens (creating) the database in `dir`. Remembers whether the previous
	// run ended with mark_clean_shutdown(), then clears the marker.
	explicit Store(const std::string &dir);
	~Store();
	Store(const Store &) = delete;
	Store &operator=(const Store &) = delete;

	// The previous run of the store ended cleanly (or there was none).
	bool previous_run_clean() const { return previous_clean_; }
	// Persist the clean-shutdown marker; the last call before closing.
	void mark_clean_shutdown();

	// Throws FullReadNeeded(cbt_reset) when the record is damaged (the next
	// reconcile or record_snapshot of the device then starts a new chain).
	std::optional<Chain> chain(const std::string &device) const;

	// The device's kernel generation is `current`, with the kernel's `link`
	// (BKSNAP_IOC_CBT_ANCHOR; nullopt: none): if the stored chain has another
	// generation that the link does not carry on, retire it (its tokens
	// answer CBT_RESET, or UNCLEAN_SHUTDOWN when the previous run ended
	// uncleanly).
	// `boot`: a map restarted at boot that a valid seal carries on is bridged
	// (its chain continues in `current`); with a rejected seal the tokens
	// answer CBT_RESET; with none though a restore ran since the device was
	// last reconciled, UNCLEAN_SHUTDOWN.
	void reconcile(const std::string &device, const Generation &current, const std::optional<Token> &link = std::nullopt,
		       const BootSeal &boot = {});

	// What the last restart of the device's map did to its chain ("": none
	// seen), e.g. "carried over a clean reboot".
	std::string note(const std::string &device) const;

	// A snapshot of `device` named `token` was taken: fold the kernel map's
	// changes since the chain's last snapshot into a persisted delta.
	// `read_map` reads the kernel map of token.generation; `link` is that
	// generation's, as for reconcile(). Afterwards the chain holds every
	// change up to `token`: the caller anchors it in the kernel. Synced.
	void record_snapshot(const std::string &device, const Token &token, const Geometry &geometry, const MapReader &read_map,
			     const std::optional<Token> &link = std::nullopt);

	// Blocks in [first_block, end_block) that may differ between the images
	// named `since` and `upto`, as maximal ascending runs. `sink` returns
	// false to stop early. Throws FullReadNeeded when that cannot be proven.
	void changed_since(const std::string &device, const Token &since, const Token &upto, std::uint64_t first_block,
			   std::uint64_t end_block, const std::function<bool(const BlockRun &)> &sink) const;

	// The server holds a durable copy of `token`'s image: it becomes the
	// baseline; deltas it no longer needs are dropped. Returns the baseline
	// (unchanged when `token` is older). Throws FullReadNeeded(unknown_token)
	// for a token this store never recorded. Synced.
	Token commit(const std::string &device, const Token &token);

	// Tracking stopped: forget the device (its tokens become CBT_RESET).
	void forget(const std::string &device);

	// Opaque records kept for the agent (e.g. live snapshots), synced.
	void put_record(const std::string &name, const std::string &value);
	void erase_record(const std::string &name);
	std::vector<std::pair<std::string, std::string>> records() const;

private:
	// Drop `device`'s chain if its generation is not `current` and `link`
	// does not carry it on; its tokens then answer with the reason a
	// restarted map deserves.
	void retire_stale(const std::string &device, const Generation &current, const std::optional<Token> &link, const BootSeal &boot,
			  rocksdb::WriteBatch &batch);
	// Continues `chain` in `current` with the sealed marks since its last
	// snapshot; false when the seal does not carry this chain on.
	bool bridge_seal(Chain &chain, const Generation &current, const BootSeal &boot, rocksdb::WriteBatch &batch) const;
	// The bitmap deltas of `map`'s bytes above `above`, at `ordinal`.
	void fold_map(const Chain &chain, std::uint32_t above, std::uint32_t ordinal, const MapReader &read_map,
		      rocksdb::WriteBatch &batch) const;
	void retire(const Chain &chain, FullReason reason, rocksdb::WriteBatch &batch) const;
	// Deletes the deltas of chain `id` with ordinal <= `ordinal`.
	void drop_deltas(const Generation &id, std::uint32_t ordinal, rocksdb::WriteBatch &batch) const;
	FullReason retired_reason(const Generation &generation) const;
	void write(rocksdb::WriteBatch &batch) const;

	std::unique_ptr<rocksdb::DB> db_;
	bool previous_clean_ = true;
	std::mutex mutex_;                // serializes read-modify-write of chains
	std::set<std::string> confirmed_; // devices whose generation this run saw
};

// Bits per persisted bitmap chunk (one RocksDB value of 8 KiB).
inline constexpr std::uint64_t chunk_blocks = 65536;

} // namespace bk::cbt
