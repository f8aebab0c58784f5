#!/bin/sh
# The lists of the local API, a page at a time: 300 referrals in the
# council's inbox read 7 at a time through the API and through the CLI,
# each id once and in order, "next" on every page but the last; only those
# not acknowledged with unacked=true; the counts of /v1/status and /metrics
# equal to what the pages held; police's outbox by state; 422 for every bad
# parameter, naming it and what it takes.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
REF=$SRCDIR/policies/examples/referral.json
N=300

partnership police council; ok "a partnership of two, signed by all" $?
start_node police && start_node council; ok "police and council nodes start" $?
python3 -c 'import json, sys
print(json.dumps({"to": "council", "purpose": "reintegration-referral",
                  "record_type": "Referral", "record": json.load(open(sys.argv[1]))}))' \
	"$REF" >"$T/body.json"

# N referrals through police's local API, from two clients on one
# connection each; the message ids police answered with go to $T/sent.
i=0
while [ $i -lt $((N / 2)) ]; do
	echo 'url = "http://localhost/v1/disclosures"'
	i=$((i + 1))
done >"$T/urls"
pids=
for k in 1 2; do
	curl -s --max-time 60 --unix-socket "$T/police/run/accord.sock" \
		-H 'Content-Type: application/json' --data-binary "@$T/body.json" \
		-w '\n' -K "$T/urls" >"$T/sent.$k" &
	pids="$pids $!"
done
wait $pids
cat "$T"/sent.* | grep -o '"message_id":"[0-9a-f]*"' | cut -d'"' -f4 | sort >"$T/sent"
[ "$(sort -u "$T/sent" | wc -l)" -eq $N ]; ok "police accepts $N referrals" $?

# status_is NODE PYTHON: /v1/status as d satisfies PYTHON (bounded: 30 s).
status_is() {
	i=0
	while [ $i -lt 300 ]; do
		api "$1" GET /v1/status >"$T/status.json" 2>&1 &&
			python3 -c "import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if $2 else 1)" \
				"$T/status.json" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	cp "$T/status.json" "$T/out"
	echo "waited in vain for: $2" >>"$T/out"
	return 1
}
status_is council "d['inbox']['items'] == $N" && status_is police "d['outbox']['delivered'] == $N"
ok "all $N are delivered and in the council's inbox" $?

# check PAGES WANT LIMIT: the pages (a line of JSON each) hold the ids of
# file WANT each once, in order; every page LIMIT items but the last, which
# alone has no "next", and each "next" is its page's last id.
cat >"$T/check.py" <<'PY'
import json, sys
pages = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = open(sys.argv[2]).read().split()
limit = int(sys.argv[3])
key = "id" if pages and "unacknowledged" in pages[0] else "message_id"
got = [i[key] for p in pages for i in p["items"]]
bad = []
if got != want:
    bad.append("%d ids in the pages, %d wanted; first difference at %s" % (len(got), len(want),
               next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))))
for n, p in enumerate(pages):
    last = n == len(pages) - 1
    if ("next" in p) == last:
        bad.append("page %d of %d: next is %s" % (n + 1, len(pages), p.get("next", "absent")))
    if not last and (len(p["items"]) != limit or p["next"] != p["items"][-1][key]):
        bad.append("page %d holds %d items, next %s" % (n + 1, len(p["items"]), p.get("next")))
print("# %d pages, %d ids" % (len(pages), len(got)))
for b in bad[:10]:
    print(b)
sys.exit(1 if bad else 0)
PY
check() { python3 "$T/check.py" "$@" >"$T/out" 2>&1; }

# 1. The inbox through the API, 7 at a time.
pages council '/v1/inbox?limit=7' >"$T/api.jsonl" && check "$T/api.jsonl" "$T/sent" 7
ok "GET /v1/inbox?limit=7, page after page: every id once, in order, no next at the end" $?
[ "$(wc -l <"$T/api.jsonl")" -eq $(((N + 6) / 7)) ]; ok "in $(((N + 6) / 7)) pages" $?

# 2. The same through the CLI: each page's last line on stderr gives the
# command for the next.
# The pages go to $T/cli.jsonl, a line each, as pages writes them.
cli_pages() {
	rm -rf "$T/cli" && mkdir "$T/cli" || return 1
	set -- "$@" --limit 7
	after=
	i=100
	while [ $i -lt 200 ]; do
		"$ACCORD" inbox list --config "$T/council/accordd.yaml" "$@" ${after:+--after "$after"} \
			>"$T/cli/$i.json" 2>"$T/hint" || return 1
		if [ ! -s "$T/hint" ]; then
			python3 -c 'import json, sys
for f in sys.argv[1:]:
    print(json.dumps(json.load(open(f))))' "$T"/cli/*.json >"$T/cli.jsonl"
			return
		fi
		grep -q "^next page: accord inbox list --config $T/council/accordd.yaml $* --after [0-9a-f]*\$" \
			"$T/hint" || { cat "$T/hint" >"$T/out"; return 1; }
		after=$(sed -n 's/.* --after //p' "$T/hint")
		i=$((i + 1))
	done
	return 1
}
cli_pages && check "$T/cli.jsonl" "$T/sent" 7 && python3 -c 'import json, sys
sys.exit([json.loads(l) for l in open(sys.argv[1])] != [json.loads(l) for l in open(sys.argv[2])])' \
	"$T/cli.jsonl" "$T/api.jsonl"
