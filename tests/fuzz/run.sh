#!/bin/sh
# run.sh SECONDS JOBS TARGET... - run each libFuzzer target for SECONDS,
# JOBS at a time, from its seed corpus (tests/fuzz/corpus/NAME, read only:
# new inputs go to a scratch directory). Crashes are kept in build/fuzz/.
# Exits non-zero when any target finds a crash.
secs=$1 jobs=$2
shift 2
status=0
run_one() {
	f=$1
	n=$(basename "$f")
	c=tests/fuzz/corpus/${n#fuzz_}
	d=tests/fuzz/${n#fuzz_}.dict
	w=$(mktemp -d)
	set -- -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/
	[ -f "$d" ] && set -- "$@" -dict="$d"
	if "$f" "$@" "$w" "$c" >"$w.log" 2>&1; then
		echo "fuzz: $n ran ${secs}s: $(grep -E '^stat::number_of_executed_units' "$w.log" |
			awk '{print $2}') inputs, peak $(grep -E '^stat::peak_rss_mb' "$w.log" |
			awk '{print $2}') MB"
		rm -rf "$w" "$w.log"
		return 0
	fi
	echo "fuzz: $n FAILED:"
	tail -n 40 "$w.log"
	rm -rf "$w" "$w.log"
	return 1
}
pids=""
for f in "$@"; do
	run_one "$f" &
	pids="$pids $!"
	if [ "$(echo $pids | wc -w)" -ge "$jobs" ]; then
		for p in $pids; do wait "$p" || status=1; done
		pids=""
	fi
done
for p in $pids; do wait "$p" || status=1; done
exit $status
