#!/bin/sh
# The power lost under a node during a stream of sends. Each node runs on
# a modelled disk (tests/preload/powerloss.c) that keeps of its store only
# what was synced; at the cut the node is killed and restarted from that
# disk, as after a power loss, not a crash. Every disclosure police
# acknowledged must still be DISCLOSED, every envelope the council gave a
# receipt for still RECEIVED, and the checkpoints each node handed out must
# still hold against its log: police goes on delivering to the council
# only if the council's log extends the checkpoints police keeps of it.
# Last, acknowledgements of inbox items answered just before a cut stay.
. "$(dirname "$0")/lib/tap.sh"
. "$(dirname "$0")/lib/partnership.sh"
: "${PRELOAD:?set PRELOAD to the directory of libpowerloss.so}"
SHIM="$PRELOAD/libpowerloss.so"
# Under AddressSanitizer the model is loaded before its runtime.
SAN_ENV="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

# The model itself: unsynced writes stay off the disk, synced ones land.
model() {
	env LD_PRELOAD="$SHIM" POWERLOSS_FILE="$T/f" POWERLOSS_DISK="$T/f.disk" \
		dd if=/dev/urandom of="$T/f" bs=4096 count=4 "$@" 2>/dev/null
}
model
[ -s "$T/f" ] && [ -f "$T/f.disk" ] && [ ! -s "$T/f.disk" ]
ok "the modelled disk keeps none of 16 KiB written without a sync" $?
model conv=fdatasync && cmp -s "$T/f" "$T/f.disk"
ok "and all of it written, then synced" $?
model oflag=dsync && cmp -s "$T/f" "$T/f.disk"
ok "and all of it written through O_DSYNC" $?

partnership police council; ok "a partnership of two, signed by all" $?
quick_retries police council

# power_on NODE: start NODE on its modelled disk, which starts as the
# store is now.
power_on() {
	NODE_ENV="LD_PRELOAD=$SHIM POWERLOSS_FILE=$T/$1/data/data.mdb \
POWERLOSS_DISK=$T/$1/disk.mdb $SAN_ENV" start_node "$1"
}

# power_cut NODE COUNT: once COUNT sends are acknowledged, kill NODE and
# put back the store its disk kept.
power_cut() {
	kill_after "$1" "$2"
	mv "$T/$1/disk.mdb" "$T/$1/data/data.mdb"
}

# unacked NODE: how many inbox items NODE says are not acknowledged.
unacked() { api "$1" GET /v1/status | sed -n 's/.*"unacknowledged":\([0-9]*\).*/\1/p'; }

power_on police && power_on council; ok "police and council start on modelled disks" $?
. "$(dirname "$0")/lib/stream.sh"

# 1. The power lost under police during 1,000 sends.
stream 1 1000
power_cut police 300
wait $pids
n1=$(acked | wc -l)
[ "$n1" -ge 300 ] && [ "$n1" -lt 1000 ]
ok "police loses its power during the stream ($n1 of 1000 sends acknowledged)" $?
power_on police; ok "police starts from what its disk kept" $?
drained; ok "police then delivers everything pending" $?
audited; ok "each acknowledged send is disclosed, received and in the inbox exactly once" $?
sed -n 's/^# /# police cut: /p' "$T/out"
verified; ok "both audit logs verify" $?

# 2. The power lost under the council while police streams and delivers.
stream 2 400
power_cut council $((n1 + 100))
wait $pids
n2=$(($(acked | wc -l) - n1))
[ "$n2" -eq 400 ]; ok "police acknowledges all 400 sends while the council is down" $?
power_on council; ok "the council starts from what its disk kept" $?
drained; ok "police delivers everything pending: the council's log extends its checkpoints" $?
! grep -q "IS INCONSISTENT" "$T/police/log"
ok "police reports no checkpoint of the council's that its log contradicts" $?
audited; ok "still each acknowledged send exactly once in both audits and the inbox" $?
sed -n 's/^# /# council cut: /p' "$T/out"
verified; ok "both audit logs verify" $?

# 3. The power lost under the council just after it acknowledged 50
# inbox items, each ack answered: all 50 stay acknowledged.
before=$(unacked council)
pages council '/v1/inbox?unacked=true&limit=50' | head -n 1 |
	grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 >"$T/to_ack"
n=0
while read -r id; do
	api council POST "/v1/inbox/$id/ack" | grep -q '"acked":true' && n=$((n + 1))
done <"$T/to_ack"
[ "$n" -eq 50 ]; ok "the council acknowledges 50 inbox items ($n answered)" $?
power_cut council 0
power_on council; ok "the council starts from what its disk kept" $?
after=$(unacked council)
[ -n "$before" ] && [ "$after" -eq $((before - 50)) ]
ok "the 50 acknowledgements survive ($before unacknowledged before, $after after)" $?

stop_node police && stop_node council; ok "both nodes stop" $?
done_testing
