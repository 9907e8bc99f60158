# tests/helpers/lib.sh: helpers for asyncd's shell integration tests.
#
# An integration script runs from the repository root (tests/run does so,
# with BUILD exported) and starts like this:
#
#	. tests/helpers/lib.sh
#	testd_start --max-queued 2
#	assert_status 0 asyncctl submit echo '{"a":1}'
#	assert_eq succeeded "$(printf '%s\n' "$ASSERT_OUT" | json_get job |
#	    json_get state)" "echo finished"
#	testd_stop
#
# Daemon:
#   testd_start [ARGS...]  starts $BUILD/asyncd on an ipc:// socket in a
#                          fresh temporary directory, with ARGS appended,
#                          and waits (up to 10 s) until `asyncctl ping`
#                          answers. Sets TESTD_DIR, TESTD_URL, TESTD_PID,
#                          TESTD_LOG and exports ASYNCD_SOCKET=$TESTD_URL.
#   testd_stop [STATUS]    SIGTERM, then waits up to 20 s; fails (showing
#                          the daemon's log) unless it exits with STATUS
#                          (default 0; 128 + N for signal N). Under ASan a
#                          leak in the daemon fails here.
#   testd_kill [SIG]       sends SIG (default KILL); reap it with
#                          testd_stop, e.g. `testd_kill; testd_stop 137`.
#   testd_at_exit CMD      runs CMD at exit, however the script exits,
#                          once the daemon is gone (e.g. an unmount).
#   asyncctl ARGS...       runs $BUILD/asyncctl.
# On exit, a daemon still running is stopped and checked as by testd_stop
# if the script succeeded, and killed if it failed; the directory is always
# removed.
#
# Assertions (each counts one; the first failure ends the script):
#   assert_eq EXPECTED ACTUAL [MSG]
#   assert_match REGEX STRING [MSG]  extended regex (grep -E), any line
#   assert_status STATUS CMD...      runs CMD; its stdout and stderr are
#                                    left in ASSERT_OUT and ASSERT_ERR
#   wait_for CMD...                  until CMD succeeds, polling every
#                                    0.1 s for up to 10 s
#   pass [MSG]                       counts a check made by hand
#   fail MSG                         reports MSG and exits 1
# A script that succeeds ends with "integ <script>: N assertions passed".
#
# json_get FIELD reads one JSON object on stdin and prints its top-level
# member FIELD: a string without its quotes and with its escapes undone
# (except \uXXXX, which stays as it is), any other value as its JSON text,
# so objects can be piped on: `json_get job | json_get id`. It exits 1 if
# the member is missing. Limits: only the first JSON value on stdin is
# read; the input is not validated (garbage in, garbage out); duplicate
# members give the first.
#
# Needs a POSIX sh, awk, GNU sleep (fractions), mktemp, timeout(1), and
# Linux's /proc to see that the daemon has exited without blocking.
# lib.sh does not turn on set -e or set -u.

BUILD=${BUILD:-build}
case $BUILD in
/*)	;;
*)	BUILD=$(pwd)/$BUILD ;;
esac
export BUILD

TESTD_SCRIPT=${0##*/}
TESTD_PASSED=0
TESTD_DIR=
TESTD_URL=
TESTD_PID=
TESTD_LOG=
ASSERT_OUT=
ASSERT_ERR=
_TESTD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/asyncd-lib.XXXXXX") || {
	echo "FAIL $TESTD_SCRIPT: mktemp failed" >&2
	exit 1
}

asyncctl() {
	"$BUILD/asyncctl" "$@"
}

pass() {
	TESTD_PASSED=$((TESTD_PASSED + 1))
}

fail() {
	echo "FAIL $TESTD_SCRIPT: $*" >&2
	exit 1
}

_testd_show_log() {
	if [ -n "$TESTD_LOG" ] && [ -f "$TESTD_LOG" ]; then
		echo "---- asyncd log $TESTD_LOG" >&2
		cat "$TESTD_LOG" >&2
		echo "---- end of asyncd log" >&2
	fi
}

# True if the daemon's only failure is nng 1.5.2's own leak after #1518:
# nng never frees a listener the bug stopped, nor the connections parked
# in it (README, Known issues), so once the probe has listened again a
# sanitizer build reports that cycle at exit. Only the event socket is
# nng's (the request socket is conn.c's own): any subscriber killed in its
# handshake (an `asyncctl logs -f` given up by timeout) sets it off.
# Accepted only if every leaked block was made by nng alone or on the way
# from events_start, server_start or the probe (the listeners), nothing
# else of ours leaked, and no other sanitizer error was reported.
_testd_nng1518_only() {
	grep -q 'listening again' "$TESTD_LOG" &&
	    grep -q 'ERROR: LeakSanitizer' "$TESTD_LOG" &&
	    ! grep -qE 'ERROR: AddressSanitizer|runtime error:' "$TESTD_LOG" &&
	    ! sed -n '/ERROR: LeakSanitizer/,/^SUMMARY/p' "$TESTD_LOG" |
	    grep -E ' in [A-Za-z_0-9]+ (daemon|lib|client|proto)/' |
	    grep -qvE ' in (server_start|events_start|probe_[a-z_]+|main) daemon/'
}

