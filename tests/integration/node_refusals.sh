#!/bin/sh
# Refused receives as a data protection officer finds them: an envelope
# whose strings are not UTF-8 is refused with a reason before anything in
# it is echoed, one over the size limit is refused unread, and every
# refusal is in every audit reader (list, list --json, export jsonl and
# csv), one entry each; text a terminal would act on is shown escaped. So
# is one whose strings hold a NUL byte, which protobuf-c would cut short
# there.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
: "${TOOLS:?set TOOLS to the test tools directory}"
REF=$SRCDIR/policies/examples/referral.json

partnership police council; ok "a partnership of two, signed by both" $?
printf 'limits:\n  max_body_bytes: 16384\n' >>"$T/council/accordd.yaml"
start_node council; ok "the council node starts, taking bodies of 16 KiB at most" $?
# forge_text FIELD HEX: police's envelope to the council with FIELD set to HEX.
forge_text() {
	"$TOOLS/forge" --text "$1" "$2" "$T/protocol.yaml" police council \
		police-refers-to-council Referral "$REF"
}
post() { peer_get police council "$1" --data-binary "@$2" -w ' HTTP %{http_code}'; }

# 1. Strings that are not UTF-8: refused, 422, naming the field.
forge_text sender ff >"$T/sender.bin"
run 0 post /v1/envelopes "$T/sender.bin" && has "HTTP 422" &&
	has "\"error\":\"the envelope's field 'sender' is not UTF-8 text: it holds '\\\\xff'"
ok "an envelope whose sender is the byte ff: 422, the field named, the byte escaped" $?
forge_text rule_id 706f6c6963652deda080 >"$T/rule.bin"
run 0 post /v1/envelopes "$T/rule.bin" && has "HTTP 422" &&
	has "field 'rule_id' is not UTF-8 text: it holds 'police-\\\\xed\\\\xa0\\\\x80'"
ok "a rule id holding a surrogate: 422, naming rule_id" $?
forge_text purpose c3 >"$T/purpose.bin" &&
	"$TOOLS/forge" --delivery "$T/purpose.bin" "$T/sender.bin" >"$T/delivery.bin" &&
	peer_get police council /v1/deliveries --data-binary "@$T/delivery.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" &&
	has "0 422 the envelope's field 'purpose' is not UTF-8 text: it holds '\\xc3'" &&
	has "1 422 the envelope's field 'sender' is not UTF-8 text"
ok "in a Delivery each is refused on its own, with its reason" $?
long=$(python3 -c 'print("61" * 2000)')
forge_text rule_id "$long" >"$T/long.bin"
run 0 post /v1/envelopes "$T/long.bin" && has "HTTP 403" && has "has no rule 'aaaa"
ok "a rule id of 2,000 bytes, more than an audit entry holds: 403, the refusal audited" $?

# 1b. An envelope over the size limit: refused unread, and audited.
python3 -c 'import json, sys
json.dump({"referral_id": "EP-9", "summary": "x" * 20000}, open(sys.argv[1], "w"))' "$T/big.json"
"$TOOLS/forge" "$T/protocol.yaml" police council police-refers-to-council Referral "$T/big.json" \
	>"$T/big.bin"
big=$(stat -c %s "$T/big.bin")
run 0 post /v1/envelopes "$T/big.bin" && has "HTTP 413" &&
	has "\"error\":\"the envelope is $big bytes, over this node's limit of 16384; it was not read\""
ok "a single envelope of $big bytes: 413 with the reason" $?
run 0 "$ACCORD" audit export --data "$T/council/data" --format jsonl --event REFUSED &&
	[ "$(grep "the envelope is $big bytes" "$T/out" | grep '"from":"police"' |
		grep -c '"peer_key":"[0-9a-f]\{64\}"')" -eq 1 ]
ok "the council audits it: REFUSED, from police, by its TLS key, with the size" $?

# 1c. A string holding a NUL byte, where protobuf-c would end it: refused,
# 422, naming the field; in a Delivery alone; nothing of it stored; the
# refusals audited, with none of the strings of an envelope that was cut.
printf '{"referral_id":"EP-8","subject":{"given_name":"Amira","family_name":"Khan"}}' \
	>"$T/ok.json"
sed 's/Amira/Ami\\u007fra/' "$T/ok.json" >"$T/nul.json"
idA=b0000000000000000000000000000001 idB=b0000000000000000000000000000002
idS=b0000000000000000000000000000003
# police_ref ID RECORD.json [forge options]: police's referral to the council.
police_ref() {
	id=$1 rec=$2
	shift 2
	"$TOOLS/forge" --id "$id" "$@" "$T/protocol.yaml" police council \
		police-refers-to-council Referral "$rec"
}
police_ref $idS "$T/ok.json" --text sender 706f6c696365006a756e6b >"$T/sender-nul.bin"
run 0 post /v1/envelopes "$T/sender-nul.bin" && has "HTTP 422" &&
	has "\"error\":\"the envelope's field 'sender' holds a NUL byte\""
