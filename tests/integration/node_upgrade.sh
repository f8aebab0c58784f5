#!/bin/sh
# Outbox items as the first version wrote them, the envelope inside the
# item and neither its purpose nor its record digest beside it: a node
# that finds such items pending reads the envelope from the item and both
# facts from the envelope, delivers them, and audits DELIVERED with the
# same digest and purpose as the DISCLOSED entry.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
: "${TOOLS:?set TOOLS to the test tools directory}"
REF=$SRCDIR/policies/examples/referral.json

partnership police council; ok "a partnership of two" $?
start_node police; ok "police starts; the council is down" $?
ids=
for i in 1 2 3; do
	"$ACCORD" send --config "$T/police/accordd.yaml" --to council \
		--purpose reintegration-referral --record-type Referral "$REF" >"$T/out" 2>&1 || break
	ids="$ids $(sed -n 's/.*"message_id": "\([0-9a-f]*\)".*/\1/p' "$T/out")"
done
[ "$(echo $ids | wc -w)" -eq 3 ]; ok "three referrals are accepted and queued" $?
stop_node police; ok "police stops with them pending" $?

run 0 "$TOOLS/outbox_strip" "$T/police/data" && [ "$(cat "$T/out")" = 3 ]
ok "the three pending items are rewritten as the first version wrote them" $?

start_node police && start_node council; ok "both nodes start" $?
wait_for police /v1/outbox '"delivered":3' && has '"pending":0'; ok "all three are delivered" $?
run 0 api council GET /v1/inbox &&
	for id in $ids; do [ "$(grep -o "\"id\":\"$id\"" "$T/out" | wc -l)" -eq 1 ] || exit 1; done
ok "the council holds each once" $?

# Each DELIVERED entry carries the DISCLOSED entry's record digest and
# purpose, read back from the envelope.
"$ACCORD" audit export --data "$T/police/data" --format jsonl >"$T/log" 2>"$T/out"
ok "police's audit exports" $?
for id in $ids; do
	python3 - "$T/log" "$id" >"$T/out" 2>&1 <<'P'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [e for e in entries if e.get("message_id") == sys.argv[2]]
d = [e for e in mine if e["event"] == "DISCLOSED"]
v = [e for e in mine if e["event"] == "DELIVERED"]
assert len(d) == 1 and len(v) == 1, (len(d), len(v))
for k in ("record_sha256", "purpose"):
    assert d[0].get(k) and d[0][k] == v[0].get(k), (k, d[0].get(k), v[0].get(k))
print("ok")
P
	ok "DELIVERED of $id matches its DISCLOSED digest and purpose" $?
done

verify_logs police council
stop_node police; stop_node council; ok "both nodes stop" $?

done_testing
