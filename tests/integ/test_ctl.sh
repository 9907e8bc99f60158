#!/bin/sh
# asyncctl end to end against a real daemon: every command's output and
# exit status (0 succeeded, 1 failed or refused, 2 usage, 3 unreachable,
# 4 cancelled, 5 timed_out, 124 the wait's own timeout), the order of wait's
# results, errors as one "asyncctl:" line on stderr in the job's own words,
# JSON when stdout is not a terminal (or with --json) and tables when it is
# (or with --table), and shutdown.
. tests/helpers/lib.sh

testd_start

# now: seconds since the epoch, with a fraction.
now() {
	date +%s.%N
}

# elapsed T0: seconds since T0, as a decimal.
elapsed() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

# below A B: true if A < B (decimals).
below() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# one_error STATUS: ASSERT_ERR is one line starting "asyncctl:"; a usage
# error (2) may add the command's usage line after it.
one_error() {
	_first=$(printf '%s\n' "$ASSERT_ERR" | sed -n 1p)
	_n=$(printf '%s\n' "$ASSERT_ERR" | wc -l)
	case $_first in
	asyncctl:?*)	;;
	*)	fail "error does not start with 'asyncctl:': '$ASSERT_ERR'" ;;
	esac
	if [ "$1" -eq 2 ] && [ "$_n" -eq 2 ]; then
		assert_match '^usage: asyncctl' \
		    "$(printf '%s\n' "$ASSERT_ERR" | sed -n 2p)" \
		    "the line after a usage error"
	elif [ "$_n" -ne 1 ]; then
		fail "error is $_n lines: '$ASSERT_ERR'"
	fi
	pass
}

# expect_error STATUS CMD...: CMD exits STATUS, prints nothing on stdout
# and one error on stderr.
expect_error() {
	_want=$1
	shift
	assert_status "$_want" "$@"
	assert_eq "" "$ASSERT_OUT" "stdout of '$*'"
	one_error "$_want"
}

# state_of ID: the job's state, from status (JSON: stdout is not a tty).
state_of() {
	asyncctl status "$1" | json_get state
}

# is_state ID STATE: true if the job is in that state.
is_state() {
	[ "$(state_of "$1")" = "$2" ]
}

# newest: the id of the newest job.
newest() {
	ids_of "$(asyncctl list --limit 1)"
}

# ids_of JSON_ARRAY: the top-level job ids of a list, one per line.
ids_of() {
	printf '%s\n' "$1" | grep -o '{"id":[0-9]*' | sed 's/.*://'
}

# ids_line JSON_ARRAY: the same ids on one line, as "3 2 1".
ids_line() {
	ids_of "$1" | tr '\n' ' ' | sed 's/ $//'
}

# ---- stats first, on a fresh daemon: the counts are known.
assert_status 0 asyncctl submit echo '"first"' --wait
assert_eq '"first"' "$ASSERT_OUT" "submit --wait prints the result"
assert_eq "" "$ASSERT_ERR" "submit --wait stderr"
assert_status 0 asyncctl stats
assert_eq 1 "$(printf '%s' "$ASSERT_OUT" | json_get submitted)" "submitted"
assert_eq 1 "$(printf '%s' "$ASSERT_OUT" | json_get succeeded)" "succeeded"
assert_eq 1 "$(printf '%s' "$ASSERT_OUT" | json_get finished)" "finished"
assert_eq 0 "$(printf '%s' "$ASSERT_OUT" | json_get running)" "running"
assert_eq 1024 "$(printf '%s' "$ASSERT_OUT" | json_get max_running)" \
    "max_running"
assert_match '"uptime":[0-9.]+' "$ASSERT_OUT" "stats uptime"

