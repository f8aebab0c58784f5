#!/bin/sh
# Two real nodes on loopback exchanging records: an allowed referral end to
# end, refusals on both sides, a case accepted and worked in, the limits of
# a Delivery, a message id reused by a third partner, a receiver that is
# down and then back, and every log verified.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
: "${TOOLS:?set TOOLS to the test tools directory}"
REF=$SRCDIR/policies/examples/referral.json

# The shared rules, and one for the NGO (which runs no node: its envelopes
# are forged) to refer people to the council.
{
	cat "$SRCDIR/tests/integration/lib/rules.yaml"
	cat <<'R'
  - id: ngo-refers-to-council
    from: ngo
    to: [council]
    purpose: reintegration-referral
    record: Referral
    fields: [referral_id, subject.given_name, subject.family_name, needs, summary]
    consent: not-required
    when: anytime
    retention_days: 90
R
} >"$T/rules.yaml"
RULES=$T/rules.yaml partnership police council ngo; ok "a partnership of three, signed by all" $?
# The council takes bodies of 16 KiB at most: an envelope past that still
# fits in a Delivery (8 MiB), which must refuse it alone. Police takes
# bodies of 1 MiB, past the most a record may be (256 KiB).
printf 'limits:\n  max_body_bytes: 16384\n' >>"$T/council/accordd.yaml"
printf 'limits:\n  max_body_bytes: 1048576\n' >>"$T/police/accordd.yaml"
start_node police && start_node council; ok "police and council nodes start" $?

send() { "$ACCORD" send --config "$T/$1/accordd.yaml" --to "$2" --purpose "$3" --record-type "$4" "$5"; }

# 1. An allowed referral, minimised, delivered, received.
run 0 send police council reintegration-referral Referral "$REF" &&
	has '"rule": "police-refers-to-council"' && has '"risk_assessment"' &&
	has '"case_notes"' && has '"subject.identifiers"'
ok "police refers to the council: accepted, risk assessment and extras withheld" $?
id=$(sed -n 's/.*"message_id": "\([0-9a-f]*\)".*/\1/p' "$T/out")
wait_for police /v1/outbox '"delivered":1'; ok "the referral is delivered" $?
wait_for council /v1/inbox "\"id\":\"$id\""; ok "it is in the council's inbox" $?
run 0 "$ACCORD" inbox show "$id" --config "$T/council/accordd.yaml" &&
	has '"given_name": "Daniel"' && ! grep -q 'risk_assessment\|case_notes\|485 777\|electrician.*licence conditions' "$T/out"
ok "the council's copy holds the shared fields and nothing withheld" $?
run 0 "$ACCORD" inbox ack "$id" --config "$T/council/accordd.yaml" && has '"acked": true'
ok "the council acknowledges it" $?
acked=$(sed -n 's/.*"acked_ms": \([0-9]*\).*/\1/p' "$T/out")
sleep 0.01
run 0 api council POST "/v1/inbox/$id/ack" && has "\"acked_ms\":$acked" &&
	run 0 api council GET "/v1/inbox/$id" && has '"acked":true' &&
	[ "$(curl -s -o "$T/out" -w '%{http_code}' --unix-socket "$T/council/run/accord.sock" \
		-X POST http://localhost/v1/inbox/0123456789abcdef0123456789abcdef/ack)" = 404 ] &&
	has '"error":"no such inbox item"' && run 0 api council GET /v1/status && has '"items":1,'
ok "acknowledging again keeps the first time; an unknown id is not found" $?
run 0 "$ACCORD" audit list --data "$T/police/data" && has DISCLOSED && has DELIVERED
ok "police's audit: DISCLOSED then DELIVERED" $?
run 0 "$ACCORD" audit list --data "$T/council/data" && has RECEIVED
ok "council's audit: RECEIVED" $?
run 0 api police GET /v1/status && has '"checkpoints_held":{"council":{"size":'
ok "police holds the council's signed checkpoint from the receipt" $?

# 2. Refused on the sending side, and audited.
run 3 send police ngo reintegration-referral Referral "$REF" &&
	has "refused" && has "ngo"