ok "accord inbox list --limit 7, following its 'next page' line: the same pages" $?

# 3. Acknowledge every tenth; unacked=true lists the others.
awk 'NR % 10 == 1' "$T/sent" >"$T/acked"
grep -vxF -f "$T/acked" "$T/sent" >"$T/unacked"
while read -r id; do
	api council POST "/v1/inbox/$id/ack" '' | grep -q '"acked":true' || echo "$id not acked"
done <"$T/acked" >"$T/out"
[ ! -s "$T/out" ]; ok "the council acknowledges $(wc -l <"$T/acked") of them" $?
pages council '/v1/inbox?unacked=true&limit=7' >"$T/unacked.jsonl" &&
	check "$T/unacked.jsonl" "$T/unacked" 7
ok "GET /v1/inbox?unacked=true&limit=7: exactly those not acknowledged, each once" $?
cli_pages --unacked && check "$T/cli.jsonl" "$T/unacked" 7
ok "accord inbox list --unacked --limit 7: the same" $?
U=$(wc -l <"$T/unacked")
status_is council "d['inbox'] == {'items': $N, 'unacknowledged': $U}" &&
	python3 -c 'import json, sys
sys.exit(any(json.loads(l)["unacknowledged"] != int(sys.argv[2]) for l in open(sys.argv[1])))' \
		"$T/unacked.jsonl" "$U"
ok "/v1/status and every page count $N items, $U not acknowledged" $?
run 0 api council GET /metrics && has "accord_inbox_unacknowledged $U"
ok "/metrics counts $U not acknowledged" $?

# 4. Police's outbox by state.
pages police '/v1/outbox?state=delivered&limit=7' >"$T/delivered.jsonl" &&
	check "$T/delivered.jsonl" "$T/sent" 7
ok "GET /v1/outbox?state=delivered&limit=7: every referral once, in order" $?
pages police '/v1/outbox?limit=1000' >"$T/all.jsonl" && check "$T/all.jsonl" "$T/sent" 1000
ok "GET /v1/outbox?limit=1000: one page of all $N" $?
run 0 api police GET '/v1/outbox?state=pending' && has '"pending":0,"delivered":300,' &&
	has '"items":[]}'
ok "GET /v1/outbox?state=pending: none, and no next" $?
status_is police "d['outbox'] == {'pending': 0, 'delivered': $N, 'refused': 0, 'paused': 0}"
ok "/v1/status counts the $N delivered the pages held" $?
run 0 "$ACCORD" outbox --config "$T/police/accordd.yaml" --state delivered --limit 1 &&
	grep -q "^next page: accord outbox --config $T/police/accordd.yaml --state delivered --limit 1 --after $(head -n 1 "$T/sent")\$" \
		"$T/out"
ok "accord outbox --state delivered --limit 1 gives the command for the next page" $?

# 5. Bad parameters: 422, naming the parameter and what it takes.
refused() {
	code=$(curl -sS --max-time 10 --unix-socket "$T/council/run/accord.sock" -o "$T/out" \
		-w '%{http_code}' "http://localhost$1")
	[ "$code" = 422 ] && has "$2" && return 0
	head -c 300 "$T/out" >"$T/answer"
	printf '%s\nanswered %s to %s\n' "$(cat "$T/answer")" "$code" "$1" >"$T/out"
	return 1
}
L="limit must be a whole number from 1 to 1000"
refused '/v1/inbox?limit=0' "$L, not '0'"; ok "limit=0: 422" $?
refused '/v1/inbox?limit=1001' "$L, not '1001'"; ok "limit=1001: 422" $?
refused '/v1/inbox?limit=abc' "$L, not 'abc'"; ok "limit=abc: 422" $?
refused '/v1/outbox?limit=-1' "$L, not '-1'"; ok "limit=-1: 422" $?
refused '/v1/inbox?after=xyz' "after must be a message id (32 hex digits), not 'xyz'"
ok "a malformed after: 422" $?
refused "/v1/inbox?after=$(head -n 1 "$T/sent" | cut -c 2-)" "after must be a message id"
ok "an after of 31 hex digits: 422" $?
refused '/v1/outbox?state=sent' "state must be pending, delivered, refused or paused, not 'sent'"
ok "state=sent: 422" $?
refused '/v1/inbox?unacked=yes' "unacked must be true or false, not 'yes'"
ok "unacked=yes: 422" $?
refused '/v1/inbox?state=pending' "unknown parameter 'state': GET /v1/inbox takes limit, after and unacked"
ok "state= on the inbox: 422" $?
refused '/v1/inbox?limit=5&limit=6' "limit is given twice"; ok "limit twice: 422" $?
refused '/v1/inbox?limit' "the query string is malformed"; ok "a parameter without a value: 422" $?
run 1 "$ACCORD" inbox list --config "$T/council/accordd.yaml" --limit 0 && has "(422): $L"
ok "accord inbox list --limit 0: the node's reason, exit 1" $?
run 0 "$ACCORD" inbox --help && has "inbox list [--unacked] [--limit N] [--after ID]" &&
	has "outbox [--state S] [--limit N] [--after ID]"
ok "accord inbox --help shows the list options" $?

stop_node police && stop_node council; ok "both nodes stop" $?
done_testing