# ---- help and version, with or without a daemon: exit 0 on stdout.
assert_status 0 asyncctl help
assert_match '^usage: asyncctl' "$ASSERT_OUT" "help"
assert_match '^Exit status:' "$ASSERT_OUT" "help lists exit statuses"
assert_eq "" "$ASSERT_ERR" "help stderr"
assert_status 0 asyncctl --help
assert_match '^Commands:' "$ASSERT_OUT" "--help"
for cmd in ping submit wait status list cancel types stats shutdown; do
	assert_status 0 asyncctl "$cmd" --help
	assert_match "^usage: asyncctl $cmd" "$ASSERT_OUT" "$cmd --help"
	assert_eq "" "$ASSERT_ERR" "$cmd --help stderr"
	assert_status 0 asyncctl help "$cmd"
	assert_match "^usage: asyncctl $cmd" "$ASSERT_OUT" "help $cmd"
done
assert_status 0 asyncctl help help
assert_match '^usage: asyncctl help' "$ASSERT_OUT" "help help"
assert_status 0 asyncctl help --help
assert_match '^Commands:' "$ASSERT_OUT" "help --help"
# "shutdown --help" only helped: the daemon still answers.
assert_status 0 asyncctl ping
expect_error 2 asyncctl help frobnicate

assert_status 0 asyncctl --version
assert_match '^asyncctl [0-9]+\.[0-9]+\.[0-9]+ ' "$ASSERT_OUT" "--version"
version=$(printf '%s\n' "$ASSERT_OUT" | awk '{ print $2 }')
assert_status 0 asyncctl ping
assert_match "^asyncd $version \\(pid $TESTD_PID, instance [0-9a-f]{16}\\)\$" \
    "$ASSERT_OUT" "ping names the daemon's version, pid and instance"
instance=$(printf '%s\n' "$ASSERT_OUT" | sed 's/.*instance //; s/)$//')
assert_status 0 asyncctl --json ping
assert_eq "$TESTD_PID" "$(printf '%s' "$ASSERT_OUT" | json_get pid)" \
    "ping --json pid"
assert_eq "$version" "$(printf '%s' "$ASSERT_OUT" | json_get version)" \
    "ping --json version"
assert_eq "$instance" "$(printf '%s' "$ASSERT_OUT" | json_get instance)" \
    "ping --json instance"

# ---- submit prints the id alone.
assert_status 0 asyncctl submit echo '{"a": [1, 2]}'
assert_match '^[0-9]+$' "$ASSERT_OUT" "submit prints digits only"
assert_eq 1 "$(printf '%s\n' "$ASSERT_OUT" | wc -l)" "submit prints one line"
assert_eq "" "$ASSERT_ERR" "submit stderr"
echo_id=$ASSERT_OUT
assert_status 0 asyncctl wait "$echo_id"
assert_eq '{"a":[1,2]}' "$ASSERT_OUT" "wait prints the result"
assert_status 0 asyncctl submit echo
assert_status 0 asyncctl wait "$ASSERT_OUT"
assert_eq null "$ASSERT_OUT" "no ARGS_JSON means null"
assert_status 0 sh -c 'printf "[7, \"seven\"]" |
    "$BUILD/asyncctl" submit echo - --wait'
assert_eq '[7,"seven"]' "$ASSERT_OUT" "ARGS_JSON from standard input"

# Keys: the same key is the same job.
assert_status 0 asyncctl submit sleep '{"seconds": 3600}' --key ctl-key
keyed=$ASSERT_OUT
assert_status 0 asyncctl submit echo 1 --key ctl-key
assert_eq "$keyed" "$ASSERT_OUT" "a key returns its job"

# ---- wait: one line per job, in the order given, though the later ones
# finish first (a gather's result shows which job it is).
gather() {
	printf '{"jobs":[{"type":"sleep","args":{"seconds":%s}},' "$1"
	printf '{"type":"echo","args":"%s"}]}' "$2"
}
a=$(asyncctl submit gather "$(gather 0.6 A)") || fail "submit A"
b=$(asyncctl submit gather "$(gather 0.3 B)") || fail "submit B"
c=$(asyncctl submit echo '"C"') || fail "submit C"
assert_status 0 asyncctl wait "$a" "$b" "$c"
assert_eq '[null,"A"]
[null,"B"]
"C"' "$ASSERT_OUT" "wait A B C: results in the order given"
assert_eq "" "$ASSERT_ERR" "wait stderr"
assert_status 0 asyncctl wait "$c" "$a" "$b"
assert_eq '"C"
[null,"A"]
[null,"B"]' "$ASSERT_OUT" "wait C A B"
# Ids on standard input, as a loop of submits prints them.
assert_status 0 sh -c "printf '%s\n%s %s\n' $b $c $a |
    \"\$BUILD/asyncctl\" wait -"
