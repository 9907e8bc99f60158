#!/bin/sh
# make bench, durability part: what the job store costs, measured in one
# run. Throughput of 16 clients (echo jobs, submit and wait in one trip)
# against daemons with --durability none, process and power, side by side
# in each round, as ratios of none; then the daemon's resident memory:
# idle, with MEM_QUEUED jobs queued, and after MEM_FINISHED jobs finished.
#
#   BUILD=build ROUNDS=6 SECONDS_PER_RUN=2 MEM_QUEUED=100000 \
#	MEM_FINISHED=100000 bench/durability.sh
#
# The issue's figures are for 1,000,000 jobs (MEM_QUEUED=1000000
# MEM_FINISHED=1000000); the default is a tenth, to keep make bench short
# (a million of each takes about 7 minutes on the 2-CPU build machine).
set -eu

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-6}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}
MEM_QUEUED=${MEM_QUEUED:-100000}
MEM_FINISHED=${MEM_FINISHED:-100000}
KEEP=10000		# --keep: finished jobs cached in memory (the default)
LOADGEN=$BUILD/tests/loadgen

. "$(dirname "$0")/lib.sh"
bench_init dbench

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

for d in none process power; do
	start "$d" --durability "$d"
done
: >"$tmp/r"
# Each round starts with the next daemon: a run measured right after
# another is slower (by about 0.03 of none, whichever daemon runs then),
# so a fixed order would count that against one of them every time.
r=1
while [ $r -le "$ROUNDS" ]; do
	case $((r % 3)) in
	1) order="none process power" ;;
	2) order="process power none" ;;
	0) order="power none process" ;;
	esac
	for d in $order; do
		"$BUILD/bench/bench_asyncd" throughput "ipc://$tmp/$d.sock" 16 \
		    "$SECONDS_PER_RUN" | sed -n "s/^ops_per_s=/$d /p" >>"$tmp/r"
	done
	r=$((r + 1))
done
get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/r" | median; }
none=$(get none)
process=$(get process)
power=$(get power)

# Memory: one job runs for ever, so the rest stay queued. The arguments'
# budget (--max-args-mib, 512 MiB by default, counts each queued job's
# whole footprint) would refuse the last of a million jobs: it gets a KiB
# a job more, the target.
start mem --max-running 1 --max-queued $((MEM_QUEUED + 10)) \
    --max-args-mib $((512 + MEM_QUEUED / 1024))
"$BUILD/asyncctl" --socket "ipc://$tmp/mem.sock" submit sleep \
    '{"seconds": 86400}' >/dev/null
idle=$(rss_kib "$pid")
"$LOADGEN" "ipc://$tmp/mem.sock" submit "$MEM_QUEUED" 16 sleep \
    '{"seconds": 1}' >/dev/null
queued=$(rss_kib "$pid")
per_queued=$(awk -v a="$idle" -v b="$queued" -v n="$MEM_QUEUED" \
    'BEGIN { printf "%.0f", (b - a) * 1024 / n }')

# Finished jobs: first as many as the cache keeps (--keep), which is what
# the cache costs, then the rest, which should cost nothing more.
start fin --keep "$KEEP"
fin_pid=$pid
fin_idle=$(rss_kib "$fin_pid")
# finish N: N more echo jobs, until none is left queued or running.
finish() {
	"$LOADGEN" "ipc://$tmp/fin.sock" submit "$1" 16 echo \
	    '"a finished job"' >/dev/null
	i=0
	until "$BUILD/asyncctl" --socket "ipc://$tmp/fin.sock" --json stats |
	    grep -q '"queued":0,"running":0'; do
		i=$((i + 1))
		[ $i -lt 6000 ] || { echo "bench: jobs did not finish" >&2
			exit 1; }
		sleep 0.05
	done
}
first=$KEEP
[ "$first" -le "$MEM_FINISHED" ] || first=$MEM_FINISHED
finish "$first"
cached=$(rss_kib "$fin_pid")
[ "$MEM_FINISHED" -le "$first" ] || finish $((MEM_FINISHED - first))
finished=$(rss_kib "$fin_pid")
bound=$((2 * fin_idle + cached - fin_idle))

echo "durability: 16 clients, echo jobs (submit and wait, one trip),"
echo "median of $ROUNDS rounds of ${SECONDS_PER_RUN} s"
printf '%-34s %9s %9s\n' "--durability" "jobs/s" "/ none"
printf '%-34s %9s %9s\n' "none (memory only)" "$none" "1.00"
printf '%-34s %9s %9s\n' "process (default)" "$process" \
    "$(ratio "$process" "$none")"
printf '%-34s %9s %9s\n' "power (fsync per commit)" "$power" \
    "$(ratio "$power" "$none")"
echo
echo "resident memory (durability process)"
printf '%-34s %9s KiB\n' "idle, one job running" "$idle"
printf '%-34s %9s KiB (%s bytes a job)\n' "with $MEM_QUEUED queued" \
    "$queued" "$per_queued"
printf '%-34s %9s KiB\n' "idle, fresh daemon" "$fin_idle"
printf '%-34s %9s KiB (the cache: %s KiB)\n' "after $first finished" \
    "$cached" "$((cached - fin_idle))"
printf '%-34s %9s KiB (%s x idle; bound %s KiB)\n' \
    "after $MEM_FINISHED finished" "$finished" \
    "$(ratio "$finished" "$fin_idle")" "$bound"
echo
echo "targets: process at least 0.70x of none; at most 1024 bytes a queued"
echo "job; after the finished jobs within 2x idle plus the cache (--keep"
echo "$KEEP finished jobs kept in memory), the bound above"
