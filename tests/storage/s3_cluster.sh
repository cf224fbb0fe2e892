#!/bin/sh
# The Ceph radosgw of the s3-labelled storage tests (a ctest fixture).
#   s3_cluster.sh start CEPH_S3_SH DIR   a new cluster in DIR, bucket bk-test, DIR/env
#   s3_cluster.sh stop CEPH_S3_SH DIR
set -eu
cmd=$1 script=$2 dir=$3
if [ ! -x "$script" ]; then
	echo "s3_cluster: no $script: the s3 tests need shared/ceph/ceph-s3.sh beside the clone" \
		"(or cmake -DBK_CEPH_S3_SCRIPT=...)" >&2
	exit 1
fi
case $cmd in
start)
	rm -f "$dir/env"
	# One more try from scratch: on a loaded machine a daemon (seen: mgr) can
	# die during start; the script then stops everything it started.
	CEPH_S3_FRESH=1 "$script" start "$dir" >/dev/null ||
		{ echo "s3_cluster: start failed, trying once more" >&2; CEPH_S3_FRESH=1 "$script" start "$dir" >/dev/null; }
	{ "$script" env "$dir"; echo "export BK_TEST_BUCKET=bk-test"; } >"$dir/env.new"
	# shellcheck disable=SC1091
	(. "$dir/env.new" && /usr/bin/aws --endpoint-url "$S3_ENDPOINT" s3 mb s3://bk-test >/dev/null)
	mv "$dir/env.new" "$dir/env"
	;;
stop) "$script" stop "$dir" ;;
*) echo "usage: s3_cluster.sh start|stop CEPH_S3_SH DIR" >&2; exit 2 ;;
esac