assert_eq '[null,"B"]
"C"
[null,"A"]' "$ASSERT_OUT" "wait - reads ids from standard input"

# --any: back with the first to finish; the other goes on.
long=$(asyncctl submit sleep '{"seconds": 3600}') || fail "submit long"
short=$(asyncctl submit gather "$(gather 0.2 S)") || fail "submit short"
assert_status 0 asyncctl wait --any "$long" "$short"
assert_eq '[null,"S"]' "$ASSERT_OUT" "wait --any prints the finished one"
assert_eq "asyncctl: job $short finished first" "$ASSERT_ERR" \
    "wait --any says which job finished"
assert_eq running "$(state_of "$long")" "wait --any leaves the rest running"
# With --json, the whole object says which.
assert_status 0 asyncctl wait --any --json "$long" "$short"
assert_eq "$short" "$(printf '%s' "$ASSERT_OUT" | json_get id)" \
    "wait --any --json: the finished job's object"
assert_eq "" "$ASSERT_ERR" "wait --any --json stderr"

# --timeout: 124, the job goes on; --cancel-on-timeout stops it.
t0=$(now)
expect_error 124 asyncctl wait "$long" --timeout 0.3
assert_match "job $long still running" "$ASSERT_ERR" "wait --timeout message"
below "$(elapsed "$t0")" 10 || fail "wait --timeout 0.3 took too long"
pass
assert_eq running "$(state_of "$long")" "wait --timeout leaves the job"
expect_error 124 asyncctl submit sleep '{"seconds": 3600}' --wait-timeout 0.2
wt=$(newest)
assert_eq running "$(state_of "$wt")" "submit --wait-timeout leaves the job"
assert_status 0 asyncctl cancel "$wt" --wait 5
expect_error 124 asyncctl wait "$long" --timeout 0.2 --cancel-on-timeout
assert_eq cancelled "$(state_of "$long")" "--cancel-on-timeout cancels"

# A wait longer than the connect timeout (2 s) and than one long poll.
assert_status 0 asyncctl submit sleep '{"seconds": 2.5}' --wait
assert_eq null "$ASSERT_OUT" "submit --wait on a 2.5 s job"

# ---- exit statuses of finished jobs.
ok=$(asyncctl submit echo '"ok"') || fail "submit ok"
failed=$(asyncctl submit fail \
    '{"message": "disk on fire", "code": "disk_full"}') || fail "submit failed"
cancelled=$(asyncctl submit sleep '{"seconds": 3600}') || fail "submit cancelled"
assert_status 0 asyncctl cancel "$cancelled" --wait 5
timedout=$(asyncctl submit sleep '{"seconds": 3600}' --timeout 0.2) ||
    fail "submit timedout"

expect_error 1 asyncctl wait "$failed"
assert_eq "asyncctl: job $failed failed: disk_full: disk on fire" \
    "$ASSERT_ERR" "a failed job's error"
# A cancelled or timed-out job says so in its own words, never "failed".
expect_error 4 asyncctl wait "$cancelled"
assert_eq "asyncctl: job $cancelled cancelled: cancelled by request" \
    "$ASSERT_ERR" "a cancelled job's error"
expect_error 5 asyncctl wait "$timedout"
assert_eq "asyncctl: job $timedout timed out after 0.2 s" "$ASSERT_ERR" \
    "a timed-out job's error"
