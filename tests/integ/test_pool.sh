#!/bin/sh
# The process pool: workers start lazily and are reused; no descriptor of
# the daemon leaks into them; a function's error is the job's; a worker
# that crashes (the crash example: segfault, abort, exit) fails only its
# job with worker_crashed and is replaced; cancel and timeout kill the
# worker running the call; progress frames; recycling after
# --max-calls-per-worker; saturation (calls queue, in order, never more
# workers than --workers); the primes example's gather of 8 on 2
# workers; SIGTERM with calls in flight leaves no worker behind.
. tests/helpers/lib.sh

PLUGINS=$_TESTD_TMP/plugins
mkdir -p "$PLUGINS" || fail "mkdir"
for p in "$BUILD/plugins/crash.so" "$BUILD/plugins/primes.so" \
    "$BUILD/tests/plugins/t.so"; do
	[ -f "$p" ] || fail "no $p (make tests)"
	cp "$p" "$PLUGINS/" || fail "cp $p"
done

job() {
	JOB=$("$BUILD/asyncctl" --json submit "$@" --wait --wait-timeout 60 \
	    2>/dev/null)
	[ -n "$JOB" ] || fail "no job object for $*"
}
field() {
	printf '%s' "$JOB" | json_get "$1"
}
# The daemon's worker processes, one pid a line.
workers() {
	ps -o pid= -o args= --ppid "$TESTD_PID" | awk '/--worker/ { print $1 }'
}
nworkers() {
	workers | wc -l | tr -d ' '
}
gone() {
	[ ! -e "/proc/$1" ]
}
running() {
	"$BUILD/asyncctl" --json status "$1" | grep -q '"running"'
}

testd_start --plugin-dir "$PLUGINS" --workers 2
assert_eq 0 "$(nworkers)" "no worker before the first call"

# ---- reuse, fds, errors.
job t.pid
assert_eq succeeded "$(field state)" "a process function is a job type"
a=$(field result | json_get pid)
assert_eq 1 "$(nworkers)" "one call started one worker"
job t.pid
assert_eq "$a" "$(field result | json_get pid)" "the idle worker is reused"
job t.fds
assert_eq '[]' "$(field result | json_get fds)" "a worker has only fds 0-2"
job t.fail
assert_eq failed "$(field state)" "a function's failure"
assert_eq t_code "$(field error | json_get code)" "keeps its code"
assert_eq 'failed on purpose' "$(field error | json_get message)" \
    "and message"

# ---- crashes: only the job fails, the worker is replaced.
job crash.abort
assert_eq failed "$(field state)" "abort fails the job"
assert_eq worker_crashed "$(field error | json_get code)" "worker_crashed"
assert_match 'killed by signal 6 \(SIGABRT\)' "$(field error | json_get message)" \
    "the message names the signal"
wait_for gone "$a"
job t.pid
b=$(field result | json_get pid)
[ "$b" != "$a" ] || fail "the crashed worker served again"
pass
job crash.segv
assert_eq worker_crashed "$(field error | json_get code)" "a segfault"
# Under ASan the sanitizer catches SIGSEGV and exits 1.
assert_match 'SIGSEGV|exited with status 1' "$(field error | json_get message)" \
    "named"
job crash.exit
assert_match 'exited with status 3' "$(field error | json_get message)" \
    "an exit is named with its status"
assert_status 0 "$BUILD/asyncctl" ping
job t.pid
assert_eq succeeded "$(field state)" "the pool serves on after three crashes"

# ---- progress from a worker.
id=$("$BUILD/asyncctl" submit t.progress '{"seconds": 30}') || fail submit
wait_for sh -c "'$BUILD/asyncctl' --json status $id | grep -q 'half way'"

# ---- cancel kills the worker running the call, at once.
wait_for running "$id"
assert_status 0 "$BUILD/asyncctl" cancel "$id"
JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 10)
assert_eq cancelled "$(field state)" "cancelled while its worker computes"
# Log lines leave within a tenth of a second, maybe after the reply.
wait_for grep -q "killing worker [0-9]* (its call of t.progress" "$TESTD_LOG"
victim=$(sed -n "s/.*killing worker \([0-9]*\) (its call of t.progress.*/\1/p" \
    "$TESTD_LOG")