ok "no rule lets police refer to the NGO: refused (exit 3) with the reason" $?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); del d["consent"]; json.dump(d, open(sys.argv[2],"w"))' "$REF" "$T/noconsent.json"
run 3 send police council reintegration-referral Referral "$T/noconsent.json" && has "consent"
ok "a referral without consent is refused" $?
printf '{"referral_id":"EP-1","subject":{"given_name":5}}' >"$T/bad.json"
run 1 send police council reintegration-referral Referral "$T/bad.json" &&
	has '$.record.subject.given_name'
ok "a malformed record is refused with its JSON path" $?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["summary"]="Long summary. "*20000; json.dump(d, open(sys.argv[2],"w"))' "$REF" "$T/long.json"
run 1 send police council reintegration-referral Referral "$T/long.json" &&
	has '$.record: the Referral record would be 28' && has 'more than the limit of 262144'
ok "a record over 256 KiB in a body police takes is refused, saying so" $?
printf '{"referral_id":"EP-2026-0417","overall":"ENGAGED"}' >"$T/progress.json"
run 3 send council police case-coordination ProgressUpdate "$T/progress.json" && has "case"
ok "a progress update before the case is accepted is refused" $?
run 0 "$ACCORD" audit list --data "$T/police/data" --event REFUSED && has "2 entries"
ok "police's refusals are audited" $?

# 3. The council accepts; the in-case progress update is allowed.
printf '{"referral_id":"EP-2026-0417","decision":"ACCEPTED","reason":"Housing place found"}' >"$T/reply.json"
run 0 send council police case-coordination ReferralReply "$T/reply.json"
ok "the council accepts the referral" $?
wait_for council /v1/outbox '"delivered":1'; ok "the acceptance is delivered" $?
run 0 send council police case-coordination ProgressUpdate "$T/progress.json"
ok "now the in-case progress update is allowed" $?
wait_for police /v1/inbox '"record_type":"ProgressUpdate"'; ok "police receives the update" $?
wait_for council /v1/outbox '"delivered":2'; ok "the council has both receipts" $?
! grep -q INCONSISTENT "$T/council/log" "$T/police/log" && run 0 api council GET /v1/status &&
	has '"checkpoints_held":{"police":{"size":'
ok "each receipt's checkpoint extends the last one held (witnesses consistent)" $?

# 4. A receiver refuses what no sender should send.
cp "$REF" "$T/full.json"
"$TOOLS/forge" "$T/protocol.yaml" police council police-refers-to-council Referral "$T/full.json" >"$T/forged.bin"
run 0 peer_get police council /v1/envelopes --data-binary "@$T/forged.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 422" && has "which the rule does not share"
ok "an envelope carrying fields outside its rule is refused, naming the field" $?
"$TOOLS/forge" "$T/protocol.yaml" police council police-refers-to-council Referral "$T/noconsent.json" wrong >"$T/wrongdigest.bin"
run 0 peer_get police council /v1/envelopes --data-binary "@$T/wrongdigest.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 409" && has "another digest"
ok "an envelope naming another protocol digest is refused" $?
"$TOOLS/forge" "$T/protocol.yaml" council police police-refers-to-council Referral "$T/noconsent.json" >"$T/spoof.bin"
run 0 peer_get police council /v1/envelopes --data-binary "@$T/spoof.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 403"
ok "an envelope whose sender is not the TLS identity is refused" $?
run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED &&
	[ "$(grep -c 'police -> council .*REFUSED\|REFUSED *police -> council' "$T/out")" -eq 3 ]
ok "the council audits each refused envelope" $?

# 4b. Many envelopes in one Delivery: each is answered on its own.
printf '{"referral_id":"EP-2026-0417","decision":"ACCEPTED","reason":"Place confirmed"}' >"$T/reply2.json"
"$TOOLS/forge" "$T/protocol.yaml" council police council-replies-to-police ReferralReply "$T/reply2.json" >"$T/reply2.bin"
"$TOOLS/forge" --delivery "$T/reply2.bin" "$T/forged.bin" "$T/reply2.bin" >"$T/delivery.bin"
peer_get council police /v1/deliveries --data-binary "@$T/delivery.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" &&
	has "0 200 receipt" && has "1 403 " && has "2 503 this message is being received"
