#!/bin/sh
# A node stopped with SIGTERM while answers of its local API are still
# being written: it exits only once the client has taken in full the
# answer it was writing. A client that takes nothing holds it at most 5 s,
# and its log says so. The client pipelines 40 requests for pages of the
# outbox (some 1.5 MB of answers), far more than a socket's buffer holds,
# and reads nothing until the node is told to stop. A second SIGTERM stops
# it at once.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
partnership police council; ok "a partnership of two, signed by all" $?
start_node police && start_node council; ok "police and council nodes start" $?

. "$(dirname "$0")/lib/stream.sh"
stream 1 200
wait $pids
[ "$(acked | wc -l)" -eq 200 ]; ok "police acknowledges 200 sends" $?

# slow MODE: pipeline 40 requests for GET /v1/outbox?limit=200 on police's
# socket, read the first answer's head, say so in $T/ready and wait for
# $T/go. MODE "all" then reads until the node closes the connection and
# checks that each answer came whole; "none" reads nothing more.
slow() {
	rm -f "$T/ready" "$T/go"
	python3 - "$T/police/run/accord.sock" "$T" "$1" >"$T/slow.out" 2>&1 <<'PY' &
import json, os, socket, sys, time
path, t, mode = sys.argv[1:]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"GET /v1/outbox?limit=200 HTTP/1.1\r\nHost: localhost\r\n\r\n" * 40)
data = b""
while b"\r\n\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
        sys.exit("the connection closed before the first answer's head")
    data += chunk
open(t + "/ready", "w").close()
for i in range(1000):
    if os.path.exists(t + "/go"):
        break
    time.sleep(0.01)
if mode == "none":
    time.sleep(30)
    sys.exit(0)
time.sleep(0.5)    # the node is stopping meanwhile
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
# Our own answers, each with a Content-Length: cut them apart.
whole = 0
while data:
    head, sep, rest = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
              if l.lower().startswith(b"content-length:")]
    if not sep or not length or len(rest) < length[0]:
        sys.exit("after %d whole answers, one was cut: %d bytes of %s"
                 % (whole, len(rest), length))
    page = json.loads(rest[:length[0]])
    if len(page["items"]) != 200:
        sys.exit("an answer has %d items" % len(page["items"]))
    whole += 1
    data = rest[length[0]:]
print("%d whole answers" % whole)
PY
	slow_pid=$!
	await 200 -f "$T/ready"
}

# stopped_since T0: stop police (SIGTERM), with its status in $st and the
# seconds since T0 in $el; then end the slow client.
stopped_since() {
	stop_node police
	st=$?
	el=$(($(date +%s) - $1))
	kill "$slow_pid" 2>/dev/null
	wait "$slow_pid" 2>/dev/null
}

slow all; ok "a client pipelines 40 requests to police and reads one answer's head" $?
t0=$(date +%s)
kill -TERM "$(pvar PID police)"
touch "$T/go"
wait "$slow_pid"; st=$?
cp "$T/slow.out" "$T/out"
[ $st -eq 0 ]; ok "stopped meanwhile, police finishes the answer it was writing ($(cat "$T/slow.out"))" $?
stop_node police; ok "then it exits, with status 0, $(($(date +%s) - t0)) s after SIGTERM" $?
! grep -q "answers still unwritten" "$T/police/log"; ok "its log has no unwritten answer" $?

start_node police; ok "police restarts" $?
slow none; ok "a client pipelines 40 requests again and reads one answer's head" $?
stopped_since "$(date +%s)"
[ $st -eq 0 ] && [ $el -le 20 ]
ok "police waits for a client that reads nothing, then exits with status 0 ($el s)" $?
grep "answers still unwritten after 5000 ms" "$T/police/log" >"$T/out"
ok "its log says an answer was still unwritten after 5000 ms" $?

# A second signal ends the wait at once.
start_node police; ok "police restarts again" $?
slow none; ok "a client pipelines 40 requests and reads one answer's head" $?
pid=$(pvar PID police)
t0=$(date +%s)
kill -TERM "$pid"
sleep 0.5
stopped_since "$t0"
[ $st -eq 0 ] && [ $el -lt 4 ]
ok "a second SIGTERM stops police at once, with status 0 ($el s)" $?
[ "$(grep -c "answers still unwritten" "$T/police/log")" -eq 1 ] &&
	grep "SIGTERM again: stopping now" "$T/police/log" >"$T/out"
ok "without waiting the 5 s for the client, and its log says so" $?

stop_node council; ok "the council stops" $?
verify_logs police council
done_testing
