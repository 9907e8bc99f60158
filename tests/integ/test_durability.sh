#!/bin/sh
# Accepted means stored: what a daemon killed with SIGKILL leaves behind is
# what the next one serves. Finished jobs keep their results, queued ones
# run again in their order, running ones are interrupted and handled by
# their type's delivery policy, keys and ids keep their meaning, a waiter
# rides over the restart, a command left running is killed, an id gone to
# retention says "expired", and a store that cannot be opened or written
# says so.
. tests/helpers/lib.sh

state=$(mktemp -d "$_TESTD_TMP/state.XXXXXX") || fail "mktemp"

# Kills the daemon with SIGKILL: nothing it did not commit survives.
crash() {
	testd_kill KILL
	testd_stop 137
}

# True once process $1 is gone (a zombie counts: whoever adopted the
# orphan may not reap it at once).
gone() {
	_st=$(sed 's/.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null)
	[ -z "$_st" ] || [ "$_st" = Z ]
}

# The field $2 of job $1, from status.
field() {
	"$BUILD/asyncctl" --json status "$1" | json_get "$2"
}

# ---- ping names the durability; the store is in the state directory.
testd_start --state-dir "$state" --max-running 1
assert_status 0 asyncctl --json ping
assert_eq process "$(printf '%s' "$ASSERT_OUT" | json_get durability)" \
    "durability in ping"
[ -f "$state/jobs.db" ] || fail "no jobs.db in the state directory"
pass
inst1=$(printf '%s' "$ASSERT_OUT" | json_get instance)

# ---- a finished job, a running at_most_once command that leaves a
# process behind, and jobs queued behind it (--max-running 1).
assert_status 0 asyncctl submit echo '{"n":1}' --wait
assert_status 0 asyncctl submit echo '{"n":1}' --key done-key
done_id=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $done_id |
    grep -q succeeded"
pidfile=$_TESTD_TMP/orphan.pid
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \"echo \$\$ > $pidfile; exec sleep 300\"]}"
cmd_id=$ASSERT_OUT
wait_for test -s "$pidfile"
orphan=$(cat "$pidfile")
gone "$orphan" && fail "the command is not running"
assert_status 0 asyncctl submit echo '"a"' --key qa
qa=$ASSERT_OUT
assert_status 0 asyncctl submit echo '"b"'
qb=$ASSERT_OUT
assert_status 0 asyncctl submit echo '"c"'
qc=$ASSERT_OUT
assert_eq queued "$(field "$qa" state)" "queued behind the command"
crash
# The command outlived the daemon that started it...
gone "$orphan" && fail "the command died with the daemon"
pass

testd_start --state-dir "$state" --max-running 1
# ...and the next daemon kills it.
n=0
until gone "$orphan"; do
	n=$((n + 1))
	[ "$n" -lt 400 ] || fail "process $orphan still runs after the restart"
	sleep 0.05
done
pass
assert_match 'killed process group' "$(cat "$TESTD_LOG")" \
    "the log says a process group was killed"
assert_status 0 asyncctl --json ping
assert_eq "$inst1" "$(printf '%s' "$ASSERT_OUT" | json_get instance)" \
    "a durable store keeps the instance"

# The finished job, with its result.
assert_eq succeeded "$(field "$done_id" state)" "finished job state"
assert_status 0 asyncctl wait "$done_id"
assert_eq '{"n":1}' "$ASSERT_OUT" "finished job result"
# The command ran at most once: interrupted, visible as such.
assert_eq interrupted "$(field "$cmd_id" state)" "running exec job"
assert_eq at_most_once "$(field "$cmd_id" delivery)" "exec's policy"
assert_eq interrupted "$("$BUILD/asyncctl" --json status "$cmd_id" |
    json_get error | json_get code)" "its error code"
# The queued ones ran, in their order.
assert_status 0 asyncctl wait "$qa" "$qb" "$qc"
a=$(field "$qa" started)
b=$(field "$qb" started)
c=$(field "$qc" started)
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { exit !(a <= b && b <= c) }' ||
    fail "queued jobs ran out of order: $a $b $c"
