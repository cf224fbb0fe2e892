#include "bk/storage/prune_policy.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <set>

namespace bk::storage {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

std::int64_t hour_of(std::int64_t t) { return floor_div(t, 3600); }

std::int64_t day_of(std::int64_t t) { return floor_div(t, 86400); }

std::int64_t week_of(std::int64_t t)
{
	return floor_div(day_of(t) + 3, 7); // 1970-01-01 was a Thursday; weeks start Monday
}

std::int64_t month_of(std::int64_t t)
{
	using namespace std::chrono;
	year_month_day ymd{sys_days{days{day_of(t)}}};
	return static_cast<std::int64_t>(static_cast<int>(ymd.year())) * 12 + static_cast<unsigned>(ymd.month());
}

// Keeps the newest point of each of the `n` newest periods; `order` is newest first.
void keep_per_period(const std::vector<PointInfo> &points, const std::vector<std::size_t> &order, unsigned n,
		     std::int64_t (*period)(std::int64_t), std::vector<bool> &kept)
{
	std::set<std::int64_t> seen;
	for (std::size_t i : order) {
		if (seen.size() == n)
			break;
		if (seen.insert(period(points[i].time)).second)
			kept[i] = true;
	}
}

} // namespace

std::vector<bool> select_kept(const std::vector<PointInfo> &points, const KeepPolicy &policy)
{
	std::vector<bool> kept(points.size());
	std::map<std::pair<std::string, std::string>, std::vector<std::size_t>> by_device;
	for (std::size_t i = 0; i < points.size(); ++i)
		by_device[{points[i].host, points[i].device}].push_back(i);
	for (auto &[device, order] : by_device) {
		std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return older(points[b], points[a]); });
		for (std::size_t k = 0; k < order.size() && k < policy.last; ++k)
			kept[order[k]] = true;
		keep_per_period(points, order, policy.hourly, hour_of, kept);
		keep_per_period(points, order, policy.daily, day_of, kept);
		keep_per_period(points, order, policy.weekly, week_of, kept);
		keep_per_period(points, order, policy.monthly, month_of, kept);
	}
	return kept;
}

} // namespace bk::storage
