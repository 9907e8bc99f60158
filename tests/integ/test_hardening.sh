#!/bin/sh
# What the core promises under pressure: ids never mean two jobs (they
# grow across restarts, and a memory-only start has its own instance), a
# fan-out's results wait for their reader whatever --keep says, one
# unknown id does not fail a whole wait, gathers never starve for coroutines that
# top-level jobs took, argument depth and reply depth agree, and the log
# says who stopped the daemon.
. tests/helpers/lib.sh

# The daemon's own word, straight off the wire.
instance() {
	nngcat --req0 --dial "$TESTD_URL" --data '{"v":1,"op":"ping"}' \
	    --ascii --recv-timeout 10 | json_get instance
}

command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"

# ---- ids grow across restarts; without a durable store (--durability
# none) every start is a new instance (test_durability.sh has the rest).
state=$(mktemp -d "$_TESTD_TMP/state.XXXXXX") || fail "mktemp"
testd_start --state-dir "$state" --durability none
assert_status 0 asyncctl submit echo 1
first=$ASSERT_OUT
inst1=$(instance)
assert_match '^[0-9a-f]{16}$' "$inst1" "an instance id in ping"
testd_stop
testd_start --state-dir "$state" --durability none
assert_status 0 asyncctl submit echo 2
second=$ASSERT_OUT
[ "$second" -gt "$first" ] || fail "id $second after $first: ids went back"
pass
inst2=$(instance)
[ "$inst2" != "$inst1" ] || fail "the same instance after a restart"
pass
assert_status 1 asyncctl status "$first"
testd_stop

# ---- kill -9 under a waiter, then a new daemon: the waiter never takes
# the new daemon's job for the one it waited on.
testd_start --state-dir "$state" --durability none
url=$TESTD_URL
assert_status 0 asyncctl submit sleep '{"seconds": 60}'
victim=$ASSERT_OUT
"$BUILD/asyncctl" wait "$victim" >"$_TESTD_TMP/w.out" \
    2>"$_TESTD_TMP/w.err" &
waiter=$!
wait_for sh -c "\"$BUILD/asyncctl\" --json status $victim | grep -q running"
sleep 0.3	# the waiter's request is with the daemon
dir=$TESTD_DIR
testd_kill KILL
testd_stop 137
# The same socket and state directory, at once.
mkdir -p "$dir" 2>/dev/null
"$BUILD/asyncd" --socket "$url" --state-dir "$state" --durability none </dev/null \
    >"$_TESTD_TMP/second.log" 2>&1 &
second_pid=$!
wait_for "$BUILD/asyncctl" --socket "$url" ping
assert_status 0 "$BUILD/asyncctl" --socket "$url" submit echo '"new"' --wait
wait "$waiter"
st=$?
[ "$st" -ne 0 ] || fail "the waiter on job $victim exited 0 after a restart:" \
    "$(cat "$_TESTD_TMP/w.out")"
pass
if grep -q '"new"' "$_TESTD_TMP/w.out"; then
	fail "the waiter printed the new daemon's job"
fi
pass
kill -TERM "$second_pid"
wait "$second_pid"
assert_eq 0 "$?" "the second daemon stopped cleanly"
rm -rf "$dir"

# ---- a damaged next-id file stops the start, naming the file.
bad=$(mktemp -d "$_TESTD_TMP/bad.XXXXXX") || fail "mktemp"
echo "twelve" >"$bad/next-id"
assert_status 1 timeout 10 "$BUILD/asyncd" --socket "ipc://$bad/a.sock" \
    --state-dir "$bad"
assert_match "$bad/next-id is not a job id" "$ASSERT_ERR" \
    "the damaged file is named"

# ---- a fan-out larger than --keep: every result is still there (memory
# only: with a store, --keep bounds a cache, test_durability.sh).
testd_start --keep 5 --durability none
for i in $(seq 1 30); do
	asyncctl submit echo "$i"
done >"$_TESTD_TMP/ids" || fail "submitting the fan-out"
# Every job has finished, unread, before anyone waits.
done30() {
	asyncctl --json stats | json_get succeeded | grep -qx 30
}
wait_for done30
assert_status 0 asyncctl wait - <"$_TESTD_TMP/ids"
assert_eq "$(seq 1 30 | tr '\n' ' ')" \
    "$(printf '%s\n' "$ASSERT_OUT" | tr '\n' ' ')" "30 results, in order"

# ---- one unknown id does not fail the others.
assert_status 0 asyncctl submit echo '"known"'
known=$ASSERT_OUT
assert_status 1 asyncctl wait "$known" 987654 --timeout 10
assert_eq '"known"' "$ASSERT_OUT" "the known job's result"
assert_match '987654' "$ASSERT_ERR" "the unknown id is reported"
assert_status 0 asyncctl --json wait "$known"
testd_stop

# ---- gathers under --max-coroutines: top-level jobs leave room for
# children, so ten five-child gathers at 20 coroutines all succeed.
testd_start --max-coroutines 20
child='{"type": "sleep", "args": {"seconds": 0.05}}'
spec="{\"jobs\": [$child, $child, $child, $child, $child]}"
: >"$_TESTD_TMP/gathers"
for i in 1 2 3 4 5 6 7 8 9 10; do
	asyncctl submit gather "$spec" >>"$_TESTD_TMP/gathers" ||
	    fail "submitting gather $i"
done
assert_status 0 asyncctl wait - <"$_TESTD_TMP/gathers"
assert_eq 10 "$(printf '%s\n' "$ASSERT_OUT" |
    grep -c '^\[null,null,null,null,null\]$')" "ten gathers succeeded"
testd_stop

# ---- depth: arguments as deep as a reply can carry are fine, deeper
# ones are refused with the reason.
nest() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i < n; i++) printf "["
		printf "1"
		for (i = 1; i < n; i++) printf "]"
		printf "\n"
	}'
}
testd_start
assert_status 0 asyncctl submit echo "$(nest 256)" --wait
assert_eq "$(nest 256)" "$ASSERT_OUT" "256 levels come back"
assert_status 1 asyncctl submit echo "$(nest 257)"
assert_match "nests deeper than 256 levels" "$ASSERT_ERR" "257 levels refused"
assert_status 0 asyncctl ping

# ---- the log says who stopped the daemon.
assert_status 0 asyncctl shutdown
wait_for grep -q 'shutdown requested by uid [0-9]* (pid [0-9]*)' "$TESTD_LOG"
testd_stop

# ---- without $HOME, the directory the daemon makes for its socket and
# state (/tmp/asyncd-$UID) is private, as the socket's directory must be.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "test_hardening.sh: not root or no setpriv; private default" \
	    "directory not checked"
else
	uid=65534
	priv=/tmp/asyncd-$uid
	if [ -e "$priv" ]; then
		[ "$(stat -c %u "$priv")" = "$uid" ] ||
		    fail "$priv exists and is not uid $uid's"
		rm -rf "$priv"
	fi
	setpriv --reuid=$uid --regid=$uid --clear-groups env -i \
	    PATH=/usr/bin:/bin "$BUILD/asyncd" --log-level warning \
	    </dev/null >"$_TESTD_TMP/nobody.log" 2>&1 &
	nobody=$!
	wait_for test -S "$priv/asyncd.sock"
	assert_eq 700 "$(stat -c %a "$priv")" "the default directory's mode"
	assert_eq 700 "$(stat -c %a "$priv/state")" "the state directory's mode"
	kill -TERM "$nobody"
	wait "$nobody"
	assert_eq 0 "$?" "the daemon without \$HOME stopped cleanly"
	rm -rf "$priv"
fi
