// Bytes as lowercase hex digits, two a byte, and back.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bk::util {

std::string to_hex(std::span<const std::uint8_t> data);
// Fills `out` from exactly 2 * out.size() digits (either case); false if
// `hex` is not that.
bool from_hex(std::string_view hex, std::span<std::uint8_t> out);
// The bytes `hex` spells; nullopt unless it is an even number of digits.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex);

} // namespace bk::util
