#include "driver/driver.h"

#include <uuid/uuid.h>

namespace bk::agent {

std::string format_uuid(const Uuid &id)
{
	char text[UUID_STR_LEN];
	::uuid_unparse_lower(id.data(), text);
	return text;
}

std::optional<Uuid> parse_uuid(const std::string &text)
{
	Uuid id{};
	if (::uuid_parse(text.c_str(), id.data()) != 0)
		return std::nullopt;
	return id;
}

} // namespace bk::agent