pass
# Keys: a succeeded job keeps its key across the restart.
assert_status 0 asyncctl submit echo '{"n":2}' --key done-key
assert_eq "$done_id" "$ASSERT_OUT" "the key maps to the same job"
# Ids go on growing.
assert_status 0 asyncctl submit echo 1
[ "$ASSERT_OUT" -gt "$qc" ] || fail "id $ASSERT_OUT after $qc"
pass
# types says each type's policy.
assert_status 0 asyncctl --json types
printf '%s' "$ASSERT_OUT" | grep -q '"name":"sleep"' || fail "types: $ASSERT_OUT"
pass

# ---- an at_least_once job that was running runs again, counting an
# attempt; a client waiting on it rides over the restart.
assert_status 0 asyncctl submit sleep '{"seconds": 4}' --key again
again=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $again | grep -q running"
"$BUILD/asyncctl" wait --timeout 60 "$again" >"$_TESTD_TMP/w.out" \
    2>"$_TESTD_TMP/w.err" &
waiter=$!
# It has connected once it holds a socket.
wait_for sh -c "ls -l /proc/$waiter/fd 2>/dev/null | grep -q 'socket:'"
url=$TESTD_URL
dir=$TESTD_DIR
crash
# The same socket, so the waiter finds the new daemon.
mkdir -p "$dir"
"$BUILD/asyncd" --socket "$url" --state-dir "$state" --log-level debug \
    </dev/null >"$_TESTD_TMP/second.log" 2>&1 &
second=$!
# Not testd's daemon: killed at exit if a check below fails first.
testd_at_exit '[ -z "$second" ] || kill -KILL "$second" 2>/dev/null'
wait_for "$BUILD/asyncctl" --socket "$url" ping
wait "$waiter"
st=$?
[ "$st" -eq 0 ] || fail "the waiter exited $st: $(cat "$_TESTD_TMP/w.err")"
pass
assert_eq 2 "$("$BUILD/asyncctl" --socket "$url" --json status "$again" |
    json_get attempts)" "attempts after an interruption"
assert_eq at_least_once "$("$BUILD/asyncctl" --socket "$url" --json \
    status "$again" | json_get delivery)" "sleep's policy"
kill -TERM "$second"
wait "$second" || fail "second daemon exited $?"
second=
pass
rm -rf "$dir"

# ---- an interruption is a counted attempt with an "interrupted" error:
# an at_least_once job running each time the daemon dies runs again until
# its retries (with them, after their delay) or three interruptions
# (without) are used up, and then ends interrupted: a job that kills the
# daemon does not crash-loop it for ever.
istate=$(mktemp -d "$_TESTD_TMP/istate.XXXXXX")

# Job $1 runs its attempt $2, and its running state is committed: the
# store commits in order, so a submit acknowledged after it says so.
running_stored() {
	wait_for sh -c "\"$BUILD/asyncctl\" --json status $1 |
	    grep -q '\"state\":\"running\"'"
	assert_eq "$2" "$(field "$1" attempts)" "job $1 runs attempt $2"
	assert_status 0 asyncctl submit echo '"barrier"' --wait
}

# The codes in job $1's attempt_errors, one per line.
attempt_codes() {
	"$BUILD/asyncctl" --json status "$1" | json_get attempt_errors |
	    grep -o '"code":"[a-z_]*"' | cut -d'"' -f4
}

testd_start --state-dir "$istate"
# No retries: three interruptions.
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
loop=$ASSERT_OUT
# One retry, soon: two interruptions.
assert_status 0 asyncctl submit sleep '{"seconds": 600}' --retries 1 \
    --retry-delay 0.05
once=$ASSERT_OUT
# One retry, in an hour: the interruption waits for its retry delay.
assert_status 0 asyncctl submit sleep '{"seconds": 600}' --retries 1 \
    --retry-delay 3600
later=$ASSERT_OUT
running_stored "$loop" 1
running_stored "$once" 1
running_stored "$later" 1
crash

testd_start --state-dir "$istate"
running_stored "$loop" 2
running_stored "$once" 2
assert_eq interrupted "$(attempt_codes "$loop")" "the first interruption"
assert_match 'daemon stopped while the job ran' "$("$BUILD/asyncctl" \
    --json status "$loop" | json_get attempt_errors)" "its message"
