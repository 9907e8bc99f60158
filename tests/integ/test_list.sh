#!/bin/sh
# History: with a durable store, list reads the store, so it shows jobs
# long gone from memory (which holds the live jobs and a cache of --keep
# finished ones), also after a restart; it filters by state, type, owner,
# key and creation time; paging through it with --before shows every job
# once; a user who is not root sees only its own jobs; a bad filter gets a
# code and a message; and the memory-only daemon filters the same way.
. tests/helpers/lib.sh

command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"

state=$(mktemp -d "$_TESTD_TMP/state.XXXXXX") || fail "mktemp"
KEEP=3

# ids_of JSON: the top-level job ids of a list reply, one per line.
ids_of() {
	printf '%s\n' "$1" | grep -o '{"id":[0-9]*' | sed 's/.*://'
}

# ids_line JSON: the same on one line, "3 2 1".
ids_line() {
	ids_of "$1" | tr '\n' ' ' | sed 's/ $//'
}

# created JSON: "id created" per job of a list reply.
created_of() {
	printf '%s\n' "$1" |
	    grep -o '{"id":[0-9]*,[^{}]*"created":[0-9.]*' |
	    sed 's/{"id":\([0-9]*\),.*"created":\([0-9.]*\)/\1 \2/'
}

# rfc3339 UNIXTIME: to the millisecond, in UTC.
rfc3339() {
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.%3NZ
}

# page_all ARGS...: every id list shows with ARGS, a page of 2 at a time
# (--before the last id of the page before), one per line, in order.
page_all() {
	_before=
	_pages=0
	while :; do
		_page=$(asyncctl --json list --limit 2 ${_before:+--before \
		    "$_before"} "$@") || fail "list $* --before $_before"
		ids_of "$_page"
		_before=$(ids_of "$_page" | tail -n 1)
		_pages=$((_pages + 1))
		[ "$_pages" -lt 100 ] || fail "paging does not end"
		case $_page in
		*'"more":true}') [ -n "$_before" ] ||
		    fail "more, but an empty page" ;;
		*)	break ;;
		esac
	done
}

# raw REQUEST: sends it as it is; prints the reply.
raw() {
	nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 5 \
	    --send-timeout 5 --data "$1"
}

# refused CODE REQUEST: the daemon answers REQUEST with error CODE and a
# message.
refused() {
	_reply=$(raw "$2") || fail "no reply to '$2'"
	assert_eq false "$(printf '%s' "$_reply" | json_get ok)" "ok of '$2'"
	_err=$(printf '%s' "$_reply" | json_get error)
	assert_eq "$1" "$(printf '%s' "$_err" | json_get code)" \
	    "the code for '$2'"
	[ -n "$(printf '%s' "$_err" | json_get message)" ] ||
	    fail "no message for '$2'"
	pass
}

# Another user, when this runs as root with setpriv: sees its own jobs.
other=
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	other=65534
fi
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$BUILD/asyncctl" "$@"
}
# start ARGS...: a daemon other users may reach.
start() {
	testd_start --socket-mode 0666 "$@"
	chmod 0711 "$TESTD_DIR"
}

# ---- more finished jobs than the cache holds, of several kinds.
start --state-dir "$state" --keep "$KEEP" --max-running 1
echoes=
for i in 1 2 3 4 5 6 7 8 9 10; do
	assert_status 0 asyncctl --json submit echo "\"e$i\"" --wait
	echoes="$(printf '%s' "$ASSERT_OUT" | json_get id) $echoes"
done
echoes=${echoes% }
assert_status 0 asyncctl --json submit echo '"keyed"' --key hist-key --wait
keyed=$(printf '%s' "$ASSERT_OUT" | json_get id)
assert_status 1 asyncctl submit fail '{"code": "nope"}' --wait
f1=$(ids_of "$(asyncctl --json list --limit 1)")
assert_status 1 asyncctl submit fail '{"code": "nope"}' --wait
f2=$(ids_of "$(asyncctl --json list --limit 1)")
# A job of another user.
theirs=
if [ -n "$other" ]; then
	assert_status 0 nobody submit echo '"theirs"' --wait
	theirs=$(ids_of "$(asyncctl --json list --limit 1)")