ok "an envelope whose sender is police, a NUL byte and more: 422, the field named" $?
police_ref $idA "$T/ok.json" >"$T/a.bin" && police_ref $idB "$T/nul.json" --nul >"$T/b.bin" &&
	"$TOOLS/forge" --delivery "$T/a.bin" "$T/b.bin" "$T/sender-nul.bin" >"$T/delivery.bin" &&
	peer_get police council /v1/deliveries --data-binary "@$T/delivery.bin" -o "$T/answer.bin" &&
	"$TOOLS/forge" --answer <"$T/answer.bin" >"$T/out" && has "0 200 receipt" &&
	has "1 422 the record's field 'subject.given_name' holds a NUL byte" &&
	has "2 422 the envelope's field 'sender' holds a NUL byte"
ok "in a Delivery, a NUL in the record or the envelope refuses that envelope alone" $?
run 0 api council GET /v1/inbox && has "\"id\":\"$idA\"" && ! grep -q "$idB\|$idS" "$T/out"
ok "the council stored the other envelope, and neither with a NUL byte" $?
run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED --json &&
	python3 - "$T/out" $idS $idB <<'P'
import json, sys
nul = [e for e in json.load(open(sys.argv[1])) if "holds a NUL byte" in (e["reason"] or "")]
cut = [e for e in nul if e["message_id"] == sys.argv[2]]
rec = [e for e in nul if e["message_id"] == sys.argv[3]]
assert len(nul) == 3 and len(cut) == 2 and len(rec) == 1, nul
assert all(e["from"] == "police" and e["outcome"] == "DENIED" for e in nul), nul
assert all(e["rule"] is None and e["purpose"] is None and e["record_type"] is None
           for e in cut), cut
assert rec[0]["rule"] == "police-refers-to-council", rec
P
ok "audit list --json holds the three refusals; the cut envelope's strings are not kept" $?

# 2. Each refusal audited, with a reason in UTF-8, and in every reader.
run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED && has "9 entries"
ok "the council audits the nine refusals" $?
run 0 "$ACCORD" audit export --data "$T/council/data" --format jsonl --event REFUSED &&
	[ "$(grep -c "field 'sender' is not UTF-8 text" "$T/out")" -eq 2 ] &&
	[ "$(grep -c '"from":"police"' "$T/out")" -eq 9 ] &&
	[ "$(grep "field 'purpose'" "$T/out" | grep -c '"purpose":null')" -eq 1 ] &&
	[ "$(grep "field 'rule_id'" "$T/out" | grep -c '"rule":null')" -eq 1 ]
ok "each entry is from police, names the field, and keeps none that was not UTF-8" $?
# entries: the number of entries audit list counts.
entries() { "$ACCORD" audit list --data "$T/council/data" | sed -n 's/^\([0-9]*\) entr.*/\1/p'; }
n=$(entries)
run 0 "$ACCORD" audit list --data "$T/council/data" --json &&
	[ "$(grep -c '"sequence":' "$T/out")" -eq "$n" ]
ok "audit list --json holds all $n entries" $?
run 0 "$ACCORD" audit export --data "$T/council/data" --format jsonl &&
	[ "$(grep -c '^{"sequence":' "$T/out")" -eq "$n" ] && [ "$(wc -l <"$T/out")" -eq "$n" ]
ok "audit export --format jsonl: $n lines, one entry each" $?
run 0 "$ACCORD" audit export --data "$T/council/data" --format csv &&
	[ "$(grep -c '^[0-9][0-9]*,' "$T/out")" -eq "$n" ] && [ "$(wc -l <"$T/out")" -eq $((n + 1)) ]
ok "audit export --format csv: a header and $n rows" $?

# 3. The local API: text too long for an id or for the audit is bad input,
# and a reason cut short inside a character still answers.
local_post() {
	curl -sS --max-time 10 --unix-socket "$T/council/run/accord.sock" --data-binary "@$1" \
		-w ' HTTP %{http_code}' http://localhost/v1/disclosures
}
far=$(python3 -c 'print("\u00e9" * 400)') ee=$(printf '\303\251\303\251')
printf '{"to":"%s","purpose":"case-coordination","record_type":"ReferralReply","record":{}}' \
	"$far" >"$T/far.json"
run 0 local_post "$T/far.json" && has "HTTP 422" &&
	has '"error":"$.to: longer than an id of the protocol (64 bytes at most)"'
