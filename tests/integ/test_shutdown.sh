#!/bin/sh
# Shutdown that never hangs, and a daemon that gives back what it takes:
# after a burst of clients with events on and a subscriber (and the
# listener probe running fast) the daemon's descriptors come back to where
# they were, and SIGTERM ends it within its bound; so it does with 100,000
# jobs queued, with 1,000 running, and with waiters and many idle
# connections. Each daemon must exit 0 (and, under ASan, leak nothing).
. tests/helpers/lib.sh

LOADGEN=$BUILD/tests/loadgen
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make tests)"
command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"

# The bound of a shutdown: --drain-timeout (2 here), a second for replies
# to leave, and room for a loaded machine. The daemon's own hard deadline
# is the drain timeout plus 6 s.
DRAIN=2
BOUND=15

now() {
	date +%s.%N
}

elapsed() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

below() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

fds() {
	ls "/proc/$TESTD_PID/fd" | wc -l
}

# fds_within N: the daemon holds at most N descriptors.
fds_within() {
	[ "$(fds)" -le "$1" ]
}

# stop_timed: SIGTERM, and the daemon must be gone within BOUND seconds
# (testd_stop then checks its exit status and its leaks).
stop_timed() {
	_t0=$(now)
	testd_kill TERM
	_n=0
	while [ -e "/proc/$TESTD_PID" ] &&
	    [ "$(sed 's/.*) //; s/ .*//' "/proc/$TESTD_PID/stat" \
	    2>/dev/null)" != Z ]; do
		_n=$((_n + 1))
		[ $_n -lt $((BOUND * 20)) ] ||
		    fail "asyncd still running $BOUND s after SIGTERM ($1)"
		sleep 0.05
	done
	_took=$(elapsed "$_t0")
	below "$_took" "$BOUND" || fail "SIGTERM took $_took s ($1)"
	pass
	# A check of the exited daemon's log, before testd_stop removes it.
	[ -z "${2-}" ] || "$2"
	testd_stop
}

# ---- a burst with events on and a subscriber; the probe every 0.2 s.
testd_start --listener-check 0.2 --drain-timeout "$DRAIN"
assert_status 0 asyncctl --json ping
events=$(printf '%s' "$ASSERT_OUT" | json_get events)
# Settle, then count: the probe holds one descriptor at most.
assert_status 0 asyncctl submit echo 1 --wait
base=$(fds)
: >"$_TESTD_TMP/ev"
nngcat --sub0 --dial "$events" --subscribe job. --quoted \
    --recv-timeout 30 >"$_TESTD_TMP/ev" 2>/dev/null &
sub=$!
# The subscriber is connected once it sees an event.
tries=0
until grep -q 'job\.' "$_TESTD_TMP/ev"; do
	asyncctl submit echo '"hello"' >/dev/null || fail "submit"
	tries=$((tries + 1))
	[ $tries -lt 100 ] || fail "the subscriber never saw an event"
	sleep 0.1
done
pass
assert_status 0 "$LOADGEN" "$TESTD_URL" burst 4 16
[ "$ASSERT_OUT" -gt 100 ] || fail "only $ASSERT_OUT echo jobs in the burst"
pass
kill "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
# Connections come and go: none may leave a descriptor behind.
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	asyncctl ping >/dev/null || fail "ping $i after the burst"
done
wait_for fds_within $((base + 2))
# The probe kept working through it all: nothing relistened.
if grep -q "new clients cannot connect" "$TESTD_LOG"; then
	fail "the probe raised an alarm on a healthy daemon"
fi
pass
stop_timed "after a burst with a subscriber"

# ---- 100,000 jobs queued behind one running, memory only (a durable
# store keeps queued jobs for the next start: test_durability.sh).
testd_start --max-running 1 --max-queued 200000 --drain-timeout "$DRAIN" \
    --durability none
assert_status 0 "$LOADGEN" "$TESTD_URL" submit 100000 8 sleep \
    '{"seconds": 600}'
assert_eq 100000 "$ASSERT_OUT" "100,000 jobs accepted"
assert_status 0 asyncctl --json stats
assert_eq 99999 "$(printf '%s' "$ASSERT_OUT" | json_get queued)" \
    "99,999 queued"
# One line for the queued jobs, not one each; the running one has its own.
queued_said() {
	grep -q "shutdown: 99999 queued jobs cancelled before running" \
	    "$TESTD_LOG" || fail "no line for the queued jobs"
	pass
	assert_eq 1 "$(grep -c "(sleep) cancelled in" "$TESTD_LOG")" \
	    "a line for the running job only"
}
stop_timed "100,000 queued" queued_said

# ---- 1,000 running.
testd_start --max-running 1000 --drain-timeout "$DRAIN"
assert_status 0 "$LOADGEN" "$TESTD_URL" submit 1000 4 sleep \
    '{"seconds": 600}'
running() {
	asyncctl --json stats | json_get running | grep -qx 1000
}
wait_for running
stop_timed "1,000 running"

# ---- waiters and 200 idle connections.
testd_start --drain-timeout "$DRAIN"
mkfifo "$_TESTD_TMP/hold"
"$LOADGEN" "$TESTD_URL" idle 200 <"$_TESTD_TMP/hold" >"$_TESTD_TMP/idle" &
idle=$!
exec 7>"$_TESTD_TMP/hold"
wait_for grep -qx ready "$_TESTD_TMP/idle"
ids=
for i in 1 2 3 4 5; do
	assert_status 0 asyncctl submit sleep '{"seconds": 600}'
	ids="$ids $ASSERT_OUT"
done
waiters=
for i in 1 2 3 4 5 6 7 8 9 10; do
	"$BUILD/asyncctl" wait $ids >/dev/null 2>&1 &
	waiters="$waiters $!"
done
# Each waiter is with the daemon once its job list shows it pinned: give
# them a moment by checking the daemon answers and the jobs run.
wait_for sh -c "\"$BUILD/asyncctl\" --json stats | grep -q '\"running\":5'"
stop_timed "waiters and idle connections"
for w in $waiters; do
	wait "$w"
	st=$?
	# 4: cancelled by the shutdown; 3: the daemon went away first.
	case $st in
	3|4)	;;
	*)	fail "a waiter exited $st" ;;
	esac
done
pass
exec 7>&-
wait "$idle"
assert_eq 0 "$?" "the idle clients closed cleanly"