assert_eq interrupted "$(attempt_codes "$once")" "an interruption with retries"
assert_eq queued "$(field "$later" state)" "queued for its retry delay"
assert_eq 1 "$(field "$later" attempts)" "its attempt counted"
assert_eq interrupted "$(attempt_codes "$later")" "its attempt's error"
nb=$(field "$later" not_before)
awk -v nb="$nb" -v now="$(date +%s)" 'BEGIN { exit !(nb > now + 600) }' ||
    fail "not_before $nb is not about an hour ahead"
pass
crash

testd_start --state-dir "$istate"
running_stored "$loop" 3
assert_eq "interrupted
interrupted" "$(attempt_codes "$loop")" "two interruptions recorded"
# Its retry used, the second interruption ends it.
assert_eq interrupted "$(field "$once" state)" "no retries left"
assert_eq 2 "$(field "$once" attempts)" "its attempts"
assert_match 'no retries left' "$("$BUILD/asyncctl" --json status "$once" |
    json_get error)" "why it ended"
crash

testd_start --state-dir "$istate"
assert_eq interrupted "$(field "$loop" state)" "three interruptions end it"
assert_eq 3 "$(field "$loop" attempts)" "three attempts"
assert_eq "interrupted
interrupted" "$(attempt_codes "$loop")" "the earlier two in attempt_errors"
assert_eq interrupted "$("$BUILD/asyncctl" --json status "$loop" |
    json_get error | json_get code)" "the last one is its error"
assert_match '3 times' "$("$BUILD/asyncctl" --json status "$loop" |
    json_get error)" "the message says how often"
assert_match 'at_least_once' "$("$BUILD/asyncctl" --json status "$loop" |
    json_get error)" "and why it stops"
assert_eq queued "$(field "$later" state)" "a queued job is not interrupted"
testd_stop

# ---- an orderly stop keeps queued jobs for the next start, and cancels
# running ones.
testd_start --state-dir "$state" --max-running 1
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
run=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $run | grep -q running"
assert_status 0 asyncctl submit echo '"kept"'
kept=$ASSERT_OUT
testd_kill TERM
wait_for sh -c "grep -q 'shutdown: 1 queued job kept in the store' \
    \"$TESTD_LOG\""
testd_stop
testd_start --state-dir "$state"
assert_eq cancelled "$(field "$run" state)" "a running job at SIGTERM"
assert_status 0 asyncctl wait "$kept"
assert_eq '"kept"' "$ASSERT_OUT" "a queued job ran after SIGTERM"
testd_stop

# ---- memory holds a bounded cache (--keep); older finished jobs come
# back from the store when asked for, also after a restart.
testd_start --state-dir "$state" --keep 2
for i in 1 2 3 4 5 6; do
	assert_status 0 asyncctl --json submit echo "\"c$i\"" --wait
	[ "$i" -eq 1 ] && old=$(printf '%s' "$ASSERT_OUT" | json_get id)
done
assert_status 0 asyncctl wait "$old"
assert_eq '"c1"' "$ASSERT_OUT" "a job read back from the store"
assert_eq succeeded "$(field "$old" state)" "its state"
testd_kill KILL
testd_stop 137
testd_start --state-dir "$state" --keep 2
assert_status 0 asyncctl wait "$old"
assert_eq '"c1"' "$ASSERT_OUT" "read back after a restart"
testd_stop

# ---- keys live in the store: succeeded keyed jobs leave memory like any
# finished job (past --keep), and a duplicate submit of an old key still
# answers the original job, also after a restart, also two at once.
kstate=$(mktemp -d "$_TESTD_TMP/kstate.XXXXXX")
# How many succeeded jobs memory holds (stats counts memory; list reads
# the store).
in_memory() {
	"$BUILD/asyncctl" --json stats | json_get succeeded
}
testd_start --state-dir "$kstate" --keep 2
for i in 1 2 3 4 5 6 7 8; do
	assert_status 0 asyncctl --json submit echo "\"k$i\"" --key "k$i" --wait
	eval "k$i=\$(printf '%s' \"\$ASSERT_OUT\" | json_get id)"
done
[ "$(in_memory)" -le 3 ] ||
    fail "$(in_memory) keyed jobs in memory with --keep 2"
pass
assert_status 0 asyncctl submit echo '"dup"' --key k1
assert_eq "$k1" "$ASSERT_OUT" "an old key, read from the store"
testd_kill KILL
testd_stop 137
testd_start --state-dir "$kstate" --keep 2
[ "$(in_memory)" -le 2 ] ||
    fail "$(in_memory) keyed jobs loaded at start with --keep 2"
