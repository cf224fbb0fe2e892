#!/bin/sh
# Install everything bkagent needs to build, test and run its VM suite on Debian 12.
# Idempotent: apt-get only, safe to run again. Usage: deploy/install-deps.sh [--no-vm]
set -eu

BUILD="build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librocksdb-dev libssl-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev
  libzstd-dev libsystemd-dev libisal-dev uuid-dev clang-tidy-22 clang libclang-rt-14-dev
  libcurl4-openssl-dev libxml2-dev
  nbdkit nbdkit-plugin-dev libnbd-bin libnbd-dev qemu-utils
  python3 python3-prometheus-client
  linux-source-6.1
  debhelper dh-dkms dkms lintian fakeroot dpkg-dev ccache"
VM="qemu-system-x86 linux-image-amd64 linux-headers-amd64 busybox-static cpio kmod
  e2fsprogs xfsprogs fio lvm2 util-linux fdisk xz-utils python3 jq openssl nbd-client
  debootstrap zstd socat prometheus-node-exporter curl initramfs-tools lz4"

# The S3 backend's tests run against a real Ceph radosgw (shared/ceph/ceph-s3.sh).
S3="ceph-mon ceph-osd ceph-mgr radosgw ceph-common awscli curl"

pkgs="$BUILD $S3"
[ "${1:-}" = "--no-vm" ] || pkgs="$pkgs $VM"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
