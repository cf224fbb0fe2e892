// Randomized test of the ioctl argument checks: random bytes as argument
// structures and limits (see ctl_args_props.c for the properties).  Run it
// under -DBK_SANITIZE=address,undefined to catch undefined behaviour.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "ctl_args_props.h"
#include "test_seed.h"

namespace {

TEST(CtlArgsRandom, PropertiesHoldForRandomBytes)
{
	std::mt19937_64 rng(test_seed());
	std::vector<std::uint8_t> bytes(160);
	std::vector<unsigned> accepted(bk_ctl_args_checks);
	std::vector<unsigned> rejected(bk_ctl_args_checks);

	for (int i = 0; i < 500000; i++) {
		const std::size_t size = rng() % bytes.size();
		bk_ctl_args_outcome out{};

		for (std::size_t k = 0; k < size; k++)
			bytes[k] = static_cast<std::uint8_t>(rng());
		const char *violation = bk_ctl_args_violation(bytes.data(), size, &out);
		ASSERT_EQ(violation, nullptr) << violation << " (iteration " << i << ", BK_SEED=" << test_seed() << ")";
		(out.ret ? rejected : accepted)[out.check]++;
	}
	// The random input must have reached both outcomes of every check.
	for (unsigned c = 0; c < bk_ctl_args_checks; c++) {
		EXPECT_GT(accepted[c], 100U) << "check " << c;
		EXPECT_GT(rejected[c], 100U) << "check " << c;
	}
}

} // namespace