pass
assert_status 0 asyncctl submit echo '"dup"' --key k2
assert_eq "$k2" "$ASSERT_OUT" "an old key after a restart"
assert_status 0 asyncctl wait "$k2"
assert_eq '"k2"' "$ASSERT_OUT" "with its original result"
# Two submits of one old key in flight at once: one job, the original.
"$BUILD/asyncctl" submit echo '"x"' --key k3 >"$_TESTD_TMP/r1" 2>&1 &
r1=$!
"$BUILD/asyncctl" submit echo '"y"' --key k3 >"$_TESTD_TMP/r2" 2>&1 &
r2=$!
wait "$r1" || fail "the first submit of k3: $(cat "$_TESTD_TMP/r1")"
wait "$r2" || fail "the second submit of k3: $(cat "$_TESTD_TMP/r2")"
assert_eq "$k3" "$(cat "$_TESTD_TMP/r1")" "k3, first of two at once"
assert_eq "$k3" "$(cat "$_TESTD_TMP/r2")" "k3, second of two at once"
# And of a new key: one new job.
"$BUILD/asyncctl" submit echo '"x"' --key knew >"$_TESTD_TMP/r1" 2>&1 &
r1=$!
"$BUILD/asyncctl" submit echo '"y"' --key knew >"$_TESTD_TMP/r2" 2>&1 &
r2=$!
wait "$r1" || fail "the first submit of knew: $(cat "$_TESTD_TMP/r1")"
wait "$r2" || fail "the second submit of knew: $(cat "$_TESTD_TMP/r2")"
assert_eq "$(cat "$_TESTD_TMP/r1")" "$(cat "$_TESTD_TMP/r2")" \
    "a new key submitted twice at once"
[ "$(cat "$_TESTD_TMP/r1")" -gt "$k8" ] || fail "knew is not a new job"
pass
# A failed keyed job does not hold its key, in the store either.
assert_status 1 asyncctl --json submit fail '{}' --key kfail --wait
kf=$(printf '%s' "$ASSERT_OUT" | json_get id)
assert_status 0 asyncctl submit echo 1 --key kfail
[ "$ASSERT_OUT" != "$kf" ] || fail "a failed job kept its key"
pass
testd_stop

# ---- retention: a job past it is expired (also after a restart); an id
# never issued is unknown.
testd_start --state-dir "$state" --retention 1
assert_status 0 asyncctl --json submit echo 1 --wait
first=$(printf '%s' "$ASSERT_OUT" | json_get id)
wait_for sh -c "! \"$BUILD/asyncctl\" status $first >/dev/null 2>&1"
assert_status 1 asyncctl status "$first"
assert_match 'no longer kept' "$ASSERT_ERR" "expired message"
assert_status 1 asyncctl --json wait "$first"
assert_match '"code":"expired"' "$ASSERT_OUT$ASSERT_ERR" "expired code"
assert_status 1 asyncctl --json wait 999999999
assert_match '"code":"unknown_job"' "$ASSERT_OUT$ASSERT_ERR" "unknown code"
testd_stop
testd_start --state-dir "$state"
assert_status 1 asyncctl --json wait "$first"
assert_match '"code":"expired"' "$ASSERT_OUT$ASSERT_ERR" \
    "expired after a restart"
testd_stop

# ---- a write that fails: the submit gets storage_error, accepted jobs go
# on, and the daemon recovers when the disk does.
full=$_TESTD_TMP/disk-full
ASYNCD_TEST_STORE_FAIL=$full
export ASYNCD_TEST_STORE_FAIL
testd_start --state-dir "$state"
assert_status 0 asyncctl submit sleep '{"seconds": 1}'
accepted=$ASSERT_OUT
: >"$full"
assert_status 1 asyncctl submit echo '"lost"'
assert_match 'storage_error|could not be stored' "$ASSERT_ERR" \
    "a submit that could not be stored"
# An at_least_once job starts before its row is stored (sched.c, early):
# one that ended first and was waited for answers the error too, and one
# still running is stopped, not left to run unaccepted.
assert_status 1 asyncctl submit --wait echo '"lost and waited for"'
assert_match 'storage_error|could not be stored' "$ASSERT_ERR" \
    "a waited-for submit that could not be stored"
