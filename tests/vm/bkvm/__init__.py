"""Host side of the bkagent QEMU test harness (see tests/vm/README.md)."""