fi
# A live one: running (and --max-running 1 holds the next one queued).
assert_status 0 asyncctl submit sleep '{"seconds": 600}'
live=$ASSERT_OUT
wait_for sh -c "\"$BUILD/asyncctl\" --json status $live | grep -q running"
assert_status 0 asyncctl submit echo '"waits"'
waiting=$ASSERT_OUT

all_before=$(asyncctl --json list --limit 1000) || fail "list"
total=$(ids_of "$all_before" | wc -l)
# Ten echoes, the keyed one, two failures, theirs, the sleep and the one
# queued behind it.
assert_eq $((10 + 1 + 2 + ${theirs:+1} + 2)) "$total" "jobs listed"
testd_kill KILL
testd_stop 137

# ---- after a restart, memory holds the live jobs and the cache; list
# shows all of history from the store.
start --state-dir "$state" --keep "$KEEP" --max-running 1
assert_status 0 asyncctl --json stats
kept=$(($(printf '%s' "$ASSERT_OUT" | json_get succeeded) +
    $(printf '%s' "$ASSERT_OUT" | json_get failed)))
# The newest $KEEP finished, and the job that holds its key.
[ "$kept" -le $((KEEP + 1)) ] ||
    fail "$kept finished jobs in memory with --keep $KEEP"
pass
assert_status 0 asyncctl --json list --limit 1000
all=$ASSERT_OUT
assert_eq "$(ids_line "$all_before")" "$(ids_line "$all")" \
    "the whole history, after a restart"
assert_match "\"id\":$(echo "$echoes" | awk '{ print $NF }'),\"type\":\"echo\",\"state\":\"succeeded\"" \
    "$all" "the oldest job, long gone from memory"
# A live job as memory has it: the sleep was interrupted and runs again.
assert_match "\"id\":$live,\"type\":\"sleep\",\"state\":\"(queued|running)\"" \
    "$all" "the live job"
assert_match "\"id\":$live,[^{}]*\"attempts\":2" "$all" \
    "the live job as memory has it (its second attempt)"
assert_match "\"id\":$waiting,\"type\":\"echo\",\"state\":\"queued\"" \
    "$all" "the job queued behind it"

# ---- each filter.
assert_status 0 asyncctl --json list --state failed
assert_eq "$f2 $f1" "$(ids_line "$ASSERT_OUT")" "--state failed"
assert_status 0 asyncctl --json list --type fail
assert_eq "$f2 $f1" "$(ids_line "$ASSERT_OUT")" "--type fail"
assert_status 0 asyncctl --json list --type echo --state succeeded \
    --limit 1000
n=$(ids_of "$ASSERT_OUT" | wc -l)
assert_eq $((10 + 1 + ${theirs:+1} + 0)) "$n" "--type echo --state succeeded"
assert_status 0 asyncctl --json list --key hist-key
assert_eq "$keyed" "$(ids_line "$ASSERT_OUT")" "--key"
assert_status 0 asyncctl --json list --key no-such-key
assert_eq '{"jobs":[],"more":false}' "$ASSERT_OUT" "--key of no job"
assert_status 0 asyncctl --json list --state running
assert_eq "$live" "$(ids_line "$ASSERT_OUT")" "--state running"
assert_status 0 asyncctl --json list --state interrupted
assert_eq "" "$(ids_line "$ASSERT_OUT")" "--state interrupted"
assert_status 0 asyncctl --json list --owner root --limit 1000
assert_eq $((total - ${theirs:+1} - 0)) "$(ids_of "$ASSERT_OUT" | wc -l)" \
    "--owner root"
assert_status 0 asyncctl --json list --owner 0 --type fail
assert_eq "$f2 $f1" "$(ids_line "$ASSERT_OUT")" "--owner 0 --type fail"
if [ -n "$theirs" ]; then
	assert_status 0 asyncctl --json list --owner nobody
	assert_eq "$theirs" "$(ids_line "$ASSERT_OUT")" "--owner nobody"
	assert_status 0 asyncctl --json list --owner "$other" --state failed
	assert_eq "" "$(ids_line "$ASSERT_OUT")" "--owner --state"
