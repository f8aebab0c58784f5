#!/bin/sh
# Nodes killed with SIGKILL during a stream of sends: after the restart
# every acknowledged disclosure is in both audits exactly once, in the
# receiver's inbox exactly once, and both logs verify. First the sender is
# killed during 1,000 sends, then the receiver during a further stream.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
REF=$SRCDIR/policies/examples/referral.json
STREAMS=4           # parallel clients of police's local API

partnership police council; ok "a partnership of two, signed by all" $?
# Quick retries, so a node that comes back gets its deliveries soon.
for p in police council; do
	printf 'limits:\n  retry_initial_ms: 50\n  retry_max_ms: 500\n  delivery_timeout_ms: 5000\n' \
		>>"$T/$p/accordd.yaml"
done
start_node police && start_node council; ok "police and council nodes start" $?
python3 -c 'import json, sys
print(json.dumps({"to": "council", "purpose": "reintegration-referral",
                  "record_type": "Referral", "record": json.load(open(sys.argv[1]))}))' \
	"$REF" >"$T/body.json"

# acked: the message ids police answered 202 for, so far.
acked() { cat "$T"/ack.* 2>/dev/null | grep -o '"message_id":"[0-9a-f]*"' | cut -d'"' -f4; }

# stream PHASE N: N sends through police's local API from $STREAMS clients,
# each reusing one connection; the answers go to $T/ack.PHASE.K.
stream() {
	per=$(($2 / STREAMS))
	i=0
	while [ $i -lt "$per" ]; do
		echo 'url = "http://localhost/v1/disclosures"'
		i=$((i + 1))
	done >"$T/urls"
	pids=
	k=0
	while [ $k -lt $STREAMS ]; do
		curl -s --max-time 60 --unix-socket "$T/police/run/accord.sock" \
			-H 'Content-Type: application/json' --data-binary "@$T/body.json" \
			-w '\n' -K "$T/urls" >"$T/ack.$1.$k" 2>/dev/null &
		pids="$pids $!"
		k=$((k + 1))
	done
}

# kill_after NODE COUNT: SIGKILL NODE once COUNT sends are acknowledged
# (bounded: at the latest after 30 s).
kill_after() {
	pid=$(pvar PID "$1")
	i=0
	while [ "$(acked | wc -l)" -lt "$2" ] && [ $i -lt 1500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	eval "PID_$(echo "$1" | tr - _)="
	echo "# killed $1 with $(acked | wc -l) sends acknowledged"
}

# drained: police's outbox has nothing pending (bounded: 40 s).
drained() { wait_for police /v1/status '"pending":0,' 400; }

# audited: every acknowledged id is DISCLOSED once in police's audit,
# RECEIVED once in the council's and in its inbox once; nothing is in the
# council's that police did not disclose.
audited() {
	acked >"$T/acked"
	"$ACCORD" audit export --data "$T/police/data" --format jsonl >"$T/police.jsonl" &&
		"$ACCORD" audit export --data "$T/council/data" --format jsonl >"$T/council.jsonl" &&
		pages council '/v1/inbox?limit=1000' >"$T/inbox.jsonl" || return 1
	python3 - "$T" >"$T/out" 2>&1 <<'PY'
import collections, json, sys
t = sys.argv[1]
acked = open(t + "/acked").read().split()
def events(path, event):
    c = collections.Counter()
    for line in open(path):
        e = json.loads(line)
        if e["event"] == event and e["outcome"] == "SUCCESS":
            c[e["message_id"]] += 1
    return c
disclosed = events(t + "/police.jsonl", "DISCLOSED")
delivered = events(t + "/police.jsonl", "DELIVERED")
received = events(t + "/council.jsonl", "RECEIVED")
inbox = collections.Counter(i["id"] for page in open(t + "/inbox.jsonl")
                            for i in json.loads(page)["items"])
bad = []
if len(set(acked)) != len(acked):
    bad.append("a message id was acknowledged twice")
for m in acked:
    for name, c in (("DISCLOSED by police", disclosed), ("RECEIVED by the council", received),
                    ("in the council's inbox", inbox)):
        if c[m] != 1:
            bad.append("%s is %s %d times" % (m, name, c[m]))
for m in received:
    if disclosed[m] != 1 or received[m] != 1:
        bad.append("%s is RECEIVED %d times, DISCLOSED %d times" % (m, received[m], disclosed[m]))
for m in delivered:
    if delivered[m] != 1:
        bad.append("%s is DELIVERED %d times" % (m, delivered[m]))
print("# acknowledged %d, disclosed %d, received %d, delivered %d, inbox %d"
      % (len(acked), len(disclosed), len(received), len(delivered), len(inbox)))
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
PY
}

verified() {
	for p in police council; do
		run 0 "$ACCORD" audit verify --data "$T/$p/data" \
			--pub "$(sed -n 's/^    signing_key: "\(.*\)"$/\1/p' "$T/$p/lines")" || return 1
	done
}

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

stop_node police && stop_node council; ok "both nodes stop" $?
done_testing
