# bench/lib.sh: what the bench scripts share; sourced, after BUILD is set.
#
#   bench_init NAME	a temporary directory $tmp, removed at exit with every
#			process whose pid is in $pids (TERM, then waited for)
#   start NAME ARGS...	an asyncd on ipc://$tmp/NAME.sock, state in
#			$tmp/NAME, log in $tmp/NAME.log, answering ping
#			before it returns; its pid in $pid
#   median, ratio A B	of numbers on stdin; A / B to two places

bench_init() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/asyncd-$1.XXXXXX")
	pids=
	trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
	for p in $pids; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}

start() {
	name=$1
	shift
	"$BUILD/asyncd" --socket "ipc://$tmp/$name.sock" --events none \
	    --state-dir "$tmp/$name" "$@" 2>"$tmp/$name.log" &
	pid=$!
	pids="$pids $pid"
	i=0
	until "$BUILD/asyncctl" --socket "ipc://$tmp/$name.sock" ping \
	    >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "bench: $name did not start" >&2
			exit 1; }
		sleep 0.05
	done
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