fi

# Times: the jobs created at or after one job's creation, and before
# another's, to the millisecond as list shows them.
third=$(echo "$echoes" | awk '{ print $(NF - 2) }')
seventh=$(echo "$echoes" | awk '{ print $(NF - 6) }')
t3=$(created_of "$all" | awk -v id="$third" '$1 == id { print $2 }')
t7=$(created_of "$all" | awk -v id="$seventh" '$1 == id { print $2 }')
if [ -z "$t3" ] || [ -z "$t7" ]; then
	fail "no created times in '$all'"
fi
want_since=$(created_of "$all" | awk -v t="$t3" '$2 >= t { print $1 }' |
    tr '\n' ' ' | sed 's/ $//')
want_range=$(created_of "$all" |
    awk -v a="$t3" -v b="$t7" '$2 >= a && $2 < b { print $1 }' |
    tr '\n' ' ' | sed 's/ $//')
want_until=$(created_of "$all" | awk -v t="$t3" '$2 < t { print $1 }' |
    tr '\n' ' ' | sed 's/ $//')
assert_status 0 asyncctl --json list --since "$(rfc3339 "$t3")" --limit 1000
assert_eq "$want_since" "$(ids_line "$ASSERT_OUT")" "--since"
assert_match " $third\$" "$(ids_line "$ASSERT_OUT")" \
    "--since a job's created includes it"
assert_status 0 asyncctl --json list --since "$(rfc3339 "$t3")" \
    --until "$(rfc3339 "$t7")"
assert_eq "$want_range" "$(ids_line "$ASSERT_OUT")" "--since --until"
assert_status 0 asyncctl --json list --until "$(rfc3339 "$t3")"
assert_eq "$want_until" "$(ids_line "$ASSERT_OUT")" "--until"
assert_status 0 asyncctl --json list --since 1h --limit 1000
assert_eq "$(ids_line "$all")" "$(ids_line "$ASSERT_OUT")" "--since 1h"
assert_status 0 asyncctl --json list --until 1h
assert_eq '{"jobs":[],"more":false}' "$ASSERT_OUT" "--until 1h"
assert_status 0 asyncctl --json list --type echo --since "$(rfc3339 "$t3")" \
    --until "$(rfc3339 "$t7")"
assert_eq "$want_range" "$(ids_line "$ASSERT_OUT")" "--type --since --until"

# ---- paging: a page of 2 at a time shows each job once, in order.
page_all >"$_TESTD_TMP/paged" || exit 1
assert_eq "$(ids_of "$all")" "$(cat "$_TESTD_TMP/paged")" \
    "paging through all jobs"
assert_eq "$(sort -n "$_TESTD_TMP/paged" | uniq -d)" "" "no id twice"
page_all --type echo --state succeeded >"$_TESTD_TMP/paged" || exit 1
assert_eq "$(asyncctl --json list --type echo --state succeeded \
    --limit 1000 | grep -o '{"id":[0-9]*' | sed 's/.*://')" \
    "$(cat "$_TESTD_TMP/paged")" "paging with filters"
page_all --since "$(rfc3339 "$t3")" >"$_TESTD_TMP/paged" || exit 1
assert_eq "$want_since" "$(tr '\n' ' ' <"$_TESTD_TMP/paged" |
    sed 's/ $//')" "paging a time range"

# ---- another user sees only its own jobs, and may not ask for others'.
if [ -n "$other" ]; then
	assert_status 0 nobody --json list --limit 1000
	assert_eq "$theirs" "$(ids_line "$ASSERT_OUT")" \
	    "another user lists its own job only"
	assert_status 0 nobody --json list --owner nobody
	assert_eq "$theirs" "$(ids_line "$ASSERT_OUT")" "--owner self"
	assert_status 0 nobody --json list --type fail
	assert_eq '{"jobs":[],"more":false}' "$ASSERT_OUT" \
	    "root's jobs stay hidden behind a filter"
	assert_status 1 nobody list --owner root
	assert_match "only root and the daemon's user may list other users" \
	    "$ASSERT_ERR" "--owner of another user"