# True once the daemon has exited (it is then a zombie until reaped).
_testd_exited() {
	_state=$(sed 's/.*) //; s/ .*//' "/proc/$TESTD_PID/stat" 2>/dev/null)
	[ -z "$_state" ] || [ "$_state" = Z ]
}

_testd_remove_dir() {
	[ -n "$TESTD_DIR" ] && rm -rf "$TESTD_DIR"
	TESTD_DIR=
	TESTD_LOG=
}

testd_start() {
	[ -z "$TESTD_PID" ] || fail "testd_start: a daemon is already running"
	# An AF_UNIX path holds 107 bytes: keep the directory short.
	_tmp=${TMPDIR:-/tmp}
	[ "${#_tmp}" -le 70 ] || _tmp=/tmp
	TESTD_DIR=$(mktemp -d "$_tmp/asyncd-test.XXXXXX") ||
	    fail "testd_start: mktemp failed"
	TESTD_URL=ipc://$TESTD_DIR/asyncd.sock
	TESTD_LOG=$TESTD_DIR/asyncd.log
	ASYNCD_SOCKET=$TESTD_URL
	export ASYNCD_SOCKET
	[ -x "$BUILD/asyncd" ] || fail "testd_start: no $BUILD/asyncd (make)"
	[ -x "$BUILD/asyncctl" ] ||
	    fail "testd_start: no $BUILD/asyncctl (make)"

	"$BUILD/asyncd" --socket "$TESTD_URL" --state-dir "$TESTD_DIR/state" \
	    --log-level debug "$@" </dev/null >"$TESTD_LOG" 2>&1 &
	TESTD_PID=$!

	_deadline=$(($(date +%s) + 10))
	until timeout 5 "$BUILD/asyncctl" ping >/dev/null 2>&1; do
		if _testd_exited; then
			wait "$TESTD_PID"
			_status=$?
			TESTD_PID=
			_testd_show_log
			fail "testd_start: asyncd exited during startup" \
			    "(status $_status)"
		fi
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			_testd_show_log
			fail "testd_start: asyncd did not answer" \
			    "'asyncctl ping' on $TESTD_URL within 10 s"
		fi
		sleep 0.05
	done
}

# Stops the daemon, expecting exit status $1. Returns 0, or 1 with the
# reason in _TESTD_WHY after showing the daemon's log.
_testd_stop() {
	kill -TERM "$TESTD_PID" 2>/dev/null
	_deadline=$(($(date +%s) + 20))
	while ! _testd_exited; do
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			kill -KILL "$TESTD_PID" 2>/dev/null
			wait "$TESTD_PID"
			TESTD_PID=
			_testd_show_log
			_TESTD_WHY="asyncd did not exit within 20 s of SIGTERM"
			return 1
		fi
		sleep 0.05
	done
	wait "$TESTD_PID"
	_status=$?
	TESTD_PID=
	if [ "$_status" -ne "$1" ] && [ "$1" -eq 0 ] && _testd_nng1518_only; then
		echo "note: asyncd exited $_status on nng #1518's leak only" \
		    "(its probe listened again); accepted" >&2
		_status=0
	fi
	if [ "$_status" -ne "$1" ]; then
		_testd_show_log
		_TESTD_WHY="asyncd exited with status $_status, expected $1"
		return 1
	fi
	_testd_remove_dir
}

testd_stop() {
	[ -n "$TESTD_PID" ] || fail "testd_stop: no daemon running"
	_testd_stop "${1:-0}" || fail "testd_stop: $_TESTD_WHY"
	pass
}

testd_kill() {
	[ -n "$TESTD_PID" ] || fail "testd_kill: no daemon running"
	kill "-${1:-KILL}" "$TESTD_PID" || fail "testd_kill: kill failed"
}

assert_eq() {
	[ "$1" = "$2" ] ||
	    fail "${3:-assert_eq}: expected '$1', got '$2'"
	pass
}

assert_match() {
	printf '%s\n' "$2" | grep -Eq -- "$1" ||
	    fail "${3:-assert_match}: '$2' does not match /$1/"
	pass
}