expect_error 1 asyncctl submit fail --wait
expect_error 5 asyncctl submit sleep '{"seconds": 3600}' --timeout 0.2 --wait

# Several jobs: the first non-zero status in the order given; a line on
# stdout for each that succeeded, one on stderr for each that did not.
assert_status 1 asyncctl wait "$ok" "$failed" "$cancelled"
assert_eq '"ok"' "$ASSERT_OUT" "stdout of wait ok failed cancelled"
assert_eq 2 "$(printf '%s\n' "$ASSERT_ERR" | grep -c '^asyncctl: job ')" \
    "one error line per unsuccessful job"
assert_eq 2 "$(printf '%s\n' "$ASSERT_ERR" | wc -l)" "nothing else on stderr"
assert_status 4 asyncctl wait "$ok" "$cancelled" "$failed" "$timedout"
assert_status 5 asyncctl wait "$timedout" "$failed"
assert_status 0 asyncctl wait "$ok" "$ok"
assert_eq '"ok"
"ok"' "$ASSERT_OUT" "the same job twice"

# --json: the whole job object, error included.
assert_status 1 asyncctl --json wait "$failed"
assert_eq "$failed" "$(printf '%s' "$ASSERT_OUT" | json_get id)" "--json id"
assert_eq failed "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "--json state"
assert_eq disk_full "$(printf '%s' "$ASSERT_OUT" | json_get error |
    json_get code)" "--json error code"
assert_eq "disk on fire" "$(printf '%s' "$ASSERT_OUT" | json_get error |
    json_get message)" "--json error message"
one_error 1
assert_status 0 asyncctl wait --json "$ok"
assert_eq ok "$(printf '%s' "$ASSERT_OUT" | json_get result)" \
    "wait --json result"
assert_status 1 asyncctl submit fail '{"code": "nope_code"}' --wait --json
assert_eq nope_code "$(printf '%s' "$ASSERT_OUT" | json_get error |
    json_get code)" "submit --wait --json"

# ---- refusals: status 1, one line.
expect_error 1 asyncctl wait 999999
assert_eq "asyncctl: job 999999: no job with id 999999" "$ASSERT_ERR" \
    "unknown job named"
# An unknown id among others: the others are still printed.
assert_status 1 asyncctl wait "$ok" 999999 "$ok"
assert_eq '"ok"
"ok"' "$ASSERT_OUT" "wait ok unknown ok: the known ones printed"
assert_eq "asyncctl: job 999999: no job with id 999999" "$ASSERT_ERR" \
    "wait ok unknown ok: one line for the unknown id"
assert_status 1 asyncctl --json wait 999999
assert_eq unknown_job "$(printf '%s' "$ASSERT_OUT" | json_get error |
    json_get code)" "wait --json: the unknown id's entry"
expect_error 1 asyncctl status 999999
expect_error 1 asyncctl cancel 999999
expect_error 1 asyncctl submit sleep '{"seconds": -1}'
assert_match 'seconds' "$ASSERT_ERR" "bad args named"
expect_error 1 asyncctl submit nope '{}'
assert_match "'nope'" "$ASSERT_ERR" "unknown type named"
expect_error 1 asyncctl cancel "$ok"
assert_eq "asyncctl: job $ok: already finished (succeeded)" "$ASSERT_ERR" \
    "cancel of a finished job"

