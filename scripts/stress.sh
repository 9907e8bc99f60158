#!/bin/sh
# make check-stress: the integration tests, several rounds in a row, beside
# a CPU hog on every core. A test that races (a timeout too tight, a log
# line that may come too late) fails here long before it fails in CI.
#
#   BUILD=build/san STRESS_ROUNDS=5 STRESS_HOGS=$(nproc) scripts/stress.sh
#
# BUILD must hold a built test tree (make check-stress builds build/san as
# make check does). Every round runs `tests/run integ` to the end, even
# after a failed one, so the summary tells a flake from a steady failure.
# Each round's output is kept in $BUILD/stress-logs/round-N.log. The hogs
# are killed when the script exits, whatever the reason; should the script
# itself be killed with SIGKILL, they notice within a moment and stop.
# The exit status is non-zero if any round failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

BUILD=${BUILD:-build/san}
ROUNDS=${STRESS_ROUNDS:-5}
HOGS=${STRESS_HOGS:-$(nproc 2>/dev/null || echo 1)}
LOGDIR=$BUILD/stress-logs
# A test's bound under the hogs (tests/run's is 300 s): the tests share
# the CPU with a busy loop per core, so they take two to three times as
# long; test_shutdown's 100,000 jobs took past 300 s.
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
export TEST_TIMEOUT
hog_pids=
# The crash test (tests/integ/test_crash.sh) kills the daemon for longer.
: "${ASYNCD_CRASH_SECONDS:=30}"
export ASYNCD_CRASH_SECONDS

case $ROUNDS$HOGS in
*[!0-9]*|'')
	echo "stress: STRESS_ROUNDS and STRESS_HOGS must be numbers" >&2
	exit 2 ;;
esac
if [ ! -x "$BUILD/asyncd" ] || [ ! -x "$BUILD/asyncctl" ]; then
	echo "stress: no $BUILD/asyncd or $BUILD/asyncctl" \
	    "(make check-stress builds them)" >&2
	exit 2
fi
mkdir -p "$LOGDIR" || exit 2

stop_hogs() {
	# shellcheck disable=SC2086
	[ -n "$hog_pids" ] && kill $hog_pids 2>/dev/null
	# shellcheck disable=SC2086
	[ -n "$hog_pids" ] && wait $hog_pids 2>/dev/null
	hog_pids=
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# One hog: a busy loop that looks up every 100,000 turns whether the script
# is still there, so that it never outlives it.
hog() {
	while kill -0 "$1" 2>/dev/null; do
		i=0
		while [ "$i" -lt 100000 ]; do
			i=$((i + 1))
		done
	done
}

now() { date +%s; }

n=0
while [ "$n" -lt "$HOGS" ]; do
	hog $$ &
	hog_pids="$hog_pids $!"
	n=$((n + 1))
done
echo "stress: $ROUNDS rounds of 'tests/run integ' on $BUILD, with" \
    "busy loops: $HOGS"

passed=0
failed=0
failures=
start=$(now)
round=1
while [ "$round" -le "$ROUNDS" ]; do
	log=$LOGDIR/round-$round.log
	t0=$(now)
	BUILD=$BUILD tests/run integ > "$log" 2>&1
	status=$?
	secs=$(($(now) - t0))
	summary=$(grep '^tests: ' "$log" | tail -n 1)
	[ -n "$summary" ] || summary="tests/run exited $status"
	if [ "$status" -eq 0 ]; then
		passed=$((passed + 1))
		echo "round $round/$ROUNDS: PASS ($summary) ${secs}s"
	else
		failed=$((failed + 1))
		# tests/run's verdicts ("FAIL name 1.23s (why)"), then the
		# reasons the tests gave ("FAIL name: what"), indented.
		names=$(sed -n 's/^FAIL \([^ ]*\) [0-9.]*s (.*/\1/p' "$log" |
		    tr '\n' ' ' | sed 's/ $//')
		echo "round $round/$ROUNDS: FAIL ($summary) ${secs}s:" \
		    "${names:-?}; see $log"
		sed -n 's/^FAIL \([^ ]*:\)/    \1/p' "$log"
		failures="$failures
  round $round: ${names:-tests/run exited $status}"
	fi
	round=$((round + 1))
done
stop_hogs

echo "stress: $passed of $ROUNDS rounds passed in $(($(now) - start))s"
if [ "$failed" -ne 0 ]; then
	echo "stress: failed:$failures"
	exit 1
fi
