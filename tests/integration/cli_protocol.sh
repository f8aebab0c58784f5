#!/bin/sh
# The protocol life cycle through the command line: keys, signing by every
# partner, verification, and each way a protocol fails to be in force.
. "$(dirname "$0")/lib/tap.sh"
A=$ACCORD
EX=$SRCDIR/policies/examples

run 0 $A --help && has "protocol"; ok "accord --help" $?
run 0 $A protocol --help && has "verify FILE"; ok "accord protocol --help" $?
run 0 $A keygen --help && has "--partner ID --dir DIR"; ok "accord keygen --help" $?
run 2 $A frobnicate && has "unknown command 'frobnicate'"; ok "an unknown command is a usage error" $?
run 2 $A protocol verify; ok "verify without a file is a usage error" $?
run 2 $A protocol verify "$EX/eastshire.yaml" --at 2026-13-01 && has "is not a date"
ok "a malformed --at date is refused" $?

run 0 $A protocol verify "$EX"/*.yaml --at 2026-11-01 && has "IN FORCE on 2026-11-01"
ok "the example protocol is in force within its dates" $?

# keygen
run 0 $A keygen --partner probation --dir "$T/probation" && has "signing_key: \"" &&
	has "tls_spki_sha256: \""
ok "keygen prints the partner's protocol lines" $?
m1=$(stat -c %a "$T/probation/signing.key"); m2=$(stat -c %a "$T/probation/tls.key")
[ "$m1" = 600 ] && [ "$m2" = 600 ] && [ -s "$T/probation/tls.crt" ]
ok "keygen writes private keys 0600" $?
spki=$(openssl x509 -in "$T/probation/tls.crt" -pubkey -noout |
	openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
grep -qF "$spki" "$T/out"
ok "tls_spki_sha256 is the SHA-256 of the certificate's SPKI" $?
run 1 $A keygen --partner probation --dir "$T/probation" && has "already exists"
ok "keygen never overwrites a key" $?
run 2 $A keygen --partner Probation --dir "$T/p2" && has "malformed"
ok "keygen refuses a malformed partner id" $?

# A copy of the example, unsigned, signed partner by partner.
cp "$EX/eastshire.yaml" "$T/p.yaml"
cp -r "$EX/test-keys" "$T/keys"
chmod 600 "$T"/keys/*/*.key
run 1 $A protocol verify "$T/p.yaml" --at 2026-11-01 && has "police                   missing" &&
	has "NOT IN FORCE on 2026-11-01: partner 'police' has not signed"
ok "an unsigned protocol is not in force" $?
for p in police council exit-programme; do
	$A protocol sign "$T/p.yaml" --partner $p --key "$T/keys/$p/signing.key" >/dev/null
done
run 1 $A protocol verify "$T/p.yaml" --at 2026-11-01 && has "health-trust             missing" &&
	has "police                   signed"
ok "one signature missing: not in force, the others shown signed" $?
run 1 $A protocol sign "$T/p.yaml" --partner health-trust --key "$T/keys/police/signing.key" &&
	has "not the signing_key the protocol lists for 'health-trust'"
ok "signing with another partner's key is refused" $?
run 1 $A protocol sign "$T/p.yaml" --partner health-trust --key "$T/keys/health-trust/tls.key" &&
	has "accord: $T/keys/health-trust/tls.key: the key is not an Ed25519 key"
ok "signing with the TLS key says it is not an Ed25519 key" $?
chmod 644 "$T/keys/health-trust/signing.key"
run 1 $A protocol sign "$T/p.yaml" --partner health-trust --key "$T/keys/health-trust/signing.key" &&
	has "chmod 600"
ok "a group- or world-readable key is refused" $?
chmod 600 "$T/keys/health-trust/signing.key"
run 0 $A protocol sign "$T/p.yaml" --partner health-trust --key "$T/keys/health-trust/signing.key"
ok "the last partner signs" $?
run 0 $A protocol verify "$T/p.yaml" --at 2026-12-31 && has "IN FORCE"
ok "signed by all: in force on review_by" $?
run 1 $A protocol verify "$T/p.yaml" --at 2027-01-01 && has "expired after its review date 2026-12-31"
ok "expired the day after review_by" $?
run 1 $A protocol verify "$T/p.yaml" --at 2026-09-30 && has "not yet in force on 2026-09-30"
ok "not yet in force the day before effective_from" $?
run 0 $A protocol verify "$T/p.yaml" --at 2026-11-01 --json &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["in_force"] and d["days_to_review"]==60 and len(d["partners"])==4' "$T/out"
ok "verify --json" $?

# A comment changed after signing.
sed 's/^# Eastshire/# EASTSHIRE/' "$T/p.yaml" >"$T/q.yaml"
cp "$T/p.yaml.sig" "$T/q.yaml.sig"
run 1 $A protocol verify "$T/q.yaml" --at 2026-11-01 && has "police                   bad signature" &&
	has "does not verify"
ok "a changed comment breaks every signature" $?

# A line from someone who is not a partner, and a duplicated line.
cp "$T/p.yaml" "$T/r.yaml"
{ cat "$T/p.yaml.sig"; sed -n 's/^police /probation /p' "$T/p.yaml.sig"; } >"$T/r.yaml.sig"
run 0 $A protocol verify "$T/r.yaml" --at 2026-11-01 &&
	has "line 5 of the signature file is from 'probation', which is not a partner"
ok "a non-partner's line is reported and ignored" $?
{ cat "$T/p.yaml.sig"; head -n 1 "$T/p.yaml.sig"; } >"$T/r.yaml.sig"
run 1 $A protocol verify "$T/r.yaml" --at 2026-11-01 && has "r.yaml.sig:5:1: partner 'police' has a second signature line"
ok "a duplicated signature line is refused with its line" $?
head -c 150 "$T/p.yaml.sig" >"$T/r.yaml.sig"
run 1 $A protocol verify "$T/r.yaml" --at 2026-11-01 && has "looks truncated"
ok "a truncated signature file is refused" $?

# A broken protocol: the coordinator reads file:line:column and a sentence.
sed 's/^    to: \[council\]$/    to: [councl]/' "$T/p.yaml" >"$T/bad.yaml"
line=$(grep -n 'councl' "$T/bad.yaml" | head -n 1 | cut -d: -f1)
run 1 $A protocol verify "$T/bad.yaml" && has "bad.yaml:$line:10: rule 'police-refers-to-council': 'to' names 'councl', which is not a partner"
ok "a broken protocol names file, line, column and the mistake" $?
run 1 $A protocol verify "$T/nonexistent.yaml" && has "no such file"
ok "a missing file is reported" $?

done_testing
