#!/bin/sh
# run.sh TEST... - run unit test programs and integration scripts, count
# their results, and end with one line "N passed, N failed".
#
# Every test speaks TAP ("ok N - name" / "not ok N - name"): cmocka programs
# through CMOCKA_MESSAGE_OUTPUT=TAP, scripts by writing it. A program that
# exits non-zero without reporting a failure (a crash, a sanitizer report)
# counts as one failed test.
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT INT TERM
for t in "$@"; do
	name=$(basename "$t")
	case "$t" in
	*.sh) CMOCKA_MESSAGE_OUTPUT=TAP sh "$t" >"$log" 2>&1 ;;
	*) CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	ok=$(grep -c '^ok ' "$log")
	bad=$(grep -c '^not ok ' "$log")
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
	passed=$((passed + ok))
	failed=$((failed + bad))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
