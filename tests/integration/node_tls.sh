#!/bin/sh
# The node's front doors: mutual TLS 1.3 pinned to the protocol, the local
# API on its Unix socket, SIGHUP and SIGTERM.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"

# handshake_refused FROM TO: the TLS connection fails, no HTTP answer at all.
handshake_refused() {
	peer_get "$1" "$2" /v1/protocol -w 'HTTP %{http_code}\n' >"$T/out" 2>&1
	st=$?
	[ $st -ne 0 ] && ! grep -q '^HTTP [1-9]' "$T/out" && return 0
	echo "curl exit $st" >>"$T/out"
	return 1
}

run 0 "$ACCORDD" --help && has "--config FILE"; ok "accordd --help" $?
run 2 "$ACCORDD"; ok "accordd without --config is a usage error" $?
printf 'partner: police\nlisten: 127.0.0.1:99999\nfoo: 1\n' >"$T/bad.yaml"
run 1 "$ACCORDD" --config "$T/bad.yaml" && has "bad.yaml:3:1: unknown key 'foo'" &&
	has "bad.yaml:2:9: 'listen' must be host:port" && has "missing the required key 'protocol'"
ok "a broken configuration names file, line and column" $?

partnership police council ngo; ok "a partnership of three, signed by all" $?
run 0 "$ACCORDD" --config "$T/police/accordd.yaml" --check && has "valid for partner 'police'"
ok "accordd --check" $?

start_node police; ok "the police node starts" $?
[ "$(stat -c %a "$T/police/run/accord.sock")" = 660 ]; ok "the local socket is mode 0660" $?
run 0 api police GET /v1/status && has '"in_force":true' && has '"partner":"police"'
ok "local API: status shows the protocol in force" $?
run 0 "$ACCORD" status --config "$T/police/accordd.yaml" && has '"in_force": true'
ok "accord status finds the node through its configuration" $?
run 0 api police GET /v1/nothing && has "no such resource"; ok "local API: unknown path is 404" $?

digest=$(sha256sum "$T/protocol.yaml" | cut -d' ' -f1)
run 0 peer_get council police /v1/protocol && has "\"digest\":\"$digest\""
ok "a partner's pinned client certificate gets the protocol digest" $?

"$ACCORD" keygen --partner stranger --dir "$T/stranger/keys" >"$T/stranger.lines" 2>/dev/null
cp "$T/stranger.lines" "$T/stranger/lines"
handshake_refused stranger police; ok "a client certificate not in the protocol is refused at the handshake" $?
grep -q 'stranger' "$T/police/log"; [ $? -ne 0 ]
ok "nothing about the refused client reached the application" $?

port=$PORT_police
curl -sS --max-time 5 -k "https://127.0.0.1:$port/v1/protocol" >"$T/out" 2>&1
[ $? -ne 0 ]; ok "no client certificate: refused" $?
run 0 sh -c "echo | openssl s_client -connect 127.0.0.1:$port -tls1_2 \
	-cert '$T/council/keys/tls.crt' -key '$T/council/keys/tls.key' 2>&1; true" &&
	has "alert protocol version" && has "Cipher is (NONE)"
ok "TLS 1.2 is refused" $?
run 35 peer_get council police /v1/protocol --tlsv1.2 --tls-max 1.2
ok "TLS 1.2 is refused (curl)" $?

# SIGHUP with a protocol that lost a signature keeps the old one.
cp "$T/protocol.yaml.sig" "$T/sig.bak"
grep -v '^ngo ' "$T/sig.bak" >"$T/protocol.yaml.sig"
kill -HUP "$PID_police"; sleep 0.3
run 0 api police GET /v1/status && has '"in_force":true'
ok "SIGHUP with a signature missing keeps the protocol in force" $?
grep -q "reload refused, keeping the protocol in force: partner 'ngo' has not signed" "$T/police/log"
ok "the refused reload is logged with its reason" $?
cp "$T/sig.bak" "$T/protocol.yaml.sig"

stop_node police; ok "SIGTERM stops the node cleanly" $?
run 1 "$ACCORD" status --socket "$T/police/run/accord.sock" &&
	has "no socket at $T/police/run/accord.sock: is accordd running, with this local_socket?"
ok "accord status says when the node is not running" $?
[ ! -e "$T/police/run/accord.sock" ]; ok "the socket is removed on exit" $?
# A socket a killed node left behind, and a file that is no socket.
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/dead.sock"
run 1 "$ACCORD" status --socket "$T/dead.sock" &&
	has "nothing answers at $T/dead.sock: the socket is there but no node listens on it"
ok "accord status says when a socket is left with no node behind it" $?
: >"$T/plain"
run 1 "$ACCORD" status --socket "$T/plain" && has "$T/plain is not a socket"
ok "accord status says when the path is not a socket" $?

# A node whose protocol has expired starts, shares nothing and says why.
sed -i "s/^review_by: .*/review_by: $(date -u -d '-2 days' +%F)/; s/^effective_from: .*/effective_from: $(date -u -d '-30 days' +%F)/" "$T/protocol.yaml"
for p in police council ngo; do
	"$ACCORD" protocol sign "$T/protocol.yaml" --partner $p --key "$T/$p/keys/signing.key" >/dev/null
done
start_node police; ok "a node starts with an expired protocol" $?
run 0 api police GET /v1/status && has '"in_force":false' && has "expired after its review date"
ok "status says the protocol expired" $?
handshake_refused council police; ok "with no protocol in force even a partner is refused at the handshake" $?
run 3 "$ACCORD" send --config "$T/police/accordd.yaml" --to council --purpose reintegration-referral \
	--record-type Referral "$SRCDIR/policies/examples/referral.json" &&
	has "no protocol in force, so nothing is shared" && has "expired"
ok "a send under an expired protocol is refused with the reason" $?
run 0 "$ACCORD" audit list --data "$T/police/data" --event REFUSED && has "police -> council"
ok "and the refusal is audited" $?
stop_node police; ok "stopped" $?

done_testing
