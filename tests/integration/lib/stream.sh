# stream.sh - sourced after partnership.sh, for a partnership of police and
# council: streams of referrals into police's local API, and the checks
# that every acknowledged one arrived exactly once.
#
#   stream 1 1000     # 1,000 sends from $STREAMS clients, in the background
#                     # ($pids); answers in $T/ack.1.K, one line each
#   acked             # the message ids police answered 202 for, so far
#   drained           # police's outbox has nothing pending (40 s at most)
#   audited           # each acknowledged id DISCLOSED, RECEIVED and in the
#                     # council's inbox exactly once, DELIVERED at most once
#   unanswered        # the last audited's count of those DISCLOSED without
#                     # their client getting the 202 (a crash's, at most)
#   verified          # both audit logs verify
#   kill_after NODE N # SIGKILL NODE once N sends are acknowledged
STREAMS=${STREAMS:-4}   # parallel clients of police's local API

python3 -c 'import json, sys
print(json.dumps({"to": "council", "purpose": "reintegration-referral",
                  "record_type": "Referral", "record": json.load(open(sys.argv[1]))}))' \
	"$SRCDIR/policies/examples/referral.json" >"$T/body.json"

# stream PHASE N: N sends through police's local API from $STREAMS clients,
# each reusing one connection; the answers go to $T/ack.PHASE.K, in order,
# one line each (a 202's JSON, or a refusal's).
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
		curl -s --max-time 120 --unix-socket "$T/police/run/accord.sock" \
			-H 'Content-Type: application/json' --data-binary "@$T/body.json" \
			-w '\n' -K "$T/urls" >"$T/ack.$1.$k" 2>/dev/null &
		pids="$pids $!"
		k=$((k + 1))
	done
}

acked() { cat "$T"/ack.* 2>/dev/null | grep -o '"message_id":"[0-9a-f]*"' | cut -d'"' -f4; }

drained() { wait_for police /v1/status '"pending":0,' 400; }

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
print("# acknowledged %d, disclosed %d, received %d, delivered %d, inbox %d, unanswered %d"
      % (len(acked), len(disclosed), len(received), len(delivered), len(inbox),
         len(set(disclosed) - set(acked))))
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
PY
	st=$?
	cp "$T/out" "$T/audited"
	return $st
}

unanswered() { sed -n 's/^# .*, unanswered \([0-9]*\)$/\1/p' "$T/audited"; }

verified() {
	for p in police council; do
		run 0 "$ACCORD" audit verify --data "$T/$p/data" \
			--pub "$(sed -n 's/^    signing_key: "\(.*\)"$/\1/p' "$T/$p/lines")" || return 1
	done
}

# acked_at_least COUNT: wait until COUNT sends are acknowledged (at most
# 30 s).
acked_at_least() {
	i=0
	while [ "$(acked | wc -l)" -lt "$1" ] && [ $i -lt 1500 ]; do
		sleep 0.02
		i=$((i + 1))
	done
}

# kill_after NODE COUNT: SIGKILL NODE once COUNT sends are acknowledged
# (bounded: at the latest after 30 s).
kill_after() {
	pid=$(pvar PID "$1")
	acked_at_least "$2"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	eval "PID_$(echo "$1" | tr - _)="
	echo "# killed $1 with $(acked | wc -l) sends acknowledged"
}
