// Change tokens: (generation, sequence) naming a snapshot image of a device.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bk::cbt {

// The kernel tracker's random 16-byte map identity.
using Generation = std::array<std::uint8_t, 16>;

struct Token {
	Generation generation{};
	std::uint32_t sequence = 0;

	friend bool operator==(const Token &, const Token &) = default;
};

// "<32 hex>:<sequence>", the text form documented in bkagent.proto.
std::string format_token(const Token &token);
std::string format_generation(const Generation &generation);
// nullopt unless `text` is exactly the text form with sequence >= 1.
std::optional<Token> parse_token(std::string_view text);

} // namespace bk::cbt
