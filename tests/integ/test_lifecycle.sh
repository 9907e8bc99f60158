#!/bin/sh
# A job's life before and after it runs: priorities (higher first among
# jobs ready to run), delayed starts (delay, not_before; a delayed job
# holds no coroutine), retries (counted, each failed attempt's error kept,
# growing delays), asyncctl retry, and --max-queued. Checked by order and
# count, not by wall time.
. tests/helpers/lib.sh

field() {
	"$BUILD/asyncctl" --json status "$1" | json_get "$2"
}

# A job's start time is after another's.
started_before() {
	awk -v a="$(field "$1" started)" -v b="$(field "$2" started)" \
	    'BEGIN { exit !(a < b) }' ||
	    fail "job $1 did not start before job $2"
	pass
}

# ---- --max-queued: past it, busy, and nothing accepted is lost.
testd_start --max-running 1 --max-queued 2
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
blocker=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $blocker |
    grep -q running"
assert_status 0 asyncctl submit sleep '{"seconds": 0.01}'
low=$ASSERT_OUT
assert_status 0 asyncctl submit sleep '{"seconds": 0.01}' --priority 5
high=$ASSERT_OUT
assert_status 1 asyncctl submit echo 1 --priority 9
assert_match 'busy|too many jobs queued' "$ASSERT_ERR" "--max-queued"
assert_status 0 asyncctl cancel "$blocker"
assert_status 0 asyncctl wait "$low" "$high"
started_before "$high" "$low"
testd_stop

# ---- priority: higher first among ready jobs; equal ones in order.
testd_start --max-running 1
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
blocker=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $blocker |
    grep -q running"
for p in 0 5 5 -3; do
	assert_status 0 asyncctl submit sleep '{"seconds": 0.01}' --priority $p
	set -- "$@" "$ASSERT_OUT"
done
low=$1 high=$2 high2=$3 neg=$4
assert_eq 5 "$(field "$high" priority)" "priority in the job"
assert_status 0 asyncctl cancel "$blocker"
assert_status 0 asyncctl wait "$low" "$high" "$high2" "$neg"
started_before "$high" "$high2"
started_before "$high2" "$low"
started_before "$low" "$neg"
testd_stop

# ---- delayed jobs: no coroutine held; they start when due.
testd_start --max-coroutines 2
i=0
while [ "$i" -lt 20 ]; do
	assert_status 0 asyncctl submit echo "$i" --delay 10m
	i=$((i + 1))
done
late=$ASSERT_OUT
assert_eq queued "$(field "$late" state)" "a delayed job is queued"
[ -n "$(field "$late" not_before)" ] || fail "no not_before"
pass
# Twenty delayed jobs and two coroutines: a job now still runs now.
assert_status 0 asyncctl submit echo '"now"' --wait
assert_eq '"now"' "$ASSERT_OUT" "a ready job runs past delayed ones"
assert_status 0 asyncctl submit echo '"soon"' --delay 1
soon=$ASSERT_OUT
assert_status 0 asyncctl wait "$soon"
assert_eq '"soon"' "$ASSERT_OUT" "a delayed job ran"
awk -v a="$(field "$soon" created)" -v b="$(field "$soon" started)" \
    'BEGIN { exit !(b - a >= 0.9) }' || fail "job $soon started early"
pass
# A time already past: at once. A bad one: refused.
assert_status 0 asyncctl submit echo 1 --not-before 2020-01-01T00:00:00Z \
    --wait
assert_status 2 asyncctl submit echo 1 --not-before yesterday
assert_status 2 asyncctl submit echo 1 --delay 10x
assert_status 0 asyncctl cancel "$late"
assert_eq cancelled "$(field "$late" state)" "a delayed job cancelled"
testd_stop

# ---- retries: every failed attempt's error, in order; a timeout counts.
testd_start
assert_status 1 asyncctl submit fail '{"message": "boom", "code": "e1"}' \
    --retries 2 --retry-delay 0.05 --wait
assert_status 0 asyncctl --json status "$(asyncctl --json list --limit 1 |
    grep -o '"id":[0-9]*' | head -1 | cut -d: -f2)"
