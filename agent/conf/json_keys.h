// Reading keys of a JSON configuration object (bkagentd.conf, job files):
// typed, range-checked, unknown keys refused. Errors are std::invalid_argument
// naming the key.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace bk::conf {

// Reads key `name` of `obj` into `out` when present, rejecting wrong types.
template <typename T> void take(const nlohmann::json &obj, const char *name, T &out)
{
	if (!obj.contains(name))
		return;
	if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
		// get<T>() casts a float or an out-of-range number (1e40: undefined behaviour).
		const nlohmann::json &v = obj.at(name);
		const bool ok = std::is_signed_v<T> ? v.is_number_integer() && v.get<std::int64_t>() >= std::numeric_limits<T>::min() &&
							      v.get<std::int64_t>() <= std::numeric_limits<T>::max()
						    : v.is_number_unsigned() && v.get<std::uint64_t>() <= std::numeric_limits<T>::max();
		if (!ok)
			throw std::invalid_argument(std::string("config key '") + name + "': not an integer in range");
	}
	try {
		out = obj.at(name).get<T>();
	} catch (const nlohmann::json::exception &e) {
		throw std::invalid_argument(std::string("config key '") + name + "': " + e.what());
	}
}

// As take(), for a key that must be there (records the agent reads back).
template <typename T> T required(const nlohmann::json &obj, const char *name)
{
	if (!obj.is_object() || !obj.contains(name))
		throw std::invalid_argument(std::string("key '") + name + "' missing");
	T out{};
	take(obj, name, out);
	return out;
}

inline void take_seconds(const nlohmann::json &obj, const char *name, std::chrono::seconds &out)
{
	std::int64_t s = out.count();
	take(obj, name, s);
	if (s < 0)
		throw std::invalid_argument(std::string("config key '") + name + "' must be >= 0");
	out = std::chrono::seconds(s);
}

inline void reject_unknown(const nlohmann::json &obj, const std::set<std::string> &known, const std::string &where)
{
	for (const auto &[key, value] : obj.items())
		if (!known.contains(key))
			throw std::invalid_argument("unknown config key '" + where + key + "'");
}

// Key `name` of `parent`, which must be an object of only the `known` keys.
inline const nlohmann::json &section(const nlohmann::json &parent, const std::string &name, const std::set<std::string> &known)
{
	const nlohmann::json &obj = parent.at(name);
	if (!obj.is_object())
		throw std::invalid_argument("config key '" + name + "' must be an object");
	reject_unknown(obj, known, name + ".");
	return obj;
}

// Parses JSON with // comments into an object.
inline nlohmann::json parse_object(const std::string &text)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
	} catch (const nlohmann::json::exception &e) {
		throw std::invalid_argument(std::string("config is not valid JSON: ") + e.what());
	}
	if (!j.is_object())
		throw std::invalid_argument("config must be a JSON object");
	return j;
}

} // namespace bk::conf
