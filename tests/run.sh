#!/bin/sh
# run.sh TEST... - run unit test programs and integration scripts, count
# their results, and end with one line "N passed, N failed" (", N skipped"
# after it when a test was skipped: the allocation-failure tests cannot run
# under a sanitizer's or valgrind's allocator).
#
# Every test speaks TAP ("ok N - name" / "not ok N - name"): cmocka programs
# through CMOCKA_MESSAGE_OUTPUT=TAP, scripts by writing it. A program that
# exits non-zero without reporting a failure (a crash, a sanitizer report)
# counts as one failed test. $VALGRIND, when set, runs the programs under it.
passed=0
failed=0
skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM
for t in "$@"; do
	name=$(basename "$t")
	case "$t" in
	*.sh) CMOCKA_MESSAGE_OUTPUT=TAP sh "$t" >"$log" 2>&1 ;;
	*) CMOCKA_MESSAGE_OUTPUT=TAP ${VALGRIND:-} "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	skip=$(grep -c '^\(not \)\{0,1\}ok [0-9]* # SKIP' "$log")
	ok=$(grep '^ok ' "$log" | grep -vc '^ok [0-9]* # SKIP')
	bad=$(grep '^not ok ' "$log" | grep -vc '^not ok [0-9]* # SKIP')
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
		echo "FAIL $name: exited with status $rc"
	fi
	if [ "$bad" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "---- $name ----"
		cat "$log"
		echo "----"
	else
		echo "PASS $name ($ok)"
	fi
	skipped=$((skipped + skip))
	passed=$((passed + ok))
	failed=$((failed + bad))
done
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
