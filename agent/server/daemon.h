// bkagentd's main program, parameterized by the kernel driver so host tests
// can run the real daemon against a test double.
#pragma once

#include "driver/driver.h"

#include <memory>

namespace bk::agent {

int daemon_main(int argc, char **argv, std::unique_ptr<Driver> driver);

} // namespace bk::agent
