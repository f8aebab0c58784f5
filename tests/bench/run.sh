#!/bin/sh
# run.sh [NAME] - run every benchmark program in $BENCH_DIR, or bench_NAME.
# Each prints one JSON object a line:
#   {"bench":NAME,"value":N,"unit":U,"baseline":NAME,"baseline_value":N,"ratio":N}
# A program whose benchmark needs more around it (nodes, a server) has a
# script tests/bench/NAME.sh beside its source: that script runs it, given
# the program's path.
: "${BENCH_DIR:?}"
status=0
if [ -n "${1:-}" ]; then
	set -- "$BENCH_DIR/bench_$1"
	[ -x "$1" ] || { echo "no benchmark named '$(basename "$1" | sed s/^bench_//)'" >&2; exit 2; }
else
	set -- "$BENCH_DIR"/bench_*
fi
for b in "$@"; do
	[ -x "$b" ] || continue
	s=${SRCDIR:-.}/tests/bench/$(basename "$b" | sed s/^bench_//).sh
	if [ -f "$s" ]; then
		sh "$s" "$b"
	else
		"$b"
	fi || { echo "benchmark $(basename "$b") failed" >&2; status=1; }
done
exit $status