# ---- usage errors: status 2, before anything is sent.
expect_error 2 asyncctl frobnicate
expect_error 2 asyncctl
expect_error 2 asyncctl submit
expect_error 2 asyncctl wait
expect_error 2 asyncctl status
expect_error 2 asyncctl cancel
expect_error 2 asyncctl status 1 2
expect_error 2 asyncctl ping extra
expect_error 2 asyncctl --bogus ping
expect_error 2 asyncctl wait "$ok" --bogus
expect_error 2 asyncctl list -x
expect_error 2 asyncctl wait "$ok" --timeout
expect_error 2 asyncctl --socket
expect_error 2 asyncctl wait abc
expect_error 2 asyncctl wait "$ok" 12x
expect_error 2 asyncctl status 0
expect_error 2 asyncctl cancel -- -5
expect_error 2 asyncctl status 9007199254740992
expect_error 2 asyncctl wait "$ok" --timeout -1
expect_error 2 asyncctl wait "$ok" --timeout soon
expect_error 2 asyncctl submit echo '{bad'
expect_error 2 asyncctl submit echo '{"a":1} trailing'
expect_error 2 asyncctl submit echo 1 extra
expect_error 2 asyncctl submit sleep 1 --timeout -3
expect_error 2 asyncctl submit echo 1 --key ''
expect_error 2 asyncctl list --limit 0
expect_error 2 asyncctl list --limit 1001
expect_error 2 asyncctl list --state sleeping
expect_error 2 asyncctl list --before x
expect_error 2 asyncctl cancel "$ok" --wait never
expect_error 2 sh -c ': | "$BUILD/asyncctl" wait -'
expect_error 2 asyncctl --json --table list
expect_error 2 asyncctl list --table --json
expect_error 2 asyncctl --table status "$ok" --json

# ---- unreachable: status 3. No socket file: at once, saying how to
# start a daemon; a socket file nobody answers on: within the connect
# timeout.
t0=$(now)
expect_error 3 asyncctl --socket "ipc://$_TESTD_TMP/nobody.sock" \
    --connect-timeout 30 ping
below "$(elapsed "$t0")" 2 || fail "no socket file took $(elapsed "$t0") s"
pass
assert_eq "asyncctl: no asyncd at ipc://$_TESTD_TMP/nobody.sock (start one \
with 'asyncd --socket ipc://$_TESTD_TMP/nobody.sock')" "$ASSERT_ERR" \
    "no socket file: how to start asyncd"
expect_error 3 env ASYNCD_SOCKET="ipc://$_TESTD_TMP/nobody.sock" \
    "$BUILD/asyncctl" --connect-timeout 30 wait 1
assert_match "^asyncctl: no asyncd at ipc://$_TESTD_TMP/nobody.sock \\(start" \
    "$ASSERT_ERR" "no socket file, from ASYNCD_SOCKET"
# The per-user default, with no daemon of one's own (nor a system one).
mkdir -p "$_TESTD_TMP/run" || fail "mkdir run"
if [ ! -e /run/asyncd/asyncd.sock ]; then
	expect_error 3 env -u ASYNCD_SOCKET XDG_RUNTIME_DIR="$_TESTD_TMP/run" \
	    "$BUILD/asyncctl" ping
	assert_eq "asyncctl: no asyncd at ipc://$_TESTD_TMP/run/asyncd/\
asyncd.sock (start one with 'asyncd', or 'systemctl --user start asyncd')" \
	    "$ASSERT_ERR" "no daemon at the default socket"
fi
: > "$_TESTD_TMP/stale.sock" || fail "cannot make stale.sock"
t0=$(now)
expect_error 3 asyncctl --socket "ipc://$_TESTD_TMP/stale.sock" \
    --connect-timeout 0.3 ping
below "$(elapsed "$t0")" 2 || fail "--connect-timeout 0.3 took too long"
pass
assert_match 'cannot reach asyncd' "$ASSERT_ERR" "unreachable message"
t0=$(now)
expect_error 3 asyncctl --socket "ipc://$_TESTD_TMP/stale.sock" \
    --connect-timeout 0.3 wait 1
below "$(elapsed "$t0")" 2 || fail "--connect-timeout 0.3 took too long"
pass

