#!/bin/sh
# Nodes killed with SIGKILL during a stream of sends: after the restart
# every acknowledged disclosure is in both audits exactly once, in the
# receiver's inbox exactly once, and both logs verify. First the sender is
# killed during 1,000 sends, then the receiver during a further stream;
# last the sender is stopped with SIGTERM during a third.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
partnership police council; ok "a partnership of two, signed by all" $?
quick_retries police council
start_node police && start_node council; ok "police and council nodes start" $?
. "$(dirname "$0")/lib/stream.sh"

# A second node on police's data directory (a configuration copied to
# another port) is refused at start and adds nothing to police's log.
sed "s/^listen: .*/listen: 127.0.0.1:$(free_port)/; s|^local_socket: .*|local_socket: run/second.sock|" \
	"$T/police/accordd.yaml" >"$T/police/second.yaml"
size() { "$ACCORD" audit verify --data "$T/police/data" 2>/dev/null | sed -n 's/.*whole: \([0-9]*\) entr.*/\1/p'; }
s0=$(size)
timeout 10 "$ACCORDD" --config "$T/police/second.yaml" >"$T/second.log" 2>&1
st=$?
[ "$st" -eq 1 ] && grep -q "open to write in another process (pid $(pvar PID police)): is a node already running" "$T/second.log"
ok "a second node on police's data directory is refused, naming the first" $?
sed 's/^/# /' "$T/second.log"
[ -n "$s0" ] && [ "$(size)" = "$s0" ]; ok "and police's log is as it was ($s0 entries)" $?
# One with a data directory of its own but police's local socket is
# refused too, and police keeps its socket.
sed "s/^listen: .*/listen: 127.0.0.1:$(free_port)/; s|^data_dir: .*|data_dir: data2|" \
	"$T/police/accordd.yaml" >"$T/police/third.yaml"
timeout 10 "$ACCORDD" --config "$T/police/third.yaml" >"$T/third.log" 2>&1
st=$?
[ "$st" -eq 1 ] && grep -q "another process listens on this socket" "$T/third.log" &&
	api police GET /v1/status | grep -q '"partner":"police"'
ok "a second node on police's local socket is refused, and police keeps it" $?
sed 's/^/# /' "$T/third.log"

# 1. Police killed during 1,000 sends.
t0=$(date +%s)
stream 1 1000
kill_after police 300
wait $pids
n1=$(acked | wc -l)
[ "$n1" -ge 300 ] && [ "$n1" -lt 1000 ]
ok "police is killed during the stream ($n1 of 1000 sends acknowledged)" $?
start_node police; ok "police restarts" $?
drained; ok "after its restart police delivers everything pending" $?
audited; ok "each acknowledged send is disclosed, received and in the inbox exactly once" $?
sed -n 's/^# /# phase 1: /p' "$T/out"
verified; ok "both audit logs verify after police's crash" $?
echo "# phase 1 took $(($(date +%s) - t0)) s"

# 2. The council killed while police streams and delivers.
t0=$(date +%s)
stream 2 400
kill_after council $((n1 + 100))
wait $pids
n2=$(($(acked | wc -l) - n1))
[ "$n2" -eq 400 ]; ok "police acknowledges all 400 sends while the council is down" $?
start_node council; ok "the council restarts" $?
drained; ok "after its restart the council gets everything pending" $?
audited; ok "still each acknowledged send exactly once in both audits and the inbox" $?
sed -n 's/^# /# phase 2: /p' "$T/out"
verified; ok "both audit logs verify after the council's crash" $?
echo "# phase 2 took $(($(date +%s) - t0)) s"

# 3. Police stopped with SIGTERM during a stream: what it took in is
# committed and answered, the rest refused as "stopping" or not connected.
t0=$(date +%s)
u2=$(unanswered)
stream 3 1000
acked_at_least $((n1 + n2 + 200))
stop_node police; ok "police stops with SIGTERM during the stream, with status 0" $?
wait $pids
n3=$(($(acked | wc -l) - n1 - n2))
! cat "$T"/ack.3.* | grep -v '"message_id"' | grep -v '^{"error":"the node is stopping' | grep -q .
ok "each of the 1000 is acknowledged ($n3), refused as stopping, or not connected" $?
start_node police; ok "police restarts" $?
drained; ok "it delivers what it acknowledged before stopping" $?
audited; ok "each acknowledged send exactly once in both audits and the inbox" $?
sed -n 's/^# /# phase 3: /p' "$T/out"
u3=$(unanswered)
[ -n "$u3" ] && [ "$u3" = "$u2" ]
ok "each disclosure committed before the stop was answered (unanswered: $u2 after the crashes, $u3 now)" $?
verified; ok "both audit logs verify after the stop" $?
echo "# phase 3 took $(($(date +%s) - t0)) s"

stop_node police && stop_node council; ok "both nodes stop" $?
done_testing
