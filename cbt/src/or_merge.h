// RocksDB merge operator: bitwise OR of byte strings (the shorter is
// zero-extended). Deltas folded twice, or in pieces, combine correctly.
#pragma once

#include <rocksdb/merge_operator.h>

namespace bk::cbt {

class OrMerge final : public rocksdb::AssociativeMergeOperator {
public:
	bool Merge(const rocksdb::Slice &key, const rocksdb::Slice *existing, const rocksdb::Slice &value, std::string *out,
		   rocksdb::Logger *logger) const override;
	const char *Name() const override { return "bk.cbt.OrMerge"; }
};

} // namespace bk::cbt
