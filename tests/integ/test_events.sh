#!/bin/sh
# The event socket: state changes of a job arrive in order on "job.<id>.",
# a subscription to one job sees no other, and a daemon with events off
# has no event socket.
. tests/helpers/lib.sh

command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"
testd_start

assert_status 0 asyncctl --json ping
events=$(printf '%s' "$ASSERT_OUT" | json_get events)
assert_eq "${TESTD_URL%.sock}.events" "$events" "events URL from ping"

# subscribe TOPIC FILE: a subscriber in the background, for 20 s at most.
# --quoted prints a message a line, as a C string.
subscribe() {
	nngcat --sub0 --dial "$events" --subscribe "$1" --quoted \
	    --recv-timeout 20 > "$2.q" 2>/dev/null &
}

# The messages a subscriber got so far, one a line, unquoted, into FILE.
got() {
	sed 's/^"//; s/"$//; s/\\"/"/g' "$1.q" > "$1"
}

# seen FILE REGEX: a message matching REGEX has arrived.
seen() {
	got "$1"
	grep -q "$2" "$1"
}

subscribe "job." "$_TESTD_TMP/all"
all_pid=$!

# PUB/SUB connects in the background: probe with echo jobs until the
# subscriber sees one (bounded), so that the next job's events all land.
tries=0
while :; do
	probe=$(asyncctl submit echo '"probe"') || fail "probe submit"
	sleep 0.1
	seen "$_TESTD_TMP/all" "^job\.$probe\.state " && break
	tries=$((tries + 1))
	[ $tries -lt 50 ] || fail "the subscriber never saw an event"
done
pass

assert_status 0 asyncctl submit sleep '{"seconds": 0.3}'
id=$ASSERT_OUT
subscribe "job.$id." "$_TESTD_TMP/one"
one_pid=$!
assert_status 0 asyncctl wait "$id" --timeout 10
wait_for seen "$_TESTD_TMP/all" \
    "^job\.$id\.state .*\"state\":\"succeeded\""

# queued, running, succeeded: in that order, and nothing else for the id.
states=$(sed -n "s/^job\.$id\.state .*\"state\":\"\([a-z_]*\)\".*/\1/p" \
    "$_TESTD_TMP/all" | tr '\n' ' ')
assert_eq "queued running succeeded " "$states" "events of job $id"

# Progress and cancellation show as well.
assert_status 0 asyncctl submit sleep '{"seconds": 30}'
long=$ASSERT_OUT
wait_for seen "$_TESTD_TMP/all" \
    "^job\.$long\.state .*\"state\":\"running\""
assert_status 0 asyncctl cancel "$long" --wait 5
wait_for seen "$_TESTD_TMP/all" \
    "^job\.$long\.state .*\"state\":\"cancelled\""
assert_match '"cancel_requested":true' \
    "$(grep "^job\.$long\.state " "$_TESTD_TMP/all")" \
    "a cancel request is published before the job stops"

kill "$all_pid" "$one_pid" 2>/dev/null
wait "$all_pid" "$one_pid" 2>/dev/null
got "$_TESTD_TMP/all"
got "$_TESTD_TMP/one"

# The per-job subscription saw only that job (maybe not all its events:
# it may have connected late), and nothing of the probe or the long job.
if grep -v "^job\.$id\." "$_TESTD_TMP/one" | grep -q .; then
	fail "a job.$id. subscriber got other jobs' events"
fi
pass
testd_stop

# The listener probe connects to the event socket on every check; its
# connections are no subscribers, coming or going. (They once counted as
# leaving: after the first check one subscriber counted 0, and it got no
# events until the next.) The daemon logs the count at debug level.
testd_start --listener-check 0.1 --log-level debug
events=${TESTD_URL%.sock}.events
subscribe "job." "$_TESTD_TMP/many"
many_pid=$!
wait_for grep -q "events: 1 subscriber$" "$TESTD_LOG"
# Twenty checks and more: the count does not move.
sleep 2
assert_eq "events: 1 subscriber" \
    "$(grep "events: [-0-9]* subscriber" "$TESTD_LOG" | tail -n 1 |
    sed 's/.*events:/events:/')" "the probe is not counted"
assert_status 0 asyncctl submit sleep '{"seconds": 0.1}'
jid=$ASSERT_OUT
assert_status 0 asyncctl wait "$jid" --timeout 30
wait_for seen "$_TESTD_TMP/many" \
    "^job\.$jid\.state .*\"state\":\"succeeded\""
kill "$many_pid" 2>/dev/null
wait "$many_pid" 2>/dev/null
wait_for grep -q "events: 0 subscribers$" "$TESTD_LOG"
testd_stop

# --events none: nothing listens there, and ping says so.
testd_start --events none
assert_status 0 asyncctl --json ping
if printf '%s' "$ASSERT_OUT" | json_get events >/dev/null; then
	fail "ping names an event socket with --events none"
fi
pass
testd_stop