# ---- examples/future_demo, a libasyncd program, checks every call: it
# runs against the daemon, and with none it says so and exits 3.
if [ -x "$BUILD/examples/future_demo" ]; then
	assert_status 0 "$BUILD/examples/future_demo" "$TESTD_URL"
	assert_match '^4 callbacks ran$' "$ASSERT_OUT" "future_demo's callbacks"
	assert_match 'job failed \(failed: failing on purpose\)' \
	    "$ASSERT_OUT" "future_demo's failing job"
	assert_status 3 "$BUILD/examples/future_demo" \
	    "ipc://$_TESTD_TMP/nobody.sock"
	assert_eq "future_demo: no asyncd answers at \
ipc://$_TESTD_TMP/nobody.sock: daemon unreachable (start one with 'asyncd')" \
	    "$ASSERT_ERR" "future_demo with no daemon"
else
	echo "test_ctl.sh: no $BUILD/examples/future_demo; not run"
fi

# ---- ASYNCD_SOCKET is what the commands above used; --socket beats it.
assert_status 0 env ASYNCD_SOCKET="$TESTD_URL" "$BUILD/asyncctl" ping
expect_error 3 env ASYNCD_SOCKET="ipc://$_TESTD_TMP/nobody.sock" \
    "$BUILD/asyncctl" ping
assert_status 0 env ASYNCD_SOCKET="ipc://$_TESTD_TMP/nobody.sock" \
    "$BUILD/asyncctl" --socket "$TESTD_URL" ping
assert_status 0 env ASYNCD_SOCKET="ipc://$_TESTD_TMP/nobody.sock" \
    "$BUILD/asyncctl" -s "$TESTD_URL" ping

# ---- JSON when stdout is not a terminal.
assert_status 0 asyncctl status "$echo_id"
assert_eq "$echo_id" "$(printf '%s' "$ASSERT_OUT" | json_get id)" "status id"
assert_eq echo "$(printf '%s' "$ASSERT_OUT" | json_get type)" "status type"
assert_eq succeeded "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "status state"
assert_eq '{"a":[1,2]}' "$(printf '%s' "$ASSERT_OUT" | json_get args)" \
    "status args"
assert_eq '{"a":[1,2]}' "$(printf '%s' "$ASSERT_OUT" | json_get result)" \
    "status result"
assert_eq 1 "$(printf '%s\n' "$ASSERT_OUT" | wc -l)" "status: one line"
assert_status 0 asyncctl types
for t in echo fail gather sleep; do
	assert_match "\"name\":\"$t\"" "$ASSERT_OUT" "types has $t"
done
assert_match '^\[\{"name":"echo","description":"[^"]+' "$ASSERT_OUT" \
    "types is a JSON array, sorted"
assert_status 0 asyncctl list
assert_match '^\{"jobs":\[\{"id":[0-9]+,.*\],"more":false\}$' "$ASSERT_OUT" \
    "list is the daemon's reply body: jobs and more"
assert_eq 1 "$(printf '%s\n' "$ASSERT_OUT" | wc -l)" "list: one line"
assert_status 0 asyncctl list --limit 1
assert_eq true "$(printf '%s' "$ASSERT_OUT" | json_get more)" \
    "piped list keeps more"

# ---- list filters, on jobs made for it.
l1=$(asyncctl submit sleep '{"seconds": 3600}') || fail "submit l1"
l2=$(asyncctl submit echo '"l2"') || fail "submit l2"
l3=$(asyncctl submit sleep '{"seconds": 3600}') || fail "submit l3"
asyncctl wait "$l2" >/dev/null || fail "wait l2"
wait_for is_state "$l3" running

assert_status 0 asyncctl list --limit 3
assert_eq "$l3 $l2 $l1" "$(ids_line "$ASSERT_OUT")" \
    "list --limit 3: the newest three"
assert_status 0 asyncctl list --limit 2 --before "$l3"
assert_eq "$l2 $l1" "$(ids_line "$ASSERT_OUT")" "list --before"
assert_status 0 asyncctl list -n 1 -b "$l2"
assert_eq "$l1" "$(ids_of "$ASSERT_OUT")" "list -n -b"
assert_status 0 asyncctl list --state running
assert_eq "$keyed $l1 $l3" "$(ids_of "$ASSERT_OUT" | sort -n | tr '\n' ' ' |
    sed 's/ $//')" "list --state running"
