#!/bin/sh
# make bench: asyncd against a raw nng REQ/REP echo over the same
# transport, measured in the same run, reported as ratios.
#
# Each figure is the median of $ROUNDS rounds; baseline and asyncd
# alternate within a round so that drift on a shared machine hits both.
set -eu

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-3}
N=${N:-5000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-2}

. "$(dirname "$0")/lib.sh"
bench_init bench
base_url="ipc://$tmp/echo.sock"
asyncd_url="ipc://$tmp/asyncd.sock"

mkdir "$tmp/plugins"
cp "$BUILD/tests/plugins/t.so" "$BUILD/plugins/fetch.so" "$tmp/plugins/"
"$BUILD/bench/bench_nng" serve "$base_url" &
pids="$pids $!"
"$BUILD/tests/tcpserv" reply "$tmp/port" &
pids="$pids $!"
"$BUILD/tests/tcpserv" delay "$tmp/dport" &
pids="$pids $!"
# Memory only: these figures are the core's against raw nng; what the job
# store costs is bench/durability.sh's figure, from the same make bench.
"$BUILD/asyncd" --socket "$asyncd_url" --state-dir "$tmp/state" \
    --events none --durability none --plugin-dir "$tmp/plugins" \
    2>"$tmp/asyncd.log" &
pids="$pids $!"

# Both servers answer before measuring starts (bounded).
i=0
until "$BUILD/asyncctl" --socket "$asyncd_url" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "bench: asyncd did not start" >&2; exit 1; }
	sleep 0.05
done
i=0
until [ -s "$tmp/port" ] && [ -s "$tmp/dport" ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "bench: tcpserv did not start" >&2; exit 1; }
	sleep 0.05
done
port=$(cat "$tmp/port")
dport=$(cat "$tmp/dport")

# fetch1000 PORT: 1,000 socket coroutines at once (fetch.many, timed inside
# the daemon), as seconds=.
fetch1000() {
	"$BUILD/asyncctl" --socket "$asyncd_url" --json submit fetch.many \
	    "{\"host\": \"127.0.0.1\", \"port\": $1, \"n\": 1000}" \
	    --wait --wait-timeout 120 |
	    sed -n 's/.*"seconds":\([0-9.e-]*\).*/seconds=\1/p'
}

# asyncctl run against task-spooler, as a shell script uses each: one
# command at a time, each waited for. Only where tsp is installed.
SEQ_N=${SEQ_N:-200}
tsp=$(command -v tsp || command -v ts || true)
case $tsp in
*/ts)	"$tsp" -h 2>&1 | grep -q 'task spooler' || tsp= ;;
esac
if [ -n "$tsp" ]; then
	TS_SOCKET=$tmp/tsp.sock TS_MAXFINISHED=1000
	TMPDIR=$tmp
	export TS_SOCKET TS_MAXFINISHED TMPDIR
	# Its server starts with the first command and outlives the bench
	# unless told to go.
	trap '"$tsp" -K >/dev/null 2>&1 || true; bench_cleanup' EXIT INT TERM
fi
tsp_true() { "$tsp" true >/dev/null && "$tsp" -w >/dev/null; }
# seqrun N command...: runs it N times, one after another; ops_per_s=
seqrun() {
	n=$1; shift
	t0=$(date +%s.%N)
	k=0
	while [ $k -lt "$n" ]; do
		"$@" >/dev/null || return 1
		k=$((k + 1))
	done
	t1=$(date +%s.%N)
	awk -v n="$n" -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "ops_per_s=%.0f\n", n / (b - a) }'
}

# field KEY < output: the value of KEY=VALUE
field() { sed -n "s/^$1=//p"; }

run() {	# name command...: appends "name value" lines per key to $tmp/r
	name=$1; shift
	"$@" > "$tmp/out" || { echo "bench: $name failed" >&2; exit 1; }
	while IFS='=' read -r k v; do
		echo "$name.$k $v" >> "$tmp/r"
	done < "$tmp/out"
}

