#!/bin/sh
# asyncctl run and asyncctl logs against a real daemon: run exits as its
# command did (0, N, 128+N for a signal, 127/126 for a command that cannot
# start) and with asyncctl's own codes only for its own failures (3
# unreachable, 4 cancelled by a signal to asyncctl, 5 timed out); output
# byte-exact on the right descriptor, live; standard input passed whole;
# --env, --cwd, --detach; logs of a finished job, logs -f joined late
# (everything once), --stdout and --stderr; 50 MB through run; types lists
# exec and configured commands.
. tests/helpers/lib.sh

# Standard input must not be a terminal or a pipe that never ends: run
# reads it whole. Each test that wants input gives its own.
exec </dev/null

env --default-signal=INT true 2>/dev/null ||
    fail "env(1) has no --default-signal (coreutils 8.31 or later)"

T=$_TESTD_TMP
# Background jobs of a script start with SIGINT ignored, and run keeps a
# signal it was started ignoring: those started with $DFL get it back, as
# at a terminal. (env execs asyncctl, so $! is asyncctl's pid.)
DFL="env --default-signal=INT,TERM,HUP"

testd_start --jobs-dir "$(pwd)/examples/jobs.d"

# ---- exit statuses.
assert_status 0 asyncctl run -- true
assert_status 3 asyncctl run -- sh -c 'exit 3'
assert_eq "" "$ASSERT_ERR" "a command's own failure is not asyncctl's to say"
assert_status 139 asyncctl run -- sh -c 'kill -SEGV $$'
assert_status 143 asyncctl run -- sh -c 'kill -TERM $$'
assert_status 127 asyncctl run -- no-such-command-$$
assert_match "^asyncctl: cannot run 'no-such-command-$$': No such file or \
directory$" "$ASSERT_ERR" "the daemon's reason"
: >"$T/notexec"
assert_status 126 asyncctl run -- "$T/notexec"
assert_match "Permission denied" "$ASSERT_ERR" "not executable"
assert_status 127 asyncctl run --cwd /no/such/dir -- true
assert_status 5 asyncctl run --timeout 0.5 -- sleep 30
assert_match "timed out after 0.5 s" "$ASSERT_ERR" "timed out"
assert_status 2 asyncctl run
assert_match "missing command" "$ASSERT_ERR" "no command"
assert_status 2 asyncctl run --env NOEQUALS -- true
assert_status 0 asyncctl run -- sh -c 'echo "$1"' sh --not-an-option
assert_eq "--not-an-option" "$ASSERT_OUT" "the command's options are its own"

# ---- output: each stream to its own descriptor, byte for byte.
assert_status 0 asyncctl run -- sh -c 'echo out; echo err >&2; echo out2'
assert_eq "out
out2" "$ASSERT_OUT" "stdout"
assert_eq "err" "$ASSERT_ERR" "stderr"
head -c 100000 /dev/urandom >"$T/rand"
asyncctl run -- cat "$T/rand" >"$T/rand.out" ||
    fail "run cat exited $?"
cmp "$T/rand" "$T/rand.out" || fail "binary output differs"
pass
asyncctl run -- sh -c 'cat "$1" >&2' sh "$T/rand" 2>"$T/rand.err" ||
    fail "run cat >&2 exited $?"
cmp "$T/rand" "$T/rand.err" || fail "binary output on stderr differs"
pass

# ---- standard input, exact bytes, unless it is a terminal or --no-stdin.
asyncctl run -- cat <"$T/rand" >"$T/rand.in" || fail "run cat <: $?"
cmp "$T/rand" "$T/rand.in" || fail "binary input differs"
pass
assert_eq "61 00 62 ff" "$(printf 'a\000b\377' | asyncctl run -- od -An -tx1 |
    sed 's/^ *//')" "bytes on stdin"