ok "a recipient longer than any id: 422" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply","record":{},"actor":"%s"}' \
	"$far$far" >"$T/actor.json"
run 0 local_post "$T/actor.json" && has "HTTP 422" &&
	has '"error":"$.actor: longer than the audit keeps (1024 bytes at most)"'
ok "an actor longer than the audit keeps: 422" $?
printf '{"x%s":1}' "$far" >"$T/key.json"
run 0 local_post "$T/key.json" && has "HTTP 422" && has "{\"error\":\"\$.x$ee"
ok "an unknown key cut inside a character: 422 with the reason" $?
# What the JSON reader takes from no one: a key twice, an escaped NUL, a
# raw control character in a string, bytes that are not UTF-8, more after
# the value. Each is 422 with where and why, and nothing is audited.
n0=$(entries)
bad_body() { # FILE TEXT: local_post FILE answers 422 naming TEXT
	run 0 local_post "$1" && has "HTTP 422" && has "$2"
}
printf '{"to":"police","to":"ngo","purpose":"case-coordination","record_type":"ReferralReply","record":{}}' >"$T/twice.json"
bad_body "$T/twice.json" '"error":"$.to: the key is given twice"'
ok "a key given twice in the request: 422" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply",\n"record":{"referral_id":"a","referral_id":"b"}}' >"$T/twice2.json"
bad_body "$T/twice2.json" '$.record.referral_id: the key is given twice (a duplicate key)'
ok "a key given twice in the record: 422" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply",\n "record":{"referral_id":"a\\u0000b"}}' >"$T/nul.json"
bad_body "$T/nul.json" 'not valid JSON at line 2, column 28: \\u0000 (a NUL character)'
ok "an escaped NUL in a string: 422 with line and column" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply","record":{"referral_id":"a\tb"}}' >"$T/tab.json"
bad_body "$T/tab.json" 'a control character inside a string (escape it)'
ok "a raw tab inside a string: 422" $?
printf '{"to":"police\377","purpose":"case-coordination","record_type":"ReferralReply","record":{}}' >"$T/ff.json"
bad_body "$T/ff.json" 'column 14: a byte that is not part of UTF-8 text'
ok "a byte that is not UTF-8: 422" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply","record":{}} {}' >"$T/more.json"
bad_body "$T/more.json" 'column 89: more after the value'
ok "more after the value: 422" $?
printf '{"to":"police","purpose":"case-coordination","record_type":"ReferralReply","record":{"referral_id":' >"$T/short.json"
bad_body "$T/short.json" 'column 100: the text ends before the value does'
ok "text cut short: 422" $?
printf '{"to":"police","purpose":"case-coordination",\n record_type:"ReferralReply","record":{}}' >"$T/unquoted.json"
bad_body "$T/unquoted.json" "not valid JSON at line 2, column 2: string or '}' expected, at 'record_type"
ok "a key without its quotes: 422 naming its first byte and what was expected" $?
[ "$(entries)" = "$n0" ]
ok "none of them reached the audit" $?

# 4. UTF-8 that a terminal would act on: ESC and U+202E in a refused
# envelope's purpose are audited as they came, and every view for people
# (audit list and show, the node's log) shows them escaped.
forge_text purpose 781b5b324ae280ae636261 >"$T/term.bin"
run 0 post /v1/envelopes "$T/term.bin" && has "HTTP 403" && has 'not Referral for x\u001B[2J'
ok "an envelope whose purpose holds ESC and U+202E: refused, 403" $?
run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED && raw_free &&
	has 'x\x1b[2J\u202ecba'
ok "audit list shows the purpose escaped, no ESC or U+202E as they are" $?
seq=$(($(entries) - 1))
run 0 "$ACCORD" audit show --data "$T/council/data" "$seq" && raw_free &&
	has 'purpose           x\x1b[2J\u202ecba' && has 'not Referral for x\x1b[2J\u202ecba'
ok "audit show shows the purpose and the reason escaped" $?
run 0 "$ACCORD" audit list --data "$T/council/data" --json &&
	python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))[-1]
assert e["purpose"] == "x\x1b[2J\u202ecba", e
assert e["reason"].endswith("not Referral for x\x1b[2J\u202ecba"), e' "$T/out"
ok "audit list --json keeps the exact text" $?
cp "$T/council/log" "$T/out"
raw_free && has 'for x\x1b[2J\u202ecba'
ok "the node's log line escapes it too" $?

stop_node council; ok "the council node stops" $?
run 0 "$ACCORD" audit verify --data "$T/council/data" --pub "$(sed -n 's/^    signing_key: "\(.*\)"$/\1/p' "$T/council/lines")"
ok "the council's audit log verifies" $?

done_testing
