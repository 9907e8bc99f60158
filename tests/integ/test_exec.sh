#!/bin/sh
# exec jobs as the daemon runs them: exit codes and signals, check, env,
# cwd and stdin, no shell unless asked, a command that cannot start,
# stopping whole process groups, no zombies and no descriptors left behind
# after 1,000 commands, exactly fds 0-2 in the child, 50 MB of output
# (capped in the result, whole in the log, the daemon answering all the
# while), the output request and events, and who may run exec.
. tests/helpers/lib.sh

command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"
LOADGEN=$BUILD/tests/loadgen
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make tests)"

# run_exec ARGS_JSON: submits an exec job, waits, leaves its object in JOB.
run_exec() {
	"$BUILD/asyncctl" --json submit exec "$1" --wait >"$_TESTD_TMP/job" \
	    2>"$_TESTD_TMP/job.err"
	JOB=$(cat "$_TESTD_TMP/job")
	[ -n "$JOB" ] || fail "no job for $1: $(cat "$_TESTD_TMP/job.err")"
}

field() {
	printf '%s' "$JOB" | json_get "$1"
}

result() {
	printf '%s' "$JOB" | json_get result | json_get "$1"
}

testd_start

# ---- exit codes, check, output.
run_exec '{"argv": ["sh", "-c", "echo out; echo err >&2; exit 3"]}'
assert_eq failed "$(field state)" "exit 3 with check fails the job"
assert_eq exit_status "$(printf '%s' "$JOB" | json_get error | json_get code)" \
    "its code"
assert_match 'sh exited with status 3' "$(printf '%s' "$JOB" |
    json_get error | json_get message)" "its message"
assert_eq 3 "$(result exit_code)" "the result is still attached"
assert_eq null "$(result signal)" "no signal"
assert_eq 'out\n' "$(printf '%s' "$JOB" | json_get result |
    sed 's/.*"stdout":"\([^"]*\)".*/\1/')" "stdout"
assert_eq 'err\n' "$(printf '%s' "$JOB" | json_get result |
    sed 's/.*"stderr":"\([^"]*\)".*/\1/')" "stderr"
assert_match '^[0-9]+$' "$(result pid)" "pid"
assert_match '^[0-9.e-]+$' "$(result duration)" "duration"

run_exec '{"argv": ["sh", "-c", "exit 3"], "check": false}'
assert_eq succeeded "$(field state)" "exit 3 without check succeeds"
assert_eq 3 "$(result exit_code)" "and says 3"

run_exec '{"argv": ["sh", "-c", "kill -SEGV $$"]}'
assert_eq failed "$(field state)" "killed by a signal"
assert_eq '"SIGSEGV"' "$(printf '%s' "$JOB" | json_get result |
    sed 's/.*"signal":\("[A-Z]*"\).*/\1/')" "the signal's name"
assert_eq null "$(result exit_code)" "no exit code"
assert_match 'killed by SIGSEGV' "$(printf '%s' "$JOB" | json_get error |
    json_get message)" "the message names it"

# ---- a command that cannot start.
run_exec '{"argv": ["no-such-command-here"]}'
assert_eq spawn_failed "$(printf '%s' "$JOB" | json_get error |
    json_get code)" "missing binary"
assert_match 'No such file or directory' "$(printf '%s' "$JOB" |
    json_get error | json_get message)" "with the errno text"
touch "$_TESTD_TMP/notexec"
run_exec "{\"argv\": [\"$_TESTD_TMP/notexec\"]}"
assert_match 'Permission denied' "$(printf '%s' "$JOB" | json_get error |
    json_get message)" "not executable"
run_exec '{"argv": ["true"], "cwd": "/no/such/dir"}'
assert_eq spawn_failed "$(printf '%s' "$JOB" | json_get error |
    json_get code)" "bad cwd"

# ---- environment, cwd, stdin; no shell.
run_exec '{"argv": ["sh", "-c", "echo $PATH,$FOO,$ASYNCD_JOB_ID"],
    "env": {"FOO": "bar baz"}}'
id=$(field id)
assert_eq "/usr/local/bin:/usr/bin:/bin,bar baz,$id\\n" \
    "$(printf '%s' "$JOB" | json_get result |
    sed 's/.*"stdout":"\([^"]*\)".*/\1/')" "PATH, env and the job id"