: > "$tmp/r"
r=1
while [ $r -le "$ROUNDS" ]; do
	run nng.lat "$BUILD/bench/bench_nng" latency "$base_url" "$N"
	run ad.call "$BUILD/bench/bench_asyncd" call "$asyncd_url" "$N"
	run ad.sw "$BUILD/bench/bench_asyncd" submitwait "$asyncd_url" "$N"
	for c in 1 4 16; do
		run "nng.t$c" "$BUILD/bench/bench_nng" throughput "$base_url" \
		    "$c" "$SECONDS_PER_RUN"
		run "ad.t$c" "$BUILD/bench/bench_asyncd" throughput \
		    "$asyncd_url" "$c" "$SECONDS_PER_RUN"
	done
	for c in 1 2; do
		run "sp.t$c" "$BUILD/bench/bench_spawn" throughput "$c" \
		    "$SECONDS_PER_RUN"
		run "ex.t$c" "$BUILD/bench/bench_asyncd" exec "$asyncd_url" \
		    "$c" "$SECONDS_PER_RUN"
	done
	if [ -n "$tsp" ]; then
		run "run.ctl" seqrun "$SEQ_N" "$BUILD/asyncctl" --socket \
		    "$asyncd_url" run -- true
		run "run.tsp" seqrun "$SEQ_N" tsp_true
	fi
	run tp "$BUILD/bench/bench_pools" thread "$N"
	run pp "$BUILD/bench/bench_pools" process "$BUILD/asyncd" \
	    "$tmp/plugins" "$N" "$SECONDS_PER_RUN"
	run fseq "$BUILD/bench/bench_fetch" 127.0.0.1 "$port" 1000
	run fco fetch1000 "$port"
	run dseq "$BUILD/bench/bench_fetch" 127.0.0.1 "$dport" 1000
	run dco fetch1000 "$dport"
	r=$((r + 1))
done

get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/r" | median; }

nl50=$(get nng.lat.p50_us); nl99=$(get nng.lat.p99_us)
cl50=$(get ad.call.p50_us); cl99=$(get ad.call.p99_us)
sw50=$(get ad.sw.p50_us); sw99=$(get ad.sw.p99_us)

echo "asyncd bench: $(nproc) CPUs, ipc transport, median of $ROUNDS rounds"
echo "($N sequential calls per latency figure; ${SECONDS_PER_RUN} s per"
echo "throughput figure; an echo job per call)"
echo
printf '%-34s %9s %9s %10s\n' "sequential round trip" "p50 us" "p99 us" \
    "p50 ratio"
printf '%-34s %9s %9s %10s\n' "raw nng REQ/REP echo (baseline)" "$nl50" \
    "$nl99" "1.00"
printf '%-34s %9s %9s %10s\n' "asyncd submit+wait, one trip" "$cl50" \
    "$cl99" "$(ratio "$cl50" "$nl50")"
printf '%-34s %9s %9s %10s\n' "asyncd submit, then wait" "$sw50" "$sw99" \
    "$(ratio "$sw50" "$nl50")"
echo
printf '%-34s %9s %9s %10s\n' "throughput, requests or jobs/s" "1 client" \
    "4" "16"
printf '%-34s %9s %9s %10s\n' "raw nng REQ/REP echo (baseline)" \
    "$(get nng.t1.ops_per_s)" "$(get nng.t4.ops_per_s)" \
    "$(get nng.t16.ops_per_s)"
printf '%-34s %9s %9s %10s\n' "asyncd echo jobs" \
    "$(get ad.t1.ops_per_s)" "$(get ad.t4.ops_per_s)" \
    "$(get ad.t16.ops_per_s)"
printf '%-34s %9s %9s %10s\n' "asyncd / baseline" \
    "$(ratio "$(get ad.t1.ops_per_s)" "$(get nng.t1.ops_per_s)")" \
    "$(ratio "$(get ad.t4.ops_per_s)" "$(get nng.t4.ops_per_s)")" \
    "$(ratio "$(get ad.t16.ops_per_s)" "$(get nng.t16.ops_per_s)")"
