#!/bin/sh
# Raw input from a client nobody here wrote (nngcat, from nng-utils): every
# malformed request gets a clear error reply, and the daemon goes on
# serving without losing what it accepted.
. tests/helpers/lib.sh

command -v nngcat >/dev/null || fail "nngcat not installed (make deps)"
testd_start

# raw REQUEST: sends the bytes, prints the reply.
raw() {
	nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 5 \
	    --send-timeout 5 --data "$1"
}

raw_file() {
	nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 5 \
	    --send-timeout 5 --file "$1"
}

# expect_error CODE REQUEST: the reply is {"ok":false} with that code, a
# non-empty message and the daemon's instance, and the daemon still answers
# ping afterwards.
expect_error() {
	reply=$(raw "$2") || fail "no reply to '$2'"
	assert_eq false "$(printf '%s' "$reply" | json_get ok)" \
	    "ok for '$2'"
	err=$(printf '%s' "$reply" | json_get error)
	assert_eq "$1" "$(printf '%s' "$err" | json_get code)" \
	    "error code for '$2'"
	msg=$(printf '%s' "$err" | json_get message)
	[ -n "$msg" ] || fail "empty error message for '$2'"
	pass
	# Every reply, refusals too, names the daemon instance.
	assert_match '^[0-9a-f]{16}$' "$(printf '%s' "$reply" |
	    json_get instance)" "instance in the reply to '$2'"
	assert_status 0 asyncctl ping
}

# A job accepted before the storm must survive it.
assert_status 0 asyncctl submit sleep '{"seconds": 1.5}' --key before
before=$ASSERT_OUT

expect_error bad_json 'hello'
expect_error bad_json '{"v":1,"op":'
expect_error bad_json '{"v":1,"op":"ping"} trailing'
expect_error bad_json '{"v":1,"op":"ping"}}'
expect_error bad_json 'NaN'
expect_error bad_json '{"v":1,"op":"submit","type":"sleep","timeout":NaN}'
expect_error bad_json ''
expect_error bad_request '[1,2,3]'
expect_error bad_request '"a string"'
expect_error bad_request '42'
expect_error bad_request 'null'
expect_error bad_request '{"op":"ping"}'
expect_error bad_version '{"v":2,"op":"ping"}'
expect_error bad_version '{"v":"1","op":"ping"}'
expect_error bad_request '{"v":1}'
expect_error bad_request '{"v":1,"op":7}'
expect_error unknown_op '{"v":1,"op":"frobnicate"}'
expect_error bad_request '{"v":1,"op":"submit"}'
expect_error bad_request '{"v":1,"op":"submit","type":5}'
expect_error bad_request '{"v":1,"op":"submit","type":""}'
expect_error unknown_type '{"v":1,"op":"submit","type":"nope"}'
expect_error bad_request '{"v":1,"op":"submit","type":"echo","timeout":-1}'
expect_error bad_request '{"v":1,"op":"submit","type":"echo","timeout":"5"}'
expect_error bad_request '{"v":1,"op":"submit","type":"echo","timeout":1e999}'
expect_error bad_request '{"v":1,"op":"submit","type":"echo","wait":-0.5}'
expect_error bad_request '{"v":1,"op":"submit","type":"echo","key":7}'
expect_error bad_args '{"v":1,"op":"submit","type":"sleep","args":{"seconds":-1}}'
expect_error bad_args '{"v":1,"op":"submit","type":"gather","args":{"jobs":[]}}'
expect_error bad_args '{"v":1,"op":"submit","type":"gather","args":{"jobs":[{"type":"nope"}]}}'
expect_error bad_request '{"v":1,"op":"wait"}'
expect_error bad_request '{"v":1,"op":"wait","ids":[]}'
expect_error bad_request '{"v":1,"op":"wait","ids":[1.5]}'
expect_error bad_request '{"v":1,"op":"wait","ids":[0]}'
expect_error bad_request '{"v":1,"op":"wait","ids":"1"}'
expect_error bad_request '{"v":1,"op":"wait","ids":[1,2,1]}'
# An unknown id in a wait is an entry with its error, not a failed wait.
reply=$(raw '{"v":1,"op":"wait","ids":[999999]}') || fail "no reply to wait"
assert_eq true "$(printf '%s' "$reply" | json_get ok)" "wait of an unknown id"
assert_match '^\{"ok":true,"instance":"[0-9a-f]{16}","jobs":\[\{"id":999999,"error":\{"code":"unknown_job","message":"no job with id 999999"\}\}\],"done":true\}$' \
    "$reply" "its entry"
expect_error unknown_job '{"v":1,"op":"status","id":999999}'
expect_error bad_request '{"v":1,"op":"status","id":-1}'
expect_error bad_request '{"v":1,"op":"status","id":9007199254740992}'
expect_error bad_request '{"v":1,"op":"list","limit":0}'
expect_error bad_request '{"v":1,"op":"list","state":"sleeping"}'
expect_error unknown_job '{"v":1,"op":"cancel","id":999999}'

# Binary garbage, NULs included.
printf '\000\001\002{\377\376' > "$_TESTD_TMP/garbage"
reply=$(raw_file "$_TESTD_TMP/garbage") || fail "no reply to garbage"
assert_match '"code":"bad_json"' "$reply" "binary garbage"

# Nesting deeper than cJSON's limit (1000).
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "["; }' \
    > "$_TESTD_TMP/deep"
reply=$(raw_file "$_TESTD_TMP/deep") || fail "no reply to deep nesting"
assert_match '"code":"bad_json"' "$reply" "deep nesting"

# Just over the 1 MiB limit: read and refused with too_large.
awk 'BEGIN { printf "{\"v\":1,\"op\":\"submit\",\"type\":\"echo\",\"args\":\""
    for (i = 0; i < 1048576; i++) printf "x"; printf "\"}" }' \
    > "$_TESTD_TMP/big"
reply=$(raw_file "$_TESTD_TMP/big") || fail "no reply to a 1 MiB request"
assert_match '"code":"too_large"' "$reply" "request over --max-msg"

# Far over it (past 4x): nng drops the connection unread; no reply, and
# the daemon is unharmed.
awk 'BEGIN { for (i = 0; i < 5 * 1048576; i++) printf "x" }' \
    > "$_TESTD_TMP/huge"
reply=$(nngcat --req0 --dial "$TESTD_URL" --raw --recv-timeout 1 \
    --send-timeout 2 --file "$_TESTD_TMP/huge" 2>/dev/null)
assert_eq "" "$reply" "reply to a 5 MiB request"
assert_status 0 asyncctl ping

# A well-formed request still works, and unknown fields are ignored.
reply=$(raw '{"v":1,"op":"submit","type":"echo","args":[1,"two"],"wait":5,"colour":"blue"}')
assert_eq true "$(printf '%s' "$reply" | json_get ok)" "valid submit"
assert_eq '[1,"two"]' "$(printf '%s' "$reply" | json_get job |
    json_get result)" "echo result over raw nng"

# Nothing accepted was lost: the job from before finishes normally.
assert_status 0 asyncctl wait "$before" --timeout 10
assert_eq null "$ASSERT_OUT" "job submitted before the bad input"

testd_stop