assert_status 0 asyncctl list --state running --type sleep --before "$l3"
assert_eq "$keyed $l1" "$(ids_of "$ASSERT_OUT" | sort -n | tr '\n' ' ' |
    sed 's/ $//')" "list --state --type --before"
assert_status 0 asyncctl list --type gather
assert_eq "$short $b $a" "$(ids_line "$ASSERT_OUT")" "list --type gather"
assert_status 0 asyncctl list --state timed_out
assert_eq 2 "$(ids_of "$ASSERT_OUT" | wc -l)" "list --state timed_out"
assert_status 0 asyncctl list --type nope
assert_eq '{"jobs":[],"more":false}' "$ASSERT_OUT" "list of nothing"

# ---- cancel: what happened, in words, piped or not; JSON with --json.
assert_status 0 asyncctl cancel "$l1" --wait 5
assert_eq "job $l1: cancelled" "$ASSERT_OUT" "cancel --wait: cancelled"
assert_eq "" "$ASSERT_ERR" "cancel stderr"
assert_status 0 asyncctl cancel "$l3"
assert_match "^job $l3: (running, cancel requested|cancelled)\$" \
    "$ASSERT_OUT" "cancel says what happened"
wait_for is_state "$l3" cancelled
expect_error 4 asyncctl wait "$l3"
l4=$(asyncctl submit sleep '{"seconds": 3600}') || fail "submit l4"
assert_status 0 asyncctl cancel "$l4" --wait 5 --json
assert_eq cancelled "$(printf '%s' "$ASSERT_OUT" | json_get state)" \
    "cancel --json: the job object"
assert_eq cancelled "$(printf '%s' "$ASSERT_OUT" | json_get error |
    json_get code)" "cancel --json: error code"
assert_status 1 asyncctl cancel "$l4" --json
assert_eq "$l4" "$(printf '%s' "$ASSERT_OUT" | json_get id)" \
    "cancel --json of a finished job: its object"
assert_eq "asyncctl: job $l4: already finished (cancelled)" "$ASSERT_ERR" \
    "cancel --json of a finished job: the line"

# ---- --table: tables even when piped (watch asyncctl list --table).
assert_status 0 asyncctl list --limit 3 --table
assert_match '^ID +STATE +TYPE +KEY +PARENT +AGE +RUNTIME +ERROR$' \
    "$(printf '%s\n' "$ASSERT_OUT" | sed -n 1p)" "list --table header"
dur='[0-9][0-9a-z.]*'
assert_match "^$l4 +cancelled +sleep +- +- +$dur +$dur +cancelled\$" \
    "$ASSERT_OUT" "list --table: a cancelled job's row"
assert_match "^$l2 +succeeded +echo +- +- +$dur +$dur +-\$" "$ASSERT_OUT" \
    "list --table: a succeeded job's row"
assert_status 0 asyncctl --table list --type gather --limit 1
assert_match "^$short +succeeded +gather " "$ASSERT_OUT" \
    "--table before the command"
assert_match '^\(more: asyncctl list --before [0-9]+\)$' "$ASSERT_OUT" \
    "list --table says there is more"
# A gather's two children name it as their parent.
assert_eq 2 "$(asyncctl list --table |
    awk -v p="$short" '$5 == p { n++ } END { print n + 0 }')" \
    "list --table PARENT column"
assert_status 0 asyncctl status "$echo_id" --table
assert_match "^id: +$echo_id$" "$ASSERT_OUT" "status --table"
assert_status 0 asyncctl stats --table
assert_match '^uptime: +[0-9]' "$ASSERT_OUT" "stats --table"
assert_status 0 asyncctl types --table
assert_match '^NAME +DESCRIPTION$' \
    "$(printf '%s\n' "$ASSERT_OUT" | sed -n 1p)" "types --table"