echo
printf '%-34s %9s %9s\n' "commands/s, /bin/true" "1 in flight" "2"
printf '%-34s %9s %9s\n' "raw posix_spawn + waitpid (baseline)" \
    "$(get sp.t1.ops_per_s)" "$(get sp.t2.ops_per_s)"
printf '%-34s %9s %9s\n' "asyncd exec jobs (submit+wait)" \
    "$(get ex.t1.ops_per_s)" "$(get ex.t2.ops_per_s)"
printf '%-34s %9s %9s\n' "asyncd / baseline" \
    "$(ratio "$(get ex.t1.ops_per_s)" "$(get sp.t1.ops_per_s)")" \
    "$(ratio "$(get ex.t2.ops_per_s)" "$(get sp.t2.ops_per_s)")"
echo
if [ -n "$tsp" ]; then
	printf '%-34s %9s\n' "one command at a time, /bin/true" "cmds/s"
	printf '%-34s %9s\n' "tsp true; tsp -w (baseline)" \
	    "$(get run.tsp.ops_per_s)"
	printf '%-34s %9s\n' "asyncctl run -- true" "$(get run.ctl.ops_per_s)"
	printf '%-34s %9s\n' "asyncctl run / tsp" \
	    "$(ratio "$(get run.ctl.ops_per_s)" "$(get run.tsp.ops_per_s)")"
else
	echo "task-spooler (tsp) is not installed: asyncctl run against"
	echo "'tsp true; tsp -w' skipped (make deps-bench installs it)"
fi
echo
printf '%-34s %9s %9s %10s\n' "executors, round trip" "p50 us" "p99 us" \
    "p50 ratio"
printf '%-34s %9s %9s %10s\n' "raw mutex/condvar handoff" \
    "$(get tp.raw_p50_us)" "$(get tp.raw_p99_us)" "1.00"
printf '%-34s %9s %9s %10s\n' "thread pool (submit..done on loop)" \
    "$(get tp.pool_p50_us)" "$(get tp.pool_p99_us)" \
    "$(ratio "$(get tp.pool_p50_us)" "$(get tp.raw_p50_us)")"
printf '%-34s %9s %9s %10s\n' "raw socketpair ping-pong, 2 procs" \
    "$(get pp.raw_p50_us)" "$(get pp.raw_p99_us)" "1.00"
printf '%-34s %9s %9s %10s\n' "process pool call (t.pid)" \
    "$(get pp.pool_p50_us)" "$(get pp.pool_p99_us)" \
    "$(ratio "$(get pp.pool_p50_us)" "$(get pp.raw_p50_us)")"
printf '%-34s %9s %9s %10s\n' "calls/s, 2 in flight" "raw" "pool" \
    "pool/raw"
printf '%-34s %9s %9s %10s\n' "" "$(get pp.raw_calls_per_s)" \
    "$(get pp.pool_calls_per_s)" \
    "$(ratio "$(get pp.pool_calls_per_s)" "$(get pp.raw_calls_per_s)")"
echo
sec() { awk -v s="$1" 'BEGIN { printf "%.3f", s }'; }
printf '%-34s %9s %10s\n' "1,000 TCP request/replies, seconds" \
    "immediate" "2 ms each"
printf '%-34s %9s %10s\n' "one blocking client, sequential" \
    "$(sec "$(get fseq.seconds)")" "$(sec "$(get dseq.seconds)")"
printf '%-34s %9s %10s\n' "1,000 socket coroutines at once" \
    "$(sec "$(get fco.seconds)")" "$(sec "$(get dco.seconds)")"
printf '%-34s %9s %10s\n' "speed-up" \
    "$(ratio "$(get fseq.seconds)" "$(get fco.seconds)")" \
    "$(ratio "$(get dseq.seconds)" "$(get dco.seconds)")"
echo
echo "targets: one-trip p50 within 2.00x of baseline; 16-client throughput"
echo "at least 0.50x of baseline; exec jobs at least 0.70x of raw spawns;"
echo "thread-pool and process-pool round trips within 2.00x of raw"
