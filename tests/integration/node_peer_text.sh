#!/bin/sh
# What a receiver answers is a peer's bytes: the sender keeps it as text.
# A stand-in for the council (Python, with the council's TLS key) answers
# police's deliveries first with a 403 whose reason holds a NUL byte (an
# answer that does not survive unpacking: not trusted, tried again), then
# with reasons that are not UTF-8: 503, kept as the outbox item's last
# error, then 403, audited as the refusal. The outbox view and the audit
# show both, escaped. The 503's reason holds ESC and U+202E too, which
# `accord outbox` and the node's log show escaped.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
REF=$SRCDIR/policies/examples/referral.json

partnership police council; ok "a partnership of two, signed by both" $?
printf 'limits:\n  retry_initial_ms: 100\n  retry_max_ms: 400\n' >>"$T/police/accordd.yaml"
start_node police; ok "the police node starts" $?

cat >"$T/fake.py" <<'PY'
import http.server, ssl, sys

port, crt, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
answers = [(403, b"no\x00 junk"), (503, b"busy \xff \x1b[2J\xe2\x80\xae"), (403, b"no \xc3 here")]

def varint(v):
    out = b""
    while v > 0x7f:
        out += bytes([v & 0x7f | 0x80])
        v >>= 7
    return out + bytes([v])

class Council(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    n = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        status, error = answers[min(Council.n, len(answers) - 1)]
        Council.n += 1
        # DeliveryAnswer { results { status, error } }
        result = b"\x08" + varint(status) + b"\x12" + varint(len(error)) + error
        body = b"\x0a" + varint(len(result)) + result
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(crt, key)
server = http.server.HTTPServer(("127.0.0.1", port), Council)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
PY
python3 "$T/fake.py" "$PORT_council" "$T/council/keys/tls.crt" "$T/council/keys/tls.key" \
	>"$T/fake.log" 2>&1 &
FAKE=$!
trap 'kill $FAKE 2>/dev/null; stop_all; rm -rf "$T"' EXIT

run 0 "$ACCORD" send --config "$T/police/accordd.yaml" --to council \
	--purpose reintegration-referral --record-type Referral "$REF"
ok "police discloses a referral to the council" $?
wait_for police /v1/outbox '"refused":1' && has '"state":"refused"' &&
	has '"last_error":"the receiver answered 503: busy \\xff \u001B[2J'
ok "the stand-in answers 503, then refuses it: the outbox view shows the 503, escaped" $?
run 0 "$ACCORD" outbox --config "$T/police/accordd.yaml" && raw_free &&
	has '"last_error": "the receiver answered 503: busy \\xff \u001B[2J\u202E"' &&
	python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))["items"][0]["last_error"]
assert e == "the receiver answered 503: busy \\xff \x1b[2J\u202e", e' "$T/out"
ok "accord outbox writes U+202E as a JSON escape too: the same JSON to a program" $?
cp "$T/police/log" "$T/out"
raw_free && has 'answered 503: busy \\xff \x1b[2J\u202e'
ok "the node's log line shows the 503's reason escaped" $?
run 0 "$ACCORD" audit export --data "$T/police/data" --format jsonl --event DELIVERED &&
	has '"outcome":"DENIED","reason":"refused by council (403): no \\xc3 here","not_utf8":null'
ok "the refusal is audited with the receiver's reason escaped: text, nothing held in hex" $?
grep -q "the DeliveryAnswer's field 'results.error' holds a NUL byte" "$T/police/log" &&
	[ "$(grep -c '"reason":"refused by council' "$T/out")" -eq 1 ]
ok "the answer whose reason held a NUL byte was tried again, not taken as a refusal" $?
run 0 "$ACCORD" audit export --data "$T/police/data" --format jsonl &&
	[ "$(grep -c '"not_utf8":null}$' "$T/out")" -eq "$(wc -l <"$T/out")" ]
ok "no entry of police's log holds text that is not UTF-8" $?

kill $FAKE
stop_node police; ok "the police node stops" $?
done_testing