else
	echo "test_list.sh: not root or no setpriv; other users not checked"
fi

# ---- a bad filter: a code and a message.
refused bad_request '{"v":1,"op":"list","state":"sleeping"}'
refused bad_request '{"v":1,"op":"list","owner":"root"}'
refused bad_request '{"v":1,"op":"list","owner":-1}'
refused bad_request '{"v":1,"op":"list","since":"yesterday"}'
refused bad_request '{"v":1,"op":"list","until":1796083200}'
refused bad_request '{"v":1,"op":"list","key":""}'
refused bad_request '{"v":1,"op":"list","since":"2026-12-02T00:00:00Z","until":"2026-12-01T00:00:00Z"}'
assert_match "'since' must be earlier than 'until'" \
    "$(raw '{"v":1,"op":"list","since":"2026-12-02T00:00:00Z","until":"2026-12-01T00:00:00Z"}')" \
    "the message names the fields"
if [ -n "$other" ]; then
	_reply=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
	    nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 5 \
	    --send-timeout 5 --data '{"v":1,"op":"list","owner":0}') ||
	    fail "no reply to another user's owner"
	assert_eq permission_denied "$(printf '%s' "$_reply" | json_get error |
	    json_get code)" "--owner of another user: the code"
fi
# And asyncctl refuses what it can tell is wrong, before asking.
assert_status 2 asyncctl list --since yesterday
assert_status 2 asyncctl list --owner no-such-user-here
assert_status 2 asyncctl list --key ''
assert_status 2 asyncctl list --since 1h --until 2h
assert_status 0 asyncctl cancel "$live"

# ---- forget by state and time reaches the jobs that left memory: the
# store forgets them too, and the answer counts them.
assert_status 0 asyncctl wait "$waiting"
far=2099-01-01T00:00:00Z
if [ -n "$other" ]; then
	assert_status 0 nobody forget --state succeeded --before "$far"
	assert_eq 1 "$ASSERT_OUT" "another user forgets its own job only"
fi
assert_status 0 asyncctl forget --state failed --before "$far"
assert_eq 2 "$ASSERT_OUT" "forget --state failed, one long out of memory"
assert_status 0 asyncctl forget --state succeeded --before "$far"
assert_eq $((10 + 1 + 1)) "$ASSERT_OUT" \
    "forget --state succeeded: the echoes, the keyed one and the last one"
assert_status 0 asyncctl --json list --limit 1000
assert_eq "$live" "$(ids_line "$ASSERT_OUT")" "only the cancelled job is left"
testd_stop
start --state-dir "$state" --keep "$KEEP"
assert_status 0 asyncctl --json list --limit 1000
assert_eq "$live" "$(ids_line "$ASSERT_OUT")" "forgotten, after a restart"
assert_status 1 asyncctl status "$(echo "$echoes" | awk '{ print $NF }')"
testd_stop
# A store the daemon created has 1 KiB pages (store.c: WAL bytes a commit).
if command -v sqlite3 >/dev/null 2>&1; then
	assert_eq 1024 "$(sqlite3 "$state/jobs.db" 'PRAGMA page_size')" \
	    "the page size of a new store"
fi

# ---- a schema 1 database is migrated, and list reads it.
old=$(mktemp -d "$_TESTD_TMP/old.XXXXXX")
cp "${ASYNCD_SRCDIR:-.}/tests/data/store-v1.db" "$old/jobs.db" ||
    fail "no tests/data/store-v1.db"
