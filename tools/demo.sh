#!/bin/sh
# demo.sh - a fresh partnership from nothing, narrated for a newcomer:
# keys for four partners, a protocol written with today's dates and signed
# by all, verified and shown as a review meeting reads it, then amended,
# compared, and signed again. Exits non-zero if any step misbehaves.
set -u
A=${ACCORD:?}
D=$(mktemp -d /tmp/accord-demo-XXXXXX)
step=0

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
# expect STATUS CMD...: run CMD showing its output; fail unless it exits STATUS.
expect() {
	want=$1
	shift
	step=$((step + 1))
	echo "\$ accord ${*#"$A" }" | sed "s#$D#\$DEMO#g"
	"$@" >"$D/.out" 2>&1
	got=$?
	sed "s#$D#\$DEMO#g" "$D/.out"
	[ "$got" -eq "$want" ] || fail "step $step: exit status $got, expected $want: $*"
}

today=$(date -u +%F)
from=$(date -u -d "$today - 1 day" +%F)
until=$(date -u -d "$today + 89 days" +%F)

say "1. Each partner makes its keys (private files are 0600 and never overwritten)"
for p in police council exit-programme health-trust; do
	"$A" keygen --partner "$p" --dir "$D/keys/$p" >"$D/$p.lines" 2>/dev/null ||
		fail "keygen $p"
	echo "  $p: $(sed -n 's/^ *signing_key: //p' "$D/$p.lines") (signing key)"
done

key() { sed -n "s/^    $2: //p" "$D/$1.lines"; }
partner() {
	cat <<P
  - id: $1
    name: $2
    responsibilities: $3
    endpoint: https://$1.demo.example:7443
    tls_spki_sha256: $(key "$1" tls_spki_sha256)
    signing_key: $(key "$1" signing_key)
P
}

say "2. The coordinator writes the protocol, in force from $from to $until"
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
	partner police "Demo Police" "Refers people leaving custody; receives progress updates."
	partner council "Demo Council Social Care" "Coordinates; provides housing and family support."
	partner exit-programme "Demo Exit Programme" "Mentoring, education and employment support."
	partner health-trust "Demo Health Trust" "Mental health and psychosocial services."
	cat <<R
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
    consent: required
    when: in-case
    retention_days: 365
R
} >"$D/protocol.yaml"
echo "  wrote \$DEMO/protocol.yaml ($(wc -l <"$D/protocol.yaml") lines)"

say "3. Not yet signed: a node would share nothing under it"
expect 1 "$A" protocol verify "$D/protocol.yaml"

say "4. Every partner signs the exact bytes"
for p in police council exit-programme health-trust; do
	expect 0 "$A" protocol sign "$D/protocol.yaml" --partner "$p" --key "$D/keys/$p/signing.key"
done
expect 0 "$A" protocol verify "$D/protocol.yaml"

say "5. The review meeting reads it"
expect 0 "$A" protocol show "$D/protocol.yaml"

say "6. A mistake is caught with its line and column"
sed 's/subject.birth_date, needs/subject.birth_date, risk_assessment, needs/' \
	"$D/protocol.yaml" >"$D/mistake.yaml"
expect 1 "$A" protocol verify "$D/mistake.yaml"

say "7. An amendment: the exit programme gets referrals too"
sed -e 's/^version: 1$/version: 2/' -e 's/^    to: \[council\]$/    to: [council, exit-programme]/' \
	"$D/protocol.yaml" >"$D/protocol-v2.yaml"
expect 1 "$A" protocol diff "$D/protocol.yaml" "$D/protocol-v2.yaml"
cp "$D/protocol.yaml.sig" "$D/protocol-v2.yaml.sig"
echo "  (the old signatures, copied beside the amendment, do not carry over:)"
expect 1 "$A" protocol verify "$D/protocol-v2.yaml"
for p in police council exit-programme health-trust; do
	"$A" protocol sign "$D/protocol-v2.yaml" --partner "$p" \
		--key "$D/keys/$p/signing.key" >/dev/null || fail "sign v2 as $p"
done
echo "  every partner signs version 2:"
expect 0 "$A" protocol verify "$D/protocol-v2.yaml"

say "Done: $step steps as expected"
echo "The demo's files are in $D (keys, protocol.yaml, its .sig, the amendment)."
echo "Nothing was left running."