assert_status() {
	_want=$1
	shift
	"$@" >"$_TESTD_TMP/out" 2>"$_TESTD_TMP/err"
	_status=$?
	ASSERT_OUT=$(cat "$_TESTD_TMP/out")
	ASSERT_ERR=$(cat "$_TESTD_TMP/err")
	if [ "$_status" -ne "$_want" ]; then
		fail "assert_status: '$*' exited $_status, expected $_want;" \
		    "stdout: '$ASSERT_OUT' stderr: '$ASSERT_ERR'"
	fi
	pass
}

wait_for() {
	_tries=0
	until "$@" >/dev/null 2>&1; do
		_tries=$((_tries + 1))
		[ "$_tries" -lt 100 ] || fail "wait_for: '$*' not true in 10 s"
		sleep 0.1
	done
	pass
}

json_get() {
	awk -v field="$1" '
	# Reads a JSON string starting at the quote at i; sets str (raw, still
	# escaped) and returns the index after the closing quote.
	function read_string(i,    c) {
		str = ""
		for (i++; i <= n; i++) {
			c = substr(s, i, 1)
			if (c == "\\") {
				str = str substr(s, i, 2)
				i++
			} else if (c == "\"")
				return i + 1
			else
				str = str c
		}
		return i
	}
	function skip_space(i) {
		while (i <= n && index(" \t\r\n", substr(s, i, 1)) > 0)
			i++
		return i
	}
	function unescape(t,    out, c, i) {
		out = ""
		for (i = 1; i <= length(t); i++) {
			c = substr(t, i, 1)
			if (c != "\\") {
				out = out c
				continue
			}
			c = substr(t, ++i, 1)
			if (c == "n") out = out "\n"
			else if (c == "t") out = out "\t"
			else if (c == "r") out = out "\r"
			else if (c == "b") out = out "\b"
			else if (c == "f") out = out "\f"
			else if (c == "u") out = out "\\u"
			else out = out c
		}
		return out
	}
	# Prints the value starting at i.
	function print_value(i,    c, j, depth) {
		c = substr(s, i, 1)
		if (c == "\"") {
			read_string(i)
			print unescape(str)
			return
		}
		depth = 0
		for (j = i; j <= n; j++) {
			c = substr(s, j, 1)
			if (c == "\"") {
				j = read_string(j) - 1
				continue
			}
			if (c == "{" || c == "[")
				depth++
			else if (c == "}" || c == "]") {
				if (depth == 0)
					break
				if (--depth == 0) {
					j++
					break
				}
			} else if (depth == 0 && index(", \t\r\n", c) > 0)
				break
		}
		print substr(s, i, j - i)
	}
	{ s = s $0 "\n" }
	END {
		n = length(s)
		depth = 0
		want_key = 0
		for (i = 1; i <= n; ) {
			c = substr(s, i, 1)
			if (c == "\"") {
				i = read_string(i)
				if (depth == 1 && want_key) {
					want_key = 0
					i = skip_space(i)
					if (substr(s, i, 1) == ":" &&
					    str == field) {
						print_value(skip_space(i + 1))
						exit 0
					}
				}
				continue
			}
			if (c == "{" || c == "[") {
				depth++
				want_key = (depth == 1 && c == "{")
			} else if (c == "}" || c == "]") {
				if (--depth <= 0)
					break
			} else if (c == "," && depth == 1)
				want_key = 1
			i++
		}
		exit 1
	}'
}

# testd_at_exit CMD: runs the shell command CMD when the script exits,
# however it exits, after its daemon has stopped (an unmount, say).
_TESTD_AT_EXIT=
testd_at_exit() {
	_TESTD_AT_EXIT="$1
$_TESTD_AT_EXIT"
}

_testd_on_exit() {
	_rc=$?
	trap - EXIT
	if [ -n "$TESTD_PID" ]; then
		if [ "$_rc" -eq 0 ]; then
			# Stop it properly, so that its exit status counts.
			if ! _testd_stop 0; then
				echo "FAIL $TESTD_SCRIPT: at exit:" \
				    "$_TESTD_WHY" >&2
				_rc=1
			fi
		else
			kill -KILL "$TESTD_PID" 2>/dev/null
			wait "$TESTD_PID" 2>/dev/null
			TESTD_PID=
		fi
	fi
	_testd_remove_dir
	# What testd_at_exit registered, newest first, once the daemon is gone.
	eval "$_TESTD_AT_EXIT"
	rm -rf "$_TESTD_TMP"
	if [ "$_rc" -eq 0 ]; then
		echo "integ $TESTD_SCRIPT: $TESTD_PASSED assertions passed"
	else
		echo "integ $TESTD_SCRIPT: failed after $TESTD_PASSED" \
		    "assertions passed" >&2
	fi
	exit "$_rc"
}

trap _testd_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