assert_match '^[0-9]+$' "$victim" "the log names the killed worker"
wait_for gone "$victim"

# ---- a timeout too, on a worker already up (a spawn may take longer than
# the timeout on a loaded machine: the call would time out queued).
job t.pid
job t.sleep '{"seconds": 60}' --timeout 1
assert_eq timed_out "$(field state)" "a call past its job's timeout"
wait_for grep -q "killing worker [0-9]* (its call of t.sleep" "$TESTD_LOG"
victim=$(sed -n "s/.*killing worker \([0-9]*\) (its call of t.sleep.*/\1/p" \
    "$TESTD_LOG" | tail -1)
assert_match '^[0-9]+$' "$victim" "its worker was killed"
wait_for gone "$victim"
job t.pid
assert_eq succeeded "$(field state)" "and replaced"

# ---- saturation: 6 calls on 2 workers queue, in order. They are started
# at once, by one gather (six submits could each find a worker idle on a
# loaded machine, and never queue).
call='{"type": "t.sleep", "args": {"seconds": 0.4}}'
id=$("$BUILD/asyncctl" submit gather \
    "{\"jobs\": [$call, $call, $call, $call, $call, $call]}") ||
    fail "submit gather"
# Calls 2 to 6 found worker 1 busy, so a second worker was started (and
# stays, idle, once started); never a third.
wait_for sh -c "[ \$(ps -o args= --ppid $TESTD_PID | grep -c -- --worker) -ge 2 ]"
for i in 1 2 3 4 5 6 7 8 9 10; do
	n=$(nworkers)
	[ "$n" -le 2 ] || fail "$n workers for --workers 2"
	sleep 0.1
done
pass
JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 60)
assert_eq succeeded "$(field state)" "6 queued calls"
results=$(field result)
n=$(printf '%s' "$results" | grep -o '"pid":[0-9]*' | sort -u | wc -l |
    tr -d ' ')
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "6 calls ran on $n workers"
pass
# First come, first served: call k has started before call k+2 starts
# (with two workers, k+2 waits for k or k+1 to end).
printf '%s' "$results" | grep -o '"started":[0-9.]*' | cut -d: -f2 |
    awk '{ s[NR] = $1 } END { if (NR != 6) exit 1
	for (i = 1; i + 2 <= NR; i++) if (s[i] > s[i + 2]) exit 1 }' ||
    fail "calls were not served in order: $results"
pass

# ---- the primes example: a gather of 8 uses both workers.
# Each is long enough (0.15 s of CPU, more under sanitizers) that the
# second worker is up before the first has done them all.
job primes.gather '{"below": 1000000, "n": 8}'
assert_eq succeeded "$(field state)" "primes.gather"
assert_eq '[78498,78498,78498,78498,78498,78498,78498,78498]' \
    "$(field result | json_get counts)" "8 counts of the primes below 1e6"
assert_eq 2 "$(field result | json_get workers)" "on both workers"

# ---- SIGTERM with calls in flight: the daemon exits, and no worker stays.
for i in 1 2 3; do
	"$BUILD/asyncctl" submit t.sleep '{"seconds": 120}' >/dev/null ||
	    fail submit
done
wait_for sh -c "[ \$(ps -o args= --ppid $TESTD_PID | grep -c -- --worker) -eq 2 ]"
left=$(workers)
start=$(date +%s)
testd_stop
# Well under the drain timeout (10 s): cancel kills the workers at once.
[ $(($(date +%s) - start)) -le 7 ] ||
    fail "SIGTERM with calls in flight took over 7 s (cancel kills workers)"
pass
for pid in $left; do
	wait_for gone "$pid"
done

# ---- recycling: 2 calls a worker.
testd_start --plugin-dir "$PLUGINS" --workers 1 --max-calls-per-worker 2
pids=
for i in 1 2 3 4; do
	job t.pid
	pids="$pids $(field result | json_get pid)"
done
set -- $pids
assert_eq "$1" "$2" "a worker serves its 2 calls"
assert_eq "$3" "$4" "so does the next"
[ "$1" != "$3" ] || fail "the worker was not recycled after 2 calls"
pass
wait_for gone "$1"
testd_stop