assert_status 0 asyncctl run -- wc -c
assert_eq 0 "$ASSERT_OUT" "no input: /dev/null"
asyncctl run --no-stdin -- wc -c <"$T/rand" >"$T/n" || fail "--no-stdin"
assert_eq 0 "$(cat "$T/n")" "--no-stdin reads nothing"
head -c 3000000 /dev/zero >"$T/zero3m"
assert_status 1 asyncctl run -- wc -c <"$T/zero3m"
assert_match "standard input \\(3000000 bytes\\) is more than one request \
can carry \\(the daemon's --max-msg" "$ASSERT_ERR" "too much input, said so"

# ---- environment: the daemon's clean one, plus --env; cwd: ours.
MY_SECRET=leak
export MY_SECRET
assert_status 0 asyncctl run --env FOO=bar --env 'BAZ=a b=c' \
    --env FOO=qux -- sh -c 'echo "$FOO|$BAZ|${MY_SECRET-unset}|$PATH"'
assert_eq "qux|a b=c|unset|/usr/local/bin:/usr/bin:/bin" "$ASSERT_OUT" \
    "--env, the last one winning, and nothing of asyncctl's"
unset MY_SECRET
mkdir "$T/sub"
here=$(cd "$T" && pwd -P)
assert_eq "$here" "$(cd "$T" && asyncctl run -- pwd)" \
    "runs in asyncctl's directory"
assert_eq "$here/sub" "$(cd "$T" && asyncctl run --cwd sub -- pwd)" \
    "--cwd relative to it"
assert_eq "/" "$(asyncctl run --cwd / -- pwd)" "--cwd absolute"

# ---- live: the first line arrives while the command still runs.
$DFL "$BUILD/asyncctl" run -- sh -c 'echo "first $ASYNCD_JOB_ID"; i=0
    while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    echo second' sh "$T/go" >"$T/live" 2>"$T/live.err" &
live=$!
wait_for grep -q '^first ' "$T/live"
lid=$(sed -n 's/^first //p' "$T/live")
assert_eq running "$(asyncctl --json status "$lid" | json_get state)" \
    "the job runs when its first line has come"
assert_eq "first $lid" "$(cat "$T/live")" "and nothing more yet"
: >"$T/go"
wait "$live"
assert_eq 0 $? "live run exit status"
assert_eq "first $lid
second" "$(cat "$T/live")" "every line, once"

# ---- --detach, then logs.
assert_status 0 asyncctl run --detach -- sh -c 'echo a1; echo b1 >&2; i=0
    while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    echo a2; echo b2 >&2; exit 4' sh "$T/go2"
assert_match '^[0-9]+$' "$ASSERT_OUT" "--detach prints the id"
did=$ASSERT_OUT
logs_has() {
	"$BUILD/asyncctl" logs "$did" 2>&1 | grep -q "$1"
}
wait_for logs_has b1
assert_eq running "$(asyncctl --json status "$did" | json_get state)" \
    "the detached command goes on"
assert_status 0 asyncctl logs "$did"
assert_eq a1 "$ASSERT_OUT" "logs of a running job: what there is"
assert_eq b1 "$ASSERT_ERR" "...on each stream"
# A follower joined late: the beginning first, then the rest, once each.
"$BUILD/asyncctl" logs -f "$did" >"$T/lf" 2>"$T/lf.err" &
lf=$!
wait_for grep -q b1 "$T/lf.err"
: >"$T/go2"
wait "$lf"
assert_eq 1 $? "logs -f exits as wait would (the command failed)"
assert_eq "a1
a2" "$(cat "$T/lf")" "logs -f: stdout, everything once"
assert_eq "b1
b2
asyncctl: job $did failed: exit_status: sh exited with status 4" \
    "$(cat "$T/lf.err")" "logs -f: stderr, everything once, and why"