ok "a Delivery: the allowed envelope receipted, a forged one refused, its repeat told to wait" $?
peer_get council police /v1/deliveries --data-binary "@$T/delivery.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" &&
	has "0 200 receipt" && has "1 403 " && has "2 200 receipt"
ok "the same Delivery again: both copies answered with the first receipt" $?
run 0 "$ACCORD" audit list --data "$T/police/data" --event RECEIVED --json &&
	[ "$(grep -c 'council-replies-to-police' "$T/out")" -eq 2 ]
ok "police received that reply once (and the earlier one)" $?
printf 'garbage' >"$T/garbage.bin"
run 0 peer_get council police /v1/deliveries --data-binary "@$T/garbage.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 422" && has "not a Delivery"
ok "a body that is no Delivery is refused" $?

# 4c. The limits of a Delivery, and a message id another partner sent first.
"$TOOLS/forge" --delivery --repeat 1024 "$T/reply2.bin" >"$T/d1024.bin"
peer_get council police /v1/deliveries --data-binary "@$T/d1024.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" &&
	[ "$(grep -c '^[0-9]* 200 receipt$' "$T/out")" -eq 1024 ]
ok "a Delivery of 1,024 envelopes, the most: each answered (a repeat: the first receipt)" $?
"$TOOLS/forge" --delivery --repeat 1025 "$T/reply2.bin" >"$T/d1025.bin"
run 0 peer_get council police /v1/deliveries --data-binary "@$T/d1025.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 413" && has '"error":"a delivery holds at most 1024 envelopes, not 1025"'
ok "a Delivery of 1,025 envelopes is refused whole: 413" $?
run 0 "$ACCORD" audit export --data "$T/police/data" --format jsonl --event REFUSED &&
	[ "$(grep '"from":"council"' "$T/out" | grep -c 'at most 1024 envelopes, not 1025')" -eq 1 ] &&
	run 0 "$ACCORD" audit list --data "$T/police/data" --event RECEIVED --json &&
	[ "$(grep -c 'council-replies-to-police' "$T/out")" -eq 2 ]
ok "police audits that refusal once, and received none of its envelopes" $?

# referral ID SUMMARY_BYTES FILE: a Referral holding only fields that
# police-refers-to-council shares.
referral() {
	python3 -c 'import json, sys
json.dump({"referral_id": sys.argv[1], "subject": {"given_name": "Amira", "family_name": "Khan"},
           "needs": ["HOUSING"], "summary": "x" * int(sys.argv[2])}, open(sys.argv[3], "w"))' "$@"
}
# police_referral ID RECORD.json: police's envelope to the council, message id ID.
police_referral() {
	"$TOOLS/forge" --id "$1" "$T/protocol.yaml" police council police-refers-to-council Referral "$2"
}
idA=a0000000000000000000000000000001 idB=a0000000000000000000000000000002
idC=a0000000000000000000000000000003
referral EP-2026-0501 100 "$T/small.json" && referral EP-2026-0502 20000 "$T/big.json"
police_referral $idA "$T/small.json" >"$T/a.bin"
police_referral $idB "$T/big.json" >"$T/b.bin"
police_referral $idC "$T/small.json" >"$T/c.bin"
"$TOOLS/forge" --delivery "$T/a.bin" "$T/b.bin" "$T/c.bin" >"$T/delivery.bin"
peer_get police council /v1/deliveries --data-binary "@$T/delivery.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" && has "0 200 receipt" &&
	has "1 413 envelope 1 is $(stat -c %s "$T/b.bin") bytes, over this node's limit of 16384" &&
	has "2 200 receipt" && [ "$(wc -l <"$T/out")" -eq 3 ]
