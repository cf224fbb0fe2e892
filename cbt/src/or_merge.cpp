#include "or_merge.h"

#include <algorithm>

namespace bk::cbt {

bool OrMerge::Merge(const rocksdb::Slice & /*key*/, const rocksdb::Slice *existing, const rocksdb::Slice &value, std::string *out,
		    rocksdb::Logger * /*logger*/) const
{
	if (!existing) {
		out->assign(value.data(), value.size());
		return true;
	}
	const rocksdb::Slice &longer = existing->size() >= value.size() ? *existing : value;
	const rocksdb::Slice &shorter = existing->size() >= value.size() ? value : *existing;
	out->assign(longer.data(), longer.size());
	std::transform(shorter.data(), shorter.data() + shorter.size(), out->begin(), out->begin(),
		       [](char a, char b) { return static_cast<char>(a | b); });
	return true;
}

} // namespace bk::cbt