job=$ASSERT_OUT
assert_eq 3 "$(printf '%s' "$job" | json_get attempts)" "attempts"
assert_eq 2 "$(printf '%s' "$job" | grep -o '"attempt":' | wc -l |
    tr -d ' ')" "one recorded error per failed attempt"
assert_match '"attempt_errors":\[\{"attempt":1,"code":"e1","message":"boom"' \
    "$job" "the first attempt's error"
# Fails once, then succeeds.
marker=$_TESTD_TMP/attempt
assert_status 0 asyncctl --json submit exec "{\"argv\": [\"sh\", \"-c\",
    \"if [ -e $marker ]; then echo ok; else : > $marker; exit 3; fi\"]}" \
    --retries 3 --retry-delay 0.05 --wait
job=$ASSERT_OUT
assert_eq succeeded "$(printf '%s' "$job" | json_get state)" "retried to success"
assert_eq 2 "$(printf '%s' "$job" | json_get attempts)" "two attempts"
assert_match '"code":"exit_status"' "$job" "the failed attempt's code"
# A timeout is retried too.
assert_status 5 asyncctl --json submit sleep '{"seconds": 60}' \
    --timeout 0.1 --retries 1 --retry-delay 0.05 --wait
assert_eq 2 "$(printf '%s' "$ASSERT_OUT" | json_get attempts)" \
    "a timed-out job retried once"
# asyncctl retry: the same type and arguments, a new job.
assert_status 0 asyncctl submit echo '{"again": true}' --wait
assert_status 0 asyncctl --json list --limit 1
old=$(printf '%s' "$ASSERT_OUT" | grep -o '"id":[0-9]*' | head -1 |
    cut -d: -f2)
assert_status 0 asyncctl retry "$old"
new=$ASSERT_OUT
[ "$new" -gt "$old" ] || fail "retry gave id $new for $old"
pass
assert_status 0 asyncctl wait "$new"
assert_eq '{"again":true}' "$ASSERT_OUT" "retry's arguments"
testd_stop

# ---- a delayed job survives a restart, still delayed.
state=$(mktemp -d "$_TESTD_TMP/state.XXXXXX")
testd_start --state-dir "$state"
assert_status 0 asyncctl submit echo '"later"' --delay 2 --priority 7
later=$ASSERT_OUT
nb=$(field "$later" not_before)
testd_kill KILL
testd_stop 137
testd_start --state-dir "$state"
assert_eq "$nb" "$(field "$later" not_before)" "not_before kept"
assert_eq 7 "$(field "$later" priority)" "priority kept"
assert_status 0 asyncctl wait "$later"
assert_eq '"later"' "$ASSERT_OUT" "the delayed job ran after a restart"
testd_stop

# ---- forget: by id, by state and time; gone from the store too.
testd_start --state-dir "$state"
assert_status 0 asyncctl --json submit echo 1 --wait
one=$(printf '%s' "$ASSERT_OUT" | json_get id)
assert_status 1 asyncctl --json submit fail '{}' --wait
bad=$(printf '%s' "$ASSERT_OUT" | json_get id)
assert_status 0 asyncctl --json submit echo 2 --wait
keep=$(printf '%s' "$ASSERT_OUT" | json_get id)
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
live=$ASSERT_OUT
assert_status 1 asyncctl forget "$live"
assert_match 'not finished' "$ASSERT_ERR" "a live job is not forgotten"
assert_status 0 asyncctl forget "$one"
assert_eq 1 "$ASSERT_OUT" "forget ID"
assert_status 0 asyncctl forget --state failed --before 2099-01-01T00:00:00Z
assert_eq 1 "$ASSERT_OUT" "forget --state --before"
assert_status 2 asyncctl forget --state running
assert_status 1 asyncctl status "$one"
assert_match 'no longer kept' "$ASSERT_ERR" "a forgotten job expired"
testd_kill KILL
testd_stop 137
testd_start --state-dir "$state"
assert_status 1 asyncctl status "$bad"
assert_match 'no longer kept' "$ASSERT_ERR" "forgotten in the store too"
assert_status 0 asyncctl status "$keep"
assert_status 0 asyncctl cancel "$live"
testd_stop

echo "PASS $TESTD_SCRIPT ($TESTD_PASSED checks)"
