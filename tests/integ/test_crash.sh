#!/bin/sh
# Crash test: several clients submit keyed jobs while the daemon is killed
# with SIGKILL at random moments and started again on the same state.
# Afterwards every id a client was given names one job, every key maps to
# one job, each job is there once, and all of them finish.
#
#   ASYNCD_CRASH_SECONDS	how long the clients submit (default 6;
#				scripts/stress.sh runs it longer)
#   ASYNCD_CRASH_CLIENTS	how many clients (default 4)
. tests/helpers/lib.sh

seconds=${ASYNCD_CRASH_SECONDS:-6}
clients=${ASYNCD_CRASH_CLIENTS:-4}
_tmp=${TMPDIR:-/tmp}
[ "${#_tmp}" -le 70 ] || _tmp=/tmp
dir=$(mktemp -d "$_tmp/asyncd-crash.XXXXXX") || fail "mktemp"
url=ipc://$dir/asyncd.sock
log=$dir/asyncd.log
dpid=
cpids=

# Then lib.sh's own exit handler, with the script's status.
cleanup() {
	_st=$?
	[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
	for p in $cpids; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ "$_st" -eq 0 ] || { echo "---- $log" >&2; tail -30 "$log" >&2; }
	rm -rf "$dir"
	(exit "$_st")
	_testd_on_exit
}
trap cleanup EXIT

ctl() {
	"$BUILD/asyncctl" --socket "$url" "$@"
}

start() {
	"$BUILD/asyncd" --socket "$url" --state-dir "$dir/state" \
	    --max-running 8 </dev/null >>"$log" 2>&1 &
	dpid=$!
	wait_for ctl ping
}

# A client: submits keyed jobs one after another until the time is up,
# retrying a submit with its key until the daemon answers (a retried
# keyed submit never makes a second job), and records what it was given.
client() {
	_c=$1
	_i=0
	_end=$(($(date +%s) + seconds))
	while [ "$(date +%s)" -lt "$_end" ]; do
		_i=$((_i + 1))
		_key=c$_c-$_i
		# A sleep runs long enough for kills to catch it running
		# again and again, and each one counts (without retries, three
		# end it interrupted): retries let it outlast them.
		if [ $((_i % 3)) -eq 0 ]; then
			set -- sleep '{"seconds": 0.2}' --retries 20 \
			    --retry-delay 0.05 --retry-backoff 1
		else
			set -- echo "\"$_key\""
		fi
		_tries=0
		until _id=$(ctl --connect-timeout 5 submit "$@" \
		    --key "$_key" 2>>"$dir/client.$_c.err"); do
			_tries=$((_tries + 1))
			# Bounded: a daemon that stays away fails the test.
			[ "$_tries" -lt 100 ] || {
				echo "gave up on $_key" >>"$dir/client.$_c.err"
				exit 1
			}
		done
		echo "$_key $_id" >>"$dir/acked.$_c"
	done
	exit 0
}

start
c=0
while [ "$c" -lt "$clients" ]; do
	c=$((c + 1))
	: >"$dir/acked.$c"
	client "$c" &
	cpids="$cpids $!"
done

# Kill the daemon at random moments while the clients run.
kills=0
end=$(($(date +%s) + seconds))
while [ "$(date +%s)" -lt "$end" ]; do
	# 0.1 to 0.9 s of service between kills.
	sleep "0.$(awk 'BEGIN { srand(); print int(1 + rand() * 9) }')"
	kill -KILL "$dpid"
	wait "$dpid" 2>/dev/null
	kills=$((kills + 1))
	start
done
[ "$kills" -ge 2 ] || fail "only $kills kills in $seconds s"
pass

for p in $cpids; do
	wait "$p" || fail "a client failed: $(cat "$dir"/client.*.err)"
done
cpids=
pass

cat "$dir"/acked.* >"$dir/acked"
n=$(wc -l <"$dir/acked")
[ "$n" -gt 0 ] || fail "no job was acknowledged"
pass
# Each key was acknowledged with one id, and no id serves two keys.
[ "$(cut -d' ' -f1 "$dir/acked" | sort | uniq -d | wc -l)" -eq 0 ] ||
    fail "a key recorded twice"
dup=$(cut -d' ' -f2 "$dir/acked" | sort | uniq -d | head -3)
[ -z "$dup" ] || fail "ids acknowledged for two keys: $dup"
pass

# Every acknowledged job finishes, and succeeds (echo and sleep are
# at_least_once: an interrupted one ran again).
ids=$(cut -d' ' -f2 "$dir/acked")
# shellcheck disable=SC2086
set -- $ids
while [ $# -gt 0 ]; do
	chunk=
	k=0
	while [ $# -gt 0 ] && [ "$k" -lt 500 ]; do
		chunk="$chunk $1"
		shift
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	ctl wait --timeout 120 $chunk >/dev/null 2>"$dir/wait.err" ||
	    fail "acknowledged jobs did not all succeed: $(cat "$dir/wait.err")"
done
pass

# Each key maps to its one job: submitting again returns it.
while read -r key id; do
	got=$(ctl submit echo '"again"' --key "$key") ||
	    fail "submit --key $key failed"
	[ "$got" = "$id" ] || fail "key $key: job $got, acknowledged as $id"
done <"$dir/acked"
pass

# Every job is in the table once, and no key is held by two jobs.
: >"$dir/list"
before=
while :; do
	ctl --json list --limit 1000 ${before:+--before "$before"} \
	    >"$dir/page" || fail "list"
	cat "$dir/page" >>"$dir/list"
	grep -q '"more":true' "$dir/page" || break
	before=$(grep -o '"id":[0-9]*' "$dir/page" | tail -1 | cut -d: -f2)
done
total=$(grep -o '"id":[0-9]*' "$dir/list" | wc -l)
uniq_ids=$(grep -o '"id":[0-9]*' "$dir/list" | sort -u | wc -l)
[ "$total" -eq "$uniq_ids" ] || fail "a job listed twice"
keys=$(grep -o '"key":"[^"]*"' "$dir/list" | sort | uniq -d | head -3)
[ -z "$keys" ] || fail "keys held by two jobs: $keys"
pass

kill -TERM "$dpid"
wait "$dpid" || fail "the last daemon exited $?"
dpid=
pass
echo "PASS $TESTD_SCRIPT ($TESTD_PASSED checks; $n jobs, $kills kills," \
    "$clients clients, $seconds s)"
