// bkagentd: the daemon, driving the real bksnap kernel module.
#include "driver/kernel_driver.h"
#include "server/daemon.h"

int main(int argc, char **argv) { return bk::agent::daemon_main(argc, argv, std::make_unique<bk::agent::KernelDriver>()); }
