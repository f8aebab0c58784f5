#!/bin/sh
# exchange.sh PROGRAM - run bench_exchange (PROGRAM) against two nodes and
# nginx on loopback, started here and stopped on every exit.
#
# In a scratch directory under PROGRAM's (build/bench/, on disk): keys,
# a protocol dated around today signed by police and council, both nodes
# (tests/integration/lib/partnership.sh), and Debian's nginx on a free port
# with the council's certificate, TLS 1.3 only, demanding the police
# certificate from the client, answering every request 200 "ok" (`return`
# reads and discards the body). EXCHANGE_COUNT, EXCHANGE_CONCURRENCY,
# EXCHANGE_LATENCY and EXCHANGE_DEADLINE pass through to the program.
: "${ACCORD:?}" "${ACCORDD:?}" "${SRCDIR:?}"
prog=${1:?usage: exchange.sh PROGRAM}
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "exchange.sh: no $NGINX (make deps-bench installs it)" >&2; exit 1; }
T=$(mktemp -d "$(cd "$(dirname "$prog")" && pwd)/exchange.XXXXXX") || exit 1
. "$SRCDIR/tests/integration/lib/partnership.sh"

NGINX_PID=
cleanup() {
	if [ -n "$NGINX_PID" ]; then
		kill -TERM "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID"
	fi
	for p in ${PARTNERS:-}; do
		stop_node "$p" || echo "exchange.sh: $p stopped with status $?" >&2
	done
	stop_all
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "exchange.sh: $*" >&2
	for f in "$T"/police/log "$T"/council/log "$T"/nginx/error.log; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
	done
	exit 1
}

partnership police council || fail "cannot build the partnership"
start_node police && start_node council || fail "the nodes did not start"

NGINX_PORT=$(free_port)
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<C
worker_processes 2;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	keepalive_requests 10000000;
	client_body_buffer_size 256k;
	default_type text/plain;
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $T/council/keys/tls.crt;
		ssl_certificate_key $T/council/keys/tls.key;
		ssl_protocols TLSv1.3;
		ssl_verify_client on;
		ssl_client_certificate $T/police/keys/tls.crt;
		location / { return 200 "ok"; }
	}
}
C
"$NGINX" -e "$T/nginx/error.log" -p "$T/nginx" -c "$T/nginx/nginx.conf" \
	-g 'daemon off;' >>"$T/nginx/error.log" 2>&1 &
NGINX_PID=$!
i=0
while [ ! -s "$T/nginx/nginx.pid" ] && [ $i -lt 100 ]; do
	kill -0 "$NGINX_PID" 2>/dev/null || { NGINX_PID=; fail "nginx did not start"; }
	sleep 0.05
	i=$((i + 1))
done
[ -s "$T/nginx/nginx.pid" ] || fail "nginx did not start"

pin="sha256//$(sed -n 's/^    tls_spki_sha256: "\(.*\)"$/\1/p' "$T/council/lines")"
url="https://127.0.0.1:$NGINX_PORT/v1/envelopes"
# nginx must refuse a client without the certificate, or it is no baseline.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/council/keys/tls.crt" \
	--pinnedpubkey "$pin" -k -X POST -d x "$url")
[ "$code" = 400 ] || fail "nginx answered $code to a client without a certificate"

# The request the client posts to the sender; nginx gets the same bytes.
{
	printf '{"to":"council","purpose":"reintegration-referral","record_type":"Referral","record":'
	cat "$SRCDIR/policies/examples/referral.json"
	printf '}'
} >"$T/request.json"

timeout 150 "$prog" --sender "$T/police/run/accord.sock" \
	--receiver "$T/council/run/accord.sock" --receiver-data "$T/council/data" --body "$T/request.json" --nginx "$url" \
	--cert "$T/police/keys/tls.crt" --key "$T/police/keys/tls.key" --pin "$pin" \
	--cainfo "$T/council/keys/tls.crt" --count "${EXCHANGE_COUNT:-20000}" \
	--concurrency "${EXCHANGE_CONCURRENCY:-64}" --wide "${EXCHANGE_WIDE:-256}" \
	--latency "${EXCHANGE_LATENCY:-500}" \
	--deadline "${EXCHANGE_DEADLINE:-60}" \
	--pids "$PID_police,$PID_council,$NGINX_PID" || fail "bench_exchange failed"