run_exec '{"argv": ["env"], "env": {"PATH": "/bin"}}'
assert_match 'PATH=/bin\\n' "$JOB" "env replaces PATH"
assert_match 'ASYNCD_SOCKET=ipc://' "$JOB" "ASYNCD_SOCKET"
run_exec "{\"argv\": [\"pwd\"], \"cwd\": \"$_TESTD_TMP\"}"
assert_match "\"stdout\":\"$_TESTD_TMP\\\\n\"" "$JOB" "cwd"
run_exec '{"argv": ["cat"], "stdin": "line one\nline two\n"}'
assert_match '"stdout":"line one\\nline two\\n"' "$JOB" "stdin as text"
run_exec '{"argv": ["od", "-An", "-tx1"], "stdin_base64": "AP8K"}'
assert_match '00 ff 0a' "$JOB" "stdin as base64 bytes"
run_exec '{"argv": ["cat"]}'
assert_match '"stdout":""' "$JOB" "stdin is /dev/null by default"
run_exec '{"argv": ["echo", "; rm -rf /", "$(id)", "`id`", "a\nb", "*"]}'
assert_match '"stdout":"; rm -rf / \$\(id\) `id` a\\nb \*\\n"' "$JOB" \
    "no shell: every argument arrives as it is"
run_exec '{"argv": ["printf", "\\377ok\\n"]}'
assert_match '"stdout":"\\ufffdok\\n"|"stdout":"�ok\\n"' "$JOB" \
    "bytes that are not UTF-8 are replaced"

# ---- exactly descriptors 0, 1 and 2; SIGPIPE as usual.
run_exec '{"argv": ["sh", "-c", "ls /proc/self/fd"]}'
# ls holds one more, its directory handle.
assert_match '"stdout":"0\\n1\\n2\\n3\\n"' "$JOB" "the child has fds 0-2"
run_exec '{"argv": ["sh", "-c", "yes | head -n 2"]}'
assert_eq succeeded "$(field state)" "SIGPIPE is not ignored in commands"
# The daemon started as a background job of this script, ignoring SIGINT
# and SIGQUIT (and SIGPIPE by itself): its commands block none and ignore
# none of the standard signals (glibc's posix_spawn leaves its own two
# internal ones, 32 and 33, ignored).
run_exec '{"argv": ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]}'
blk=$(result stdout | sed -n 's/^SigBlk:[[:space:]]*//p')
ign=$(result stdout | sed -n 's/^SigIgn:[[:space:]]*//p')
assert_eq 0 "$((0x${blk:-x}))" "no signal blocked in a command"
assert_eq 0 "$((0x${ign:-x} & 0x7fffffff))" \
    "no standard signal ignored in a command (SigIgn $ign)"

# ---- bad arguments are refused at submit.
assert_status 1 asyncctl submit exec '{"argv": []}'
assert_match "'argv' must be an array of 1 to" "$ASSERT_ERR" "empty argv"
assert_status 1 asyncctl submit exec '{"argv": ["x"], "cwd": "relative"}'
assert_match "'cwd' must be an absolute path" "$ASSERT_ERR" "relative cwd"
assert_status 1 asyncctl submit exec '{"argv": ["x"], "env": {"A=B": "c"}}'
assert_match "not a variable name" "$ASSERT_ERR" "bad env name"
assert_status 1 asyncctl submit exec '{"argv": ["x"], "bogus": 1, "stdin": 5}'
assert_match "'stdin' must be a string" "$ASSERT_ERR" "bad stdin"

# ---- timeout and cancel stop the whole process group.
# gone PATTERN: no process whose command line matches is left.
gone() {
	! ps -eo args= | grep -q -- "$1"
}
# Unusual sleep lengths mark the processes to look for.
mark="sleep 98[0-9]\\.$$"
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \"sleep 981.$$ & sleep 982.$$ & sleep 983.$$; wait\"],
    \"kill_grace\": 2}" --timeout 0.5
tid=$ASSERT_OUT
assert_status 5 asyncctl wait "$tid"
assert_match "job $tid timed out after 0.5 s" "$ASSERT_ERR" "timed out"
wait_for gone "$mark"
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \"sleep 984.$$ & sleep 985.$$\"]}"
cid=$ASSERT_OUT
wait_for sh -c "ps -eo args= | grep -q 'sleep 985\\.$$'"
assert_status 0 asyncctl cancel "$cid" --wait 10
wait_for gone "$mark"
assert_eq cancelled "$(asyncctl --json status "$cid" | json_get state)" \
    "cancelled"
