#!/bin/sh
# usage: expect-verdict.sh VERDICT vmrun.py ARGS...
# For the harness's own tests: passes only if vmrun.py fails the run with
# VERDICT (its last line is "bkvm: FAIL (VERDICT): ...") and a non-zero status.
want=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
last=$(printf '%s\n' "$out" | grep '^bkvm: ' | tail -n 1)
case "$last" in
"bkvm: FAIL ($want):"*)
	if [ $rc -ne 0 ]; then
		echo "expect-verdict: the harness failed the run with '$want', as it must"
		exit 0
	fi
	;;
esac
echo "expect-verdict: wanted 'FAIL ($want)' and a non-zero status; got status $rc"
exit 1
