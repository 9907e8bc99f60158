#!/bin/sh
# Async sockets through the fetch example: a reply over TCP (numeric and
# named hosts) and over a Unix socket; connect refused; connect timeout;
# the peer closing mid-read; cancel during a read, and a read timeout;
# 1,000 concurrent connections on the one loop thread while the daemon
# answers.
. tests/helpers/lib.sh

TCPSERV=$BUILD/tests/tcpserv
[ -x "$TCPSERV" ] || fail "no $TCPSERV (make tests)"
PLUGINS=$_TESTD_TMP/plugins
mkdir -p "$PLUGINS" && cp "$BUILD/plugins/fetch.so" "$PLUGINS/" ||
    fail "no fetch plugin (make tests)"

SERVERS=
# serve MODE: starts a server, sets PORT.
serve() {
	rm -f "$_TESTD_TMP/port.$1"
	"$TCPSERV" "$1" "$_TESTD_TMP/port.$1" &
	SERVERS="$SERVERS $!"
	wait_for test -s "$_TESTD_TMP/port.$1"
	PORT=$(cat "$_TESTD_TMP/port.$1")
}
stop_servers() {
	for pid in $SERVERS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	SERVERS=
}
job() {
	JOB=$("$BUILD/asyncctl" --json submit "$@" --wait --wait-timeout 120 \
	    2>/dev/null)
	[ -n "$JOB" ] || fail "no job object for $*"
}
field() {
	printf '%s' "$JOB" | json_get "$1"
}
running() {
	"$BUILD/asyncctl" --json status "$1" | grep -q '"running"'
}

testd_start --plugin-dir "$PLUGINS"

serve reply
job fetch.get "{\"host\": \"127.0.0.1\", \"port\": $PORT, \"request\": \"hi\"}"
assert_eq succeeded "$(field state)" "a fetch over TCP"
assert_eq 'reply:hi' "$(field result | json_get reply)" "its reply"
job fetch.get "{\"host\": \"localhost\", \"port\": $PORT, \"request\": \"n\"}"
assert_eq 'reply:n' "$(field result | json_get reply)" \
    "a name, resolved on the thread pool"

# ---- connect refused: a port just closed.
job fetch.get '{"host": "127.0.0.1", "port": 1, "timeout": 5}'
assert_eq failed "$(field state)" "connect refused fails"
assert_eq connect_failed "$(field error | json_get code)" "its code"
assert_match 'Connection refused' "$(field error | json_get message)" \
    "the system's reason"

# ---- connect timeout: a server whose backlog is full never answers.
serve stall
job fetch.get "{\"host\": \"127.0.0.1\", \"port\": $PORT, \"timeout\": 0.5}"
assert_eq failed "$(field state)" "a connect that hangs"
assert_eq timeout "$(field error | json_get code)" "times out"
assert_match 'connect .* timed out' "$(field error | json_get message)" \
    "in connect"

# ---- the peer closes mid-read.
serve half
job fetch.get "{\"host\": \"127.0.0.1\", \"port\": $PORT, \"timeout\": 10}"
assert_eq failed "$(field state)" "a reply cut short"
assert_eq io_error "$(field error | json_get code)" "io_error"
assert_match 'connection closed after 7 bytes' \
    "$(field error | json_get message)" "says how much came"

# ---- a silent peer: a read timeout, then a cancel during a read.
serve silent
job fetch.get "{\"host\": \"127.0.0.1\", \"port\": $PORT, \"timeout\": 0.3}"
assert_eq timeout "$(field error | json_get code)" "a read timeout"
id=$("$BUILD/asyncctl" submit fetch.get \
    "{\"host\": \"127.0.0.1\", \"port\": $PORT}") || fail submit
wait_for running "$id"
assert_status 0 "$BUILD/asyncctl" cancel "$id"
JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 10)
assert_eq cancelled "$(field state)" "cancel interrupts a pending read"
job fetch.get "{\"host\": \"127.0.0.1\", \"port\": $PORT}" --timeout 0.3
assert_eq timed_out "$(field state)" "so does the job's timeout"

# ---- a Unix socket.
rm -f "$_TESTD_TMP/port.unix"
"$TCPSERV" reply "$_TESTD_TMP/port.unix" "$_TESTD_TMP/u.sock" &
SERVERS="$SERVERS $!"
wait_for test -s "$_TESTD_TMP/port.unix"
job fetch.get "{\"host\": \"$_TESTD_TMP/u.sock\", \"request\": \"u\", \"timeout\": 10}"
assert_eq 'reply:u' "$(field result | json_get reply)" "a fetch over a Unix socket"
job fetch.get "{\"host\": \"$_TESTD_TMP/none.sock\", \"timeout\": 10}"
assert_match 'No such file' "$(field error | json_get message)" \
    "a Unix socket that is not there"

# ---- 1,000 at once on the loop thread, the daemon answering meanwhile.
serve reply
id=$("$BUILD/asyncctl" submit fetch.many \
    "{\"host\": \"127.0.0.1\", \"port\": $PORT, \"n\": 1000, \"timeout\": 60}") ||
    fail submit
assert_status 0 "$BUILD/asyncctl" ping
JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 120)
assert_eq succeeded "$(field state)" "1,000 concurrent fetches"
assert_eq 1000 "$(field result | json_get ok)" "all answered"
stop_servers
testd_stop
