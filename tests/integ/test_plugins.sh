#!/bin/sh
# Plugins and the SDK: a plugin built for another ABI is refused, one whose
# registration fails (or that takes a built-in's name) is skipped whole,
# the rest load and their types run; only the SDK's symbols are exported;
# the thread pool under plugins' thread functions: the hash example (a
# digest and progress), saturation and ordering, a queued call cancelled
# before it runs, one that ignores cancellation reported and not hung on;
# ad_exec and ad_call_soon_threadsafe.
. tests/helpers/lib.sh

PLUGINS=$_TESTD_TMP/plugins
mkdir -p "$PLUGINS" || fail "mkdir"
for p in "$BUILD/plugins/hash.so" "$BUILD/tests/plugins/t.so" \
    "$BUILD/tests/plugins/badabi.so" "$BUILD/tests/plugins/failreg.so" \
    "$BUILD/tests/plugins/taken.so"; do
	[ -f "$p" ] || fail "no $p (make tests)"
	cp "$p" "$PLUGINS/" || fail "cp $p"
done
# Not a plugin at all: refused by dlopen.
echo "not an ELF file" >"$PLUGINS/junk.so"

# job TYPE ARGS: submits, waits, leaves the job object in JOB.
job() {
	JOB=$("$BUILD/asyncctl" --json submit "$1" "${2:-null}" --wait \
	    --wait-timeout 60 2>/dev/null)
	[ -n "$JOB" ] || fail "no job object for $1 $2"
}
field() {
	printf '%s' "$JOB" | json_get "$1"
}
in_log() {
	grep -q -- "$1" "$TESTD_LOG"
}

# ---- the SDK's symbols, and only those, are what the daemon exports.
exported=$(nm -D --defined-only "$BUILD/asyncd" | awk '$2 ~ /^[TDBVW]$/ &&
    $3 !~ /^(_|__)/ { print $3 }' | grep -v '^ad_' | grep -v '@' | tr '\n' ' ')
assert_eq "" "$exported" "the daemon exports nothing but ad_* (found: $exported)"
assert_match ' ad_run_in_process$' "$(nm -D --defined-only "$BUILD/asyncd" |
    grep ' ad_run_in_process$')" "ad_run_in_process is exported"

testd_start --plugin-dir "$PLUGINS" --threads 2

# ---- loading.
assert_match "badabi.so refused: built for SDK ABI 1001, this asyncd has ABI 1" \
    "$(grep badabi "$TESTD_LOG")" "the wrong ABI is refused, saying why"
assert_match "failreg.so skipped: registration failed" \
    "$(grep failreg "$TESTD_LOG")" "a failed registration is skipped"
assert_match "taken.so skipped: registration failed: the name 'echo' is taken" \
    "$(grep taken.so "$TESTD_LOG")" "a taken name is skipped"
assert_match "junk.so refused" "$(grep junk.so "$TESTD_LOG")" \
    "a file that is no shared object is refused"
types=$("$BUILD/asyncctl" --json types)
assert_match '"hash.sha256"' "$types" "the hash example loaded"
assert_match '"t.seq"' "$types" "the test plugin loaded"
case $types in
*failreg.ok*)	fail "a skipped plugin's type was registered" ;;
*taken.fine*)	fail "a skipped plugin's first type was registered" ;;
esac
pass
job echo '{"a":1}'
assert_eq succeeded "$(field state)" "the built-in echo is still the built-in"

# ---- the hash example: a digest through libcrypto, with progress.
head -c 3000000 /dev/urandom >"$_TESTD_TMP/blob" || fail "no blob"
want=$(sha256sum "$_TESTD_TMP/blob" | cut -d' ' -f1)
job hash.sha256 "{\"path\": \"$_TESTD_TMP/blob\"}"
assert_eq succeeded "$(field state)" "hash succeeded"
assert_eq "$want" "$(field result | json_get sha256)" "the digest is sha256sum's"
assert_eq 3000000 "$(field result | json_get bytes)" "its size"
assert_eq 1 "$(field progress | json_get fraction)" "progress reached 1"
assert_match "of 3000000 bytes" "$(field progress | json_get message)" \
    "with a message"
job hash.sha256 '{"path": "/nonexistent/x"}'
assert_eq failed "$(field state)" "a missing file fails"
assert_eq io_error "$(field error | json_get code)" "with the plugin's code"
assert_status 1 "$BUILD/asyncctl" submit hash.sha256 '{"path": 3}'
assert_match 'takes \{"path"' "$ASSERT_ERR" "the argument check runs at submit"

