#!/bin/sh
# A node out of file descriptors: a local client holding every one it can
# open leaves the node unable to accept. Its listeners (the local API's and
# the peer listener) pause a second at a time, with one line in the log
# each time, rather than spin on accept() and fill the log; once the
# connections close it serves again.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
partnership police council; ok "a partnership of two, signed by all" $?
ulimit -n 128 || { echo "1..0 # SKIP cannot lower the limit on open files"; exit 0; }
start_node police; ok "police starts with 128 descriptors" $?
pid=$(pvar PID police)

# ticks PID: CPU time (user + system) the process has used, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

python3 - "$T/police/run/accord.sock" "$T/held" <<'PY' &
import socket, sys, time
held = open(sys.argv[2], "w")
socks = []
try:
    for i in range(200):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1])
        socks.append(s)
except OSError:
    pass
held.write("%d\n" % len(socks))
held.close()
time.sleep(4)
PY
client=$!
await 100 -s "$T/held"
sleep 0.5
t1=$(ticks "$pid")
s1=$(date +%s)
lines=$(wc -l <"$T/police/log")
# A partner's connection meanwhile waits in the backlog.
curl -sk --max-time 1 "https://127.0.0.1:$PORT_police/" >/dev/null 2>&1
sleep 1
spent=$(($(ticks "$pid") - t1))
echo "# the client holds $(cat "$T/held") connections; police used $spent ticks in 2 s"
[ "$spent" -lt 50 ]; ok "police does not spin while it cannot accept" $?
grep -q "local API: cannot accept a connection (Too many open files): not accepting for 1000 ms" \
	"$T/police/log"
ok "its log says why it does not accept, and what to do" $?
grep -q "peer listener: cannot accept a connection (Too many open files)" "$T/police/log"
ok "the peer listener pauses likewise" $?
# At most a line a second for each listener over the seconds watched.
added=$(($(wc -l <"$T/police/log") - lines))
[ "$added" -le $((2 * ($(date +%s) - s1 + 1))) ] && ! grep -q "Error from accept" "$T/police/log"
ok "one line a pause for each listener ($added), none from libevent" $?
wait $client
wait_for police /v1/status '"partner":"police"' 50
ok "once the connections close it serves again" $?
stop_node police; ok "police stops" $?
done_testing
