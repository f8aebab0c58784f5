# tap.sh - sourced by integration scripts: a temporary directory that is
# removed on exit, and TAP output ("ok N - what" / "not ok N - what").
# Needs ACCORD (the binary) and SRCDIR (the repository root).
: "${ACCORD:?set ACCORD to the accord binary}"
: "${SRCDIR:?set SRCDIR to the repository root}"
T=$(mktemp -d /tmp/accord-it-XXXXXX)
trap 'rm -rf "$T"' EXIT
# A signal (a closed pipe among them: `... | head`) ends the script, and so
# runs the EXIT trap, which the scripts extend to stop their nodes.
trap 'exit 1' INT TERM HUP PIPE
tap_n=0
tap_failed=0

# ok DESCRIPTION STATUS: report one check from a status (0 = passed).
ok() {
	tap_n=$((tap_n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $tap_n - $1"
	else
		echo "not ok $tap_n - $1"
		tap_failed=$((tap_failed + 1))
		[ -f "$T/out" ] && sed -e 's/^/# /' -e '$a\' "$T/out"
	fi
}

# run WANT_STATUS CMD...: run CMD, output to $T/out; 0 when its exit status
# is WANT_STATUS.
run() {
	want=$1
	shift
	"$@" >"$T/out" 2>&1
	got=$?
	[ "$got" -eq "$want" ] && return 0
	echo "exit status $got, wanted $want: $*" >>"$T/out"
	return 1
}

# has TEXT: 0 when the last run's output contains TEXT.
has() {
	grep -qF -- "$1" "$T/out" && return 0
	echo "output lacks: $1" >>"$T/out"
	return 1
}

# raw_free: 0 when the last run's output holds neither ESC nor U+202E as
# they are: views for people show such characters escaped.
raw_free() {
	! grep -qF "$(printf '\033')" "$T/out" && ! grep -qF "$(printf '\342\200\256')" "$T/out" &&
		return 0
	echo "output holds ESC or U+202E as it is" >>"$T/out"
	return 1
}

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
