# Guest-side helpers for bench scripts (sourced after tests/vm/lib/*.sh).

# bench_fio NAME ARGS...: run fio, print "iops MB/s" of its writes.
bench_fio() {
	local name=$1
	shift
	fio --name="$name" --direct=1 --ioengine=libaio --iodepth=8 \
		--output-format=json "$@" >/tmp/fio.json
	/usr/bin/python3 -c 'import json; w=json.load(open("/tmp/fio.json"))["jobs"][0]["write"]; print("%.0f %.1f" % (w["iops"], w["bw_bytes"]/1e6))'
}
