#!/bin/sh
# A body over the most the peer listener reads (8 MiB): libevent refuses it
# unread, answering 413 itself, and the node audits the refusal all the
# same: REFUSED, from the partner whose TLS key sent it, naming the limit
# (the size a refused body declares never reaches the node), one entry per
# request, with a Content-Length or chunked. Nothing is stored, and the
# node goes on serving. A request whose headers are over 16 KiB, which
# libevent answers 400, is audited the same way.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
: "${TOOLS:?set TOOLS to the test tools directory}"
LIMIT=8388608

partnership police council; ok "a partnership of two, signed by both" $?
start_node council; ok "the council node starts" $?
head -c $((9 * 1024 * 1024)) /dev/zero >"$T/huge.bin"

# big PATH [curl options]: 9 MiB to PATH as police. libevent answers 413 as
# soon as it has the headers, then closes: a client still sending may see
# the connection closed rather than the answer.
big() {
	path=$1
	shift
	peer_get police council "$path" --data-binary "@$T/huge.bin" -w ' HTTP %{http_code}' "$@"
	st=$?
	grep -qF 'HTTP 413' "$T/out" || [ "$st" -eq 55 ] || [ "$st" -eq 56 ]
}
# refusals: how many REFUSED entries name the limit, from police by its key.
refusals() {
	"$ACCORD" audit list --data "$T/council/data" --event REFUSED --json |
		grep -c "\"reason\": \"the request's body is over $LIMIT bytes, the most this node reads"
}

big /v1/envelopes >"$T/out" 2>&1
ok "an envelope of 9 MiB with its Content-Length: 413, or the connection closed" $?
wait_for council /metrics 'accord_disclosures_total{outcome="refused"} 1'
ok "the refusal is audited" $?
run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED --json &&
	has '"from": "police"' && has '"outcome": "DENIED"' &&
	has "\"reason\": \"the request's body is over $LIMIT bytes, the most this node reads" &&
	[ "$(grep -c '"peer_key": "[0-9a-f]\{64\}"' "$T/out")" -eq 1 ]
ok "REFUSED, from police by its TLS key, naming the limit of $LIMIT bytes" $?

big /v1/deliveries -H 'Transfer-Encoding: chunked' >"$T/out" 2>&1
ok "a chunked Delivery growing past 8 MiB: 413, or the connection closed" $?
wait_for council /metrics 'accord_disclosures_total{outcome="refused"} 2' &&
	[ "$(refusals)" -eq 2 ]
ok "audited too: one entry for each refused request" $?

# On one connection, a body the node refuses itself (over max_body_bytes:
# audited as before), then one libevent refuses: each audited once.
head -c $((300 * 1024)) /dev/zero >"$T/mid.bin"
pin=$(sed -n 's/^    tls_spki_sha256: "\(.*\)"$/\1/p' "$T/council/lines")
tls="--max-time 10 -k --cert $T/police/keys/tls.crt --key $T/police/keys/tls.key"
tls="$tls --pinnedpubkey sha256//$pin" url=https://127.0.0.1:$(pvar PORT council)
curl -sS $tls --data-binary "@$T/mid.bin" -w ' HTTP %{http_code} %{num_connects}\n' \
	"$url/v1/envelopes" --next $tls --data-binary "@$T/huge.bin" -o /dev/null \
	-w 'HTTP %{http_code} %{num_connects}\n' "$url/v1/deliveries" >"$T/out" 2>&1
has "over this node's limit of 262144; it was not read\"} HTTP 413 1" &&
	{ has 'HTTP 413 0' || has 'curl: (5'; }
ok "one connection: 413 with the node's reason, then libevent's 413 (or closed)" $?
wait_for council /metrics 'accord_disclosures_total{outcome="refused"} 4' &&
	[ "$(refusals)" -eq 3 ]
ok "both audited, once each" $?

# Headers over the 16 KiB the listener reads: libevent answers 400 itself.
long=$(head -c 20000 /dev/zero | tr '\0' a)
peer_get police council /v1/envelopes --data-binary "@$T/mid.bin" -H "X-Long: $long" \
	-o /dev/null -w ' HTTP %{http_code}' >"$T/out" 2>&1
{ has 'HTTP 400' || has 'curl: (5'; } &&
	wait_for council /metrics 'accord_disclosures_total{outcome="refused"} 5' &&
	run 0 "$ACCORD" audit list --data "$T/council/data" --event REFUSED --json &&
	[ "$(grep -c '"reason": "the request is malformed or its headers are over 16384 bytes' \
		"$T/out")" -eq 1 ] && [ "$(refusals)" -eq 3 ]
ok "headers over 16 KiB: libevent's 400, audited once, naming the limit" $?

run 0 api council GET /v1/status && has '"inbox":{"items":0,'
ok "nothing is stored" $?
printf '{"referral_id":"EP-9","summary":"After the refusals"}' >"$T/small.json"
"$TOOLS/forge" "$T/protocol.yaml" police council police-refers-to-council Referral \
	"$T/small.json" >"$T/small.bin"
run 0 peer_get police council /v1/envelopes --data-binary "@$T/small.bin" -o /dev/null \
	-w ' HTTP %{http_code}' && has "HTTP 200" &&
	run 0 api council GET /v1/status && has '"inbox":{"items":1,'
ok "the council goes on serving: a valid envelope next is received" $?

stop_node council; ok "the council node stops" $?
verify_logs council
done_testing
