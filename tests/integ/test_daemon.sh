#!/bin/sh
# The daemon's own behaviour: its options, refusing to share a socket or a
# state directory, socket permissions, the default socket, signals (SIGINT,
# SIGTERM with jobs running and queued, SIGHUP), log prefixes for the
# journal, retention, and what another user may do.
. tests/helpers/lib.sh

ASYNCD=$BUILD/asyncd
[ -x "$ASYNCD" ] || fail "no $ASYNCD (make)"

# ---- helpers

now() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

below() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# A directory of our own, short enough for sockets (an AF_UNIX path holds
# 107 bytes); inside lib.sh's, which goes at exit, whatever happened.
tmpdir() {
	if [ "${#_TESTD_TMP}" -le 50 ]; then
		mktemp -d "$_TESTD_TMP/d.XXXXXX" || fail "mktemp"
	else
		mktemp -d /tmp/asyncd-td.XXXXXX || fail "mktemp"
	fi
}

# own_start DIR URL CMD...: starts CMD, an asyncd run with whatever
# environment and options the test needs, as testd_start would: output
# appended to DIR/asyncd.log, registered with lib.sh (testd_stop reaps it
# and removes DIR; a failure kills it), and answering a ping on URL.
own_start() {
	[ -z "$TESTD_PID" ] || fail "own_start: a daemon is already running"
	TESTD_DIR=$1
	TESTD_URL=$2
	shift 2
	TESTD_LOG=$TESTD_DIR/asyncd.log
	: >>"$TESTD_LOG"
	"$@" </dev/null >>"$TESTD_LOG" 2>&1 &
	TESTD_PID=$!
	wait_for asyncctl --socket "$TESTD_URL" ping
}

# daemon_gone: the daemon has exited (a zombie until testd_stop reaps it).
daemon_gone() {
	_st=$(sed 's/.*) //; s/ .*//' "/proc/$TESTD_PID/stat" 2>/dev/null)
	[ -z "$_st" ] || [ "$_st" = Z ]
}

