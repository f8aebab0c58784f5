#!/bin/sh
# demo.sh - a fresh partnership of three nodes on loopback, narrated for a
# newcomer: keys made, a protocol written with today's dates and signed by
# all three, a referral minimised and delivered, a disclosure no rule allows
# refused and audited, a case accepted and worked in, a node stopped and its
# queued delivery completed after its restart, every audit listed and
# verified, and the checkpoints each node holds of the others. Stops every
# node it started; exits non-zero if any step misbehaves.
set -u
A=${ACCORD:?}
AD=${ACCORDD:?}
SRC=${SRCDIR:?}
D=$(mktemp -d /tmp/accord-demo-XXXXXX)
PARTNERS="police council exit-programme"
step=0
pids=""

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
show() { sed "s#$D#\$DEMO#g" "$@"; }
# quoted WORDS...: the words as they would be typed, quoted where a shell
# needs it ("--actor 'PC 4471'").
quoted() {
	out=
	for w in "$@"; do
		case $w in
		'' | *[!A-Za-z0-9_./:=,@%+-]*) w="'$(printf '%s' "$w" | sed "s/'/'\\\\''/g")'" ;;
		esac
		out="$out${out:+ }$w"
	done
	printf '%s\n' "$out"
}
# expect STATUS CMD...: run CMD, show its output, fail unless it exits STATUS.
expect() {
	want=$1
	shift
	step=$((step + 1))
	echo "\$ $(quoted "$@" | sed "s#$A#accord#; s#$D#\$DEMO#g")"
	"$@" >"$D/.out" 2>&1
	got=$?
	show "$D/.out"
	[ "$got" -eq "$want" ] || fail "step $step: exit status $got, expected $want"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
key() { sed -n "s/^    $2: //p" "$D/$1/lines"; }
cfg() { echo "$D/$1/accordd.yaml"; }
api() { curl -sS --max-time 10 --unix-socket "$D/$1/run/accord.sock" "http://localhost$2"; }
start() {
	"$AD" --config "$(cfg "$1")" >>"$D/$1/log" 2>&1 &
	eval "pid_$(echo "$1" | tr - _)=$!"
	pids="$pids $!"
	i=0
	while [ ! -S "$D/$1/run/accord.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -S "$D/$1/run/accord.sock" ] || fail "the $1 node did not start: $(tail -n 3 "$D/$1/log")"
	note "$1's node is up (log: \$DEMO/$1/log)"
}
stop() {
	pid=$(eval "echo \$pid_$(echo "$1" | tr - _)")
	kill -TERM "$pid" && wait "$pid" || fail "the $1 node did not stop cleanly"
	pids=$(echo "$pids" | sed "s/ $pid//")
	note "$1's node stopped"
}
# until_api NODE PATH TEXT: wait (at most 10 s) for the local API to say TEXT.
until_api() {
	i=0
	while [ $i -lt 100 ]; do
		api "$1" "$2" 2>/dev/null | grep -qF -- "$3" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "$1: $2 never showed $3"
}

today=$(date -u +%F)
from=$(date -u -d "$today - 1 day" +%F)
until=$(date -u -d "$today + 89 days" +%F)

say "1. Each partner makes its keys"
for p in $PARTNERS; do
	mkdir -p "$D/$p/run"
	"$A" keygen --partner "$p" --dir "$D/$p/keys" >"$D/$p/lines" 2>/dev/null || fail "keygen $p"
	eval "port_$(echo "$p" | tr - _)=$(port)"
	note "$p: signing key $(key "$p" signing_key), TLS key pinned as $(key "$p" tls_spki_sha256)"
done
note "(private keys are 0600, created with O_EXCL|O_NOFOLLOW, never overwritten)"

say "2. The coordinator writes the protocol, in force $from to $until"
{
	cat <<H
# Demo partnership protocol. Every partner signs these exact bytes.
protocol: demo-reintegration
version: 1
title: Demo reintegration partnership
coordinator: council
effective_from: $from
review_by: $until
partners:
H
	for p in $PARTNERS; do
		cat <<P
  - id: $p
    name: Demo $p
    responsibilities: The $p's part in the partnership.
    endpoint: https://127.0.0.1:$(eval "echo \$port_$(echo "$p" | tr - _)")
    tls_spki_sha256: $(key "$p" tls_spki_sha256)
    signing_key: $(key "$p" signing_key)
P
	done
	cat <<'R'
purposes:
  - id: reintegration-referral
    description: Refer a person for housing, employment and psychosocial support
    legal_basis: "UK GDPR Art 6(1)(e); DPA 2018 Sch 1 para 6"
  - id: case-coordination
    description: Accept or decline a referral and report progress
    legal_basis: "UK GDPR Art 6(1)(e)"
never_share:
  - Referral.risk_assessment
  - Referral.case_notes
rules:
  - id: police-refers-to-council
    from: police
    to: [council]
    purpose: reintegration-referral
    record: Referral
    fields: [referral_id, subject.given_name, subject.family_name,
             subject.birth_date, needs, summary, urgency, consent]
    consent: required
    when: anytime
    retention_days: 180
  - id: council-replies-to-police
    from: council
    to: [police]
    purpose: case-coordination
    record: ReferralReply
    fields: [referral_id, decision, reason]
    consent: not-required
    when: anytime
    retention_days: 365
  - id: council-reports-progress
    from: council
    to: [police]
    purpose: case-coordination
    record: ProgressUpdate
    fields: [referral_id, overall, needs.need, needs.status]
    consent: not-required
    when: in-case
    retention_days: 365
R
} >"$D/protocol.yaml"
note "wrote \$DEMO/protocol.yaml: three partners, two purposes, three rules"
expect 1 "$A" protocol verify "$D/protocol.yaml"
note "not signed yet: a node would share nothing under it. Each partner signs:"
for p in $PARTNERS; do
	"$A" protocol sign "$D/protocol.yaml" --partner "$p" --key "$D/$p/keys/signing.key" \
		>/dev/null || fail "sign as $p"
done
expect 0 "$A" protocol verify "$D/protocol.yaml"

say "3. Each partner starts its node"
for p in $PARTNERS; do
	cat >"$(cfg "$p")" <<C
partner: $p
protocol: ../protocol.yaml
signing_key: keys/signing.key
tls_key: keys/tls.key
tls_cert: keys/tls.crt
data_dir: data
listen: 127.0.0.1:$(eval "echo \$port_$(echo "$p" | tr - _)")
local_socket: run/accord.sock
C
	start "$p"
done

say "4. Police refer a person to the council"
note "the case system's record (policies/examples/referral.json) holds a risk"
note "assessment, internal case notes, identifiers and contact details."
expect 0 "$A" send --config "$(cfg police)" --to council --purpose reintegration-referral \
	--record-type Referral --actor "PC 4471" "$SRC/policies/examples/referral.json"
grep -q '"risk_assessment"' "$D/.out" || fail "the risk assessment was not withheld"
id=$(sed -n 's/.*"message_id": "\([0-9a-f]*\)".*/\1/p' "$D/.out")
until_api council /v1/inbox "$id"
note "delivered; what the council received:"
expect 0 "$A" inbox show "$id" --config "$(cfg council)"
grep -q 'risk_assessment\|case_notes' "$D/.out" && fail "the council received a withheld field"

say "5. A disclosure no rule allows is refused, and audited"
expect 3 "$A" send --config "$(cfg police)" --to exit-programme \
	--purpose reintegration-referral --record-type Referral --actor "PC 4471" \
	"$SRC/policies/examples/referral.json"

say "6. The council accepts the referral; the case is open"
printf '{"referral_id":"EP-2026-0417","decision":"ACCEPTED","reason":"A housing place is available"}\n' >"$D/reply.json"
expect 0 "$A" send --config "$(cfg council)" --to police --purpose case-coordination \
	--record-type ReferralReply "$D/reply.json"
until_api council /v1/outbox '"delivered":1'

say "7. An in-case progress update, allowed because the case was accepted"
printf '{"referral_id":"EP-2026-0417","overall":"ENGAGED","needs":[{"need":"HOUSING","status":"COMPLETED","note":"moved in"}],"summary":"Settled; attends the mentoring sessions."}\n' >"$D/progress.json"
expect 0 "$A" send --config "$(cfg council)" --to police --purpose case-coordination \
	--record-type ProgressUpdate "$D/progress.json"
until_api council /v1/outbox '"delivered":2'
note "(the progress note and summary were withheld: the rule shares statuses only)"

say "8. The police node stops; the council's next update waits in its outbox"
stop police
expect 0 "$A" send --config "$(cfg council)" --to police --purpose case-coordination \
	--record-type ProgressUpdate "$D/progress.json"
until_api council /v1/outbox '"attempts":1'
note "the delivery failed and is pending, retried with backoff:"
expect 0 "$A" outbox --config "$(cfg council)"
start police
until_api council /v1/outbox '"pending":0'
note "after the restart the queued update is delivered, exactly once"

say "9. Each node's audit, listed and verified"
for p in $PARTNERS; do
	expect 0 "$A" audit list --data "$D/$p/data"
	expect 0 "$A" audit verify --data "$D/$p/data" --pub "$(key "$p" signing_key | tr -d '"')"
done

say "10. The checkpoints each node holds of the others (witnesses)"
for p in $PARTNERS; do
	printf '   %-15s ' "$p:"
	api "$p" /v1/status | python3 -c 'import json,sys; d=json.load(sys.stdin); h=d["checkpoints_held"]; print(", ".join("%s at size %d" % (k, v["size"]) for k, v in h.items()) or "none (it has delivered nothing)")'
done

say "Done: $step steps as expected"
for p in $PARTNERS; do
	stop "$p"
done
echo "Everything is in $D: the protocol and its signatures, and per node its"
echo "keys, configuration, log and data (LMDB: audit log, inbox, outbox, cases)."
echo "No node is left running."
