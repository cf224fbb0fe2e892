// Which restore points prune keeps. Points are grouped by host and device (one host's
// points never make another host's go); within a group:
//   last    N: the N newest points;
//   hourly  N: for each of the N newest UTC clock hours that have points, the newest
//              point of that hour;
//   daily   N: for each of the N newest UTC calendar days that have points, the newest
//              point of that day;
//   weekly  N: the same per ISO-8601 week (weeks start Monday, UTC);
//   monthly N: the same per calendar month (UTC).
// The rules are independent and a point is kept when any rule keeps it. Ties in time
// are broken by point id so the result is deterministic.
#pragma once

#include <vector>

#include "bk/storage/types.hpp"

namespace bk::storage {

struct KeepPolicy {
	unsigned last = 0;
	unsigned daily = 0;
	unsigned weekly = 0;
	unsigned monthly = 0;
	unsigned hourly = 0; // last, so positional initializers {last, daily, weekly, monthly} keep their meaning

	bool keeps_nothing() const { return last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0; }
};

// Returns, for each element of `points`, whether the policy keeps it.
std::vector<bool> select_kept(const std::vector<PointInfo> &points, const KeepPolicy &policy);

} // namespace bk::storage
