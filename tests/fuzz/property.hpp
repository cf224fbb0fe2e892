// The fuzz targets' property check: a property the code under test promises that
// does not hold is a finding like a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace bk::fuzz {

inline void require(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "property violated: %s\n", what);
		std::abort();
	}
}

} // namespace bk::fuzz