assert_status 0 asyncctl logs "$did"
assert_eq "a1
a2" "$ASSERT_OUT" "logs of a finished job"
assert_eq "b1
b2" "$ASSERT_ERR" "its stderr"
assert_status 0 asyncctl logs --stdout "$did"
assert_eq "a1
a2" "$ASSERT_OUT" "--stdout"
assert_eq "" "$ASSERT_ERR" "--stdout: nothing on stderr"
assert_status 0 asyncctl logs --stderr "$did"
assert_eq "" "$ASSERT_OUT" "--stderr: nothing on stdout"
assert_eq "b1
b2" "$ASSERT_ERR" "--stderr"
assert_status 1 asyncctl logs -f --stdout "$did"
assert_eq "a1
a2" "$ASSERT_OUT" "logs -f of a finished job"
assert_status 2 asyncctl logs --stdout --stderr "$did"
assert_status 1 asyncctl logs 987654
assert_match "no job with id 987654" "$ASSERT_ERR" "logs of an unknown job"
assert_status 0 asyncctl run --detach -- true
assert_status 0 asyncctl wait "$ASSERT_OUT"

# ---- signals to run cancel the job; its last words still come through.
$DFL "$BUILD/asyncctl" run -- sh -c 'echo started
    trap "echo stopping; exit 1" TERM
    while :; do sleep 0.1; done' >"$T/c" 2>"$T/c.err" &
crun=$!
wait_for grep -q started "$T/c"
kill -INT "$crun"
wait "$crun"
assert_eq 4 $? "Ctrl-C: cancelled"
assert_eq "started
stopping" "$(cat "$T/c")" "the output to the end"
assert_match "cancelling job [0-9]+" "$(cat "$T/c.err")" "said so"
$DFL "$BUILD/asyncctl" run -- sh -c 'echo started
    while :; do sleep 0.1; done' >"$T/t" 2>/dev/null &
trun=$!
wait_for grep -q started "$T/t"
kill -TERM "$trun"
wait "$trun"
assert_eq 4 $? "SIGTERM: cancelled"
# A second Ctrl-C leaves at once; the job is the daemon's to stop.
$DFL "$BUILD/asyncctl" run -- sh -c 'echo "started $ASYNCD_JOB_ID"
    trap "" TERM; while :; do sleep 0.1; done' >"$T/d" 2>"$T/d.err" &
drun=$!
wait_for grep -q started "$T/d"
kill -INT "$drun"
wait_for grep -q cancelling "$T/d.err"
kill -INT "$drun"
wait "$drun"
assert_eq 130 $? "a second Ctrl-C exits 130"
assert_match "left running" "$(cat "$T/d.err")" "said so"
# The command ignores SIGTERM: SIGKILL after kill_grace ends it.
djob=$(sed -n 's/^started //p' "$T/d")
assert_status 4 asyncctl wait "$djob" --timeout 30

# ---- a reader that goes away stops the command, as SIGPIPE would.
asyncctl run -- yes | head -n 2 >"$T/yes"
assert_eq "y
y" "$(cat "$T/yes")" "yes | head"
no_running() {
	[ "$(asyncctl --json stats | json_get running)" = 0 ]
}
wait_for no_running

# ---- 50 MB through run, whole.
head -c 50000000 /dev/urandom >"$T/big"
asyncctl run -- cat "$T/big" >"$T/big.out" || fail "50 MB run exited $?"
assert_eq 50000000 "$(wc -c <"$T/big.out")" "50 MB, every byte"
cmp "$T/big" "$T/big.out" || fail "50 MB differ"
pass
rm -f "$T/big" "$T/big.out"

# ---- types: exec, and the configured commands.
assert_status 0 asyncctl --table types
assert_match '^exec ' "$ASSERT_OUT" "types lists exec"
for t in backup make thumbnail; do
	assert_match "^$t " "$ASSERT_OUT" "types lists $t"
done
testd_stop

# ---- no daemon: 3, for asyncctl's own failure.
assert_status 3 asyncctl --socket "ipc://$T/none.sock" run -- true