# ---- ad_exec and ad_call_soon_threadsafe.
job t.exec '{"script": "echo hi; exit 4"}'
assert_eq succeeded "$(field state)" "ad_exec returns once the command ran"
assert_eq 4 "$(field result | json_get exit_code)" "its status"
assert_eq 'hi' "$(field result | json_get stdout)" "its output"
job t.soon
assert_eq 42 "$(field result)" "a plugin's thread called back on the loop"

testd_stop

# ---- thread pool: ordering, with one thread calls start in submit order.
testd_start --plugin-dir "$PLUGINS" --threads 1
ids=
for i in 1 2 3 4 5 6; do
	id=$("$BUILD/asyncctl" submit t.seq '{"seconds": 0.05}') ||
	    fail "submit t.seq"
	ids="$ids $id"
done
n=0
for id in $ids; do
	n=$((n + 1))
	JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 60) ||
	    fail "wait $id"
	assert_eq "$n" "$(field result | json_get seq)" "call $n started $n-th"
	assert_eq 1 "$(field result | json_get most)" "one at a time"
done

# ---- cancelling a queued call: it never runs.
# t.polite holds the one thread until it is cancelled.
busy=$("$BUILD/asyncctl" submit t.polite) || fail submit
wait_for sh -c "'$BUILD/asyncctl' --json status $busy | grep -q '\"running\"'"
queued=$("$BUILD/asyncctl" submit t.seq) || fail submit
assert_status 0 "$BUILD/asyncctl" cancel "$queued"
JOB=$("$BUILD/asyncctl" --json status "$queued")
assert_eq cancelled "$(field state)" "a queued call is cancelled at once"
assert_status 0 "$BUILD/asyncctl" cancel "$busy"
JOB=$("$BUILD/asyncctl" --json wait "$busy" --timeout 60)
assert_eq cancelled "$(field state)" "the busy one saw its cancellation"
job t.seq
assert_eq 7 "$(field result | json_get seq)" "the cancelled call never ran"

# ---- a thread function that ignores cancellation: reported, not hung on.
stub=$("$BUILD/asyncctl" submit t.stubborn '{"seconds": 5}') || fail submit
wait_for sh -c "'$BUILD/asyncctl' --json status $stub | grep -q '\"running\"'"
assert_status 0 timeout 5 "$BUILD/asyncctl" cancel "$stub"
wait_for in_log "job $stub (t.stubborn): its thread-pool work is still running"
JOB=$("$BUILD/asyncctl" --json wait "$stub" --timeout 60)
assert_eq cancelled "$(field state)" "it ends cancelled once it returns"
polite=$("$BUILD/asyncctl" submit t.polite) || fail submit
wait_for sh -c "'$BUILD/asyncctl' --json status $polite | grep -q '\"running\"'"
assert_status 0 "$BUILD/asyncctl" cancel "$polite"
JOB=$("$BUILD/asyncctl" --json wait "$polite" --timeout 60)
assert_eq cancelled "$(field state)" "a polite one sees ad_call_cancelled"
if grep -q "job $polite (t.polite): its thread-pool work" "$TESTD_LOG"; then
	fail "a thread function that returned was reported as stuck"
fi
pass
testd_stop

# ---- thread pool saturation: never more calls at once than threads.
testd_start --plugin-dir "$PLUGINS" --threads 2 --drain-timeout 1
ids=
for i in 1 2 3 4 5 6 7 8; do
	ids="$ids $("$BUILD/asyncctl" submit t.seq '{"seconds": 0.3}')"
done
most=0
for id in $ids; do
	JOB=$("$BUILD/asyncctl" --json wait "$id" --timeout 60) ||
	    fail "wait $id"
	assert_eq succeeded "$(field state)" "saturated call $id"
	m=$(field result | json_get most)
	[ "$m" -gt "$most" ] && most=$m
done
[ "$most" -ge 1 ] && [ "$most" -le 2 ] ||
    fail "two threads ran $most calls at once"
pass

# ---- a stubborn thread at shutdown: the daemon still exits, and says so.
stub=$("$BUILD/asyncctl" submit t.stubborn '{"seconds": 600}') || fail submit
wait_for sh -c "'$BUILD/asyncctl' --json status $stub | grep -q '\"running\"'"
testd_stop 1