# A command that ignores SIGTERM gets SIGKILL after kill_grace.
assert_status 0 asyncctl submit exec "{\"argv\": [\"sh\", \"-c\",
    \"trap '' TERM; sleep 986.$$\"], \"kill_grace\": 0.5}" --timeout 0.3
kid=$ASSERT_OUT
assert_status 5 asyncctl wait "$kid" --timeout 20
wait_for gone "$mark"
# What a command leaves running when it exits goes with it.
run_exec "{\"argv\": [\"sh\", \"-c\", \"sleep 987.$$ & echo started\"],
    \"kill_grace\": 1}"
assert_eq succeeded "$(field state)" "the command itself succeeded"
wait_for gone "$mark"

# ---- 1,000 commands: no zombies, no descriptors left in the daemon.
fds() {
	ls "/proc/$TESTD_PID/fd" | wc -l
}
zombies() {
	ps -eo ppid=,stat= | awk -v p="$TESTD_PID" '$1 == p && $2 ~ /^Z/' |
	    wc -l
}
run_exec '{"argv": ["true"]}'
base=$(fds)
failed=$(asyncctl --json stats | json_get failed)
assert_status 0 "$LOADGEN" "$TESTD_URL" submit 1000 2 exec \
    '{"argv": ["sh", "-c", "echo $ASYNCD_JOB_ID"]}'
assert_eq 1000 "$ASSERT_OUT" "1,000 exec jobs accepted"
all_done() {
	[ "$(asyncctl --json stats | json_get running)" = 0 ] &&
	[ "$(asyncctl --json stats | json_get queued)" = 0 ]
}
i=0
until all_done; do
	i=$((i + 1))
	[ $i -lt 1200 ] || fail "1,000 exec jobs did not finish in 2 min"
	sleep 0.1
done
pass
assert_eq 0 "$(zombies)" "no zombies"
fds_back() {
	[ "$(fds)" -le $((base + 2)) ]
}
wait_for fds_back
assert_eq "$failed" "$(asyncctl --json stats | json_get failed)" \
    "none of the 1,000 failed"

# ---- 50 MB of output: capped in the result, whole in the log, and the
# daemon answers meanwhile.
assert_status 0 asyncctl submit exec '{"argv": ["sh", "-c",
    "head -c 50000000 /dev/zero | tr \"\\\\0\" x; echo tail >&2"],
    "output_cap": 1000}'
big=$ASSERT_OUT
pings=0
while [ "$(asyncctl --json status "$big" | json_get state)" = running ]; do
	timeout 5 "$BUILD/asyncctl" ping >/dev/null ||
	    fail "ping failed while a command printed 50 MB"
	pings=$((pings + 1))
done
assert_status 0 asyncctl --json wait "$big"
JOB=$ASSERT_OUT
assert_eq true "$(result stdout_truncated)" "stdout flagged truncated"
assert_eq false "$(result stderr_truncated)" "stderr complete"
assert_eq 1000 "$(result stdout | tr -d '\n' | wc -c)" "1000 bytes kept"
log=$TESTD_DIR/state/logs/$big.out
wait_for test "$(stat -c %s "$log" 2>/dev/null)" = 50000000
assert_eq 0 "$(tr -d x <"$log" | wc -c)" "the log holds the whole output"

# ---- the output request: from any offset, nothing lost, nothing twice.
output() {
	nngcat --req0 --dial "$TESTD_URL" --recv-timeout 20 --ascii \
	    --data "{\"v\":1,\"op\":\"output\",\"id\":$1$2}"
}
b64() {
	printf '%s' "$1" | json_get "$2" | json_get data | base64 -d
}
assert_status 0 asyncctl submit exec '{"argv": ["sh", "-c",
    "echo one; echo err1 >&2; sleep 0.3; echo two; sleep 0.3; echo three"]}'
