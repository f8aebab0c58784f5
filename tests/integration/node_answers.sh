#!/bin/sh
# The local API's answers to disclosures, written as soon as their commit
# is durable, reach every kind of client:
# - one that pipelines 600 disclosures on one connection and reads nothing
#   until the node's answers fill the socket and the next one waits: it
#   then gets all 600, whole and in order, each a 202;
# - 20 that post a disclosure and close at once, before the answer: the
#   node writes to a closed socket, goes on serving, and owes nothing when
#   it stops;
# - 20 that ask the node to close the connection after its answer, and
#   20 that shut down their side of it once the request is sent.
# Every disclosure answered 202 is then audited, delivered and in the
# council's inbox exactly once.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
partnership police council; ok "a partnership of two, signed by all" $?
start_node police && start_node council; ok "police and council nodes start" $?
. "$(dirname "$0")/lib/stream.sh"

python3 - "$T/police/run/accord.sock" "$T/body.json" "$T/ack.pipe.0" >"$T/out" 2>&1 <<'PY'
import fcntl, json, socket, struct, sys, termios, threading, time
path, body, acks = sys.argv[1:]
body = open(body, "rb").read()
req = (b"POST /v1/disclosures HTTP/1.1\r\nHost: localhost\r\n"
       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
N = 600
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.settimeout(60)
sender = threading.Thread(target=lambda: s.sendall(req * N), daemon=True)
sender.start()
# Wait until the answers stop coming (2 s with no more): the socket is full.
queued, still, t0 = -1, 0, time.time()
while still < 8 and time.time() - t0 < 60:
    time.sleep(0.25)
    q = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0" * 4))[0]
    still = still + 1 if q == queued else 0
    queued = q
if queued < 40000:
    sys.exit("%d bytes of answers waiting after %.1f s: the socket never filled"
             % (queued, time.time() - t0))
data, answers = b"", []
while len(answers) < N:
    head, sep, rest = data.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
              if l.lower().startswith(b"content-length:")]
    if sep and length and len(rest) >= length[0]:
        if not head.startswith(b"HTTP/1.1 202 "):
            sys.exit("answer %d: %s" % (len(answers) + 1, head.split(b"\r\n")[0]))
        answers.append(json.loads(rest[:length[0]]))
        data = rest[length[0]:]
        continue
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("the node closed the connection after %d answers" % len(answers))
    data += chunk
sender.join()
ids = [a["message_id"] for a in answers]
if len(set(ids)) != N:
    sys.exit("%d distinct message ids in %d answers" % (len(set(ids)), N))
# An id starts with the sender's clock in ms: the answers come in the
# order of the requests, so their clocks never go back.
back = [i for i in range(1, N) if ids[i][:12] < ids[i - 1][:12]]
if back:
    sys.exit("answer %d was made before answer %d" % (back[0] + 1, back[0]))
with open(acks, "w") as f:
    for a in answers:
        f.write(json.dumps(a, separators=(",", ":")) + "\n")
print("%d bytes of answers waited in the full socket; then %d whole answers, "
      "in order, each a 202" % (queued, N))
PY
ok "a client pipelines 600 disclosures and reads nothing until its socket is full: $(tail -1 "$T/out")" $?

# MODE "close": post and close before the answer; "ask": post asking the
# node to close after its answer, and read it to the end; "half": post,
# shut down the writing side, and read the answer to the end.
clients() {
	python3 - "$T/police/run/accord.sock" "$T/body.json" "$1" "$T/ack.$1.0" \
		>"$T/out" 2>&1 <<'PY'
import json, socket, sys
path, body, mode, acks = sys.argv[1:]
body = open(body, "rb").read()
req = (b"POST /v1/disclosures HTTP/1.1\r\nHost: localhost\r\n%s"
       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
       % (b"Connection: close\r\n" if mode == "ask" else b"", len(body))) + body
out = open(acks, "w")
for i in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(30)
    s.sendall(req)
    if mode == "half":
        s.shutdown(socket.SHUT_WR)
    if mode != "close":
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 202 "):
            sys.exit("client %d: %s" % (i + 1, head.split(b"\r\n")[0]))
        out.write(json.dumps(json.loads(rest), separators=(",", ":")) + "\n")
    s.close()
print("20 clients")
PY
}
clients close; ok "20 clients post a disclosure and close before the answer" $?
clients ask; ok "20 clients ask the node to close after its answer: each gets a 202, then the end" $?
clients half; ok "20 clients shut down their side after the request: each gets a 202" $?
stream 1 100
wait $pids
acked >"$T/out"; [ "$(wc -l <"$T/out")" -eq 740 ]; ok "police goes on serving: 100 more sends acknowledged" $?
kill -0 "$(pvar PID police)"; ok "police is still running" $?

drained; ok "police's outbox drains" $?
audited; ok "each acknowledged send DISCLOSED, RECEIVED and in the inbox once: $(head -1 "$T/audited")" $?
api police GET /metrics >"$T/metrics" && python3 - "$T/metrics" >"$T/out" 2>&1 <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def val(name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    if not m:
        sys.exit("no %s in /metrics" % name)
    return float(m.group(1))
ok, failed = val('accord_commits_total{outcome="ok"}'), val('accord_commits_total{outcome="failed"}')
changes, count = val("accord_committed_changes_total"), val("accord_commit_seconds_count")
buckets = [float(b) for b in re.findall(r"^accord_commit_seconds_bucket\{le=\"[^\"]+\"\} (\S+)$", text, re.M)]
if failed != 0 or ok < 1 or count != ok + failed:
    sys.exit("commits: %d ok, %d failed, %d timed" % (ok, failed, count))
if changes < 760 or changes < ok:
    sys.exit("%d changes in %d commits, for 760 disclosures" % (changes, ok))
if buckets != sorted(buckets) or buckets[-1] != count:
    sys.exit("the commit histogram's buckets are not cumulative: %s" % buckets)
print("%d commits of %d changes, %.2f ms each on average" %
      (ok, changes, 1e3 * val("accord_commit_seconds_sum") / ok))
PY
ok "GET /metrics counts the group commits: $(tail -1 "$T/out")" $?
n=$(unanswered)
[ "$n" -le 20 ]; ok "disclosures whose client closed first: $n of 20 went unanswered, none other" $?
stop_node police; ok "police stops with status 0" $?
! grep -q "answers still unwritten" "$T/police/log"; ok "owing no answer" $?
stop_node council; ok "the council stops" $?
verify_logs police council
done_testing
