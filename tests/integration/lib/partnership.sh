# partnership.sh - sourced after tap.sh: build a partnership of nodes on
# loopback in $T, with keys, a protocol dated around today and signed by
# every partner, and one configuration per node.
#
#   partnership police council ngo    # ids; sets PORT_<id> and writes
#                                     # $T/<id>/{keys,accordd.yaml}, $T/protocol.yaml
#   start_node police                 # runs accordd, waits for its local API
#                                     # (with $NODE_ENV, NAME=VALUE words, in
#                                     # its environment alone)
#   await 100 -f FILE                 # waits (0.05 s a try) until FILE is there
#   stop_node police                  # SIGTERM, waits for the exit
#   api police GET /v1/status         # the local API via curl
#   wait_for police /v1/outbox TEXT   # poll it until the answer holds TEXT
#   pages council '/v1/inbox?limit=50' # every page of a list, a line each
: "${ACCORDD:?set ACCORDD to the accordd binary}"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# pvar NAME ID: the value of NAME_ID (ids may contain '-').
pvar() { eval "echo \${$1_$(echo "$2" | tr - _)}"; }

partnership() {
	PARTNERS="$*"
	today=$(date -u +%F)
	from=$(date -u -d "$today - 1 day" +%F)
	until=$(date -u -d "$today + 60 days" +%F)
	for p in $PARTNERS; do
		eval "PORT_$(echo "$p" | tr - _)=$(free_port)"
		mkdir -p "$T/$p/run"
		"$ACCORD" keygen --partner "$p" --dir "$T/$p/keys" >"$T/$p/lines" 2>/dev/null ||
			return 1
	done
	{
		printf 'protocol: test-partnership\nversion: 1\ntitle: Test partnership\n'
		printf 'coordinator: %s\neffective_from: %s\nreview_by: %s\npartners:\n' \
			"$(echo $PARTNERS | cut -d' ' -f1)" "$from" "$until"
		for p in $PARTNERS; do
			printf '  - id: %s\n    name: %s agency\n    responsibilities: Tests.\n' "$p" "$p"
			printf '    endpoint: https://127.0.0.1:%s\n' "$(pvar PORT "$p")"
			sed 's/^    /    /' "$T/$p/lines"
		done
		cat "${RULES:-$SRCDIR/tests/integration/lib/rules.yaml}"
	} >"$T/protocol.yaml"
	for p in $PARTNERS; do
		"$ACCORD" protocol sign "$T/protocol.yaml" --partner "$p" \
			--key "$T/$p/keys/signing.key" >/dev/null || return 1
		cat >"$T/$p/accordd.yaml" <<C
partner: $p
protocol: ../protocol.yaml
signing_key: keys/signing.key
tls_key: keys/tls.key
tls_cert: keys/tls.crt
data_dir: data
listen: 127.0.0.1:$(pvar PORT "$p")
local_socket: run/accord.sock
C
	done
}

# quick_retries ID...: retries 50 ms apart at first and 500 ms at most, and
# 5 s for a delivery, so that a node coming back gets its deliveries soon.
quick_retries() {
	for p in "$@"; do
		printf 'limits:\n  retry_initial_ms: 50\n  retry_max_ms: 500\n  delivery_timeout_ms: 5000\n' \
			>>"$T/$p/accordd.yaml"
	done
}

# await TRIES TEST PATH: 0 once [ TEST PATH ] holds (TEST: -S, -f, ...),
# looked at every 0.05 s, at most TRIES times.
await() {
	i=0
	while [ ! "$2" "$3" ] && [ $i -lt "$1" ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$2" "$3" ]
}

start_node() {
	env ${NODE_ENV:-} "$ACCORDD" --config "$T/$1/accordd.yaml" >>"$T/$1/log" 2>&1 &
	eval "PID_$(echo "$1" | tr - _)=$!"
	# Ready once its local API answers (a killed node's socket file
	# outlives it), given up when it exits or after 10 s.
	i=0
	while [ $i -lt 200 ]; do
		curl -s --max-time 5 -o /dev/null --unix-socket "$T/$1/run/accord.sock" \
			http://localhost/v1/status && return 0
		kill -0 "$(pvar PID "$1")" 2>/dev/null || return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

stop_node() {
	pid=$(pvar PID "$1")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	st=$?
	eval "PID_$(echo "$1" | tr - _)="
	return $st
}

# Stop every node still running (on exit, whatever happened).
stop_all() {
	for p in ${PARTNERS:-}; do
		pid=$(pvar PID "$p")
		[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}
trap 'stop_all; rm -rf "$T"' EXIT

# verify_logs ID...: one check each, that the node's audit log verifies
# against its own signing key.
verify_logs() {
	for p in "$@"; do
		run 0 "$ACCORD" audit verify --data "$T/$p/data" \
			--pub "$(sed -n 's/^    signing_key: "\(.*\)"$/\1/p' "$T/$p/lines")"
		ok "$p's audit log verifies" $?
	done
}

api() {
	curl -sS --max-time 10 --unix-socket "$T/$1/run/accord.sock" -X "$2" \
		${4:+--data-binary "$4"} "http://localhost$3"
}

# wait_for NODE PATH TEXT [TRIES]: poll the local API until its answer
# holds TEXT, at most TRIES times (default 100), 0.1 s apart.
wait_for() {
	i=0
	while [ $i -lt "${4:-100}" ]; do
		api "$1" GET "$2" >"$T/out" 2>&1
		grep -qF -- "$3" "$T/out" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "waited in vain for: $3" >>"$T/out"
	return 1
}

# pages NODE PATH: every page of the list at PATH (a path with a query:
# "&after=ID" is added from the second page on), following each page's
# "next"; one line of JSON a page. Fails after 1,000 pages.
pages() {
	after=
	i=0
	while [ $i -lt 1000 ]; do
		api "$1" GET "$2${after:+&after=$after}" >"$T/page.json" || return 1
		cat "$T/page.json" && echo
		# The answer is compact JSON, and items have no "next".
		after=$(sed -n 's/.*"next":"\([0-9a-f]*\)".*/\1/p' "$T/page.json")
		[ -n "$after" ] || return 0
		i=$((i + 1))
	done
	return 1
}

# peer_get FROM TO PATH [curl options]: FROM's client certificate, TO's pinned key.
peer_get() {
	from=$1 to=$2 path=$3
	shift 3
	curl -sS --max-time 10 -k --cert "$T/$from/keys/tls.crt" --key "$T/$from/keys/tls.key" \
		--pinnedpubkey "sha256//$(sed -n 's/^    tls_spki_sha256: "\(.*\)"$/\1/p' "$T/$to/lines")" \
		"$@" "https://127.0.0.1:$(pvar PORT "$to")$path"
}
