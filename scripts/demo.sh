#!/bin/sh
# make demo: asyncd on embedded defaults, in a throwaway directory.
#
# The daemon runs with no options at all: ASYNCD_SOCKET and XDG_STATE_HOME
# point its defaults (and asyncctl's) into a temporary directory.
set -u

BUILD=${BUILD:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/asyncd-demo.XXXXXX")
export ASYNCD_SOCKET="ipc://$tmp/asyncd.sock"
export XDG_STATE_HOME="$tmp/state"
ctl="$BUILD/asyncctl"
pid=

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
# show ARGS...: prints the command as one would type it, then runs it.
show() {
	printf '$ asyncctl'
	for a in "$@"; do
		case $a in
		*[!A-Za-z0-9_.,:/=-]*)
			printf " '%s'" "$a" ;;
		*)	printf ' %s' "$a" ;;
		esac
	done
	printf '\n'
	"$ctl" "$@"
}
now() { date +%s.%N; }

say "starting asyncd (socket $ASYNCD_SOCKET)"
"$BUILD/asyncd" 2> "$tmp/asyncd.log" &
pid=$!
i=0
until "$ctl" ping >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -ge 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: asyncd did not start:" >&2
		cat "$tmp/asyncd.log" >&2
		exit 1
	fi
	sleep 0.05
done
show ping

say "the job types it knows"
show types

say "echo: submit and wait in one round trip"
show submit echo '{"hello": "world"}' --wait

say "five 1-second sleeps at once: coroutines overlap"
t0=$(now)
ids=
for n in 1 2 3 4 5; do
	ids="$ids $("$ctl" submit sleep '{"seconds": 1}')"
done
echo "submitted:$ids"
# shellcheck disable=SC2086
show wait $ids
t1=$(now)
awk -v a="$t0" -v b="$t1" \
    'BEGIN { printf "5 x 1 s of sleep took %.2f s of wall time\n", b - a }'

say "gather: children run concurrently, results come back in order"
show submit gather '{"jobs": [
    {"type": "sleep", "args": {"seconds": 0.3}},
    {"type": "echo", "args": "second"},
    {"type": "echo", "args": [3]}]}' --wait

say "a failing job: exit status 1, the error on stderr"
show submit fail '{"message": "disk full", "code": "no_space"}' --wait
echo "(exit status $?)"

say "cancel a running job: exit status 4"
id=$("$ctl" submit sleep '{"seconds": 60}')
show cancel "$id"
show wait "$id"
echo "(exit status $?)"

say "a job's own timeout: exit status 5"
show submit sleep '{"seconds": 10}' --timeout 0.5 --wait
echo "(exit status $?)"

say "a wait that gives up: exit status 124, the job goes on"
id=$("$ctl" submit sleep '{"seconds": 1}')
show wait "$id" --timeout 0.2
echo "(exit status $?)"
show wait "$id"

say "the jobs"
show list

say "stats"
show stats

say "stopping asyncd (SIGTERM)"
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
echo "asyncd exited with status $status"
exit "$status"