oid=$ASSERT_OUT
reply=$(output "$oid" ',"wait":5') || fail "output"
assert_eq true "$(printf '%s' "$reply" | json_get ok)" "output answers"
first=$(b64 "$reply" stdout)
assert_match '^one$' "$first" "the first line arrives before the end"
off=$(printf '%s' "$first" | wc -c)
off=$((off + 1))
got=$first
done=false
tries=0
while [ "$done" != true ]; do
	reply=$(output "$oid" ",\"stdout_offset\":$off,\"streams\":\"stdout\",\"wait\":5") ||
	    fail "output from $off"
	chunk=$(b64 "$reply" stdout; echo .)
	chunk=${chunk%.}
	got="$got
${chunk%
}"
	off=$((off + $(printf '%s' "$chunk" | wc -c)))
	done=$(printf '%s' "$reply" | json_get done)
	tries=$((tries + 1))
	[ $tries -lt 20 ] || fail "output never done"
done
assert_eq "one
two
three" "$(printf '%s\n' "$got" | grep -v '^$')" "every line once, in order"
reply=$(output "$oid" ',"streams":"stderr"') || fail "stderr output"
assert_eq "err1" "$(b64 "$reply" stderr)" "stderr from its log"
assert_eq true "$(printf '%s' "$reply" | json_get done)" "done at the end"
reply=$(output 987654 '') || fail "output of an unknown job"
assert_match '"code":"unknown_job"' "$reply" "unknown job"

# ---- events carry the bytes with their offsets.
events=$(asyncctl --json ping | json_get events)
: >"$_TESTD_TMP/ev"
nngcat --sub0 --dial "$events" --subscribe job. --quoted \
    --recv-timeout 20 >"$_TESTD_TMP/ev" 2>/dev/null &
sub=$!
tries=0
until grep -q 'job\.' "$_TESTD_TMP/ev"; do
	asyncctl submit echo 1 >/dev/null
	tries=$((tries + 1))
	[ $tries -lt 100 ] || fail "no events"
	sleep 0.1
done
pass
run_exec '{"argv": ["sh", "-c", "printf hello; printf world"]}'
eid=$(field id)
wait_for grep -q "job\\.$eid\\.state .*succeeded" "$_TESTD_TMP/ev"
kill "$sub" 2>/dev/null
wait "$sub" 2>/dev/null
evout=$(grep "^\"job\\.$eid\\.output " "$_TESTD_TMP/ev" |
    sed 's/^"job\.[0-9]*\.output //; s/"$//; s/\\"/"/g')
assert_match '"stream":"stdout","offset":0,"data":"' "$evout" \
    "output events from offset 0"
all=$(printf '%s\n' "$evout" | while read -r e; do
	printf '%s' "$e" | json_get data | base64 -d
done)
assert_eq helloworld "$all" "the events carry every byte"
testd_stop

# ---- who may run exec: another user only with --exec-allow.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "test_exec.sh: not root or no setpriv; --exec-allow not checked"
else
	nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		    "$BUILD/asyncctl" "$@"
	}
	testd_start --socket-mode 0666
	chmod 0711 "$TESTD_DIR"
	assert_status 1 nobody submit exec '{"argv": ["true"]}'
	assert_match "may not run 'exec' jobs" "$ASSERT_ERR" "nobody refused"
	assert_status 1 nobody submit gather \
	    '{"jobs": [{"type": "exec", "args": {"argv": ["true"]}}]}'
	assert_status 0 nobody submit echo 1
	testd_stop
	testd_start --socket-mode 0666 --exec-allow nobody
	chmod 0711 "$TESTD_DIR"
	assert_status 0 nobody submit exec '{"argv": ["id", "-u"]}' --wait
	assert_eq "$(id -u)" "$(printf '%s' "$ASSERT_OUT" | json_get stdout |
	    tr -d '\n')" "commands run with the daemon's privileges"
	testd_stop
	testd_start --socket-mode 0666 --exec-allow @nogroup
	chmod 0711 "$TESTD_DIR"
	assert_status 0 nobody submit exec '{"argv": ["true"]}'
	testd_stop
fi
daemon_bad() {
	assert_status 1 timeout 10 "$BUILD/asyncd" --socket \
	    "ipc://$_TESTD_TMP/x.sock" --state-dir "$_TESTD_TMP/x" "$@"
}
daemon_bad --exec-allow no-such-user-here
assert_match "exec-allow: no user named 'no-such-user-here'" "$ASSERT_ERR" \
    "an unknown user is an error at start"
