#!/bin/sh
# A full disk, for real: the state directory on a 4 MiB tmpfs. The job
# store's WAL alone must not fill it; then it is filled up with a file
# while the daemon runs. A submit that cannot be stored gets
# storage_error saying why; the daemon goes on serving; accepted jobs go
# on (an at_most_once one only once its start is stored); once there is
# room again new submits succeed and everything accepted is there after a
# restart. (test_durability.sh injects the failure instead, and runs
# anywhere; this needs the right to mount.)
. tests/helpers/lib.sh

fs=$(mktemp -d "$_TESTD_TMP/fs.XXXXXX") || fail "mktemp"
if ! mount -t tmpfs -o size=4m tmpfs "$fs" 2>"$_TESTD_TMP/mount.err"; then
	echo "SKIP $TESTD_SCRIPT: cannot mount a tmpfs here ($(cat \
	    "$_TESTD_TMP/mount.err")); needs root and CAP_SYS_ADMIN." \
	    "test_durability.sh covers a failing store by injection"
	exit 0
fi
# Always unmounted, whatever ends the script (after the daemon stopped).
testd_at_exit "umount '$fs' || umount -l '$fs'"
state=$fs/state
filler=$fs/filler
marker=$_TESTD_TMP/ran

field() {
	"$BUILD/asyncctl" --json status "$1" | json_get "$2"
}

# ---- the WAL alone does not fill a small disk: 160 jobs with 3 KB
# arguments (about 1.5 MiB of rows) write more WAL frames than the 4 MiB,
# and SQLite checkpoints only past 32 MiB of them by itself. Four clients
# at once, forty jobs each.
testd_start --state-dir "$fs/wal"
big=$(head -c 3000 /dev/zero | tr '\000' x)
for c in 1 2 3 4; do
	(
		i=0
		while [ "$i" -lt 40 ]; do
			i=$((i + 1))
			"$BUILD/asyncctl" submit echo "\"$c-$i$big\"" \
			    --wait >/dev/null 2>>"$_TESTD_TMP/wal.err" ||
			    echo "client $c job $i" >>"$_TESTD_TMP/wal.failed"
		done
	) &
	set -- "$@" $!
done
wait "$@"
[ ! -e "$_TESTD_TMP/wal.failed" ] || fail "jobs failed on a small disk:" \
    "$(wc -l <"$_TESTD_TMP/wal.failed") of 160: $(tail -1 \
    "$_TESTD_TMP/wal.err")"
pass
testd_stop
rm -rf "$fs/wal"

testd_start --state-dir "$state" --max-running 2
assert_status 0 asyncctl submit echo '"kept"' --key full-key --wait
keyed=$(field "$(asyncctl --json list --limit 1 | grep -o '"id":[0-9]*' |
    head -1 | cut -d: -f2)" id)
# A command that writes its output once the disk is full, a blocker, and
# behind them an at_least_once job and an at_most_once command, all
# accepted before the disk fills.
started=$_TESTD_TMP/started
go=$_TESTD_TMP/go
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \": > $started; while [ ! -e $go ]; do sleep 0.05; done;
    head -c 300000 /dev/zero | tr '\\\\000' x; echo; echo end >&2\"]}"
writer=$ASSERT_OUT
wait_for test -e "$started"
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
blocker=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $blocker |
    grep -q '\"state\":\"running\"'"
assert_status 0 asyncctl submit sleep '{"seconds": 0.01}'
least=$ASSERT_OUT
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \"echo ran >> $marker\"]}"
most=$ASSERT_OUT

# Fill it: dd stops at ENOSPC.
dd if=/dev/zero of="$filler" bs=64k >/dev/null 2>&1
avail=$(df -P "$fs" | awk 'NR == 2 { print $4 }')
[ "$avail" -eq 0 ] || fail "the file system still has $avail KiB"
pass

# A submit that cannot be stored: storage_error, saying why.
assert_status 1 asyncctl --json submit echo '"lost"'
assert_match "could not be stored" "$ASSERT_OUT$ASSERT_ERR" \
    "storage_error on a full disk"
assert_match 'full' "$ASSERT_OUT$ASSERT_ERR" "the message says the disk is full"
assert_match 'not accepted' "$ASSERT_OUT$ASSERT_ERR" "and that it was not taken"
# The code on the wire (asyncctl prints the message only).
if command -v nngcat >/dev/null; then
	reply=$(nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 5 \
	    --send-timeout 5 --data '{"v":1,"op":"submit","type":"echo"}')
	assert_match '"code":"storage_error"' "$reply" "the error code"
fi
# The daemon serves on.
assert_status 0 asyncctl ping
assert_eq running "$(field "$blocker" state)" "status of an accepted job"
assert_eq queued "$(field "$most" state)" "a queued one"
# A key already bound answers as before.
assert_status 0 asyncctl submit echo '"again"' --key full-key
assert_eq "$keyed" "$ASSERT_OUT" "a duplicate key on a full disk"

# Accepted jobs go on: a command's output that its log file has no room
# for still makes it finish...
: >"$go"
assert_status 0 asyncctl --json wait "$writer"
assert_eq succeeded "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "a command whose log has no room"
assert_status 0 asyncctl ping
# ...the blocker ends, the at_least_once job runs...
assert_status 0 asyncctl cancel "$blocker"
assert_status 0 asyncctl --json wait "$least"
assert_eq succeeded "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "an accepted job ran on a full disk"
# ...and the at_most_once command does not run before its start is
# stored: it waits, queued.
wait_for grep -q "job $most (exec): its start could not be stored" \
    "$TESTD_LOG"
[ ! -e "$marker" ] || fail "an at_most_once job ran unstored"
pass
# Queued between its tries: each try (every second) shows it running
# until the store's verdict, which on a loaded machine takes a while, so
# the state is polled, not read once.
most_queued() { [ "$(field "$most" state)" = queued ]; }
wait_for most_queued
assert_status 0 asyncctl ping

# Room again: the command runs, once; new submits are stored.
rm -f "$filler"
assert_status 0 asyncctl --json wait "$most"
assert_eq succeeded "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "the command ran once the store recovered"
assert_eq 1 "$(wc -l <"$marker" | tr -d ' ')" "it ran once"
assert_status 0 asyncctl submit echo '"back"' --wait
assert_eq '"back"' "$ASSERT_OUT" "a submit after the disk has room"
assert_status 0 asyncctl submit echo '"after"'
after=$ASSERT_OUT
assert_status 0 asyncctl wait "$after"
assert_match 'can be written again' "$(cat "$TESTD_LOG")" \
    "the log says the store recovered"
testd_stop

# Everything accepted is there after a restart.
testd_start --state-dir "$state"
assert_eq succeeded "$(field "$keyed" state)" "the keyed job"
assert_eq succeeded "$(field "$writer" state)" "the command that wrote"
assert_eq cancelled "$(field "$blocker" state)" "the blocker"
assert_eq succeeded "$(field "$least" state)" "the at_least_once job"
assert_eq succeeded "$(field "$most" state)" "the at_most_once command"
assert_eq 1 "$(field "$most" attempts)" "counted once"
assert_eq succeeded "$(field "$after" state)" "the job after the disk full"
assert_eq 1 "$(wc -l <"$marker" | tr -d ' ')" "the command ran once in all"
assert_status 0 asyncctl submit echo 0 --key full-key
assert_eq "$keyed" "$ASSERT_OUT" "the key after the restart"
testd_stop

echo "PASS $TESTD_SCRIPT ($TESTD_PASSED checks)"
