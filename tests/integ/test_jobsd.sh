#!/bin/sh
# Configured commands: the examples in examples/jobs.d load and run (a
# backup with rsync, a thumbnail with ImageMagick, a make), placeholders
# reach the command as literal arguments whatever they hold, arguments are
# checked against the file, a bad file is skipped with a clear line (and
# fails --check-jobs), concurrency holds, a file's timeout is the default,
# and "allow" keeps others out.
. tests/helpers/lib.sh

jobs=$(mktemp -d "$_TESTD_TMP/jobs.XXXXXX") || fail "mktemp"
cp "${ASYNCD_SRCDIR:-.}"/examples/jobs.d/*.json "$jobs/" ||
    fail "copying examples/jobs.d"
cat >"$jobs/say.json" <<'EOF'
{
	"description": "prints its arguments, one a line",
	"argv": ["printf", "%s|\n", "{a}", "{b}", "{n}", "{flag}"],
	"args": {
		"a": {"type": "string", "required": true},
		"b": {"type": "string"},
		"n": {"type": "integer", "default": 7},
		"flag": {"type": "boolean", "default": false}
	}
}
EOF
cat >"$jobs/slow.json" <<'EOF'
{"argv": ["sleep", "1"], "concurrency": 2, "description": "sleeps a bit"}
EOF
cat >"$jobs/limited.json" <<'EOF'
{"argv": ["sleep", "30"], "timeout": 0.2}
EOF
cat >"$jobs/private.json" <<'EOF'
{"argv": ["true"], "allow": ["root"]}
EOF
echo '{"argv": ["true"], "colour": "blue"}' >"$jobs/unknownkey.json"
echo '{"argv": ["cp", "{x}/", "y"], "args": {"x": {}}}' >"$jobs/partial.json"
echo 'not json' >"$jobs/broken.json"

# ---- --check-jobs says what is wrong, file by file.
assert_status 1 "$BUILD/asyncd" --check-jobs --jobs-dir "$jobs"
assert_match "unknownkey.json: unknown key 'colour'; skipped" \
    "$ASSERT_ERR" "an unknown key"
assert_match "partial.json: argv\\[1\\]: '\\{x\\}/': a placeholder must be a whole element" \
    "$ASSERT_ERR" "a partial placeholder"
assert_match "broken.json: not valid JSON" "$ASSERT_ERR" "bad JSON"
assert_match "7 job types, 3 bad files" "$ASSERT_OUT" "the summary"
assert_status 0 "$BUILD/asyncd" --check-jobs --jobs-dir \
    "${ASYNCD_SRCDIR:-.}/examples/jobs.d"
assert_match "3 job types, 0 bad files" "$ASSERT_OUT" "the examples are good"

# ---- the daemon loads the good ones and logs the bad ones.
testd_start --jobs-dir "$jobs"
grep -q "unknownkey.json: unknown key 'colour'; skipped" "$TESTD_LOG" ||
    fail "the bad file is not in the log"
pass
assert_status 0 asyncctl --json types
for t in backup make thumbnail say slow private exec; do
	assert_match "\"name\":\"$t\"" "$ASSERT_OUT" "type $t listed"
done
assert_match '"name":"say","description":"prints its arguments, one a line"' \
    "$ASSERT_OUT" "with its description"
if printf '%s' "$ASSERT_OUT" | grep -q '"name":"unknownkey"'; then
	fail "a bad file became a type"
fi
pass

# ---- placeholders: whole arguments, never through a shell.
assert_status 0 asyncctl submit say '{"a": "; rm -rf /", "b": "$(id) `id`\nnext"}' --wait
assert_eq '"; rm -rf /|\n$(id) `id`\nnext|\n7|\nfalse|\n"' \
    "$(printf '%s' "$ASSERT_OUT" | sed 's/.*"stdout":\("[^"]*"\).*/\1/')" \
    "injection attempts arrive literally"
assert_status 0 asyncctl submit say '{"a": "x", "n": 42, "flag": true}' --wait
assert_match '"stdout":"x\|\\n42\|\\ntrue\|\\n"' "$ASSERT_OUT" \
    "a missing optional argument drops its element"
assert_status 1 asyncctl submit say '{"b": "x"}'
assert_match "say needs the argument 'a'" "$ASSERT_ERR" "required argument"
assert_status 1 asyncctl submit say '{"a": "x", "c": 1}'
assert_match "say has no argument 'c'" "$ASSERT_ERR" "unknown argument"
assert_status 1 asyncctl submit say '{"a": 5}'
assert_match "'a' must be a string" "$ASSERT_ERR" "wrong type"
assert_status 1 asyncctl submit say '{"a": "x", "n": 1.5}'
assert_match "'n' must be an integer" "$ASSERT_ERR" \
    "an integer is whole"