# ---- tables on a terminal (script(1) gives one).
if command -v script >/dev/null 2>&1; then
	# on_tty ARGS: runs asyncctl ARGS on a pty; prints its output
	# without the \r the pty adds.
	on_tty() {
		script -qec "$BUILD/asyncctl $*" /dev/null </dev/null |
		    tr -d '\r'
	}
	out=$(on_tty list --limit 3)
	assert_match '^ID +STATE +TYPE +KEY +PARENT +AGE +RUNTIME +ERROR$' \
	    "$(printf '%s\n' "$out" | sed -n 1p)" "list table header"
	assert_match "^$l3 +cancelled +sleep +- +- +$dur +$dur +cancelled\$" \
	    "$out" "list table row"
	assert_eq 5 "$(printf '%s\n' "$out" | wc -l)" \
	    "list table: header, 3 rows, and a line saying there are more"
	# cancel prints the same line on a terminal.
	assert_eq "asyncctl: job $l3: already finished (cancelled)" \
	    "$(script -qec "$BUILD/asyncctl cancel $l3" /dev/null </dev/null |
	    tr -d '\r')" "cancel on a terminal"
	assert_match '^\(more: asyncctl list --before [0-9]+\)$' \
	    "$(on_tty list --limit 1)" "list table says there is more"
	out=$(on_tty status "$echo_id")
	assert_match "^id: +$echo_id$" "$out" "status table id"
	assert_match '^type: +echo$' "$out" "status table type"
	assert_match '^state: +succeeded$' "$out" "status table state"
	assert_match '^args: +\{"a":\[1,2\]\}$' "$out" "status table args"
	assert_match '^result: +\{"a":\[1,2\]\}$' "$out" "status table result"
	out=$(on_tty stats)
	for f in queued running succeeded failed cancelled timed_out \
	    submitted finished uptime max_running max_queued; do
		assert_match "^$f: +[0-9]" "$out" "stats table $f"
	done
	out=$(on_tty types)
	assert_match '^NAME +DESCRIPTION$' \
	    "$(printf '%s\n' "$out" | sed -n 1p)" "types table header"
	assert_match '^sleep +[a-z]' "$out" "types table row"
	# --json still means JSON on a terminal.
	assert_match '^\{"id":' "$(on_tty --json status "$echo_id")" \
	    "--json on a terminal"
else
	echo "test_ctl.sh: script(1) not installed; tables not checked"
fi

# ---- shutdown, as root: the daemon stops by itself and exits 0.
[ "$(id -u)" -eq 0 ] || fail "test_ctl.sh runs as root (shutdown needs it)"
# A client held in a long poll when it comes: submit --wait, whose job
# showing up in the list proves its request is being held.
"$BUILD/asyncctl" submit sleep '{"seconds": 3600}' --key last --wait \
    >"$_TESTD_TMP/last.out" 2>&1 &
waiter=$!
# held: the waiter's job runs.
held() {
	asyncctl list --state running | grep -q '"key":"last"'
}
wait_for held
# The key is bound to the waiter's job, so this returns it, creating nothing.
last=$(asyncctl submit echo 1 --key last) || fail "submit --key last"
assert_eq sleep "$(asyncctl status "$last" | json_get type)" "the held job"
assert_status 0 asyncctl shutdown
assert_eq "" "$ASSERT_OUT" "shutdown prints nothing"
# daemon_gone: the daemon has exited (a zombie until testd_stop reaps it).
daemon_gone() {
	_st=$(sed 's/.*) //; s/ .*//' "/proc/$TESTD_PID/stat" 2>/dev/null)
	[ -z "$_st" ] || [ "$_st" = Z ]
}
wait_for daemon_gone
wait "$waiter"
assert_eq 4 "$?" "a waiter at shutdown gets its job cancelled"
assert_eq "asyncctl: job $last cancelled: the daemon is shutting down" \
    "$(cat "$_TESTD_TMP/last.out")" "the waiter's message"
expect_error 3 asyncctl --connect-timeout 0.3 ping
# testd_stop copes with a daemon that has already exited: it reaps it and
# checks the status (0).
testd_stop