# connected PID: the process has a connected unix socket. A client that
# has connected sends its request at once: this is how a test knows that a
# background waiter is with the daemon.
connected() {
	for _fd in /proc/"$1"/fd/*; do
		_l=$(readlink "$_fd" 2>/dev/null) || continue
		case $_l in
		socket:\[*\])
			_ino=${_l#socket:\[}
			_ino=${_ino%\]}
			awk -v ino="$_ino" '$6 == "03" && $7 == ino { f = 1 }
			    END { exit !f }' /proc/net/unix && return 0
			;;
		esac
	done
	return 1
}

# daemon_fails STATUS REGEX ARGS...: asyncd ARGS exits STATUS at once, with
# a message matching REGEX on stderr and nothing started.
daemon_fails() {
	_want=$1
	_re=$2
	shift 2
	assert_status "$_want" timeout 10 "$ASYNCD" "$@"
	assert_match "$_re" "$ASSERT_ERR" "asyncd $*: message"
}

# ---- --help, --version, bad options: exit 0, 0, 2.
assert_status 0 timeout 10 "$ASYNCD" --help
assert_match '^usage: asyncd' "$ASSERT_OUT" "asyncd --help"
assert_match '--wait-cap' "$ASSERT_OUT" "asyncd --help lists options"
assert_eq "" "$ASSERT_ERR" "asyncd --help stderr"
assert_status 0 timeout 10 "$ASYNCD" --version
assert_match '^asyncd [0-9]+\.[0-9]+\.[0-9]+ \(protocol 1\)$' "$ASSERT_OUT" \
    "asyncd --version"

daemon_fails 2 '^asyncd: --max-running must be' --max-running 0
daemon_fails 2 '^asyncd: --max-running must be' --max-running lots
daemon_fails 2 '^asyncd: --log-level must be' --log-level loud
daemon_fails 2 '^asyncd: --wait-cap must be' --wait-cap 60
daemon_fails 2 '^asyncd: --wait-cap must be' --wait-cap 0
daemon_fails 2 '^asyncd: --socket-mode must be' --socket-mode 0999
daemon_fails 2 '^asyncd: --threads must be' --threads 0
daemon_fails 2 '^asyncd: --keep must be' --keep -1
daemon_fails 2 '^asyncd: --drain-timeout must be' --drain-timeout -5
daemon_fails 2 "unrecognized option '--frobnicate'" --frobnicate
daemon_fails 2 "^asyncd: unexpected argument 'stray'" stray
daemon_fails 2 "requires an argument" --socket
assert_match 'asyncd --help' "$ASSERT_ERR" "a bad option points at --help"

# ---- one daemon per socket and per state directory.
testd_start
first=$TESTD_PID
assert_eq 660 "$(stat -c %a "$TESTD_DIR/asyncd.sock")" "request socket mode"
# Events carry every job's keys and messages: the daemon's user only.
assert_eq 600 "$(stat -c %a "$TESTD_DIR/asyncd.events")" "event socket mode"
assert_match '^asyncd: info: asyncd [0-9.]+ listening on ' \
    "$(cat "$TESTD_LOG")" "log lines for people: 'asyncd: info:'"

other=$(tmpdir)
daemon_fails 1 "^asyncd: another asyncd is listening on $TESTD_URL\$" \
    --socket "$TESTD_URL" --state-dir "$other/state2"
daemon_fails 1 "^asyncd: another asyncd is listening on $TESTD_URL\$" \
    --socket "$TESTD_URL" --events none --state-dir "$other/state3"
daemon_fails 1 "^asyncd: another asyncd \\(pid $first\\) uses the state \
directory $TESTD_DIR/state; give this one its own with --state-dir\$" \
    --socket "ipc://$other/x.sock" --state-dir "$TESTD_DIR/state"
[ ! -e "$other/x.sock" ] || fail "a refused daemon left a socket behind"
# Something at the socket's path that is not a socket is not the daemon's
# to replace: it refuses to start and leaves the file as it was.
echo important > "$other/file.sock"
daemon_fails 1 "^asyncd: cannot listen on ipc://$other/file.sock: File exists\$" \
    --socket "ipc://$other/file.sock" --events none --state-dir "$other/state4"
assert_eq important "$(cat "$other/file.sock")" "a file at the socket path"
pass
rm -rf "$other"
# The first one never noticed.
assert_status 0 asyncctl --json ping
assert_eq "$first" "$(printf '%s' "$ASSERT_OUT" | json_get pid)" \
    "the first daemon still answers"
assert_status 0 asyncctl submit echo '"still here"' --wait
assert_eq '"still here"' "$ASSERT_OUT" "the first daemon still runs jobs"

# ---- SIGHUP: logged, nothing else.
testd_kill HUP
wait_for grep -q 'asyncd: info: SIGHUP' "$TESTD_LOG"
assert_status 0 asyncctl --json ping
assert_eq "$first" "$(printf '%s' "$ASSERT_OUT" | json_get pid)" \
    "SIGHUP did not stop the daemon"
testd_stop

# ---- a socket left behind by a daemon that was killed is no obstacle.
stale=$(tmpdir)
"$ASYNCD" --socket "ipc://$stale/asyncd.sock" --state-dir "$stale/killed" \
    </dev/null >"$stale/killed.log" 2>&1 &
killed=$!
wait_for asyncctl --socket "ipc://$stale/asyncd.sock" ping
kill -KILL "$killed"
{ wait "$killed"; } 2>/dev/null
[ -S "$stale/asyncd.sock" ] || fail "the killed daemon left no socket"
pass
own_start "$stale" "ipc://$stale/asyncd.sock" "$ASYNCD" \
    --socket "ipc://$stale/asyncd.sock" --state-dir "$stale/state"
assert_status 0 asyncctl --socket "ipc://$stale/asyncd.sock" --json ping
assert_eq "$TESTD_PID" "$(printf '%s' "$ASSERT_OUT" | json_get pid)" \
    "a new daemon on a stale socket"
testd_stop

# ---- --socket-mode, --events-mode, and retention in memory (--keep 3;
# with a store, --keep bounds a cache: test_durability.sh).
testd_start --socket-mode 0600 --events-mode 0640 --keep 3 --durability none
assert_eq 600 "$(stat -c %a "$TESTD_DIR/asyncd.sock")" "--socket-mode 0600"
assert_eq 640 "$(stat -c %a "$TESTD_DIR/asyncd.events")" \
    "--events-mode 0640"
ids=
for i in 1 2 3 4 5 6; do
	assert_status 0 asyncctl submit echo "$i" --wait --json
	ids="$ids $(printf '%s' "$ASSERT_OUT" | json_get id)"
done
n=0
for id in $ids; do
	n=$((n + 1))
	if [ $n -le 3 ]; then
		assert_status 1 asyncctl status "$id"
		assert_match "job $id is no longer kept" "$ASSERT_ERR" \
		    "job $id forgotten"
	else
		assert_status 0 asyncctl status "$id"
		assert_eq "$n" \
		    "$(printf '%s' "$ASSERT_OUT" | json_get result)" \
		    "job $id kept"
	fi
done
assert_status 0 asyncctl list
assert_eq 3 "$(printf '%s' "$ASSERT_OUT" | grep -o '{"id":' | wc -l)" \
    "list after --keep 3"
testd_stop

# ---- the default socket: $XDG_RUNTIME_DIR/asyncd/asyncd.sock, and SIGINT.
xdg=$(tmpdir)
own_start "$xdg" "ipc://$xdg/asyncd/asyncd.sock" env -u ASYNCD_SOCKET \
    XDG_RUNTIME_DIR="$xdg" "$ASYNCD" --state-dir "$xdg/state"
[ -S "$xdg/asyncd/asyncd.sock" ] || fail "no socket in \$XDG_RUNTIME_DIR"
pass
assert_eq 700 "$(stat -c %a "$xdg/asyncd")" "socket directory mode"
assert_eq 660 "$(stat -c %a "$xdg/asyncd/asyncd.sock")" "default socket mode"
assert_status 0 env -u ASYNCD_SOCKET XDG_RUNTIME_DIR="$xdg" \
    "$BUILD/asyncctl" --json ping
assert_eq "$TESTD_PID" "$(printf '%s' "$ASSERT_OUT" | json_get pid)" \
    "asyncctl finds the default socket"
assert_eq "ipc://$xdg/asyncd/asyncd.events" \
    "$(printf '%s' "$ASSERT_OUT" | json_get events)" "default event socket"
testd_kill INT
wait_for daemon_gone
assert_match 'asyncd: info: Interrupt: shutting down' "$(cat "$TESTD_LOG")" \
    "SIGINT logged"
testd_stop

# ---- the journal: priority prefixes when stderr is $JOURNAL_STREAM.
jdir=$(tmpdir)
: >"$jdir/asyncd.log"
stream=$(stat -c '%d:%i' "$jdir/asyncd.log")
own_start "$jdir" "ipc://$jdir/asyncd.sock" env JOURNAL_STREAM="$stream" \
    "$ASYNCD" --socket "ipc://$jdir/asyncd.sock" --state-dir "$jdir/state" \
    --log-level debug
assert_status 0 asyncctl --socket "ipc://$jdir/asyncd.sock" \
    submit echo 1 --wait
testd_kill HUP
wait_for grep -q '^<6>SIGHUP' "$TESTD_LOG"
testd_kill TERM
wait_for daemon_gone
log=$(cat "$TESTD_LOG")
assert_match '^<6>asyncd [0-9.]+ listening on ' "$log" "<6> for info"
assert_match '^<6>job 1 \(echo\) succeeded in [0-9.]+ s, uid [0-9]+$' \
    "$log" "<6> for a finished job"
assert_match '^<7>inbox: ' "$log" "<7> for debug"
assert_match '^<6>stopped$' "$log" "<6> at the end"
if printf '%s\n' "$log" | grep -v '^<[0-7]>' | grep -q .; then
	fail "journal log lines without a priority: $log"
fi
pass
testd_stop
# The variable alone is not enough: stderr must be that stream. (Not
# $stream: the file is gone and a new log may get its inode.)
JOURNAL_STREAM=$(stat -c '%d:%i' /dev/null)
export JOURNAL_STREAM
testd_start
unset JOURNAL_STREAM
assert_match '^asyncd: info: asyncd ' "$(cat "$TESTD_LOG")" \
    "JOURNAL_STREAM naming another file"
if grep -q '^<' "$TESTD_LOG"; then
	fail "priority prefixes on a log that is not the journal"
fi
pass
testd_stop

# ---- SIGTERM with 50 jobs running and 200 queued, memory only: every one
# ends cancelled, every waiter gets its answer, and the daemon exits 0
# within the drain timeout. (A durable store keeps the queued ones for the
# next start instead: test_durability.sh.)
submitter=$BUILD/tests/submitter
[ -x "$submitter" ] || fail "no $submitter (make tests)"
testd_start --max-running 50 --drain-timeout 5 --durability none
echo go | "$submitter" "$TESTD_URL" drain 250 30 >"$_TESTD_TMP/ids" ||
    fail "submitting 250 jobs"
ids=$(sed 1d "$_TESTD_TMP/ids" | awk '{ print $1 }' | tr '\n' ' ')
assert_eq 250 "$(echo $ids | wc -w)" "250 jobs submitted"
assert_status 0 asyncctl stats
assert_eq 50 "$(printf '%s' "$ASSERT_OUT" | json_get running)" "50 running"
assert_eq 200 "$(printf '%s' "$ASSERT_OUT" | json_get queued)" "200 queued"

# Two waiters: one on all 250 jobs, one submitting and waiting.
"$BUILD/asyncctl" --json wait $ids >"$_TESTD_TMP/all.out" \
    2>"$_TESTD_TMP/all.err" &
all=$!
wait_for connected "$all"
"$BUILD/asyncctl" submit sleep '{"seconds": 30}' --key last --wait \
    >"$_TESTD_TMP/last.out" 2>&1 &
last=$!
# held: the second waiter's job is queued, so its request is held.
held() {
	asyncctl list --state queued --limit 1 | grep -q '"key":"last"'
}
wait_for held

t0=$(now)
testd_kill TERM
wait_for daemon_gone
took=$(elapsed "$t0")
below "$took" 5 || fail "asyncd took $took s to stop (--drain-timeout 5)"
pass
wait "$all"
assert_eq 4 "$?" "the waiter on every job exits 4 (cancelled)"
wait "$last"
assert_eq 4 "$?" "a queued job's waiter exits 4"
assert_eq 250 "$(grep -c '"state":"cancelled"' "$_TESTD_TMP/all.out")" \
    "all 250 jobs cancelled"
assert_eq 250 "$(wc -l <"$_TESTD_TMP/all.out")" "one line per job"
shutdown_error='"error":{"code":"cancelled",'
shutdown_error=$shutdown_error'"message":"the daemon is shutting down"}'
assert_eq 250 "$(grep -c "$shutdown_error" "$_TESTD_TMP/all.out")" \
    "cancelled by the shutdown"
assert_eq 50 "$(grep -c '"started":' "$_TESTD_TMP/all.out")" \
    "50 of them had started"
assert_match 'cancelled: the daemon is shutting down' \
    "$(cat "$_TESTD_TMP/last.out")" "the queued waiter's message"
testd_stop

# ---- another user: may use a 0666 socket, sees and touches only its own
# jobs, and may not stop the daemon.
if ! command -v setpriv >/dev/null 2>&1; then
	echo "test_daemon.sh: setpriv (util-linux) not installed;" \
	    "permissions not checked"
elif [ "$(id -u)" -ne 0 ]; then
	echo "test_daemon.sh: not root; permissions not checked"
else
	testd_start --socket-mode 0666
	chmod 0711 "$TESTD_DIR"
	nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		    "$BUILD/asyncctl" "$@"
	}
	assert_status 0 asyncctl submit sleep '{"seconds": 30}' --key mine
	rid=$ASSERT_OUT
	assert_status 0 nobody ping
	assert_status 1 nobody status "$rid"
	assert_eq "asyncctl: status $rid: job $rid belongs to another user" \
	    "$ASSERT_ERR" "status of another user's job"
	assert_status 1 nobody cancel "$rid"
	assert_match 'belongs to another user' "$ASSERT_ERR" "cancel"
	assert_status 1 nobody wait "$rid"
	assert_match 'belongs to another user' "$ASSERT_ERR" "wait"
	assert_status 1 nobody submit echo 1 --key mine
	assert_match "key 'mine' is held by another user" "$ASSERT_ERR" \
	    "another user's key"
	assert_eq running "$(asyncctl status "$rid" | json_get state)" \
	    "root's job untouched"
	assert_status 0 nobody submit echo '"theirs"'
	nid=$ASSERT_OUT
	assert_status 0 nobody wait "$nid"
	assert_eq '"theirs"' "$ASSERT_OUT" "the other user's own job"
	assert_status 0 nobody list
	assert_match "^\\{\"jobs\":\\[\\{\"id\":$nid,[^{}]*\\}\\],\"more\":false\\}\$" \
	    "$ASSERT_OUT" \
	    "the other user lists its own job and nothing else"
	assert_status 0 asyncctl list
	assert_match "\"id\":$rid," "$ASSERT_OUT" "root lists its job"
	assert_match "\"id\":$nid," "$ASSERT_OUT" "root lists every job"
	assert_status 1 nobody shutdown
	assert_match '^asyncctl: shutdown: .*is for root' "$ASSERT_ERR" \
	    "shutdown by another user"
	assert_status 0 asyncctl ping
	testd_stop
fi

# ---- a client that hangs up in the middle of the SP handshake (a port
# scanner, "nc -U") stops an nng 1.5.2 listener for good (nng #1518). The
# request socket is the daemon's own (conn.c) and never stops; the event
# socket is nng's, and its probe notices and listens again. Whether the
# hang-up lands before nng has written its half of the handshake is a race
# inside nng, so the daemon is stopped around the bare connect: when it
# goes on, nng finds the connection already closed, every time. What a
# user sees is checked: a new client connects (at once on the request
# socket, within twice the probe interval on the event socket, plus room
# for a loaded machine), and a client connected before carries on.
# nng leaks the stopped listener and what it parked (see the file).
CHECK=1
testd_start --listener-check "$CHECK"
unset LSAN_OPTIONS
assert_status 0 asyncctl ping
evpath=${TESTD_URL#ipc://}
evpath=${evpath%.sock}.events
# A client connected before must not notice: its held wait completes.
asyncctl submit sleep '{"seconds": 3}' --key held --wait \
    >"$_TESTD_TMP/held" 2>&1 &
held=$!
wait_for sh -c "\"$BUILD/asyncctl\" --json list --state running |
    grep -q '\"key\":\"held\"'"

# bare_connect PATH: the deterministic trigger.
bare_connect() {
	kill -STOP "$TESTD_PID" || fail "SIGSTOP"
	"$BUILD/tests/bareconnect" "$1"
	_st=$?
	kill -CONT "$TESTD_PID" || fail "SIGCONT"
	[ "$_st" -eq 0 ] || fail "bareconnect $1"
}

# connects_within S: a new client's ping is answered within S seconds of
# the trigger (each try gives up after a second: a connection made while
# the listener was stopped is parked until the daemon lets it go).
connects_within() {
	_t0=$(now)
	until timeout 1 "$BUILD/asyncctl" --connect-timeout 1 ping \
	    >/dev/null 2>&1; do
		below "$(elapsed "$_t0")" "$1" || return 1
	done
	pass
}

relistens() { grep -c "$1: new clients cannot connect" "$TESTD_LOG"; }
relistened_since() { [ "$(relistens "$1")" -gt "$2" ]; }

for i in 1 2 3; do
	bare_connect "${TESTD_URL#ipc://}"
	# Room for a loaded machine to schedule the daemon and asyncctl;
	# the listener itself never stopped.
	connects_within 15 || fail "no new client connected ($i)"
done
assert_eq 0 "$(relistens requests)" "the request socket never stops"
n=$(relistens events)
bare_connect "$evpath"
wait_for relistened_since events "$n"
# The request socket's file removed (a careless cleanup): the daemon
# binds it again within a probe interval, keeping its clients.
rm -f "${TESTD_URL#ipc://}"
wait_for relistened_since requests 0
connects_within $((2 * CHECK + 15)) ||
    fail "no new client connected after the socket file went"
wait "$held"
assert_eq 0 "$?" "a client held across the listener restarts ($(cat "$_TESTD_TMP/held"))"
assert_eq null "$(cat "$_TESTD_TMP/held")" "its result"
assert_eq 660 "$(stat -c %a "${TESTD_URL#ipc://}")" \
    "the socket's mode after listening again"
assert_eq 600 "$(stat -c %a "$evpath")" \
    "the event socket's mode after listening again"
# The event socket delivers again: a subscriber sees a new job's events.
: >"$_TESTD_TMP/ev"
nngcat --sub0 --dial "ipc://$evpath" --subscribe job. \
    --quoted --recv-timeout 10 > "$_TESTD_TMP/ev" 2>/dev/null &
sub=$!
tries=0
until grep -q '"state\\":\\"succeeded' "$_TESTD_TMP/ev"; do
	asyncctl submit echo '"again"' --wait >/dev/null ||
	    fail "submit after the listener came back"
	tries=$((tries + 1))
	[ $tries -lt 100 ] || fail "no events after the listener came back"
	sleep 0.1
done
pass
kill "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
# No false alarms: an idle daemon nobody bare-connects to never
# relistens, however many probe ticks go by.
n=$(relistens requests)
m=$(relistens events)
sleep $((3 * CHECK))
assert_eq "$n" "$(relistens requests)" "no false alarm (requests)"
assert_eq "$m" "$(relistens events)" "no false alarm (events)"
testd_stop