testd_start --state-dir "$old"
assert_status 0 asyncctl --json list --key k-queued
assert_eq 3 "$(ids_line "$ASSERT_OUT")" "--key on a migrated store"
assert_status 0 asyncctl --json list --state cancelled
assert_eq 2 "$(ids_line "$ASSERT_OUT")" "--state on a migrated store"
testd_stop
if command -v sqlite3 >/dev/null 2>&1; then
	assert_eq 4 "$(sqlite3 "$old/jobs.db" 'PRAGMA user_version')" \
	    "the schema version after migrating"
	assert_eq 4096 "$(sqlite3 "$old/jobs.db" 'PRAGMA page_size')" \
	    "a migrated store keeps its page size"
	assert_match jobs_created "$(sqlite3 "$old/jobs.db" \
	    "SELECT name FROM sqlite_master WHERE type = 'index'")" \
	    "the indexes list uses"
	# Succeeded jobs stay out of the state index (schema 4), and a list
	# of another state still reads it rather than the whole table.
	assert_match "WHERE state != 'succeeded'" "$(sqlite3 "$old/jobs.db" \
	    "SELECT sql FROM sqlite_master WHERE name = 'jobs_state'")" \
	    "the state index leaves succeeded jobs out"
	assert_match "INDEX jobs_state" "$(sqlite3 "$old/jobs.db" \
	    "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE 1 AND \
	    state = 'cancelled' AND state != 'succeeded' ORDER BY id DESC")" \
	    "a list of cancelled jobs reads the state index"
	# Retention's delete (store.c) walks the old rows of the created
	# index, not the whole history.
	assert_match "INDEX jobs_created" "$(sqlite3 "$old/jobs.db" \
	    "EXPLAIN QUERY PLAN DELETE FROM jobs WHERE state NOT IN \
	    ('queued', 'running') AND finished > 0 AND finished < 5 AND \
	    created < 5 AND (NULL IS NULL OR state = NULL) AND \
	    (NULL IS NULL OR uid = NULL)")" \
	    "retention reads the created index"
fi

# ---- without a store, the filters work on memory.
testd_start --durability none
assert_status 0 asyncctl --json submit echo '"m1"' --key m-key --wait
m1=$(printf '%s' "$ASSERT_OUT" | json_get id)
sleep 0.01
assert_status 0 asyncctl --json submit echo '"m2"' --wait
m2=$(printf '%s' "$ASSERT_OUT" | json_get id)
sleep 0.01
assert_status 1 asyncctl submit fail '{}' --wait
m3=$(ids_of "$(asyncctl --json list --limit 1)")
mall=$(asyncctl --json list) || fail "list"
assert_eq "$m3 $m2 $m1" "$(ids_line "$mall")" "memory: every job"
assert_status 0 asyncctl --json list --key m-key
assert_eq "$m1" "$(ids_line "$ASSERT_OUT")" "memory: --key"
assert_status 0 asyncctl --json list --state failed
assert_eq "$m3" "$(ids_line "$ASSERT_OUT")" "memory: --state"
assert_status 0 asyncctl --json list --type echo
assert_eq "$m2 $m1" "$(ids_line "$ASSERT_OUT")" "memory: --type"
assert_status 0 asyncctl --json list --owner root
assert_eq "$m3 $m2 $m1" "$(ids_line "$ASSERT_OUT")" "memory: --owner"
assert_status 0 asyncctl --json list --owner 1
assert_eq '{"jobs":[],"more":false}' "$ASSERT_OUT" "memory: --owner other"
tm2=$(created_of "$mall" | awk -v id="$m2" '$1 == id { print $2 }')
assert_status 0 asyncctl --json list --since "$(rfc3339 "$tm2")"
assert_eq "$m3 $m2" "$(ids_line "$ASSERT_OUT")" "memory: --since"
assert_status 0 asyncctl --json list --until "$(rfc3339 "$tm2")"
assert_eq "$m1" "$(ids_line "$ASSERT_OUT")" "memory: --until"
page_all >"$_TESTD_TMP/paged" || exit 1
assert_eq "$m3 $m2 $m1" "$(tr '\n' ' ' <"$_TESTD_TMP/paged" |
    sed 's/ $//')" "memory: paging"
refused bad_request '{"v":1,"op":"list","since":"soon"}'
testd_stop

echo "PASS $TESTD_SCRIPT ($TESTD_PASSED checks)"
