#!/bin/sh
# limits.max_connections on the peer listener: with that many connections
# open (here three idle ones, as a slow or hostile client would hold them)
# the node stops accepting, says so in its log, and a partner's request
# waits; the local API goes on serving. When they close, the node accepts
# again and the waiting partner is served.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"

partnership police council; ok "a partnership of two, signed by both" $?
printf 'limits:\n  max_connections: 3\n' >>"$T/council/accordd.yaml"
start_node council; ok "the council node starts, at most 3 peer connections" $?

# Three idle connections, held until the holder is killed.
cat >"$T/hold.py" <<'PY'
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(3)]
print("holding", flush=True)
time.sleep(60)
PY
python3 "$T/hold.py" "$(pvar PORT council)" >"$T/hold.log" 2>&1 &
HOLD=$!
i=0
while ! grep -q "3 connections open, limits.max_connections" "$T/council/log" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -q "peer listener: 3 connections open, limits.max_connections: new ones wait" "$T/council/log"
ok "three connections open: the node stops accepting, and its log says why" $?

run 28 peer_get police council /v1/protocol --max-time 2
ok "a partner's request meanwhile waits (not answered within 2 s)" $?
run 0 api council GET /v1/status && has '"partner":"council"'
ok "the local API still answers" $?

kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
i=0
while ! grep -q "below limits.max_connections again: accepting" "$T/council/log" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
run 0 peer_get police council /v1/protocol && has '"digest"'
ok "once they close the node accepts again and answers the partner" $?

stop_node council; ok "the council node stops" $?
done_testing
