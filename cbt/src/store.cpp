#include "bk/cbt/store.h"

#include "chain_record.h"
#include "keys.h"
#include "or_merge.h"
#include "run_builder.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <vector>

namespace bk::cbt {

namespace {

constexpr std::size_t batch_limit = 8 << 20; // bytes of deltas per write

// A damaged chain record proves nothing: its tokens answer CBT_RESET.
Chain decode_stored(const std::string &device, const std::string &value)
{
	try {
		return decode_chain(value);
	} catch (const StoreError &e) {
		throw FullReadNeeded(FullReason::cbt_reset, "change map record of " + device + " is damaged (" + e.what() + ")");
	}
}

void check(const rocksdb::Status &s, const char *what)
{
	if (!s.ok())
		throw StoreError(std::string("cbt: ") + what + ": " + s.ToString());
}

rocksdb::WriteOptions synced()
{
	rocksdb::WriteOptions w;
	w.sync = true;
	return w;
}

std::string prefix_end(std::string prefix)
{
	prefix += '\xff';
	return prefix;
}

void set_bit(Segment &seg, std::uint32_t s) { seg.recorded[s / 64] |= std::uint64_t{1} << (s % 64); }

std::uint32_t ordinal(const Segment &seg, std::uint32_t sequence) { return seg.offset + sequence; }

// The kernel carried `c` over a sequence wrap to a generation whose `link`
// names the chain's newest generation at a sequence the chain holds: every
// change since the chain's last snapshot is marked in the new map.
bool carried_on(const Chain &c, const std::optional<Token> &link)
{
	return link && link->generation == c.generation() && link->sequence >= 1 && link->sequence <= c.last_sequence;
}

// Appends a generation's segment; when the chain then spans more than
// max_segments, drops the oldest (and the baseline) and returns the ordinal
// up to which its deltas must go.
std::optional<std::uint32_t> append_segment(Chain &c, const Segment &seg)
{
	c.segments.push_back(seg);
	if (c.segments.size() <= max_segments)
		return std::nullopt;
	const std::uint32_t pruned = c.segments[1].offset;
	c.segments.erase(c.segments.begin());
	c.committed_sequence = 0;
	return pruned;
}

} // namespace

const char *reason_name(FullReason reason)
{
	switch (reason) {
	case FullReason::cbt_reset: return "CBT_RESET";
	case FullReason::unclean_shutdown: return "UNCLEAN_SHUTDOWN";
	case FullReason::unknown_token: return "UNKNOWN_TOKEN";
	}
	return "UNKNOWN_TOKEN";
}

bool Segment::has(std::uint32_t s) const { return s < 256 && (recorded[s / 64] >> (s % 64)) & 1; }

const Segment *Chain::segment(const Generation &g) const
{
	for (const Segment &seg : segments)
		if (seg.generation == g)
			return &seg;
	return nullptr;
}

std::optional<Token> Chain::committed() const
{
	if (!committed_sequence)
		return std::nullopt;
	return Token{segments.front().generation, committed_sequence};
}

Store::Store(const std::string &dir)
{
	rocksdb::Options options;
	options.create_if_missing = true;
	options.merge_operator = std::make_shared<OrMerge>();
	options.max_open_files = 256;
	options.write_buffer_size = 16 << 20; // memory independent of device size
	rocksdb::DB *raw = nullptr;
	check(rocksdb::DB::Open(options, dir, &raw), "open");
	db_.reset(raw);

	std::string ignored;
	const bool fresh = db_->Get({}, std::string(keys::initialized), &ignored).IsNotFound();
	const bool marked = db_->Get({}, std::string(keys::clean_marker), &ignored).ok();
	previous_clean_ = fresh || marked;
	rocksdb::WriteBatch b;
	b.Put(std::string(keys::initialized), "1");
	b.Delete(std::string(keys::clean_marker));
	write(b);
}

Store::~Store() = default;

void Store::write(rocksdb::WriteBatch &batch) const { check(db_->Write(synced(), &batch), "write"); }

void Store::mark_clean_shutdown() { check(db_->Put(synced(), std::string(keys::clean_marker), "1"), "mark clean"); }

std::optional<Chain> Store::chain(const std::string &device) const
{
	std::string value;
	auto s = db_->Get({}, keys::chain(device), &value);
	if (s.IsNotFound())
		return std::nullopt;
	check(s, "get chain");
	return decode_stored(device, value);
}

FullReason Store::retired_reason(const Generation &generation) const
{
	std::string value;
	auto s = db_->Get({}, keys::retired(generation), &value);
	if (s.IsNotFound() || value.size() != 1)
		return FullReason::unknown_token;
	check(s, "get retired");
	return static_cast<FullReason>(value[0]);
}

void Store::retire(const Chain &c, FullReason reason, rocksdb::WriteBatch &b) const
{
	for (const Segment &seg : c.segments)
		b.Put(keys::retired(seg.generation), std::string(1, static_cast<char>(reason)));
	const std::string prefix = keys::delta_prefix(c.id);
	b.DeleteRange(prefix, prefix_end(prefix));
}

void Store::drop_deltas(const Generation &id, std::uint32_t upto, rocksdb::WriteBatch &b) const
{
	const std::string prefix = keys::delta_prefix(id);
	std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
	for (it->Seek(prefix); it->Valid(); it->Next()) {
		const std::string_view key(it->key().data(), it->key().size());
		if (key.substr(0, prefix.size()) != prefix)
			break;
		if (key.size() == keys::delta_key_size && keys::delta_ordinal(key) <= upto)
			b.Delete(it->key());
	}
	check(it->status(), "iterate deltas");
}

bool Store::bridge_seal(Chain &c, const Generation &current, const BootSeal &boot, rocksdb::WriteBatch &b) const
{
	if (boot.verdict != BootSeal::Verdict::carried || boot.sealed.generation != c.generation() ||
	    boot.sealed.sequence <= c.last_sequence || boot.geometry != c.geometry)
		return false;
	// The sealed marks above the last snapshot go to the ordinal of the new
	// generation's first one, which adds what the new map marks.
	const Segment &last = c.segments.back();
	const std::uint32_t base = ordinal(last, c.last_sequence);
	fold_map(c, c.last_sequence, base + 1, boot.sealed_map, b);
	if (last.recorded == decltype(last.recorded){}) // a reboot before any snapshot of it
		c.segments.back().generation = current;
	else if (auto pruned = append_segment(c, {current, base, {}}))
		drop_deltas(c.id, *pruned, b);
	c.last_sequence = 0;
	return true;
}

void Store::retire_stale(const std::string &device, const Generation &current, const std::optional<Token> &link, const BootSeal &boot,
			 rocksdb::WriteBatch &b)
{
	std::optional<Chain> c;
	try {
		c = chain(device);
	} catch (const FullReadNeeded &e) { // damaged: start over
		b.Delete(keys::chain(device));
		b.Put(keys::note(device), std::string(reason_name(e.reason())) + ": " + e.what());
	}
	const bool seen = confirmed_.contains(device);
	confirmed_.insert(device);
	bool restored = false; // a boot-time restore ran since the device was last reconciled
	if (!boot.stamp.empty()) {
		std::string last;
		const auto s = db_->Get({}, keys::boot(device), &last);
		if (!s.IsNotFound())
			check(s, "get boot stamp");
		restored = last != boot.stamp;
		if (restored)
			b.Put(keys::boot(device), boot.stamp);
	}
	if (!c || c->generation() == current || carried_on(*c, link))
		return;
	if (bridge_seal(*c, current, boot, b)) {
		b.Put(keys::chain(device), encode_chain(*c));
		b.Put(keys::note(device), "carried over a clean reboot (sealed at " + format_token(boot.sealed) + ")");
		return;
	}
	// A generation that changed while we watched restarted for a reason the
	// kernel knows (reload, resize, a wrap it could not carry); one found
	// changed at start-up after an unclean stop may hide writes we never saw,
	// and so may one restarted at a boot whose restore found no seal.
	FullReason reason = FullReason::cbt_reset;
	std::string why;
	if (boot.verdict == BootSeal::Verdict::carried)
		why = "the seal found at boot does not continue the chain (stale)";
	else if (boot.verdict == BootSeal::Verdict::rejected)
		why = "seal rejected at boot: " + boot.why;
	else if (restored) {
		reason = FullReason::unclean_shutdown;
		why = "no seal at boot: the previous shutdown did not seal it (crash, reset, power loss, or still in use)";
	} else if (seen || previous_clean_) {
		why = "change map restarted (module reload, re-attach, resize, or a wrap it could not carry)";
	} else {
		reason = FullReason::unclean_shutdown;
		why = "change map restarted and the agent's previous run did not stop cleanly";
	}
	retire(*c, reason, b);
	b.Delete(keys::chain(device));
	b.Put(keys::note(device), std::string(reason_name(reason)) + ": " + why);
}

std::string Store::note(const std::string &device) const
{
	std::string value;
	const auto s = db_->Get({}, keys::note(device), &value);
	if (s.IsNotFound())
		return {};
	check(s, "get note");
	return value;
}

void Store::reconcile(const std::string &device, const Generation &current, const std::optional<Token> &link, const BootSeal &boot)
{
	std::lock_guard lock(mutex_);
	rocksdb::WriteBatch b;
	retire_stale(device, current, link, boot, b);
	write(b);
}

void Store::fold_map(const Chain &c, std::uint32_t above, std::uint32_t ord, const MapReader &read_map, rocksdb::WriteBatch &b) const
{
	// Read the map in bounded windows.
	constexpr std::uint64_t window = 16 * chunk_blocks;
	std::vector<std::uint8_t> map(window);
	std::string bitmap(chunk_blocks / 8, '\0');
	for (std::uint64_t first = 0; first < c.geometry.block_count; first += window) {
		const std::uint64_t count = std::min(window, c.geometry.block_count - first);
		read_map(first, count, map.data());
		for (std::uint64_t off = 0; off < count; off += chunk_blocks) {
			std::fill(bitmap.begin(), bitmap.end(), '\0');
			bool any = false;
			const std::uint64_t n = std::min(chunk_blocks, count - off);
			for (std::uint64_t i = 0; i < n; ++i) {
				if (map[off + i] > above) {
					bitmap[i >> 3] = static_cast<char>(bitmap[i >> 3] | (1 << (i & 7)));
					any = true;
				}
			}
			if (any)
				b.Merge(keys::delta(c.id, (first + off) / chunk_blocks, ord), bitmap);
		}
		// Bounded memory: deltas go out in pieces. Until the chain records
		// the ordinal, they only widen queries that cover it.
		if (b.GetDataSize() > batch_limit) {
			write(b);
			b.Clear();
		}
	}
}

void Store::record_snapshot(const std::string &device, const Token &token, const Geometry &geometry, const MapReader &read_map,
			    const std::optional<Token> &link)
{
	if (token.sequence == 0 || token.sequence > max_sequence)
		throw StoreError("cbt: snapshot sequence " + std::to_string(token.sequence) + " out of range");
	std::lock_guard lock(mutex_);
	rocksdb::WriteBatch b;
	retire_stale(device, token.generation, link, {}, b);
	write(b);
	b.Clear();

	auto existing = chain(device);
	std::optional<std::uint32_t> pruned; // deltas of the oldest generation, dropped with it
	if (existing && existing->geometry != geometry)
		throw StoreError("cbt: map geometry changed within a chain");
	if (existing && existing->generation() != token.generation) {
		// Carried over a wrap: the new generation's ordinals continue from
		// the last snapshot, and its first delta is every block the new
		// map marks (all changed since that snapshot).
		const Segment &last = existing->segments.back();
		pruned = append_segment(*existing, {token.generation, ordinal(last, existing->last_sequence), {}});
		existing->last_sequence = 0;
	}
	if (existing && existing->segments.back().has(token.sequence))
		return;
	if (existing && token.sequence < existing->last_sequence)
		throw StoreError("cbt: snapshot sequence went backwards");
	Chain c = existing.value_or(Chain{token.generation, geometry, {Segment{token.generation, 0, {}}}, 0, 0});
	Segment &seg = c.segments.back();

	// Blocks whose map byte passed the last recorded sequence changed after
	// that snapshot.
	if (existing)
		fold_map(c, c.last_sequence, ordinal(seg, token.sequence), read_map, b);
	set_bit(seg, token.sequence);
	c.last_sequence = token.sequence;
	if (pruned)
		drop_deltas(c.id, *pruned, b);
	b.Put(keys::chain(device), encode_chain(c));
	write(b);
}

void Store::changed_since(const std::string &device, const Token &since, const Token &upto, std::uint64_t first_block,
			  std::uint64_t end_block, const std::function<bool(const BlockRun &)> &sink) const
{
	// One consistent view: a concurrent commit may drop deltas we need.
	const rocksdb::Snapshot *view = db_->GetSnapshot();
	struct Release {
		rocksdb::DB *db;
		const rocksdb::Snapshot *view;
		~Release() { db->ReleaseSnapshot(view); }
	} release{db_.get(), view};
	rocksdb::ReadOptions ro;
	ro.snapshot = view;

	std::string value;
	auto s = db_->Get(ro, keys::chain(device), &value);
	if (!s.IsNotFound())
		check(s, "get chain");
	const std::optional<Chain> c = s.IsNotFound() ? std::nullopt : std::optional<Chain>(decode_stored(device, value));
	const Segment *from = c ? c->segment(since.generation) : nullptr;
	if (!from) {
		const FullReason reason = retired_reason(since.generation);
		throw FullReadNeeded(reason, std::string("change map of ") + device + " cannot prove changes since " + format_token(since) +
						     " (" + reason_name(reason) + ")");
	}
	const Segment *to = c->segment(upto.generation);
	if (!to || !to->has(upto.sequence))
		throw FullReadNeeded(FullReason::unknown_token, "snapshot token " + format_token(upto) + " was not recorded for " + device);
	const std::uint32_t since_ordinal = ordinal(*from, since.sequence);
	const std::uint32_t upto_ordinal = ordinal(*to, upto.sequence);
	if (!from->has(since.sequence) || since_ordinal > upto_ordinal ||
	    (from == &c->segments.front() && since.sequence < c->committed_sequence))
		throw FullReadNeeded(FullReason::unknown_token,
				     "token " + format_token(since) + " is unknown or older than the committed baseline of " + device);

	RunBuilder runs(first_block, end_block, sink);
	std::string acc;
	std::uint64_t acc_chunk = 0;
	auto emit = [&] {
		bool go = acc.empty() || runs.add_bitmap(acc_chunk * chunk_blocks, acc);
		acc.clear();
		return go;
	};
	const std::string prefix = keys::delta_prefix(c->id);
	std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
	for (it->Seek(keys::delta(c->id, first_block / chunk_blocks, 0)); it->Valid(); it->Next()) {
		const std::string_view key(it->key().data(), it->key().size());
		if (key.size() != keys::delta_key_size || key.substr(0, prefix.size()) != prefix)
			break;
		const std::uint64_t chunk = keys::delta_chunk(key);
		if (chunk * chunk_blocks >= end_block)
			break;
		const std::uint32_t ord = keys::delta_ordinal(key);
		if (ord <= since_ordinal || ord > upto_ordinal)
			continue;
		if (chunk != acc_chunk && !emit())
			return;
		acc_chunk = chunk;
		const std::string_view bits(it->value().data(), it->value().size());
		if (acc.size() < bits.size())
			acc.resize(bits.size(), '\0');
		for (std::size_t i = 0; i < bits.size(); ++i)
			acc[i] = static_cast<char>(acc[i] | bits[i]);
	}
	check(it->status(), "iterate deltas");
	if (emit())
		runs.flush();
}

Token Store::commit(const std::string &device, const Token &token)
{
	std::lock_guard lock(mutex_);
	auto c = chain(device);
	const Segment *seg = c ? c->segment(token.generation) : nullptr;
	if (!seg) {
		const FullReason reason = retired_reason(token.generation);
		throw FullReadNeeded(reason, "cannot commit " + format_token(token) + " for " + device + " (" + reason_name(reason) + ")");
	}
	if (seg == &c->segments.front() && token.sequence <= c->committed_sequence)
		return *c->committed();
	if (!seg->has(token.sequence))
		throw FullReadNeeded(FullReason::unknown_token, "token " + format_token(token) + " was not recorded for " + device);

	// Deltas up to the baseline only served tokens older than it, and so
	// did the generations before the baseline's.
	rocksdb::WriteBatch b;
	drop_deltas(c->id, ordinal(*seg, token.sequence), b);
	c->segments.erase(c->segments.begin(), c->segments.begin() + (seg - c->segments.data()));
	Segment &base = c->segments.front();
	for (std::uint32_t s = 0; s < token.sequence; ++s)
		base.recorded[s / 64] &= ~(std::uint64_t{1} << (s % 64));
	c->committed_sequence = token.sequence;
	b.Put(keys::chain(device), encode_chain(*c));
	write(b);
	return token;
}

void Store::forget(const std::string &device)
{
	std::lock_guard lock(mutex_);
	auto c = chain(device);
	if (!c)
		return;
	rocksdb::WriteBatch b;
	retire(*c, FullReason::cbt_reset, b);
	b.Delete(keys::chain(device));
	write(b);
}

void Store::put_record(const std::string &name, const std::string &value)
{
	check(db_->Put(synced(), std::string(keys::record_prefix) + name, value), "put record");
}

void Store::erase_record(const std::string &name) { check(db_->Delete(synced(), std::string(keys::record_prefix) + name), "erase record"); }

std::vector<std::pair<std::string, std::string>> Store::records() const
{
	std::vector<std::pair<std::string, std::string>> out;
	const std::string prefix(keys::record_prefix);
	std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}));
	for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
		out.emplace_back(it->key().ToString().substr(prefix.size()), it->value().ToString());
	check(it->status(), "iterate records");
	return out;
}

} // namespace bk::cbt
