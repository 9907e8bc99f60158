#!/bin/sh
# The exec figures of make bench on their own, with more rounds: exec jobs
# of /bin/true (submit and wait in one trip, C in flight) against the raw
# posix_spawn + waitpid loop (bench_spawn) at the same parallelism, on a
# memory-only daemon (--durability none, as bench/run.sh measures) and on
# one with the default durability (process), side by side in each round.
#
#   BUILD=build ROUNDS=9 SECONDS_PER_RUN=2 bench/exec.sh
#
# Each round measures the baseline, then both daemons, then the baseline
# again, and takes its ratios against the mean of the two baseline runs:
# drift on a shared machine then hits both sides of a ratio. Printed: the
# median over the rounds of each ratio, with its range, and the median
# commands/s of each; then the CPU time a command costs the raw loop (its
# own and its children's, getrusage), the memory-only daemon (/proc/PID/
# stat) and the client, and what they allow at 2 in flight, where the raw
# loop keeps every CPU busy: no daemon whose CPU a command is d and client
# c can beat CPUs / (raw + d + c) commands a second, however it schedules.
set -eu

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-9}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}

. "$(dirname "$0")/lib.sh"
bench_init xbench

ops() { sed -n 's/^ops_per_s=//p'; }
range() { sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END { print a "-" b }'; }
get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/r"; }

start none --durability none
pid_none=$pid
start process --durability process
pid_process=$pid
hz=$(getconf CLK_TCK)

# ticks PID: the CPU time a process has used, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
cpu() { sed -n 's/^cpu_us_per_op=//p'; }

: > "$tmp/r"
r=1
while [ $r -le "$ROUNDS" ]; do
	for c in 1 2; do
		"$BUILD/bench/bench_spawn" throughput "$c" \
		    "$SECONDS_PER_RUN" > "$tmp/out"
		s1=$(ops < "$tmp/out")
		sc=$(cpu < "$tmp/out")
		for d in none process; do
			eval "p=\$pid_$d"
			t0=$(ticks "$p")
			"$BUILD/bench/bench_asyncd" exec "ipc://$tmp/$d.sock" \
			    "$c" "$SECONDS_PER_RUN" > "$tmp/out"
			t1=$(ticks "$p")
			eval "x_$d=\$(ops < \"\$tmp/out\")"
			eval "k_$d=\$(cpu < \"\$tmp/out\")"
			eval "d_$d=\$(awk -v t=\$((t1 - t0)) -v hz=\$hz \
			    -v n=\"\$x_$d\" -v s=\$SECONDS_PER_RUN \
			    'BEGIN { printf \"%.0f\", t / hz * 1e6 / (n * s) }')"
		done
		s2=$("$BUILD/bench/bench_spawn" throughput "$c" \
		    "$SECONDS_PER_RUN" | ops)
		awk -v c="$c" -v s1="$s1" -v s2="$s2" -v n="$x_none" \
		    -v p="$x_process" -v sc="$sc" -v dn="$d_none" \
		    -v kn="$k_none" -v ncpu="$(nproc)" 'BEGIN {
			s = (s1 + s2) / 2
			printf "sp.%s %.0f\nnone.%s %s\nprocess.%s %s\n", c, s, c, n, c, p
			printf "rnone.%s %.2f\nrprocess.%s %.2f\n", c, n / s, c, p / s
			printf "cpu.sp.%s %s\ncpu.daemon.%s %s\ncpu.client.%s %s\n", c, sc, c, dn, c, kn
			# Were no CPU ever idle: the most exec jobs a second the
			# CPU time of a command (the raw loop s, spawner and
			# child) plus the daemons and the clients allow.
			printf "ceil.%s %.2f\n", c, ncpu * 1e6 / (sc + dn + kn) / s
		}' >> "$tmp/r"
	done
	r=$((r + 1))
done

echo "exec bench: $(nproc) CPUs, $ROUNDS rounds of ${SECONDS_PER_RUN} s each"
echo
printf '%-38s %9s %9s\n' "/bin/true, commands/s (median)" "1 in flight" "2"
printf '%-38s %9s %9s\n' "raw posix_spawn + waitpid (baseline)" \
    "$(get sp.1 | median)" "$(get sp.2 | median)"
printf '%-38s %9s %9s\n' "exec jobs, --durability none" \
    "$(get none.1 | median)" "$(get none.2 | median)"
printf '%-38s %9s %9s\n' "exec jobs, --durability process" \
    "$(get process.1 | median)" "$(get process.2 | median)"
echo
printf '%-38s %9s %9s\n' "exec / baseline, median of rounds" "1 in flight" "2"
for d in none process; do
	printf '%-38s %9s %9s\n' "--durability $d" \
	    "$(get "r$d.1" | median)" "$(get "r$d.2" | median)"
	printf '%-38s %9s %9s\n' "  range" \
	    "$(get "r$d.1" | range)" "$(get "r$d.2" | range)"
done
echo
echo "CPU a command, us (median), the memory-only daemon: 1 in flight / 2"
printf '%-38s %9s %9s\n' "raw loop: spawner and child" \
    "$(get cpu.sp.1 | median)" "$(get cpu.sp.2 | median)"
printf '%-38s %9s %9s\n' "asyncd: the daemon" \
    "$(get cpu.daemon.1 | median)" "$(get cpu.daemon.2 | median)"
printf '%-38s %9s %9s\n' "asyncd: the client (libasyncd)" \
    "$(get cpu.client.1 | median)" "$(get cpu.client.2 | median)"
printf '%-38s %9s %9s\n' "ceiling of exec / baseline, no idle CPU" \
    - "$(get ceil.2 | median)"
echo "(the ceiling: $(nproc) CPUs divided by the raw loop's, the daemon's and"
echo "the client's CPU a command, against the baseline; only 2 in flight,"
echo "where the raw loop keeps every CPU busy, is bounded by it)"
echo
echo "target: exec jobs at least 0.70x of raw spawns (bench/run.sh's figure"
echo "is the memory-only daemon's)"