# ---- a file's timeout is the default; a submit's own wins.
assert_status 5 asyncctl submit limited --wait
assert_match "timed out after 0.2 s" "$ASSERT_ERR" "the file's timeout"

# ---- concurrency: never more than two slow jobs at once.
: >"$_TESTD_TMP/slow"
for i in 1 2 3 4 5 6; do
	asyncctl submit slow >>"$_TESTD_TMP/slow" || fail "submit slow $i"
done
assert_status 0 asyncctl wait - <"$_TESTD_TMP/slow"
# The most that ran at once, from when each started and finished as the
# daemon recorded it: polling could miss every one on a loaded machine
# (each submit there may take longer than a job).
for id in $(cat "$_TESTD_TMP/slow"); do
	st=$(asyncctl --json status "$id") || fail "status $id"
	echo "$(printf '%s' "$st" | json_get started) 1"
	echo "$(printf '%s' "$st" | json_get finished) -1"
done | sort -k1,1g -k2,2n >"$_TESTD_TMP/edges"
most=$(awk '{ n += $2; if (n > m) m = n } END { print m + 0 }' \
    "$_TESTD_TMP/edges")
[ "$most" -le 2 ] || fail "$most slow jobs ran at once (concurrency 2)"
[ "$most" -ge 1 ] || fail "no slow job ran"
pass

# ---- the examples do real work.
if command -v rsync >/dev/null 2>&1; then
	mkdir -p "$_TESTD_TMP/src/sub" "$_TESTD_TMP/dst"
	echo data >"$_TESTD_TMP/src/sub/file"
	assert_status 0 asyncctl submit backup \
	    "{\"src\": \"$_TESTD_TMP/src/\", \"dest\": \"$_TESTD_TMP/dst\"}" \
	    --wait
	assert_eq data "$(cat "$_TESTD_TMP/dst/sub/file")" "rsync copied"
	# An argument that looks like an option is still an argument.
	assert_status 1 asyncctl submit backup \
	    "{\"src\": \"--version\", \"dest\": \"$_TESTD_TMP/dst\"}" --wait
	assert_match "exit_status" "$ASSERT_ERR" "no option injection"
else
	echo "test_jobsd.sh: rsync not installed (make deps); backup not run"
fi
if command -v convert >/dev/null 2>&1; then
	# A 2x2 PPM, made by hand.
	printf 'P6\n2 2\n255\n\377\0\0\0\377\0\0\0\377\377\377\377' \
	    >"$_TESTD_TMP/in.ppm"
	assert_status 0 asyncctl submit thumbnail \
	    "{\"input\": \"$_TESTD_TMP/in.ppm\", \"output\": \"$_TESTD_TMP/t.png\", \"size\": \"1x1\"}" \
	    --wait
	assert_eq "$(printf '\211PNG')" "$(head -c 4 "$_TESTD_TMP/t.png")" \
	    "a PNG thumbnail"
else
	echo "test_jobsd.sh: ImageMagick not installed (make deps);" \
	    "thumbnail not run"
fi
mkdir -p "$_TESTD_TMP/proj"
printf 'all:\n\t@echo built all\nhello:\n\t@echo hello from make\n' \
    >"$_TESTD_TMP/proj/Makefile"
assert_status 0 asyncctl submit make "{\"dir\": \"$_TESTD_TMP/proj\"}" --wait
assert_match '"stdout":"built all\\n"' "$ASSERT_OUT" "make all"
assert_status 0 asyncctl submit make \
    "{\"dir\": \"$_TESTD_TMP/proj\", \"target\": \"hello\"}" --wait
assert_match '"stdout":"hello from make\\n"' "$ASSERT_OUT" "make hello"
testd_stop

# ---- allow: another user is refused a private command.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1; then
	echo "test_jobsd.sh: not root or no setpriv; allow not checked"
else
	testd_start --jobs-dir "$jobs" --socket-mode 0666
	chmod 0711 "$TESTD_DIR"
	nobody() {
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		    "$BUILD/asyncctl" "$@"
	}
	assert_status 1 nobody submit private
	assert_match "may not run 'private' jobs \\(allowed: root, the daemon's user, root\\)" \
	    "$ASSERT_ERR" "a user not in allow"
	assert_status 0 nobody submit say '{"a": "anyone may"}' --wait
	assert_status 0 asyncctl submit private --wait
	testd_stop
fi
