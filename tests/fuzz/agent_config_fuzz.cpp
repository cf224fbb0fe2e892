// bkagentd.conf through its public parser (agent/core/config.h): any text is either a
// Config or std::invalid_argument naming the bad key; anything else escaping (another
// exception type, a crash, undefined behaviour) is a finding. The config has no writer,
// so there is no round trip to check.
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	try {
		bk::agent::Config::parse(std::string(reinterpret_cast<const char *>(data), size));
	} catch (const std::invalid_argument &) {
	}
	return 0;
}
