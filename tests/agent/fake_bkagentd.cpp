// bkagentd against the FakeKernel test double (tests only): the state
// directory comes from BK_FAKE_KERNEL_DIR.
#include "fake_kernel.h"
#include "server/daemon.h"

#include <cstdio>
#include <cstdlib>

int main(int argc, char **argv)
{
	const char *dir = std::getenv("BK_FAKE_KERNEL_DIR");
	if (!dir) {
		std::fputs("BK_FAKE_KERNEL_DIR is not set\n", stderr);
		return 2;
	}
	return bk::agent::daemon_main(argc, argv, std::make_unique<bk::test::FakeKernel>(dir));
}
