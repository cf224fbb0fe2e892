// Block devices as /sys/class/block describes them.
#pragma once

#include "driver/driver.h"

namespace bk::agent::sysfs {

// All block devices with a non-zero size.
std::vector<BlockDevice> block_devices();
// The device node a device number belongs to (ENODEV when none).
BlockDevice by_number(DevNum dev);

} // namespace bk::agent::sysfs
