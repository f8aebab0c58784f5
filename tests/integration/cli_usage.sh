#!/bin/sh
# Usage errors name what is wrong: each command line below is refused with
# exit status 2 and a message saying what is missing, unknown or extra,
# and where the usage is told; and a record file send cannot take is
# named. No command here reaches a node or a store.
. "$(dirname "$0")/lib/tap.sh"
A=$ACCORD

# usage ARGS | MESSAGE: `accord ARGS` exits 2 and says MESSAGE, and where
# the usage is (its group's --help).
usage() {
	args=${1% | *}
	msg=${1#* | }
	group=${args%% *}
	# shellcheck disable=SC2086 # ARGS is a list of words
	run 2 $A $args && has "accord: $msg" && has "(see 'accord $group --help')"
	ok "accord $args: $msg" $?
}

while IFS= read -r row; do
	[ -n "$row" ] && usage "$row"
done <<'ROWS'
audit | audit: say which: verify, list, show, export, subject, checkpoint, prove or check-proof
audit frob | audit: unknown command 'frob'
audit list | audit list: --data DIR is required
audit list --data | audit list: --data needs a value
audit list --data d --bogus | audit list: unknown option '--bogus'
audit list --data d -x | audit list: unknown option -x
audit list --data d extra | audit list: unexpected argument 'extra'
audit list --data d --format csv | audit list: --format is for export; list takes --json
audit export --data d --format xml | audit export: --format is csv or jsonl, not 'xml'
audit verify --data d extra | audit verify: unexpected argument 'extra'
audit show --data d | audit show: needs SEQ
audit show --data d 1 2 | audit show: unexpected argument '2' after SEQ
audit show 1 | audit show: --data DIR is required
audit subject --data d --given-name A --birth-date 1990-01-01 | audit subject: --family-name F is required
audit checkpoint --data d | audit checkpoint: --key KEY is required
audit prove --data d | audit prove: needs SEQ
audit check-proof proof.json | audit check-proof: --pub KEY is required
audit check-proof --pub k | audit check-proof: needs FILE
audit append --data d --count 100001 | audit append: --count is at most 100000, not 100001
audit append --data d --event NOPE | audit append: unknown --event
audit append --data d --given-name A | audit append: --given-name, --family-name and --birth-date go together
protocol | protocol: say which: verify, show, sign, diff or dry-run
protocol frob | protocol: unknown command 'frob'
protocol verify | protocol verify: needs FILE, the protocol to verify
protocol verify --bogus f.yaml | protocol verify: unknown option '--bogus'
protocol show | protocol show: needs FILE
protocol show a.yaml b.yaml | protocol show: unexpected argument 'b.yaml' after FILE
protocol diff a.yaml | protocol diff: needs OLD NEW: 1 of 2 given
protocol diff a.yaml b.yaml c.yaml | protocol diff: unexpected argument 'c.yaml' after OLD NEW
protocol sign f.yaml --key k | protocol sign: --partner ID is required
protocol sign --partner police --key k | protocol sign: needs FILE
protocol dry-run --from police f.yaml r.json | protocol dry-run: --to Q is required
protocol dry-run --from police --to council --purpose x --record-type Referral f.yaml | protocol dry-run: needs FILE RECORD.json: 1 of 2 given
keygen --partner police | keygen: --dir DIR is required
keygen --dir d extra --partner police | keygen: unexpected argument 'extra'
send --to council r.json | send: --purpose X is required
send --to council --purpose x --record-type Referral | send: needs RECORD.json
send --to council --purpose x --record-type Referral a.json b.json | send: unexpected argument 'b.json' after RECORD.json
inbox | inbox: say which: list, show ID or ack ID
inbox frob | inbox: unknown command 'frob': say list, show ID or ack ID
inbox show | inbox show: needs ID
inbox ack | inbox ack: needs ID
inbox list extra | inbox list: unexpected argument 'extra'
status extra | status: unexpected argument 'extra'
outbox --state | outbox: --state needs a value
ROWS

# A record file send cannot take is named, and nothing is sent (exit 1).
S="--socket $T/none.sock --to council --purpose reintegration-referral --record-type Referral"
mkdir "$T/dir"
printf '{"summary":' >"$T/cut.json"
head -c 1048577 /dev/zero | tr '\0' ' ' >"$T/big.json"
# shellcheck disable=SC2086 # S is a list of words
{
	run 1 $A send $S "$T/absent.json" && has "accord: $T/absent.json: no such file"
	ok "send names a record file that is not there" $?
	run 1 $A send $S "$T/dir" && has "accord: $T/dir: not a regular file"
	ok "send names a record path that is a directory" $?
	run 1 $A send $S "$T/cut.json" && has "accord: $T/cut.json:1:11: unexpected token"
	ok "send gives the line and column of broken JSON" $?
	run 1 $A send $S "$T/big.json" && has "is larger than the limit of 1048576 bytes"
	ok "send refuses a record file over the node's limit for a record" $?
}

# A usage error is said before the node is looked for.
run 2 env -u ACCORD_SOCKET $A status extra && ! has "say which node"
ok "a usage error comes before looking for the node" $?

# accordd says what it lacks too.
run 2 "$ACCORDD" && has "accordd: --config FILE is required"
ok "accordd without --config says so" $?
run 2 "$ACCORDD" --config c.yaml extra && has "accordd: unexpected argument 'extra'"
ok "accordd with an extra argument names it" $?

done_testing