ok "an envelope over the council's max_body_bytes in a Delivery: it alone is refused, 413" $?
run 0 api council GET /v1/inbox && has "\"id\":\"$idA\"" && has "\"id\":\"$idC\"" &&
	! grep -q "$idB" "$T/out" &&
	run 0 "$ACCORD" audit export --data "$T/council/data" --format jsonl --event REFUSED &&
	[ "$(grep -c "over this node's limit of 16384" "$T/out")" -eq 1 ]
ok "the council stored the other two, and audited the refusal" $?

printf '{"referral_id":"NGO-77","subject":{"given_name":"Other","family_name":"Person"},"summary":"Mentoring"}' >"$T/ngo.json"
"$TOOLS/forge" --id "$id" "$T/protocol.yaml" ngo council ngo-refers-to-council Referral "$T/ngo.json" >"$T/taken.bin"
run 0 peer_get ngo council /v1/envelopes --data-binary "@$T/taken.bin" -w ' HTTP %{http_code}' &&
	has "HTTP 409" && has '"error":"message id already delivered by another partner"'
ok "an envelope reusing the id of police's referral, from the NGO: 409" $?
run 0 "$ACCORD" audit export --data "$T/council/data" --format jsonl --event REFUSED &&
	[ "$(grep '"from":"ngo"' "$T/out" | grep "\"message_id\":\"$id\"" |
		grep -c 'already delivered by another partner')" -eq 1 ]
ok "the council audits it: REFUSED, from the NGO, naming the id" $?
run 0 api council GET /v1/inbox && [ "$(grep -o "\"id\":\"$id\"" "$T/out" | wc -l)" -eq 1 ] &&
	"$ACCORD" audit export --data "$T/council/data" --format jsonl --event RECEIVED >"$T/received" &&
	[ "$(grep -c "\"message_id\":\"$id\"" "$T/received")" -eq 1 ] &&
	run 0 "$ACCORD" inbox show "$id" --config "$T/council/accordd.yaml" &&
	has '"from": "police"' && has '"given_name": "Daniel"' && ! grep -q 'Other' "$T/out"
ok "the council holds police's referral under that id once, unchanged" $?

# 5. The receiver is down: queued, retried, delivered after its restart.
stop_node council; ok "the council node stops" $?
run 0 send police council reintegration-referral Referral "$REF"
ok "a second referral is accepted while the council is down" $?
id2=$(sed -n 's/.*"message_id": "\([0-9a-f]*\)".*/\1/p' "$T/out")
wait_for police /v1/outbox '"attempts":1'; ok "its delivery failed and is pending" $?
run 0 api police GET "/v1/outbox?state=pending" && has '"purpose":"reintegration-referral"' &&
	has '"done_ms":null' && grep -q '"next_attempt_ms":[0-9]' "$T/out"
ok "a pending item says its purpose and when it is tried next, and has not ended" $?
start_node council; ok "the council node restarts" $?
wait_for police /v1/outbox '"pending":0'; ok "after the restart it is delivered" $?
run 0 api police GET "/v1/outbox?state=delivered" && grep -q '"done_ms":[0-9]' "$T/out" &&
	! grep -q '"done_ms":null' "$T/out" && ! grep -q '"next_attempt_ms":[0-9]' "$T/out"
ok "a delivered item says when it was delivered, and is tried no more" $?
run 0 api council GET /v1/inbox && [ "$(grep -o "\"id\":\"$id2\"" "$T/out" | wc -l)" -eq 1 ]
ok "the council holds it exactly once" $?

run 0 api police GET /metrics && has 'accord_local_disclosures_total{partner="council",purpose="reintegration-referral",outcome="disclosed"} 2' &&
	has 'accord_local_disclosures_total{partner="ngo",purpose="reintegration-referral",outcome="refused"} 1' &&
	has 'accord_disclosure_seconds_count 4' && has 'accord_outbox{state="delivered"} 2' &&
	has 'accord_commits_total{outcome="failed"} 0' && has 'accord_commit_seconds_count'
ok "GET /metrics: disclosures by partner, purpose and outcome; latency; queues; commits" $?

# 5b. Clients that give up before their answer: the node carries on.
printf '{"to":"council","purpose":"reintegration-referral","record_type":"Referral","record":%s}' \
	"$(cat "$REF")" >"$T/body.json"
seq 1 200 | xargs -P 20 -I{} curl -s --max-time 0.004 --unix-socket "$T/police/run/accord.sock" \
	-H 'Content-Type: application/json' -d "@$T/body.json" -o /dev/null \
	http://localhost/v1/disclosures || true
run 0 api police GET /v1/status && has '"in_force":true'
ok "200 clients hanging up early: the node still answers" $?
wait_for police /v1/outbox '"pending":0'; ok "what they disclosed is delivered" $?

# 6. Every log is whole.
verify_logs police council
stop_node police; stop_node council; ok "both nodes stop" $?

done_testing
