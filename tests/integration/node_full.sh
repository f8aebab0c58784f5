#!/bin/sh
# The sender's store reaching its size limit (limits: audit_max_mib) during
# a stream of sends: its log says so and what to do, every later send is
# answered 503, and nothing more leaves (no envelope is sent again and
# again for want of a place to record its receipt). Restarted with the
# limit raised, it delivers what it acknowledged, each exactly once, and
# both logs verify.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
partnership police council; ok "a partnership of two, signed by all" $?
quick_retries police council
printf '  audit_max_mib: 16\n' >>"$T/police/accordd.yaml"
start_node police && start_node council; ok "police (a 16 MiB store) and council start" $?
. "$(dirname "$0")/lib/stream.sh"
# Referrals with a summary of 150,000 characters: some 110 fill 16 MiB.
python3 - "$T/body.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
body["record"]["summary"] = "Long summary. " * 10700
json.dump(body, open(sys.argv[1], "w"))
PY

stream 1 400
wait $pids
n=$(acked | wc -l)
refused=$(cat "$T"/ack.1.* | grep -c '"error":"[^"]*shar')
echo "# $n acknowledged, $refused refused"
cat "$T"/ack.1.* | grep -v '"message_id"' | grep -v '"error":"[^"]*shar' |
	sort | uniq -c | sed 's/^ */other answers: /' >"$T/out"
[ "$n" -gt 0 ] && [ "$refused" -gt 0 ] && [ $((n + refused)) -eq 400 ]
ok "police acknowledges sends until its store is full, then answers 503" $?
for k in $(seq 0 $((STREAMS - 1))); do
	awk '/"error"/ { shut = 1 } /"message_id"/ && shut { bad = 1 } END { exit bad }' \
		"$T/ack.1.$k" || break
done
ok "after a client's first 503 it gets no 202: the node shares nothing" $?
grep -q "reached its size limit of 16 MiB.*until the limit is raised" "$T/police/log"
ok "police's log says the store reached its limit, and to raise it" $?
api police GET /v1/status >"$T/out"; has '"sharing":false'
ok "police's status says it is not sharing" $?
api police GET /metrics >"$T/out"; grep -Eq '^accord_commits_total\{outcome="failed"\} [1-9]' "$T/out"
ok "its /metrics counts the commits that failed" $?

# Nothing more leaves: the council's log stops growing, and police's log
# stays quiet.
wait_for council /v1/status '"audit_size"' >/dev/null
sleep 1
api council GET /v1/status | grep -o '"audit_size":[0-9]*' >"$T/size.1"
lines=$(wc -l <"$T/police/log")
sleep 2
api council GET /v1/status | grep -o '"audit_size":[0-9]*' >"$T/size.2"
cmp -s "$T/size.1" "$T/size.2"
ok "nothing more reaches the council ($(cat "$T/size.2"))" $?
[ $(($(wc -l <"$T/police/log") - lines)) -lt 3 ]
ok "police's log stays quiet meanwhile" $?

stop_node police; ok "police stops" $?
sed -i 's/audit_max_mib: 16/audit_max_mib: 64/' "$T/police/accordd.yaml"
start_node police; ok "police restarts with the limit raised to 64 MiB" $?
api police POST /v1/disclosures "@$T/body.json" >"$T/out"; has '"message_id"'
ok "it shares again" $?
drained; ok "it delivers everything pending" $?
audited; ok "each acknowledged send is disclosed, received and in the inbox exactly once" $?
sed -n 's/^# /# /p' "$T/out"
verified; ok "both audit logs verify" $?
stop_node police && stop_node council; ok "both nodes stop" $?
done_testing