assert_status 1 asyncctl submit sleep '{"seconds": 300}'
assert_match 'storage_error|could not be stored' "$ASSERT_ERR" \
    "a long job that could not be stored"
assert_status 0 asyncctl --json wait "$accepted"
assert_eq succeeded "$(printf '%s' "$ASSERT_OUT" | json_get state 2>/dev/null ||
    field "$accepted" state)" "an accepted job went on"
nothing_runs() { "$BUILD/asyncctl" --json stats | grep -q '"running":0,'; }
wait_for nothing_runs
rm -f "$full"
assert_status 0 asyncctl submit echo '"back"' --wait
assert_eq '"back"' "$ASSERT_OUT" "the store works again"
testd_stop
unset ASYNCD_TEST_STORE_FAIL

# ---- a damaged database: a clear error naming the file.
bad=$(mktemp -d "$_TESTD_TMP/bad.XXXXXX")
head -c 8192 /dev/urandom >"$bad/jobs.db"
"$BUILD/asyncd" --socket "ipc://$bad/s.sock" --state-dir "$bad" \
    </dev/null >"$_TESTD_TMP/bad.log" 2>&1
st=$?
[ "$st" -eq 1 ] || fail "asyncd exited $st on a damaged store"
assert_match "$bad/jobs.db" "$(cat "$_TESTD_TMP/bad.log")" \
    "the error names the file"
assert_match 'damaged|not a database' "$(cat "$_TESTD_TMP/bad.log")" \
    "the error says what is wrong"

# ---- a store it cannot write: refused at start, naming the file.
ro=$(mktemp -d "$_TESTD_TMP/ro.XXXXXX")
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$ro/state"
	chmod 0500 "$ro/state"
	rodir=$ro/state
elif mount -t tmpfs -o size=4m tmpfs "$ro" 2>/dev/null; then
	mkdir "$ro/state"
	mount -o remount,ro "$ro" || fail "remount ro"
	rodir=$ro/state
else
	rodir=
fi
if [ -n "$rodir" ]; then
	"$BUILD/asyncd" --socket "ipc://$_TESTD_TMP/ro.sock" \
	    --state-dir "$rodir" </dev/null >"$_TESTD_TMP/ro.log" 2>&1
	st=$?
	[ "$(id -u)" -ne 0 ] || umount "$ro"
	[ "$st" -eq 1 ] || fail "asyncd exited $st on a read-only state dir"
	assert_match "$rodir" "$(cat "$_TESTD_TMP/ro.log")" \
	    "the error names the directory"
	assert_match 'Read-only|Permission denied|readonly' \
	    "$(cat "$_TESTD_TMP/ro.log")" "the error says why"
fi

# ---- a database written by the first schema opens and is migrated.
old=$(mktemp -d "$_TESTD_TMP/old.XXXXXX")
cp "${ASYNCD_SRCDIR:-.}/tests/data/store-v1.db" "$old/jobs.db" ||
    fail "no tests/data/store-v1.db"
testd_start --state-dir "$old"
assert_status 0 asyncctl wait 1
assert_eq '"v1"' "$ASSERT_OUT" "a job stored by schema 1"
assert_eq cancelled "$(field 2 state)" "a cancelled job of schema 1"
# Queued when that daemon stopped: it runs now, and keeps its key.
assert_status 0 asyncctl wait 3
assert_eq '"queued in v1"' "$ASSERT_OUT" "a queued job of schema 1 ran"
assert_status 0 asyncctl submit echo 0 --key k-queued
assert_eq 3 "$ASSERT_OUT" "a key of schema 1"
assert_status 0 asyncctl submit echo 4
[ "$ASSERT_OUT" -gt 3 ] || fail "id $ASSERT_OUT after a schema 1 store"
pass
testd_stop

# ---- durability none: today's memory-only daemon.
testd_start --state-dir "$state" --durability none
assert_status 0 asyncctl --json ping
assert_eq none "$(printf '%s' "$ASSERT_OUT" | json_get durability)" \
    "durability none in ping"
testd_stop

echo "PASS $TESTD_SCRIPT ($TESTD_PASSED checks)"
