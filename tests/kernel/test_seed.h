// Seeds for randomized tests: BK_SEED from the environment reproduces a
// failing run; otherwise each run explores new cases.  The seed is printed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

inline std::uint64_t test_seed()
{
	static const std::uint64_t seed = [] {
		const char *env = std::getenv("BK_SEED");
		std::uint64_t s = env ? std::stoull(env) : std::random_device{}();
		std::cout << "BK_SEED=" << s << " reproduces this run\n";
		return s;
	}();
	return seed;
}
