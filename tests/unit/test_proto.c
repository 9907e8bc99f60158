/*
 * test_proto.c: unit tests for proto/, the wire contract.
 *
 * Every request and reply is round-tripped through its encoder and decoder,
 * and every decoder is fed malformed input on purpose: each refusal must
 * carry the exact error code and, for requests, a cause that names the
 * field. Run under ASan, the tests also prove that encoding borrows job
 * arguments and results (deleting the tree frees nothing of the caller's)
 * and that no decode path leaks.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"

/* JSON without escaping: J({"v":1}) is the string "{\"v\":1}". */
#define J(...)		#__VA_ARGS__

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- helpers */

static void
test_proto_str_equal(const char *got, const char *want)
{
	if (got == NULL || want == NULL)
		assert_ptr_equal(got, want);
	else
		assert_string_equal(got, want);
}

static void
test_proto_json_equal(const cJSON *got, const cJSON *want)
{
	char	*g, *w;

	if (got == NULL || want == NULL) {
		assert_ptr_equal(got, want);
		return;
	}
	if (!cJSON_Compare(got, want, true)) {
		g = cJSON_PrintUnformatted(got);
		w = cJSON_PrintUnformatted(want);
		fail_msg("JSON differs: got %s, want %s", g, w);
	}
}

/*
 * Checks encoder output against expected JSON text written with J(), which
 * may contain spaces where the source breaks lines: the expectation is
 * reprinted, keeping its key order, before the comparison. It is reprinted
 * with proto_print because cJSON's printer mangles integers above 2^52.
 */
static void
test_proto_text_equal(const char *got, const char *want)
{
	cJSON	*item;
	char	*canon;

	item = cJSON_Parse(want);
	if (item == NULL)
		fail_msg("expected text is not JSON: %s", want);
	canon = proto_print(item);
	cJSON_Delete(item);
	assert_non_null(canon);
	if (strcmp(got, canon) != 0)
		fail_msg("encoded %s, want %s", got, canon);
	free(canon);
}

/* Parses test JSON that must be valid. */
static cJSON *
test_proto_parse(const char *json)
{
	cJSON	*item;

	item = cJSON_Parse(json);
	assert_non_null(item);
	return (item);
}

/*
 * Decodes a request that must be refused with code want, with a cause that
 * contains mention. Also checks that a refusal leaves nothing to release
 * and that the code does not depend on whether a cause is asked for.
 */
static void
test_proto_req_bad_len(const char *json, size_t len, int want,
    const char *mention)
{
	struct proto_req	 req;
	char			*cause = NULL;
	int			 rv;

	rv = proto_req_decode(json, len, &req, &cause);
	if (rv != want || cause == NULL || strstr(cause, mention) == NULL)
		fail_msg("%.*s: got %s (%s), want %s mentioning \"%s\"",
		    (int)len, json, asyncd_errcode(rv),
		    cause != NULL ? cause : "no cause", asyncd_errcode(want),
		    mention);
	free(cause);
	assert_int_equal(req.op, 0);
	assert_null(req.u.submit.type);
	assert_null(req.u.submit.args);
	assert_int_equal(proto_req_decode(json, len, &req, NULL), want);
}

static void
test_proto_req_bad(const char *json, int want, const char *mention)
{
	test_proto_req_bad_len(json, strlen(json), want, mention);
}

/* Decodes a request that must be accepted; the caller finis it. */
static void
test_proto_req_ok_len(const char *json, size_t len, struct proto_req *req)
{
	char	*cause = NULL;
	int	 rv;

	rv = proto_req_decode(json, len, req, &cause);
	if (rv != 0)
		fail_msg("%.*s: refused with %s (%s)", (int)len, json,
		    asyncd_errcode(rv), cause != NULL ? cause : "no cause");
	assert_null(cause);
}

static void
test_proto_req_ok(const char *json, struct proto_req *req)
{
	test_proto_req_ok_len(json, strlen(json), req);
}

/* Checks that a request is accepted, and releases it. */
static void
test_proto_req_accepted(const char *json)
{
	struct proto_req	req;

	test_proto_req_ok(json, &req);
	proto_req_fini(&req);
}

/* Encodes req, checks the text if want is not NULL, and decodes it. */
static void
test_proto_req_roundtrip(const struct proto_req *req, const char *want,
    struct proto_req *out)
{
	char	*s;

	assert_int_equal(proto_req_encode(req, &s), 0);
	assert_non_null(s);
	if (want != NULL)
		test_proto_text_equal(s, want);
	test_proto_req_ok(s, out);
	assert_int_equal(out->op, req->op);
	free(s);
}

/* Compares two jobs; args and result only where the wire carries them. */
static void
test_proto_job_equal(const struct proto_job *got, const struct proto_job *want,
    int flags)
{
	assert_int_equal(got->id, want->id);
	test_proto_str_equal(got->type, want->type);
	test_proto_str_equal(got->key, want->key);
	assert_int_equal(got->state, want->state);
	assert_int_equal(got->parent, want->parent);
	assert_true(got->created == want->created);
	assert_true(got->started == want->started);
	assert_true(got->finished == want->finished);
	assert_true(got->timeout == want->timeout);
	test_proto_json_equal(got->args,
	    (flags & PROTO_JOB_ARGS) ? want->args : NULL);
	test_proto_json_equal(got->result,
	    (flags & PROTO_JOB_RESULT) ? want->result : NULL);
	test_proto_str_equal(got->err_code, want->err_code);
	test_proto_str_equal(got->err_message, want->err_message);
	assert_true(got->progress == want->progress);
	test_proto_str_equal(got->progress_msg, want->progress_msg);
	assert_int_equal(got->cancel_requested, want->cancel_requested &&
	    !proto_state_terminal(want->state));
}

/*
 * A job with every field set. The trees are the caller's, freed with
 * test_proto_job_free_trees, exactly as the daemon owns its job records.
 */
static void
test_proto_job_full(struct proto_job *job)
{
	memset(job, 0, sizeof *job);
	job->id = 42;
	job->type = "echo";
	job->key = "order-17";
	job->state = PROTO_FAILED;
	job->parent = 7;
	job->created = 1764010000.123;
	job->started = 1764010000.5;
	job->finished = 1764010001.999;
	job->timeout = 2.5;
	job->args = test_proto_parse(J({"hello":["world",1,true,null],
	    "n":{"deep":"x"}}));
	job->result = test_proto_parse(J("a string result"));
	job->err_code = "disk_full";
	job->err_message = "no space left: \"/var\"";
	job->progress = 0.25;
	job->progress_msg = "copying \u00e9t\u00e9";
	job->cancel_requested = false;
}

static void
test_proto_job_free_trees(struct proto_job *job)
{
	cJSON_Delete(job->args);
	cJSON_Delete(job->result);
	job->args = NULL;
	job->result = NULL;
}

/* Encodes rep and decodes it back into out (which the caller finis). */
static void
test_proto_reply_roundtrip(const struct proto_reply *rep, const char *want,
    struct proto_reply *out)
{
	char	*s;
	size_t	 len;
	int	 rv;

	assert_int_equal(proto_reply_encode(rep, &s, &len), 0);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	if (want != NULL)
		test_proto_text_equal(s, want);
	rv = proto_reply_decode(rep->op, s, len, out);
	if (rv != 0)
		fail_msg("%s: reply decode gave %s", s, asyncd_errcode(rv));
	assert_int_equal(out->op, rep->op);
	assert_int_equal(out->err, rep->err);
	free(s);
}

/* Decodes a reply that must be refused as malformed. */
static void
test_proto_reply_bad(enum proto_op op, const char *json)
{
	struct proto_reply	rep;
	int			rv;

	rv = proto_reply_decode(op, json, strlen(json), &rep);
	if (rv != ASYNCD_EPROTO)
		fail_msg("%s reply %s: got %s, want protocol_error",
		    proto_op_name(op), json, asyncd_errcode(rv));
	assert_int_equal(rep.op, op);
	assert_int_equal(rep.err, 0);
	assert_null(rep.message);
	proto_reply_fini(&rep);
}

/* ---- names */

static void
test_proto_op_names(void **state)
{
	const char	*name;
	int		 op;

	(void)state;
	for (op = 0; op < PROTO_OP_COUNT; op++) {
		name = proto_op_name(op);
		assert_non_null(name);
		assert_int_equal(proto_op_parse(name), op);
	}
	assert_string_equal(proto_op_name(PROTO_SUBMIT), "submit");
	assert_null(proto_op_name(PROTO_OP_COUNT));
	assert_null(proto_op_name((enum proto_op)-1));
	assert_int_equal(proto_op_parse("nope"), -1);
	assert_int_equal(proto_op_parse(""), -1);
	assert_int_equal(proto_op_parse("PING"), -1);
}

static void
test_proto_state_names(void **state)
{
	const char	*name;
	int		 s;

	(void)state;
	for (s = 0; s < PROTO_STATE_COUNT; s++) {
		name = proto_state_name(s);
		assert_non_null(name);
		assert_int_equal(proto_state_parse(name), s);
	}
	assert_null(proto_state_name(PROTO_STATE_COUNT));
	assert_null(proto_state_name((enum proto_state)-1));
	assert_int_equal(proto_state_parse("done"), -1);
	assert_int_equal(proto_state_parse("Running"), -1);
	assert_false(proto_state_terminal(PROTO_QUEUED));
	assert_false(proto_state_terminal(PROTO_RUNNING));
	assert_true(proto_state_terminal(PROTO_SUCCEEDED));
	assert_true(proto_state_terminal(PROTO_FAILED));
	assert_true(proto_state_terminal(PROTO_CANCELLED));
	assert_true(proto_state_terminal(PROTO_TIMED_OUT));
}

/* ---- field readers */

static void
test_proto_get_id_bounds(void **state)
{
	static const char *const bad[] = {
		"0", "-1", "1.5", "9007199254740992", "1e309", "-1e309",
		"\"7\"", "true", "null", "[1]", "{}",
	};
	cJSON		*item;
	uint64_t	 id;
	size_t		 i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		item = test_proto_parse(bad[i]);
		id = 99;
		if (proto_get_id(item, &id) != ASYNCD_EBADREQUEST)
			fail_msg("id %s accepted", bad[i]);
		assert_int_equal(id, 99);
		cJSON_Delete(item);
	}
	assert_int_equal(proto_get_id(NULL, &id), ASYNCD_EBADREQUEST);
	item = test_proto_parse("1");
	assert_int_equal(proto_get_id(item, &id), 0);
	assert_int_equal(id, 1);
	cJSON_Delete(item);
	item = test_proto_parse("9007199254740991");
	assert_int_equal(proto_get_id(item, &id), 0);
	assert_int_equal(id, PROTO_ID_MAX);
	cJSON_Delete(item);
}

static void
test_proto_get_seconds_bounds(void **state)
{
	static const char *const bad[] = {
		"-1", "-0.001", "2592000.001", "1e309", "-1e309", "\"5\"",
		"false", "null", "[]",
	};
	cJSON	*item;
	double	 d;
	size_t	 i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		item = test_proto_parse(bad[i]);
		if (proto_get_seconds(item, &d) != ASYNCD_EBADREQUEST)
			fail_msg("duration %s accepted", bad[i]);
		cJSON_Delete(item);
	}
	item = test_proto_parse("0");
	assert_int_equal(proto_get_seconds(item, &d), 0);
	assert_true(d == 0);
	cJSON_Delete(item);
	item = test_proto_parse("0.25");
	assert_int_equal(proto_get_seconds(item, &d), 0);
	assert_true(d == 0.25);
	cJSON_Delete(item);
	item = test_proto_parse("2592000");
	assert_int_equal(proto_get_seconds(item, &d), 0);
	assert_true(d == PROTO_MAX_SECONDS);
	cJSON_Delete(item);
}

/* ---- requests: round trips */

static void
test_proto_req_fieldless_roundtrip(void **state)
{
	static const enum proto_op ops[] = {
		PROTO_PING, PROTO_TYPES, PROTO_STATS, PROTO_SHUTDOWN,
	};
	struct proto_req	 req, out;
	char			 want[64];
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(ops); i++) {
		memset(&req, 0, sizeof req);
		req.op = ops[i];
		snprintf(want, sizeof want, "{\"v\":1,\"op\":\"%s\"}",
		    proto_op_name(ops[i]));
		test_proto_req_roundtrip(&req, want, &out);
		proto_req_fini(&out);
	}
}

static void
test_proto_req_submit_roundtrip(void **state)
{
	struct proto_req	 req, out;
	struct proto_submit	*s = &req.u.submit;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_SUBMIT;
	s->type = "echo";
	s->args = test_proto_parse(J({"hello":"world"}));
	s->wait = 5;
	/* PROTOCOL.md's example, byte for byte. */
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"submit","type":"echo","args":{"hello":"world"},
	    "wait":5}), &out);
	proto_req_fini(&out);

	s->key = "k-1";
	s->timeout = 1.5;
	s->wait = 2.25;
	test_proto_req_roundtrip(&req, NULL, &out);
	assert_string_equal(out.u.submit.type, "echo");
	test_proto_json_equal(out.u.submit.args, s->args);
	assert_ptr_not_equal(out.u.submit.args, s->args);
	assert_string_equal(out.u.submit.key, "k-1");
	assert_true(out.u.submit.timeout == 1.5);
	assert_true(out.u.submit.wait == 2.25);
	proto_req_fini(&out);
	assert_null(out.u.submit.type);

	/* Encoding borrowed the arguments: they are still the caller's. */
	assert_string_equal(cJSON_GetObjectItem(s->args, "hello")->valuestring,
	    "world");
	cJSON_Delete(s->args);
}

static void
test_proto_req_submit_defaults(void **state)
{
	struct proto_req	req, out;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_SUBMIT;
	req.u.submit.type = "sleep";
	test_proto_req_roundtrip(&req, J({"v":1,"op":"submit","type":"sleep"}),
	    &out);
	assert_string_equal(out.u.submit.type, "sleep");
	assert_null(out.u.submit.args);
	assert_null(out.u.submit.key);
	assert_true(out.u.submit.timeout == 0);
	assert_true(out.u.submit.wait == 0);
	proto_req_fini(&out);
}

static void
test_proto_req_submit_args_any_json(void **state)
{
	static const char *const values[] = {
		"0", "-1.5", "\"text\"", "true", "false", "[]", "{}",
		"[1,[2,[3,{\"a\":null}]]]", "\"\\u00e9\\n\\\"\"",
	};
	struct proto_req	req, out;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(values); i++) {
		memset(&req, 0, sizeof req);
		req.op = PROTO_SUBMIT;
		req.u.submit.type = "echo";
		req.u.submit.args = test_proto_parse(values[i]);
		test_proto_req_roundtrip(&req, NULL, &out);
		test_proto_json_equal(out.u.submit.args, req.u.submit.args);
		proto_req_fini(&out);
		cJSON_Delete(req.u.submit.args);
	}

	/* A JSON null is the same as no arguments. */
	memset(&req, 0, sizeof req);
	req.op = PROTO_SUBMIT;
	req.u.submit.type = "echo";
	req.u.submit.args = cJSON_CreateNull();
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"submit","type":"echo","args":null}), &out);
	assert_null(out.u.submit.args);
	proto_req_fini(&out);
	cJSON_Delete(req.u.submit.args);
}

static void
test_proto_req_null_is_absent(void **state)
{
	struct proto_req	req;

	(void)state;
	test_proto_req_ok(J({"v":1,"op":"submit","type":"t","args":null,
	    "key":null,"timeout":null,"wait":null}), &req);
	assert_string_equal(req.u.submit.type, "t");
	assert_null(req.u.submit.args);
	assert_null(req.u.submit.key);
	assert_true(req.u.submit.timeout == 0);
	assert_true(req.u.submit.wait == 0);
	proto_req_fini(&req);

	test_proto_req_ok(J({"v":1,"op":"wait","ids":null,"id":3,"any":null,
	    "timeout":null}), &req);
	assert_int_equal(req.u.wait.nids, 1);
	assert_int_equal(req.u.wait.ids[0], 3);
	assert_false(req.u.wait.any);
	assert_true(req.u.wait.timeout == 0);
	proto_req_fini(&req);

	test_proto_req_ok(J({"v":1,"op":"list","state":null,"type":null,
	    "before":null,"limit":null}), &req);
	assert_int_equal(req.u.list.state, -1);
	assert_null(req.u.list.type);
	assert_int_equal(req.u.list.before, 0);
	assert_int_equal(req.u.list.limit, PROTO_LIST_DEFAULT);
	proto_req_fini(&req);

	test_proto_req_ok(J({"v":1,"op":"cancel","id":4,"wait":null}), &req);
	assert_int_equal(req.u.cancel.id, 4);
	assert_true(req.u.cancel.wait == 0);
	proto_req_fini(&req);

	/* Required fields given as null are missing. */
	test_proto_req_bad(J({"v":1,"op":"submit","type":null}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_bad(J({"v":1,"op":"status","id":null}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":null,"op":"ping"}), ASYNCD_EBADREQUEST,
	    "'v'");
	test_proto_req_bad(J({"v":1,"op":null}), ASYNCD_EBADREQUEST, "'op'");
}

static void
test_proto_req_unknown_fields_ignored(void **state)
{
	(void)state;
	test_proto_req_accepted(J({"v":1,"op":"ping","extra":{"a":[1]},
	    "V":2,"Op":"nope"}));
	test_proto_req_accepted(J({"v":1.0,"op":"ping"}));
}

static void
test_proto_req_wait_roundtrip(void **state)
{
	uint64_t		 ids[] = { 7, 8, PROTO_ID_MAX };
	uint64_t		*many;
	struct proto_req	 req, out;
	size_t			 i;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_WAIT;
	req.u.wait.ids = ids;
	req.u.wait.nids = 2;
	req.u.wait.timeout = 5;
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"wait","ids":[7,8],"timeout":5}), &out);
	proto_req_fini(&out);

	req.u.wait.nids = NITEMS(ids);
	req.u.wait.any = true;
	req.u.wait.timeout = 3.5;
	test_proto_req_roundtrip(&req, NULL, &out);
	assert_int_equal(out.u.wait.nids, NITEMS(ids));
	for (i = 0; i < NITEMS(ids); i++)
		assert_int_equal(out.u.wait.ids[i], ids[i]);
	assert_true(out.u.wait.any);
	assert_true(out.u.wait.timeout == 3.5);
	proto_req_fini(&out);

	/* The largest wait there may be. */
	many = calloc(PROTO_MAX_IDS, sizeof *many);
	assert_non_null(many);
	for (i = 0; i < PROTO_MAX_IDS; i++)
		many[i] = i + 1;
	req.u.wait.ids = many;
	req.u.wait.nids = PROTO_MAX_IDS;
	req.u.wait.any = false;
	req.u.wait.timeout = 0;
	test_proto_req_roundtrip(&req, NULL, &out);
	assert_int_equal(out.u.wait.nids, PROTO_MAX_IDS);
	assert_memory_equal(out.u.wait.ids, many,
	    PROTO_MAX_IDS * sizeof *many);
	assert_false(out.u.wait.any);
	assert_true(out.u.wait.timeout == 0);
	proto_req_fini(&out);
	free(many);
}

static void
test_proto_req_wait_defaults(void **state)
{
	struct proto_req	req;

	(void)state;
	test_proto_req_ok(J({"v":1,"op":"wait","ids":[5]}), &req);
	assert_int_equal(req.u.wait.nids, 1);
	assert_int_equal(req.u.wait.ids[0], 5);
	assert_false(req.u.wait.any);
	assert_true(req.u.wait.timeout == 0);
	proto_req_fini(&req);

	/* "id" is shorthand for "ids":[id]; "ids" wins if both are given. */
	test_proto_req_ok(J({"v":1,"op":"wait","id":6}), &req);
	assert_int_equal(req.u.wait.nids, 1);
	assert_int_equal(req.u.wait.ids[0], 6);
	proto_req_fini(&req);
	test_proto_req_ok(J({"v":1,"op":"wait","id":6,"ids":[9,10]}), &req);
	assert_int_equal(req.u.wait.nids, 2);
	assert_int_equal(req.u.wait.ids[0], 9);
	proto_req_fini(&req);
}

static void
test_proto_req_status_roundtrip(void **state)
{
	struct proto_req	req, out;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_STATUS;
	req.u.status = 12;
	test_proto_req_roundtrip(&req, J({"v":1,"op":"status","id":12}),
	    &out);
	assert_int_equal(out.u.status, 12);
	proto_req_fini(&out);
}

static void
test_proto_req_list_roundtrip(void **state)
{
	struct proto_req	req, out;
	int			s;

	(void)state;
	for (s = 0; s < PROTO_STATE_COUNT; s++) {
		memset(&req, 0, sizeof req);
		req.op = PROTO_LIST;
		req.u.list.state = s;
		req.u.list.type = "sleep";
		req.u.list.before = 1000;
		req.u.list.limit = 10;
		test_proto_req_roundtrip(&req, NULL, &out);
		assert_int_equal(out.u.list.state, s);
		assert_string_equal(out.u.list.type, "sleep");
		assert_int_equal(out.u.list.before, 1000);
		assert_int_equal(out.u.list.limit, 10);
		proto_req_fini(&out);
	}
	req.u.list.state = PROTO_RUNNING;
	req.u.list.type = NULL;
	req.u.list.before = 0;
	req.u.list.limit = PROTO_LIST_MAX;
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"list","state":"running","limit":1000}), &out);
	assert_int_equal(out.u.list.limit, PROTO_LIST_MAX);
	proto_req_fini(&out);
}

static void
test_proto_req_list_defaults(void **state)
{
	struct proto_req	req, out;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_LIST;
	req.u.list.state = -1;
	test_proto_req_roundtrip(&req, J({"v":1,"op":"list"}), &out);
	assert_int_equal(out.u.list.state, -1);
	assert_null(out.u.list.type);
	assert_int_equal(out.u.list.before, 0);
	assert_int_equal(out.u.list.limit, PROTO_LIST_DEFAULT);
	proto_req_fini(&out);
}

static void
test_proto_req_cancel_roundtrip(void **state)
{
	struct proto_req	req, out;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_CANCEL;
	req.u.cancel.id = 3;
	test_proto_req_roundtrip(&req, J({"v":1,"op":"cancel","id":3}), &out);
	assert_int_equal(out.u.cancel.id, 3);
	assert_true(out.u.cancel.wait == 0);
	proto_req_fini(&out);

	req.u.cancel.id = PROTO_ID_MAX;
	req.u.cancel.wait = 0.75;
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"cancel","id":9007199254740991,"wait":0.75}), &out);
	assert_int_equal(out.u.cancel.id, PROTO_ID_MAX);
	assert_true(out.u.cancel.wait == 0.75);
	proto_req_fini(&out);
}

static void
test_proto_req_id_max_exact(void **state)
{
	struct proto_req	req, out;

	(void)state;
	test_proto_req_ok(J({"v":1,"op":"status","id":9007199254740991}),
	    &req);
	assert_int_equal(req.u.status, PROTO_ID_MAX);
	test_proto_req_roundtrip(&req,
	    J({"v":1,"op":"status","id":9007199254740991}), &out);
	assert_int_equal(out.u.status, PROTO_ID_MAX);
	proto_req_fini(&out);
	proto_req_fini(&req);

	test_proto_req_ok(J({"v":1,"op":"list","before":9007199254740991}),
	    &req);
	assert_int_equal(req.u.list.before, PROTO_ID_MAX);
	proto_req_fini(&req);

	/* One more is not an id, even though a double holds it exactly. */
	test_proto_req_bad(J({"v":1,"op":"status","id":9007199254740992}),
	    ASYNCD_EBADREQUEST, "'id'");
}

static void
test_proto_req_encode_invalid(void **state)
{
	uint64_t		 id = 1;
	struct proto_req	 req;
	char			*s;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_OP_COUNT;
	s = (char *)&req;	/* a failed encode must clear it */
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);
	assert_null(s);

	memset(&req, 0, sizeof req);
	req.op = PROTO_SUBMIT;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);
	assert_null(s);

	memset(&req, 0, sizeof req);
	req.op = PROTO_WAIT;
	req.u.wait.ids = &id;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);
	req.u.wait.nids = PROTO_MAX_IDS + 1;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);
	assert_null(s);

	memset(&req, 0, sizeof req);
	req.op = PROTO_STATUS;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);

	memset(&req, 0, sizeof req);
	req.op = PROTO_CANCEL;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);

	memset(&req, 0, sizeof req);
	req.op = PROTO_LIST;
	req.u.list.state = PROTO_STATE_COUNT;
	assert_int_equal(proto_req_encode(&req, &s), ASYNCD_EINVAL);
	assert_null(s);
}

/* ---- requests: malformed */

static void
test_proto_req_decode_not_json(void **state)
{
	(void)state;
	test_proto_req_bad("", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad("hello", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad("{", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad("{\"v\":1,\"op\":\"pi", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad("{\"v\":1,\"op\":\"ping\"", ASYNCD_EBADJSON,
	    "JSON");
	test_proto_req_bad("{\"v\":1,}", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad("{'v':1}", ASYNCD_EBADJSON, "JSON");
	/* The length is what counts, not a terminator. */
	test_proto_req_bad_len(J({"v":1,"op":"ping"}), 10, ASYNCD_EBADJSON,
	    "JSON");
}

static void
test_proto_req_decode_trailing(void **state)
{
	static const char	ping[] = J({"v":1,"op":"ping"});
	struct proto_req	req;
	char			buf[64];

	(void)state;
	test_proto_req_bad("{}x", ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad(J({"v":1,"op":"ping"}x), ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad(J({"v":1,"op":"ping"} {}), ASYNCD_EBADJSON, "JSON");
	test_proto_req_bad(J({"v":1,"op":"ping"}}), ASYNCD_EBADJSON, "JSON");

	/* Trailing whitespace is fine. */
	snprintf(buf, sizeof buf, "%s \t\r\n", ping);
	test_proto_req_ok(buf, &req);
	assert_int_equal(req.op, PROTO_PING);
	proto_req_fini(&req);

	/* One trailing NUL (a C string sent as is) is fine, two are not. */
	memset(buf, 0, sizeof buf);
	memcpy(buf, ping, sizeof ping);
	test_proto_req_ok_len(buf, sizeof ping, &req);
	proto_req_fini(&req);
	test_proto_req_bad_len(buf, sizeof ping + 1, ASYNCD_EBADJSON, "JSON");
	snprintf(buf, sizeof buf, "%s \n", ping);
	test_proto_req_ok_len(buf, strlen(buf) + 1, &req);
	proto_req_fini(&req);

	/* A NUL that is not last is junk. */
	memset(buf, 0, sizeof buf);
	memcpy(buf, ping, sizeof ping);
	buf[sizeof ping] = ' ';
	test_proto_req_bad_len(buf, sizeof ping + 1, ASYNCD_EBADJSON, "JSON");
}

static void
test_proto_req_decode_not_object(void **state)
{
	(void)state;
	test_proto_req_bad("[]", ASYNCD_EBADREQUEST, "object");
	test_proto_req_bad(J([{"v":1,"op":"ping"}]), ASYNCD_EBADREQUEST,
	    "object");
	test_proto_req_bad(J("ping"), ASYNCD_EBADREQUEST, "object");
	test_proto_req_bad("5", ASYNCD_EBADREQUEST, "object");
	test_proto_req_bad("true", ASYNCD_EBADREQUEST, "object");
	test_proto_req_bad("null", ASYNCD_EBADREQUEST, "object");
}

static void
test_proto_req_decode_version(void **state)
{
	(void)state;
	test_proto_req_bad(J({"op":"ping"}), ASYNCD_EBADREQUEST, "'v'");
	test_proto_req_bad("{}", ASYNCD_EBADREQUEST, "'v'");
	test_proto_req_bad(J({"v":2,"op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":0,"op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":1.5,"op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":"1","op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":true,"op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":[1],"op":"ping"}), ASYNCD_EBADVERSION,
	    "version");
	/* The version is checked before the operation. */
	test_proto_req_bad(J({"v":2,"op":"nope"}), ASYNCD_EBADVERSION,
	    "version");
	test_proto_req_bad(J({"v":2}), ASYNCD_EBADVERSION, "version");
}

static void
test_proto_req_decode_op(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1}), ASYNCD_EBADREQUEST, "'op'");
	test_proto_req_bad(J({"v":1,"op":5}), ASYNCD_EBADREQUEST, "'op'");
	test_proto_req_bad(J({"v":1,"op":["ping"]}), ASYNCD_EBADREQUEST,
	    "'op'");
	test_proto_req_bad(J({"v":1,"op":"frobnicate"}), ASYNCD_EUNKNOWNOP,
	    "'frobnicate'");
	test_proto_req_bad(J({"v":1,"op":"PING"}), ASYNCD_EUNKNOWNOP,
	    "'PING'");
	test_proto_req_bad(J({"v":1,"op":""}), ASYNCD_EUNKNOWNOP,
	    "operation");
}

static void
test_proto_req_decode_submit_type(void **state)
{
	char	buf[256];

	(void)state;
	test_proto_req_bad(J({"v":1,"op":"submit"}), ASYNCD_EBADREQUEST,
	    "'type'");
	test_proto_req_bad(J({"v":1,"op":"submit","args":{}}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":5}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":["echo"]}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":""}),
	    ASYNCD_EBADREQUEST, "'type'");

	snprintf(buf, sizeof buf, "{\"v\":1,\"op\":\"submit\",\"type\":"
	    "\"%0*d\"}", PROTO_MAX_TYPE + 1, 0);
	test_proto_req_bad(buf, ASYNCD_EBADREQUEST, "'type'");
	snprintf(buf, sizeof buf, "{\"v\":1,\"op\":\"submit\",\"type\":"
	    "\"%0*d\"}", PROTO_MAX_TYPE, 0);
	test_proto_req_accepted(buf);
}

static void
test_proto_req_decode_submit_key(void **state)
{
	char	buf[512];

	(void)state;
	snprintf(buf, sizeof buf, "{\"v\":1,\"op\":\"submit\",\"type\":\"t\","
	    "\"key\":\"%0*d\"}", PROTO_MAX_KEY + 1, 0);
	test_proto_req_bad(buf, ASYNCD_EBADREQUEST, "'key'");
	snprintf(buf, sizeof buf, "{\"v\":1,\"op\":\"submit\",\"type\":\"t\","
	    "\"key\":\"%0*d\"}", PROTO_MAX_KEY, 0);
	test_proto_req_accepted(buf);
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","key":""}),
	    ASYNCD_EBADREQUEST, "'key'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","key":17}),
	    ASYNCD_EBADREQUEST, "'key'");
}

static void
test_proto_req_decode_submit_timeout(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","timeout":-1}),
	    ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","timeout":"5"}),
	    ASYNCD_EBADREQUEST, "'timeout'");
	/* cJSON reads 1e309 as infinity, which is no duration. */
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","timeout":1e309}),
	    ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t",
	    "timeout":-1e309}), ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t",
	    "timeout":2592000.001}), ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t",
	    "timeout":true}), ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_accepted(J({"v":1,"op":"submit","type":"t",
	    "timeout":2592000}));
	test_proto_req_accepted(J({"v":1,"op":"submit","type":"t",
	    "timeout":0}));
}

static void
test_proto_req_decode_submit_wait(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","wait":false}),
	    ASYNCD_EBADREQUEST, "'wait'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","wait":-0.5}),
	    ASYNCD_EBADREQUEST, "'wait'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","wait":"1"}),
	    ASYNCD_EBADREQUEST, "'wait'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t","wait":1e309}),
	    ASYNCD_EBADREQUEST, "'wait'");
	test_proto_req_bad(J({"v":1,"op":"submit","type":"t",
	    "wait":2592001}), ASYNCD_EBADREQUEST, "'wait'");
}

static void
test_proto_req_decode_wait_ids(void **state)
{
	static const char *const bad_ids[] = {
		"0", "-1", "1.5", "9007199254740992", "\"7\"", "null",
		"true", "[1]", "{}", "1e309",
	};
	char	*buf;
	size_t	 i, len;

	(void)state;
	test_proto_req_bad(J({"v":1,"op":"wait"}), ASYNCD_EBADREQUEST,
	    "'ids'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":[]}),
	    ASYNCD_EBADREQUEST, "'ids'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":5}),
	    ASYNCD_EBADREQUEST, "'ids'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":{"0":1}}),
	    ASYNCD_EBADREQUEST, "'ids'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":"1,2"}),
	    ASYNCD_EBADREQUEST, "'ids'");
	test_proto_req_bad(J({"v":1,"op":"wait","id":0}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"wait","id":"3"}),
	    ASYNCD_EBADREQUEST, "'id'");
	/* A repeated id would only make the reply bigger. */
	test_proto_req_bad(J({"v":1,"op":"wait","ids":[4,9,2,9]}),
	    ASYNCD_EBADREQUEST, "job 9 more than once");

	/* Each bad element, after a good one, is refused. */
	buf = malloc(256);
	assert_non_null(buf);
	for (i = 0; i < NITEMS(bad_ids); i++) {
		snprintf(buf, 256, "{\"v\":1,\"op\":\"wait\",\"ids\":[3,%s]}",
		    bad_ids[i]);
		test_proto_req_bad(buf, ASYNCD_EBADREQUEST, "'ids'");
	}
	free(buf);

	/* 1025 ids are too many; 1024 are fine. */
	len = 64 + (PROTO_MAX_IDS + 1) * 6;
	buf = malloc(len);
	assert_non_null(buf);
	strcpy(buf, "{\"v\":1,\"op\":\"wait\",\"ids\":[1");
	for (i = 1; i < PROTO_MAX_IDS + 1; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), ",%zu", i + 1);
	strcat(buf, "]}");
	test_proto_req_bad(buf, ASYNCD_EBADREQUEST, "'ids'");
	strcpy(strrchr(buf, ','), "]}");
	test_proto_req_accepted(buf);
	free(buf);

	test_proto_req_bad(J({"v":1,"op":"wait","ids":[1],"any":"yes"}),
	    ASYNCD_EBADREQUEST, "'any'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":[1],"any":1}),
	    ASYNCD_EBADREQUEST, "'any'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":[1],"timeout":-1}),
	    ASYNCD_EBADREQUEST, "'timeout'");
	test_proto_req_bad(J({"v":1,"op":"wait","ids":[1],"timeout":1e309}),
	    ASYNCD_EBADREQUEST, "'timeout'");
}

static void
test_proto_req_decode_status_id(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1,"op":"status"}), ASYNCD_EBADREQUEST,
	    "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","ids":[1]}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","id":0}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","id":-1}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","id":1.5}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","id":"7"}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"status","id":1e309}),
	    ASYNCD_EBADREQUEST, "'id'");
}

static void
test_proto_req_decode_list_bad(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1,"op":"list","state":"done"}),
	    ASYNCD_EBADREQUEST, "'state'");
	test_proto_req_bad(J({"v":1,"op":"list","state":"RUNNING"}),
	    ASYNCD_EBADREQUEST, "'state'");
	test_proto_req_bad(J({"v":1,"op":"list","state":1}),
	    ASYNCD_EBADREQUEST, "'state'");
	test_proto_req_bad(J({"v":1,"op":"list","state":""}),
	    ASYNCD_EBADREQUEST, "'state'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":0}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":1001}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":2.5}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":-1}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":"5"}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","limit":1e309}),
	    ASYNCD_EBADREQUEST, "'limit'");
	test_proto_req_bad(J({"v":1,"op":"list","before":0}),
	    ASYNCD_EBADREQUEST, "'before'");
	test_proto_req_bad(J({"v":1,"op":"list","type":""}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_bad(J({"v":1,"op":"list","type":3}),
	    ASYNCD_EBADREQUEST, "'type'");
	test_proto_req_accepted(J({"v":1,"op":"list","limit":1}));
	test_proto_req_accepted(J({"v":1,"op":"list","limit":1000}));
	test_proto_req_accepted(J({"v":1,"op":"list","limit":7.0}));
}

/* list's history filters: key, owner and a time range. */
static void
test_proto_req_decode_list_filters(void **state)
{
	struct proto_req	req;
	char			key[PROTO_MAX_KEY + 2], *json;

	(void)state;
	test_proto_req_ok(J({"v":1,"op":"list","key":"nightly","owner":1000,
	    "since":"2026-12-01T00:00:00Z","until":"2026-12-02T00:00:00.5Z",
	    "state":"interrupted"}), &req);
	assert_string_equal(req.u.list.key, "nightly");
	assert_true(req.u.list.by_owner);
	assert_int_equal(req.u.list.owner, 1000);
	assert_true(req.u.list.since == 1796083200.0);
	assert_true(req.u.list.until == 1796169600.5);
	assert_int_equal(req.u.list.state, PROTO_INTERRUPTED);
	proto_req_fini(&req);

	/* Absent or null: no filter; owner 0 is root, not "any". */
	test_proto_req_ok(J({"v":1,"op":"list","key":null,"owner":null,
	    "since":null,"until":null}), &req);
	assert_null(req.u.list.key);
	assert_false(req.u.list.by_owner);
	assert_true(req.u.list.since == 0 && req.u.list.until == 0);
	proto_req_fini(&req);
	test_proto_req_ok(J({"v":1,"op":"list","owner":0}), &req);
	assert_true(req.u.list.by_owner);
	assert_int_equal(req.u.list.owner, 0);
	proto_req_fini(&req);
	test_proto_req_ok(J({"v":1,"op":"list","owner":4294967294}), &req);
	assert_int_equal(req.u.list.owner, 4294967294u);
	proto_req_fini(&req);
	test_proto_req_ok(J({"v":1,"op":"list",
	    "since":"2026-12-02T01:30:00+01:00"}), &req);
	assert_true(req.u.list.since == 1796171400.0);
	assert_true(req.u.list.until == 0);
	proto_req_fini(&req);

	test_proto_req_bad(J({"v":1,"op":"list","key":""}),
	    ASYNCD_EBADREQUEST, "'key'");
	test_proto_req_bad(J({"v":1,"op":"list","key":7}),
	    ASYNCD_EBADREQUEST, "'key'");
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	if (asprintf(&json, "{\"v\":1,\"op\":\"list\",\"key\":\"%s\"}",
	    key) == -1)
		fail();
	test_proto_req_bad(json, ASYNCD_EBADREQUEST, "'key'");
	free(json);
	test_proto_req_bad(J({"v":1,"op":"list","owner":-1}),
	    ASYNCD_EBADREQUEST, "'owner' must be a user id");
	test_proto_req_bad(J({"v":1,"op":"list","owner":4294967295}),
	    ASYNCD_EBADREQUEST, "'owner'");
	test_proto_req_bad(J({"v":1,"op":"list","owner":1.5}),
	    ASYNCD_EBADREQUEST, "'owner'");
	test_proto_req_bad(J({"v":1,"op":"list","owner":"root"}),
	    ASYNCD_EBADREQUEST, "'owner'");
	test_proto_req_bad(J({"v":1,"op":"list","since":"yesterday"}),
	    ASYNCD_EBADREQUEST, "'since' must be an RFC 3339 time");
	test_proto_req_bad(J({"v":1,"op":"list","since":1796083200}),
	    ASYNCD_EBADREQUEST, "'since'");
	test_proto_req_bad(J({"v":1,"op":"list","until":"2026-13-01T00:00:00Z"}),
	    ASYNCD_EBADREQUEST, "'until'");
	test_proto_req_bad(J({"v":1,"op":"list","until":"2026-12-01"}),
	    ASYNCD_EBADREQUEST, "'until'");
	test_proto_req_bad(J({"v":1,"op":"list","until":"1970-01-01T00:00:00Z"}),
	    ASYNCD_EBADREQUEST, "'until'");
	test_proto_req_bad(J({"v":1,"op":"list","since":"2026-12-02T00:00:00Z",
	    "until":"2026-12-01T00:00:00Z"}), ASYNCD_EBADREQUEST,
	    "'since' must be earlier than 'until'");
	test_proto_req_bad(J({"v":1,"op":"list","since":"2026-12-02T00:00:00Z",
	    "until":"2026-12-02T00:00:00Z"}), ASYNCD_EBADREQUEST, "'since'");
}

/* The filters survive encoding; times to the millisecond. */
static void
test_proto_req_list_filters_roundtrip(void **state)
{
	struct proto_req	req, out;

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_LIST;
	req.u.list.state = -1;
	req.u.list.key = "k";
	req.u.list.by_owner = true;
	req.u.list.owner = 0;
	req.u.list.since = 1796083200.25;
	req.u.list.until = 1796169600.9996;
	test_proto_req_roundtrip(&req, J({"v":1,"op":"list","key":"k",
	    "owner":0,"since":"2026-12-01T00:00:00.250Z",
	    "until":"2026-12-02T00:00:01.000Z"}), &out);
	assert_string_equal(out.u.list.key, "k");
	assert_true(out.u.list.by_owner);
	assert_int_equal(out.u.list.owner, 0);
	assert_true(out.u.list.since == 1796083200.25);
	assert_true(out.u.list.until == 1796169601.0);
	proto_req_fini(&out);

	req.u.list.since = -1;
	assert_int_equal(proto_req_encode(&req, &(char *){ NULL }),
	    ASYNCD_EINVAL);
}

static void
test_proto_req_decode_cancel_bad(void **state)
{
	(void)state;
	test_proto_req_bad(J({"v":1,"op":"cancel"}), ASYNCD_EBADREQUEST,
	    "'id'");
	test_proto_req_bad(J({"v":1,"op":"cancel","id":-3}),
	    ASYNCD_EBADREQUEST, "'id'");
	test_proto_req_bad(J({"v":1,"op":"cancel","id":3,"wait":-1}),
	    ASYNCD_EBADREQUEST, "'wait'");
	test_proto_req_bad(J({"v":1,"op":"cancel","id":3,"wait":"x"}),
	    ASYNCD_EBADREQUEST, "'wait'");
}

/* Builds a submit whose args nest depth arrays deep. */
static char *
test_proto_nested(int depth)
{
	static const char	 head[] =
	    "{\"v\":1,\"op\":\"submit\",\"type\":\"t\",\"args\":";
	char			*buf, *p;
	int			 i;

	buf = malloc(sizeof head + 2 * (size_t)depth + 2);
	assert_non_null(buf);
	p = stpcpy(buf, head);
	for (i = 0; i < depth; i++)
		*p++ = '[';
	for (i = 0; i < depth; i++)
		*p++ = ']';
	strcpy(p, "}");
	return (buf);
}

static void
test_proto_req_decode_nesting(void **state)
{
	char	*buf;

	(void)state;
	/* cJSON refuses to nest deeper than CJSON_NESTING_LIMIT (1000). */
	buf = test_proto_nested(CJSON_NESTING_LIMIT + 1);
	test_proto_req_bad(buf, ASYNCD_EBADJSON, "JSON");
	free(buf);
	buf = test_proto_nested(100000);
	test_proto_req_bad(buf, ASYNCD_EBADJSON, "JSON");
	free(buf);
	buf = test_proto_nested(100);
	test_proto_req_accepted(buf);
	free(buf);
}

/* ---- jobs */

static void
test_proto_job_roundtrip(void **state)
{
	struct proto_job	 job, out;
	cJSON			*obj;
	int			 flags;

	(void)state;
	test_proto_job_full(&job);
	for (flags = 0; flags <= (PROTO_JOB_ARGS | PROTO_JOB_RESULT);
	    flags++) {
		obj = proto_job_encode(&job, flags);
		assert_non_null(obj);
		assert_int_equal(proto_job_decode(obj, &out), 0);
		cJSON_Delete(obj);
		test_proto_job_equal(&out, &job, flags);
		proto_job_fini(&out);
		assert_null(out.type);
		assert_true(out.progress < 0);
	}

	/* cancel_requested travels while the job is still stopping. */
	job.state = PROTO_RUNNING;
	job.cancel_requested = true;
	obj = proto_job_encode(&job, 0);
	assert_non_null(obj);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(obj,
	    "cancel_requested")));
	assert_int_equal(proto_job_decode(obj, &out), 0);
	cJSON_Delete(obj);
	test_proto_job_equal(&out, &job, 0);
	proto_job_fini(&out);

	test_proto_job_free_trees(&job);
}

static void
test_proto_job_encode_minimal(void **state)
{
	struct proto_job	 job, out;
	cJSON			*obj;
	char			*s;

	(void)state;
	memset(&job, 0, sizeof job);
	job.id = 7;
	job.type = "echo";
	job.state = PROTO_SUCCEEDED;
	job.created = 1764010000.123;
	job.started = 1764010000.123;
	job.finished = 1764010000.124;
	job.progress = -1;
	job.result = test_proto_parse(J({"hello":"world"}));
	/* A terminal job does not say cancel_requested. */
	job.cancel_requested = true;
	obj = proto_job_encode(&job, PROTO_JOB_RESULT);
	assert_non_null(obj);
	s = cJSON_PrintUnformatted(obj);
	/* PROTOCOL.md's example, byte for byte. */
	test_proto_text_equal(s, J({"id":7,"type":"echo","state":"succeeded",
	    "created":1764010000.123,"started":1764010000.123,
	    "finished":1764010000.124,"result":{"hello":"world"}}));
	free(s);
	assert_int_equal(proto_job_decode(obj, &out), 0);
	cJSON_Delete(obj);
	assert_null(out.key);
	assert_int_equal(out.parent, 0);
	assert_null(out.args);
	assert_null(out.err_code);
	assert_null(out.err_message);
	assert_true(out.progress < 0);
	assert_null(out.progress_msg);
	assert_false(out.cancel_requested);
	proto_job_fini(&out);

	/* A queued job: no started, finished or result yet. */
	job.state = PROTO_QUEUED;
	job.started = job.finished = 0;
	job.cancel_requested = false;
	obj = proto_job_encode(&job, 0);
	assert_non_null(obj);
	s = cJSON_PrintUnformatted(obj);
	test_proto_text_equal(s, J({"id":7,"type":"echo","state":"queued",
	    "created":1764010000.123}));
	free(s);
	cJSON_Delete(obj);
	test_proto_job_free_trees(&job);
}

/* Encoding borrows args and result; ASan reports any free of them. */
static void
test_proto_job_encode_references(void **state)
{
	struct proto_job	 job;
	cJSON			*obj, *again;
	char			*s;

	(void)state;
	test_proto_job_full(&job);
	obj = proto_job_encode(&job, PROTO_JOB_ARGS | PROTO_JOB_RESULT);
	assert_non_null(obj);
	again = proto_job_encode(&job, PROTO_JOB_ARGS | PROTO_JOB_RESULT);
	assert_non_null(again);
	assert_ptr_not_equal(cJSON_GetObjectItem(obj, "args"), job.args);
	cJSON_Delete(obj);

	/* The caller's trees are whole, and the second tree still works. */
	assert_string_equal(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(job.args, "n"), "deep")->valuestring, "x");
	assert_string_equal(job.result->valuestring, "a string result");
	assert_null(job.args->string);
	assert_null(job.result->string);
	s = cJSON_PrintUnformatted(again);
	assert_non_null(strstr(s, "\"result\":\"a string result\""));
	free(s);
	cJSON_Delete(again);

	/* The same through a whole reply. */
	{
		struct proto_reply	rep;
		size_t			len;

		memset(&rep, 0, sizeof rep);
		rep.op = PROTO_STATUS;
		rep.u.job = job;
		assert_int_equal(proto_reply_encode(&rep, &s, &len), 0);
		free(s);
	}
	assert_string_equal(job.result->valuestring, "a string result");
	test_proto_job_free_trees(&job);
}

static void
test_proto_job_decode_malformed(void **state)
{
	static const char *const bad[] = {
		"[]", "5", "null",
		J({"type":"t","state":"queued"}),
		J({"id":0,"type":"t","state":"queued"}),
		J({"id":-1,"type":"t","state":"queued"}),
		J({"id":"1","type":"t","state":"queued"}),
		J({"id":18446744073709551616,"type":"t","state":"queued"}),
		J({"id":1e309,"type":"t","state":"queued"}),
		J({"id":1,"state":"queued"}),
		J({"id":1,"type":5,"state":"queued"}),
		J({"id":1,"type":"t"}),
		J({"id":1,"type":"t","state":"done"}),
		J({"id":1,"type":"t","state":2}),
		J({"id":1,"type":"t","state":"queued","key":5}),
		J({"id":1,"type":"t","state":"queued","parent":-2}),
		J({"id":1,"type":"t","state":"queued","created":"now"}),
		J({"id":1,"type":"t","state":"queued","cancel_requested":1}),
		J({"id":1,"type":"t","state":"failed","error":{}}),
		J({"id":1,"type":"t","state":"failed","error":{"code":5}}),
		J({"id":1,"type":"t","state":"failed","error":"failed"}),
		J({"id":1,"type":"t","state":"failed",
		    "error":{"code":"failed","message":5}}),
		J({"id":1,"type":"t","state":"running",
		    "progress":{"fraction":"half"}}),
		J({"id":1,"type":"t","state":"running",
		    "progress":{"fraction":0.5,"message":[]}}),
	};
	struct proto_job	 job;
	cJSON			*obj;
	size_t			 i;
	int			 rv;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		obj = test_proto_parse(bad[i]);
		rv = proto_job_decode(obj, &job);
		if (rv != ASYNCD_EPROTO)
			fail_msg("job %s: got %s, want protocol_error",
			    bad[i], asyncd_errcode(rv));
		assert_null(job.type);
		assert_null(job.err_code);
		cJSON_Delete(obj);
	}
	assert_int_equal(proto_job_decode(NULL, &job), ASYNCD_EPROTO);
}

/* ---- replies */

static void
test_proto_reply_ping_roundtrip(void **state)
{
	struct proto_reply	rep, out;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_PING;
	rep.u.ping.version = "0.1.0";
	rep.u.ping.protocol = PROTO_VERSION;
	rep.u.ping.pid = 4242;
	rep.u.ping.events = "ipc:///run/user/1000/asyncd/asyncd.events";
	test_proto_reply_roundtrip(&rep, J({"ok":true,"version":"0.1.0",
	    "protocol":1,"pid":4242,
	    "events":"ipc:///run/user/1000/asyncd/asyncd.events"}), &out);
	assert_string_equal(out.u.ping.version, "0.1.0");
	assert_int_equal(out.u.ping.protocol, PROTO_VERSION);
	assert_int_equal(out.u.ping.pid, 4242);
	assert_string_equal(out.u.ping.events, rep.u.ping.events);
	proto_reply_fini(&out);

	/* Events off. */
	rep.u.ping.events = NULL;
	rep.u.ping.pid = INT32_MAX;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_null(out.u.ping.events);
	assert_int_equal(out.u.ping.pid, INT32_MAX);
	proto_reply_fini(&out);
}

static void
test_proto_reply_submit_roundtrip(void **state)
{
	struct proto_reply	rep, out;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_SUBMIT;
	test_proto_job_full(&rep.u.submit.job);
	rep.u.submit.created = true;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	/* submit replies carry the result but not the arguments. */
	test_proto_job_equal(&out.u.submit.job, &rep.u.submit.job,
	    PROTO_JOB_RESULT);
	assert_true(out.u.submit.created);
	proto_reply_fini(&out);

	rep.u.submit.created = false;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_false(out.u.submit.created);
	proto_reply_fini(&out);
	test_proto_job_free_trees(&rep.u.submit.job);
}

/* Three jobs in three states, for wait and list replies. */
static void
test_proto_jobs_init(struct proto_job jobs[3])
{
	test_proto_job_full(&jobs[0]);
	memset(&jobs[1], 0, sizeof jobs[1]);
	jobs[1].id = PROTO_ID_MAX;
	jobs[1].type = "sleep";
	jobs[1].state = PROTO_RUNNING;
	jobs[1].parent = PROTO_ID_MAX - 1;
	jobs[1].created = 1.5;
	jobs[1].started = 2;
	jobs[1].progress = 1;
	jobs[1].cancel_requested = true;
	memset(&jobs[2], 0, sizeof jobs[2]);
	jobs[2].id = 1;
	jobs[2].type = "echo";
	jobs[2].state = PROTO_SUCCEEDED;
	jobs[2].created = 1764010000.001;
	jobs[2].progress = -1;
	jobs[2].result = cJSON_CreateNull();
}

static void
test_proto_jobs_fini(struct proto_job jobs[3])
{
	int	i;

	for (i = 0; i < 3; i++)
		test_proto_job_free_trees(&jobs[i]);
}

static void
test_proto_reply_wait_roundtrip(void **state)
{
	struct proto_job	jobs[3];
	struct proto_reply	rep, out;
	size_t			i;

	(void)state;
	test_proto_jobs_init(jobs);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_WAIT;
	rep.u.jobs.jobs = jobs;
	rep.u.jobs.njobs = 3;
	rep.u.jobs.done = true;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_int_equal(out.u.jobs.njobs, 3);
	for (i = 0; i < 3; i++)
		test_proto_job_equal(&out.u.jobs.jobs[i], &jobs[i],
		    PROTO_JOB_RESULT);
	/* A null result is a result, not "none". */
	assert_true(cJSON_IsNull(out.u.jobs.jobs[2].result));
	assert_true(out.u.jobs.done);
	assert_false(out.u.jobs.more);
	proto_reply_fini(&out);

	rep.u.jobs.njobs = 0;
	rep.u.jobs.done = false;
	test_proto_reply_roundtrip(&rep, J({"ok":true,"jobs":[],
	    "done":false}), &out);
	assert_int_equal(out.u.jobs.njobs, 0);
	assert_null(out.u.jobs.jobs);
	assert_false(out.u.jobs.done);
	proto_reply_fini(&out);
	test_proto_jobs_fini(jobs);
}

static void
test_proto_reply_list_roundtrip(void **state)
{
	struct proto_job	jobs[3];
	struct proto_reply	rep, out;
	size_t			i;

	(void)state;
	test_proto_jobs_init(jobs);
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_LIST;
	rep.u.jobs.jobs = jobs;
	rep.u.jobs.njobs = 3;
	rep.u.jobs.more = true;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_int_equal(out.u.jobs.njobs, 3);
	/* list replies carry neither arguments nor results. */
	for (i = 0; i < 3; i++)
		test_proto_job_equal(&out.u.jobs.jobs[i], &jobs[i], 0);
	assert_true(out.u.jobs.more);
	assert_false(out.u.jobs.done);
	proto_reply_fini(&out);
	test_proto_jobs_fini(jobs);
}

static void
test_proto_reply_status_roundtrip(void **state)
{
	struct proto_reply	rep, out;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_STATUS;
	test_proto_job_full(&rep.u.job);
	test_proto_reply_roundtrip(&rep, NULL, &out);
	test_proto_job_equal(&out.u.job, &rep.u.job,
	    PROTO_JOB_ARGS | PROTO_JOB_RESULT);
	proto_reply_fini(&out);
	test_proto_job_free_trees(&rep.u.job);
}

static void
test_proto_reply_cancel_roundtrip(void **state)
{
	struct proto_reply	rep, out;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_CANCEL;
	test_proto_job_full(&rep.u.job);
	rep.u.job.state = PROTO_RUNNING;
	rep.u.job.cancel_requested = true;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	test_proto_job_equal(&out.u.job, &rep.u.job, PROTO_JOB_RESULT);
	assert_true(out.u.job.cancel_requested);
	proto_reply_fini(&out);
	test_proto_job_free_trees(&rep.u.job);
}

static void
test_proto_reply_types_roundtrip(void **state)
{
	struct proto_type_info	types[] = {
		{ "echo", "returns its arguments", "at_least_once" },
		{ "fail", "fails with \"code\"", NULL },
		{ "sleep", "", "at_most_once" },
	};
	struct proto_reply	rep, out;
	size_t			i;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_TYPES;
	rep.u.types.types = types;
	rep.u.types.ntypes = NITEMS(types);
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_int_equal(out.u.types.ntypes, NITEMS(types));
	for (i = 0; i < NITEMS(types); i++) {
		assert_string_equal(out.u.types.types[i].name, types[i].name);
		assert_string_equal(out.u.types.types[i].description,
		    types[i].description);
		if (types[i].delivery == NULL)
			assert_null(out.u.types.types[i].delivery);
		else
			assert_string_equal(out.u.types.types[i].delivery,
			    types[i].delivery);
	}
	proto_reply_fini(&out);

	rep.u.types.ntypes = 0;
	test_proto_reply_roundtrip(&rep, J({"ok":true,"types":[]}), &out);
	assert_int_equal(out.u.types.ntypes, 0);
	proto_reply_fini(&out);
}

static void
test_proto_reply_stats_roundtrip(void **state)
{
	struct proto_reply	rep, out;
	int			i;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_STATS;
	for (i = 0; i < PROTO_STATE_COUNT; i++)
		rep.u.stats.counts[i] = (uint64_t)i * 1000 + 1;
	rep.u.stats.submitted = PROTO_ID_MAX;
	rep.u.stats.finished = 12345;
	rep.u.stats.uptime = 3600.125;
	rep.u.stats.max_running = 4;
	rep.u.stats.max_queued = 10000;
	test_proto_reply_roundtrip(&rep, NULL, &out);
	assert_memory_equal(out.u.stats.counts, rep.u.stats.counts,
	    sizeof rep.u.stats.counts);
	assert_int_equal(out.u.stats.submitted, PROTO_ID_MAX);
	assert_int_equal(out.u.stats.finished, 12345);
	assert_true(out.u.stats.uptime == 3600.125);
	assert_int_equal(out.u.stats.max_running, 4);
	assert_int_equal(out.u.stats.max_queued, 10000);
	proto_reply_fini(&out);
}

static void
test_proto_reply_shutdown_roundtrip(void **state)
{
	struct proto_reply	rep, out;

	(void)state;
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_SHUTDOWN;
	test_proto_reply_roundtrip(&rep, J({"ok":true}), &out);
	proto_reply_fini(&out);
}

static void
test_proto_reply_error_roundtrip(void **state)
{
	struct proto_reply	 rep, out;
	char			*s;
	size_t			 len;
	int			 err;

	(void)state;
	s = proto_reply_error(ASYNCD_EUNKNOWNTYPE, "no job type named 'x'",
	    NULL, &len);
	assert_non_null(s);
	test_proto_text_equal(s, J({"ok":false,"error":{"code":"unknown_type",
	    "message":"no job type named 'x'"}}));
	assert_int_equal(len, strlen(s));
	free(s);

	for (err = 1; err < ASYNCD_ERR_COUNT_; err++) {
		memset(&rep, 0, sizeof rep);
		rep.op = PROTO_SUBMIT;
		rep.err = err;
		rep.message = "it went \"wrong\"\n";
		test_proto_reply_roundtrip(&rep, NULL, &out);
		assert_string_equal(out.message, rep.message);
		proto_reply_fini(&out);

		/* Without a message the description stands in. */
		rep.message = NULL;
		test_proto_reply_roundtrip(&rep, NULL, &out);
		assert_string_equal(out.message, asyncd_strerror(err));
		proto_reply_fini(&out);
	}

	/* A number with no code goes out as "internal". */
	s = proto_reply_error(ASYNCD_ERR_COUNT_ + 5, "x", NULL, NULL);
	test_proto_text_equal(s, J({"ok":false,"error":{"code":"internal",
	    "message":"x"}}));
	free(s);
}

/* Every reply names the daemon's instance, ok or not, and it reads back. */
static void
test_proto_reply_instance(void **state)
{
	static const char	old[] = J({"ok":true,"version":"0.1.0",
	    "protocol":1,"pid":1});
	static const char	big[] = J({"ok":true,"instance":
	    "0123456789012345678901234567890123456789012345678901234567890123X",
	    "version":"0.1.0","protocol":1,"pid":1});
	struct proto_reply	 rep, out;
	char			*s;
	size_t			 len;

	(void)state;
	s = proto_reply_error(ASYNCD_EBUSY, "full", "00ff00ff00ff00ff", &len);
	test_proto_text_equal(s, J({"ok":false,"instance":"00ff00ff00ff00ff",
	    "error":{"code":"busy","message":"full"}}));
	assert_int_equal(proto_reply_decode(PROTO_SUBMIT, s, len, &out), 0);
	assert_int_equal(out.err, ASYNCD_EBUSY);
	assert_string_equal(out.instance, "00ff00ff00ff00ff");
	proto_reply_fini(&out);
	free(s);

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_PING;
	rep.instance = "a1b2c3d4e5f60718";
	rep.u.ping.version = "0.2.0";
	rep.u.ping.protocol = 1;
	rep.u.ping.pid = 7;
	assert_int_equal(proto_reply_encode(&rep, &s, &len), 0);
	test_proto_text_equal(s, J({"ok":true,"instance":"a1b2c3d4e5f60718",
	    "version":"0.2.0","protocol":1,"pid":7}));
	assert_int_equal(proto_reply_decode(PROTO_PING, s, len, &out), 0);
	assert_string_equal(out.instance, "a1b2c3d4e5f60718");
	proto_reply_fini(&out);
	free(s);

	/* A daemon that sends none is still understood. */
	assert_int_equal(proto_reply_decode(PROTO_PING, old, strlen(old),
	    &out), 0);
	assert_null(out.instance);
	proto_reply_fini(&out);
	/* One that sends a huge one is not. */
	assert_int_equal(proto_reply_decode(PROTO_PING, big, strlen(big),
	    &out), ASYNCD_EPROTO);
}

/*
 * A wait reply keeps one entry per id, in order; an id the daemon cannot
 * answer for is an entry with its id and an error, and no state.
 */
static void
test_proto_reply_wait_missing(void **state)
{
	struct proto_job	 jobs[2];
	struct proto_reply	 rep, out;
	cJSON			*result;
	char			*s;
	size_t			 len;

	(void)state;
	memset(jobs, 0, sizeof jobs);
	result = cJSON_CreateNumber(3);
	jobs[0].id = 4;
	jobs[0].type = "echo";
	jobs[0].state = PROTO_SUCCEEDED;
	jobs[0].created = 1;
	jobs[0].result = result;
	jobs[0].progress = -1;
	jobs[1].id = 9;
	jobs[1].state = PROTO_NO_STATE;
	jobs[1].err_code = "unknown_job";
	jobs[1].err_message = "no job with id 9";
	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_WAIT;
	rep.u.jobs.jobs = jobs;
	rep.u.jobs.njobs = 2;
	rep.u.jobs.done = true;
	assert_int_equal(proto_reply_encode(&rep, &s, &len), 0);
	test_proto_text_equal(s, J({"ok":true,"jobs":[{"id":4,"type":"echo",
	    "state":"succeeded","created":1,"result":3},{"id":9,"error":
	    {"code":"unknown_job","message":"no job with id 9"}}],
	    "done":true}));
	assert_int_equal(proto_reply_decode(PROTO_WAIT, s, len, &out), 0);
	assert_int_equal(out.u.jobs.njobs, 2);
	assert_int_equal(out.u.jobs.jobs[0].state, PROTO_SUCCEEDED);
	assert_int_equal(out.u.jobs.jobs[1].id, 9);
	assert_int_equal(out.u.jobs.jobs[1].state, PROTO_NO_STATE);
	assert_null(out.u.jobs.jobs[1].type);
	assert_string_equal(out.u.jobs.jobs[1].err_code, "unknown_job");
	assert_string_equal(out.u.jobs.jobs[1].err_message,
	    "no job with id 9");
	assert_true(proto_state_terminal(out.u.jobs.jobs[1].state));
	proto_reply_fini(&out);
	free(s);
	cJSON_Delete(result);

	/* Without a state, an entry must carry an error. */
	s = J({"ok":true,"jobs":[{"id":9}],"done":true});
	assert_int_equal(proto_reply_decode(PROTO_WAIT, s, strlen(s), &out),
	    ASYNCD_EPROTO);
}

/* Arguments deeper than PROTO_MAX_DEPTH are refused, by name. */
static void
test_proto_args_depth(void **state)
{
	struct proto_req	 req;
	char			*buf, *cause = NULL;
	size_t			 depth, i, off;

	(void)state;
	for (depth = PROTO_MAX_DEPTH; depth <= PROTO_MAX_DEPTH + 1; depth++) {
		buf = malloc(64 + 2 * depth);
		assert_non_null(buf);
		off = (size_t)sprintf(buf, "{\"v\":1,\"op\":\"submit\","
		    "\"type\":\"echo\",\"args\":");
		for (i = 0; i < depth - 1; i++)
			buf[off++] = '[';
		buf[off++] = '1';
		for (i = 0; i < depth - 1; i++)
			buf[off++] = ']';
		buf[off++] = '}';
		buf[off] = '\0';
		if (depth == PROTO_MAX_DEPTH) {
			assert_int_equal(proto_req_decode(buf, off, &req,
			    &cause), 0);
			assert_int_equal(proto_json_depth(req.u.submit.args),
			    PROTO_MAX_DEPTH);
			proto_req_fini(&req);
		} else {
			assert_int_equal(proto_req_decode(buf, off, &req,
			    &cause), ASYNCD_EBADREQUEST);
			assert_non_null(strstr(cause, "'args' nests deeper"));
			free(cause);
		}
		free(buf);
	}
}

static void
test_proto_json_depth(void **state)
{
	static const struct {
		const char	*json;
		int		 depth;
	} cases[] = {
		{ "1", 1 },
		{ "[]", 1 },
		{ "{}", 1 },
		{ "[1,2,3]", 2 },
		{ "{\"a\":[1,{\"b\":[[]]}],\"c\":2}", 5 },
		{ "[[1],[[2]],3]", 4 },
		{ "[[[[[[]]]]],1]", 6 },
	};
	cJSON	*item;
	size_t	 i;

	(void)state;
	assert_int_equal(proto_json_depth(NULL), 0);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		item = cJSON_Parse(cases[i].json);
		assert_non_null(item);
		assert_int_equal(proto_json_depth(item), cases[i].depth);
		/* A member's siblings are not part of it. */
		if (item->child != NULL)
			assert_true(proto_json_depth(item->child) <
			    cases[i].depth);
		cJSON_Delete(item);
	}
}

/* Base64 both ways, RFC 4648's vectors, and text that is not base64. */
static void
test_proto_base64(void **state)
{
	static const struct {
		const char	*plain;
		const char	*b64;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	static const unsigned char bin[] = { 0, 0xff, 0x10, 0x80, 0 };
	char	*s, *out;
	size_t	 i, len;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		s = proto_b64_encode(v[i].plain, strlen(v[i].plain));
		assert_string_equal(s, v[i].b64);
		assert_int_equal(proto_b64_decode(s, &out, &len), 0);
		assert_int_equal(len, strlen(v[i].plain));
		assert_memory_equal(out, v[i].plain, len);
		free(out);
		free(s);
	}
	s = proto_b64_encode(bin, sizeof bin);
	assert_int_equal(proto_b64_decode(s, &out, &len), 0);
	assert_int_equal(len, sizeof bin);
	assert_memory_equal(out, bin, len);
	free(out);
	free(s);
	/* Without padding too; anything else is refused. */
	assert_int_equal(proto_b64_decode("Zm8", &out, &len), 0);
	assert_int_equal(len, 2);
	free(out);
	assert_int_equal(proto_b64_decode("Zm9v!", NULL, NULL), -1);
	assert_int_equal(proto_b64_decode("Z", NULL, NULL), -1);
	assert_int_equal(proto_b64_decode("Zm===", NULL, NULL), -1);
	assert_int_equal(proto_b64_decode("Zm=v", NULL, NULL), -1);
}

/* "output": the request both ways, and a reply carrying raw bytes. */
static void
test_proto_output(void **state)
{
	struct proto_req	 req, out;
	struct proto_reply	 rep, back;
	char			*s, *cause = NULL;
	size_t			 len;
	static const char	 bytes[] = { 'a', 0, (char)0xff, '\n' };

	(void)state;
	memset(&req, 0, sizeof req);
	req.op = PROTO_OUTPUT;
	req.u.output.id = 12;
	req.u.output.offset[PROTO_STDOUT] = 100;
	req.u.output.streams = 1 << PROTO_STDOUT;
	req.u.output.max = 4096;
	req.u.output.wait = 5;
	assert_int_equal(proto_req_encode(&req, &s), 0);
	test_proto_text_equal(s, J({"v":1,"op":"output","id":12,
	    "stdout_offset":100,"streams":"stdout","max":4096,"wait":5}));
	assert_int_equal(proto_req_decode(s, strlen(s), &out, &cause), 0);
	assert_int_equal(out.u.output.id, 12);
	assert_int_equal(out.u.output.offset[PROTO_STDOUT], 100);
	assert_int_equal(out.u.output.offset[PROTO_STDERR], 0);
	assert_int_equal(out.u.output.streams, 1 << PROTO_STDOUT);
	assert_int_equal(out.u.output.max, 4096);
	proto_req_fini(&out);
	free(s);

	s = J({"v":1,"op":"output","id":3});
	assert_int_equal(proto_req_decode(s, strlen(s), &out, &cause), 0);
	assert_int_equal(out.u.output.streams, PROTO_STREAMS_BOTH);
	assert_int_equal(out.u.output.max, PROTO_OUTPUT_DEFAULT);
	proto_req_fini(&out);
	s = J({"v":1,"op":"output","id":3,"streams":"both2"});
	assert_int_equal(proto_req_decode(s, strlen(s), &out, &cause),
	    ASYNCD_EBADREQUEST);
	assert_non_null(strstr(cause, "'streams'"));
	free(cause);
	s = J({"v":1,"op":"output","id":3,"stderr_offset":-1});
	assert_int_equal(proto_req_decode(s, strlen(s), &out, &cause),
	    ASYNCD_EBADREQUEST);
	free(cause);
	s = J({"v":1,"op":"output","id":3,"max":0});
	assert_int_equal(proto_req_decode(s, strlen(s), &out, &cause),
	    ASYNCD_EBADREQUEST);
	free(cause);

	memset(&rep, 0, sizeof rep);
	rep.op = PROTO_OUTPUT;
	rep.u.output.job.id = 12;
	rep.u.output.job.type = "exec";
	rep.u.output.job.state = PROTO_RUNNING;
	rep.u.output.job.progress = -1;
	rep.u.output.chunk[PROTO_STDOUT].present = true;
	rep.u.output.chunk[PROTO_STDOUT].offset = 100;
	rep.u.output.chunk[PROTO_STDOUT].data = (char *)bytes;
	rep.u.output.chunk[PROTO_STDOUT].len = sizeof bytes;
	rep.u.output.chunk[PROTO_STDOUT].size = 104;
	assert_int_equal(proto_reply_encode(&rep, &s, &len), 0);
	assert_non_null(strstr(s, "\"stdout\":{\"offset\":100,"
	    "\"data\":\"YQD/Cg==\",\"size\":104,\"cut\":false}"));
	assert_null(strstr(s, "\"stderr\""));
	assert_int_equal(proto_reply_decode(PROTO_OUTPUT, s, len, &back), 0);
	assert_true(back.u.output.chunk[PROTO_STDOUT].present);
	assert_false(back.u.output.chunk[PROTO_STDERR].present);
	assert_int_equal(back.u.output.chunk[PROTO_STDOUT].len, sizeof bytes);
	assert_memory_equal(back.u.output.chunk[PROTO_STDOUT].data, bytes,
	    sizeof bytes);
	assert_int_equal(back.u.output.job.state, PROTO_RUNNING);
	assert_false(back.u.output.done);
	proto_reply_fini(&back);
	free(s);
}

static void
test_proto_event_output(void **state)
{
	cJSON	*body;
	char	*s, kind[16];
	size_t	 len;
	uint64_t id;

	(void)state;
	s = proto_event_output(7, PROTO_STDERR, 5, "hi", 2, &len);
	assert_string_equal(s, "job.7.output {\"id\":7,\"stream\":\"stderr\","
	    "\"offset\":5,\"data\":\"aGk=\"}");
	assert_int_equal(proto_event_decode(s, len, &id, kind, sizeof kind,
	    &body), 0);
	assert_int_equal(id, 7);
	assert_string_equal(kind, "output");
	cJSON_Delete(body);
	free(s);
}

static void
test_proto_reply_error_code_ok(void **state)
{
	static const char	json[] =
	    J({"ok":false,"error":{"code":"ok","message":"fine"}});
	struct proto_reply	rep;

	(void)state;
	/* A success code in an error reply must not read as success. */
	assert_int_equal(proto_reply_decode(PROTO_STATUS, json,
	    strlen(json), &rep), 0);
	assert_int_equal(rep.err, ASYNCD_EPROTO);
	assert_string_equal(rep.message, "fine");
	proto_reply_fini(&rep);
}

static void
test_proto_reply_error_unknown_code(void **state)
{
	static const char	json[] =
	    J({"ok":false,"error":{"code":"quota_exceeded","message":"m"}});
	static const char	nomsg[] =
	    J({"ok":false,"error":{"code":"busy"}});
	struct proto_reply	rep;

	(void)state;
	assert_int_equal(proto_reply_decode(PROTO_SUBMIT, json, strlen(json),
	    &rep), 0);
	assert_int_equal(rep.err, ASYNCD_EFAILED);
	assert_string_equal(rep.message, "m");
	proto_reply_fini(&rep);

	assert_int_equal(proto_reply_decode(PROTO_SUBMIT, nomsg,
	    strlen(nomsg), &rep), 0);
	assert_int_equal(rep.err, ASYNCD_EBUSY);
	assert_null(rep.message);
	proto_reply_fini(&rep);
}

static void
test_proto_reply_decode_malformed(void **state)
{
	static const struct {
		enum proto_op	 op;
		const char	*json;
	} bad[] = {
		{ PROTO_PING, "" },
		{ PROTO_PING, "not json" },
		{ PROTO_PING, "{\"ok\":true" },
		{ PROTO_PING, "[]" },
		{ PROTO_PING, "true" },
		{ PROTO_PING, "{}" },
		{ PROTO_PING, J({"ok":1}) },
		{ PROTO_PING, J({"ok":"true"}) },
		{ PROTO_PING, J({"ok":null}) },
		{ PROTO_SHUTDOWN, J({"ok":false}) },
		{ PROTO_SHUTDOWN, J({"ok":false,"error":"busy"}) },
		{ PROTO_SHUTDOWN, J({"ok":false,"error":{}}) },
		{ PROTO_SHUTDOWN, J({"ok":false,"error":{"code":5}}) },
		{ PROTO_SHUTDOWN, J({"ok":false,"error":{"code":"busy",
		    "message":5}}) },
		{ PROTO_PING, J({"ok":true,"version":1}) },
		{ PROTO_PING, J({"ok":true,"protocol":"1"}) },
		{ PROTO_PING, J({"ok":true,"protocol":1e300}) },
		{ PROTO_PING, J({"ok":true,"protocol":-1}) },
		{ PROTO_PING, J({"ok":true,"protocol":1,"pid":1e300}) },
		{ PROTO_PING, J({"ok":true,"protocol":1,"pid":"4"}) },
		{ PROTO_PING, J({"ok":true,"protocol":1,"events":5}) },
		{ PROTO_SUBMIT, J({"ok":true}) },
		{ PROTO_SUBMIT, J({"ok":true,"job":{"type":"t",
		    "state":"queued"}}) },
		{ PROTO_SUBMIT, J({"ok":true,"job":{"id":1,"type":"t",
		    "state":"queued"},"created":"yes"}) },
		{ PROTO_STATUS, J({"ok":true}) },
		{ PROTO_STATUS, J({"ok":true,"job":[]}) },
		{ PROTO_STATUS, J({"ok":true,"job":{"type":"t",
		    "state":"queued"}}) },
		{ PROTO_STATUS, J({"ok":true,"job":{"id":1,
		    "state":"queued"}}) },
		{ PROTO_STATUS, J({"ok":true,"job":{"id":1,"type":"t"}}) },
		{ PROTO_STATUS, J({"ok":true,"job":{"id":1,"type":"t",
		    "state":"finished"}}) },
		{ PROTO_STATUS, J({"ok":true,"job":{"id":18446744073709551616,
		    "type":"t","state":"queued"}}) },
		{ PROTO_CANCEL, J({"ok":true,"job":{"id":1,"type":"t",
		    "state":"Queued"}}) },
		{ PROTO_WAIT, J({"ok":true,"done":true}) },
		{ PROTO_WAIT, J({"ok":true,"jobs":{},"done":true}) },
		{ PROTO_WAIT, J({"ok":true,"jobs":[],"done":"no"}) },
		{ PROTO_WAIT, J({"ok":true,"jobs":[{"id":1,"type":"t",
		    "state":"queued"},5]}) },
		{ PROTO_LIST, J({"ok":true,"jobs":[{"id":1,"type":"t",
		    "state":"queued"},{"id":2,"type":"t"}]}) },
		{ PROTO_LIST, J({"ok":true,"jobs":[],"more":1}) },
		{ PROTO_TYPES, J({"ok":true}) },
		{ PROTO_TYPES, J({"ok":true,"types":{}}) },
		{ PROTO_TYPES, J({"ok":true,"types":[{"name":"a"},
		    {"description":"no name"}]}) },
		{ PROTO_TYPES, J({"ok":true,"types":[{"name":"a",
		    "description":5}]}) },
		{ PROTO_STATS, J({"ok":true}) },
		{ PROTO_STATS, J({"ok":true,"stats":[]}) },
		{ PROTO_STATS, J({"ok":true,"stats":{"queued":-1}}) },
		{ PROTO_STATS, J({"ok":true,"stats":{"uptime":"1"}}) },
		{ PROTO_STATS, J({"ok":true,"stats":{"submitted":1e300}}) },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++)
		test_proto_reply_bad(bad[i].op, bad[i].json);
}

static void
test_proto_reply_id_max_exact(void **state)
{
	static const char	json[] = J({"ok":true,"job":{
	    "id":9007199254740991,"type":"t","state":"queued",
	    "parent":9007199254740990,"created":1764010000.123}});
	struct proto_reply	rep;

	(void)state;
	assert_int_equal(proto_reply_decode(PROTO_STATUS, json, strlen(json),
	    &rep), 0);
	assert_int_equal(rep.u.job.id, PROTO_ID_MAX);
	assert_int_equal(rep.u.job.parent, PROTO_ID_MAX - 1);
	assert_true(rep.u.job.created == 1764010000.123);
	proto_reply_fini(&rep);
}

/* ---- printing */

static void
test_proto_print_exact_integers(void **state)
{
	cJSON	*obj, *arr, *mine;
	char	*s;

	(void)state;
	obj = cJSON_CreateObject();
	assert_non_null(obj);
	cJSON_AddNumberToObject(obj, "below", 4503599627370495.0);
	cJSON_AddNumberToObject(obj, "at", 4503599627370496.0);
	cJSON_AddNumberToObject(obj, "max", (double)PROTO_ID_MAX);
	cJSON_AddNumberToObject(obj, "neg", -(double)PROTO_ID_MAX);
	cJSON_AddNumberToObject(obj, "frac", 1.5);
	arr = cJSON_AddArrayToObject(obj, "ids");
	assert_non_null(arr);
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(9007199254740989.0));

	/* A borrowed tree is printed as cJSON prints it, and not changed. */
	mine = cJSON_CreateNumber((double)PROTO_ID_MAX);
	assert_non_null(mine);
	assert_true(cJSON_AddItemReferenceToObject(obj, "args", mine));

	s = proto_print(obj);
	assert_non_null(s);
	assert_string_equal(s, "{\"below\":4503599627370495,"
	    "\"at\":4503599627370496,\"max\":9007199254740991,"
	    "\"neg\":-9007199254740991,\"frac\":1.5,"
	    "\"ids\":[9007199254740989],\"args\":9.00719925474099e+15}");
	free(s);
	cJSON_Delete(obj);
	assert_true(cJSON_IsNumber(mine));
	assert_null(mine->valuestring);
	assert_true(mine->valuedouble == (double)PROTO_ID_MAX);
	cJSON_Delete(mine);
}

/*
 * Whole milliseconds print by proto_print's own printer, shortest first;
 * anything else as cJSON prints it, and every one reads back the same.
 */
static void
test_proto_print_ms(void **state)
{
	static const struct {
		double		 v;
		const char	*text;
	} cases[] = {
		{ 0, "0" }, { -0.0, "0" }, { 0.001, "0.001" }, { 0.01, "0.01" },
		{ 0.5, "0.5" }, { -1.5, "-1.5" }, { 123, "123" },
		{ -2147483649.0, "-2147483649" },
		{ 1764010000.123, "1764010000.123" },
		{ 1764010000.12, "1764010000.12" },
		{ 999999999999.999, "999999999999.999" },
		{ 0.00025, "0.00025" },		/* not whole ms: cJSON's */
		{ 1e12, "1000000000000" },	/* too big: cJSON's */
		{ 1.0 / 3, "0.33333333333333331" },
	};
	cJSON	*item, *back;
	char	*s;
	size_t	 i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_non_null(item = cJSON_CreateNumber(cases[i].v));
		assert_non_null(s = proto_print(item));
		if (strcmp(s, cases[i].text) != 0)
			fail_msg("%.17g printed as %s, not %s", cases[i].v, s,
			    cases[i].text);
		assert_non_null(back = cJSON_Parse(s));
		if (back->valuedouble != cases[i].v)
			fail_msg("%s read back as %.17g", s, back->valuedouble);
		cJSON_Delete(back);
		cJSON_Delete(item);
		free(s);
	}
}

/* ---- times */

/* Checks that t prints with at most 3 decimals and reads back equal. */
static void
test_proto_time_check(double t)
{
	cJSON	*item, *back;
	char	*s, *dot;
	double	 r;

	r = proto_time_round(t);
	if (fabs(r - t) > 0.0005 + 1e-6)
		fail_msg("%.17g rounded to %.17g", t, r);
	item = cJSON_CreateNumber(r);
	assert_non_null(item);
	/* As the wire has it (proto_print's own printer for milliseconds). */
	s = proto_print(item);
	assert_non_null(s);
	if (strpbrk(s, "eE") != NULL ||
	    ((dot = strchr(s, '.')) != NULL && strlen(dot + 1) > 3))
		fail_msg("%.17g printed as %s", r, s);
	back = cJSON_Parse(s);
	assert_non_null(back);
	if (back->valuedouble != r)
		fail_msg("%s read back as %.17g, not %.17g", s,
		    back->valuedouble, r);
	cJSON_Delete(back);
	cJSON_Delete(item);
	free(s);
}

static void
test_proto_time_round_prints_short(void **state)
{
	static const double	fixed[] = {
		0, 0.001, 0.0015, 0.999, 1, 1.5, 59.9995, 3600.125,
		PROTO_MAX_SECONDS, 1764010000.123, 1764010000.1234999,
		1764010000.9999, 4102444800.5,
	};
	uint64_t		x = 88172645463325252ULL;
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(fixed); i++)
		test_proto_time_check(fixed[i]);
	assert_true(proto_time_round(1764010000.1234) == 1764010000.123);
	assert_true(proto_time_round(0.0004) == 0);

	/* Unix times from 2001 to 2106 and durations up to 30 days. */
	for (i = 0; i < 50000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		test_proto_time_check(1e9 + (double)(x % 3300000000000000ULL) /
		    1e6);
		test_proto_time_check((double)(x % 2592000000000ULL) / 1e6);
	}
}

/* ---- events */

static void
test_proto_event_state_roundtrip(void **state)
{
	struct proto_job	 job, out;
	uint64_t		 id;
	cJSON			*body;
	char			*s, kind[16];
	size_t			 len;

	(void)state;
	test_proto_job_full(&job);
	s = proto_event_state(&job, &len);
	assert_non_null(s);
	assert_int_equal(len, strlen(s));
	assert_memory_equal(s, "job.42.state {", 14);
	assert_int_equal(proto_event_decode(s, len, &id, kind, sizeof kind,
	    &body), 0);
	assert_int_equal(id, 42);
	assert_string_equal(kind, "state");
	assert_int_equal(proto_job_decode(body, &out), 0);
	/* Events carry neither arguments nor results. */
	test_proto_job_equal(&out, &job, 0);
	proto_job_fini(&out);
	cJSON_Delete(body);
	free(s);

	/* The topic's final dot keeps job 42 out of job 4's prefix. */
	job.id = 4;
	s = proto_event_state(&job, &len);
	assert_non_null(s);
	assert_memory_equal(s, "job.4.state ", 12);
	free(s);
	test_proto_job_free_trees(&job);
}

static void
test_proto_event_progress_roundtrip(void **state)
{
	uint64_t	 id;
	cJSON		*body;
	char		*s, kind[16];
	size_t		 len;

	(void)state;
	s = proto_event_progress(PROTO_ID_MAX, 0.375, "step \"3\" of 8", &len);
	assert_non_null(s);
	assert_memory_equal(s, "job.9007199254740991.progress ", 30);
	test_proto_text_equal(s + 30, J({"id":9007199254740991,
	    "fraction":0.375,"message":"step \"3\" of 8"}));
	assert_int_equal(proto_event_decode(s, len, &id, kind, sizeof kind,
	    &body), 0);
	assert_int_equal(id, PROTO_ID_MAX);
	assert_string_equal(kind, "progress");
	assert_true(cJSON_GetObjectItem(body, "fraction")->valuedouble ==
	    0.375);
	assert_string_equal(cJSON_GetObjectItem(body, "message")->valuestring,
	    "step \"3\" of 8");
	cJSON_Delete(body);
	free(s);

	s = proto_event_progress(3, 1, NULL, &len);
	assert_non_null(s);
	assert_string_equal(s, "job.3.progress " J({"id":3,"fraction":1}));
	assert_int_equal(proto_event_decode(s, len, &id, kind, sizeof kind,
	    &body), 0);
	assert_null(cJSON_GetObjectItem(body, "message"));
	cJSON_Delete(body);
	free(s);
}

static void
test_proto_event_decode_garbage(void **state)
{
	static const char *const bad[] = {
		"", "foo", "job.", "job.1", "job.1.state",
		"job.x.state {}", "job.1.state notjson", "job.1.state {",
		"job..state {}", "job.1. {}", "job.0.state {}",
		"job.-1.state {}", "job.+1.state {}", "job. 1.state {}",
		"job.1x.state {}", "job.9007199254740992.state {}",
		"job.99999999999999999999.state {}",
		"job.123456789012345678901234567890.state {}",
		"job.1.averyveryverylongkind {}", "JOB.1.state {}",
		"jobs.1.state {}",
	};
	uint64_t	 id;
	cJSON		*body;
	char		 kind[16];
	size_t		 i;
	int		 rv;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		body = (cJSON *)&id;
		rv = proto_event_decode(bad[i], strlen(bad[i]), &id, kind,
		    sizeof kind, &body);
		if (rv != ASYNCD_EPROTO)
			fail_msg("event \"%s\": got %s, want protocol_error",
			    bad[i], asyncd_errcode(rv));
		assert_null(body);
	}
	/* The length bounds the message; there need be no terminator. */
	assert_int_equal(proto_event_decode("job.1.state {}", 13, &id, kind,
	    sizeof kind, &body), ASYNCD_EPROTO);
	assert_null(body);
}

/* ---- error codes */

static void
test_proto_err_every_code(void **state)
{
	const char	*code, *text, *p;
	int		 err, other;

	(void)state;
	for (err = 0; err < ASYNCD_ERR_COUNT_; err++) {
		text = asyncd_strerror(err);
		assert_non_null(text);
		assert_true(text[0] != '\0');
		assert_string_not_equal(text, "unknown error");
		code = asyncd_errcode(err);
		assert_non_null(code);
		assert_true(code[0] != '\0');
		for (p = code; *p != '\0'; p++) {
			if ((*p < 'a' || *p > 'z') && *p != '_')
				fail_msg("code \"%s\" is not lower snake case",
				    code);
		}
		assert_int_equal(asyncd_errparse(code), err);
		for (other = 0; other < err; other++)
			assert_string_not_equal(asyncd_errcode(other), code);
	}
	assert_string_equal(asyncd_errcode(ASYNCD_OK), "ok");
	assert_string_equal(asyncd_errcode(ASYNCD_EBADJSON), "bad_json");
	assert_string_equal(asyncd_errcode(ASYNCD_EUNKNOWNJOB), "unknown_job");
	assert_string_equal(asyncd_errcode(ASYNCD_EDONE), "already_done");
	assert_string_equal(asyncd_strerror(ASYNCD_OK), "success");
}

static void
test_proto_err_out_of_range(void **state)
{
	static const int	bad[] = {
		-1, ASYNCD_ERR_COUNT_, ASYNCD_ERR_COUNT_ + 1, INT32_MAX,
		INT32_MIN,
	};
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		assert_string_equal(asyncd_strerror(bad[i]), "unknown error");
		assert_string_equal(asyncd_errcode(bad[i]), "internal");
	}
}

static void
test_proto_err_parse_unknown(void **state)
{
	(void)state;
	assert_int_equal(asyncd_errparse("quota_exceeded"), ASYNCD_EFAILED);
	assert_int_equal(asyncd_errparse(""), ASYNCD_EFAILED);
	assert_int_equal(asyncd_errparse(NULL), ASYNCD_EFAILED);
	assert_int_equal(asyncd_errparse("BAD_JSON"), ASYNCD_EFAILED);
	assert_int_equal(asyncd_errparse("bad_json "), ASYNCD_EFAILED);
	assert_int_equal(asyncd_errparse("ok"), ASYNCD_OK);
}

/* ---- addresses */

/* The environment the address tests change, restored after each. */
struct test_proto_env {
	char	*socket;
	char	*xdg;
};

static char *
test_proto_env_save(const char *name)
{
	const char	*v;

	v = getenv(name);
	return (v != NULL ? strdup(v) : NULL);
}

static void
test_proto_env_restore(const char *name, char *value)
{
	if (value != NULL)
		assert_int_equal(setenv(name, value, 1), 0);
	else
		assert_int_equal(unsetenv(name), 0);
	free(value);
}

static int
test_proto_env_setup(void **state)
{
	struct test_proto_env	*env;

	if ((env = calloc(1, sizeof *env)) == NULL)
		return (-1);
	env->socket = test_proto_env_save("ASYNCD_SOCKET");
	env->xdg = test_proto_env_save("XDG_RUNTIME_DIR");
	*state = env;
	return (0);
}

static int
test_proto_env_teardown(void **state)
{
	struct test_proto_env	*env = *state;

	test_proto_env_restore("ASYNCD_SOCKET", env->socket);
	test_proto_env_restore("XDG_RUNTIME_DIR", env->xdg);
	free(env);
	return (0);
}

static void
test_proto_default_url_socket(void **state)
{
	char	buf[PROTO_URL_MAX];

	(void)state;
	assert_int_equal(setenv("ASYNCD_SOCKET", "tcp://127.0.0.1:7777", 1),
	    0);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, "tcp://127.0.0.1:7777");

	/* It has to fit, terminator included. */
	assert_int_equal(proto_default_url(buf, 21), 0);
	assert_int_equal(proto_default_url(buf, 20), ASYNCD_EINVAL);
}

static void
test_proto_default_url_xdg(void **state)
{
	char	buf[PROTO_URL_MAX];

	(void)state;
	assert_int_equal(unsetenv("ASYNCD_SOCKET"), 0);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, "ipc:///run/user/1000/asyncd/asyncd.sock");

	/* An empty ASYNCD_SOCKET is no setting. */
	assert_int_equal(setenv("ASYNCD_SOCKET", "", 1), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, "ipc:///run/user/1000/asyncd/asyncd.sock");

	assert_int_equal(proto_default_url(buf, 10), ASYNCD_EINVAL);
}

static void
test_proto_default_url_fallback(void **state)
{
	char	buf[PROTO_URL_MAX], want[PROTO_URL_MAX];

	(void)state;
	if (geteuid() == 0)
		snprintf(want, sizeof want, "ipc:///run/asyncd/asyncd.sock");
	else
		snprintf(want, sizeof want, "ipc:///tmp/asyncd-%u/asyncd.sock",
		    (unsigned)geteuid());
	assert_int_equal(unsetenv("ASYNCD_SOCKET"), 0);
	assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, want);

	/* A relative XDG_RUNTIME_DIR is ignored, as the XDG spec says. */
	assert_int_equal(setenv("XDG_RUNTIME_DIR", "run/user", 1), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, want);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", "", 1), 0);
	assert_int_equal(proto_default_url(buf, sizeof buf), 0);
	assert_string_equal(buf, want);

	assert_int_equal(proto_default_url(buf, strlen(want)), ASYNCD_EINVAL);
	assert_int_equal(proto_default_url(buf, strlen(want) + 1), 0);
}

static void
test_proto_events_url(void **state)
{
	char	buf[PROTO_URL_MAX];

	(void)state;
	assert_int_equal(proto_events_url("ipc:///run/user/1000/asyncd/"
	    "asyncd.sock", buf, sizeof buf), 0);
	assert_string_equal(buf, "ipc:///run/user/1000/asyncd/asyncd.events");
	assert_int_equal(proto_events_url("ipc:///tmp/x/control", buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "ipc:///tmp/x/control.events");
	assert_int_equal(proto_events_url("ipc:///tmp/x.socket", buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "ipc:///tmp/x.socket.events");

	/* A port cannot be derived. */
	assert_int_equal(proto_events_url("tcp://127.0.0.1:5555", buf,
	    sizeof buf), ASYNCD_EINVAL);
	assert_int_equal(proto_events_url("inproc://x.sock", buf, sizeof buf),
	    ASYNCD_EINVAL);
	assert_int_equal(proto_events_url("", buf, sizeof buf),
	    ASYNCD_EINVAL);

	/* "ipc:///a.events" is 15 bytes: it needs 16. */
	assert_int_equal(proto_events_url("ipc:///a.sock", buf, 16), 0);
	assert_string_equal(buf, "ipc:///a.events");
	assert_int_equal(proto_events_url("ipc:///a.sock", buf, 15),
	    ASYNCD_EINVAL);
	assert_int_equal(proto_events_url("ipc:///a", buf, 4), ASYNCD_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_op_names),
		cmocka_unit_test(test_proto_state_names),
		cmocka_unit_test(test_proto_get_id_bounds),
		cmocka_unit_test(test_proto_get_seconds_bounds),
		cmocka_unit_test(test_proto_req_fieldless_roundtrip),
		cmocka_unit_test(test_proto_req_submit_roundtrip),
		cmocka_unit_test(test_proto_req_submit_defaults),
		cmocka_unit_test(test_proto_req_submit_args_any_json),
		cmocka_unit_test(test_proto_req_null_is_absent),
		cmocka_unit_test(test_proto_req_unknown_fields_ignored),
		cmocka_unit_test(test_proto_req_wait_roundtrip),
		cmocka_unit_test(test_proto_req_wait_defaults),
		cmocka_unit_test(test_proto_req_status_roundtrip),
		cmocka_unit_test(test_proto_req_list_roundtrip),
		cmocka_unit_test(test_proto_req_list_defaults),
		cmocka_unit_test(test_proto_req_cancel_roundtrip),
		cmocka_unit_test(test_proto_req_id_max_exact),
		cmocka_unit_test(test_proto_req_encode_invalid),
		cmocka_unit_test(test_proto_req_decode_not_json),
		cmocka_unit_test(test_proto_req_decode_trailing),
		cmocka_unit_test(test_proto_req_decode_not_object),
		cmocka_unit_test(test_proto_req_decode_version),
		cmocka_unit_test(test_proto_req_decode_op),
		cmocka_unit_test(test_proto_req_decode_submit_type),
		cmocka_unit_test(test_proto_req_decode_submit_key),
		cmocka_unit_test(test_proto_req_decode_submit_timeout),
		cmocka_unit_test(test_proto_req_decode_submit_wait),
		cmocka_unit_test(test_proto_req_decode_wait_ids),
		cmocka_unit_test(test_proto_req_decode_status_id),
		cmocka_unit_test(test_proto_req_decode_list_bad),
		cmocka_unit_test(test_proto_req_decode_list_filters),
		cmocka_unit_test(test_proto_req_list_filters_roundtrip),
		cmocka_unit_test(test_proto_req_decode_cancel_bad),
		cmocka_unit_test(test_proto_req_decode_nesting),
		cmocka_unit_test(test_proto_job_roundtrip),
		cmocka_unit_test(test_proto_job_encode_minimal),
		cmocka_unit_test(test_proto_job_encode_references),
		cmocka_unit_test(test_proto_job_decode_malformed),
		cmocka_unit_test(test_proto_reply_ping_roundtrip),
		cmocka_unit_test(test_proto_reply_submit_roundtrip),
		cmocka_unit_test(test_proto_reply_wait_roundtrip),
		cmocka_unit_test(test_proto_reply_list_roundtrip),
		cmocka_unit_test(test_proto_reply_status_roundtrip),
		cmocka_unit_test(test_proto_reply_cancel_roundtrip),
		cmocka_unit_test(test_proto_reply_types_roundtrip),
		cmocka_unit_test(test_proto_reply_stats_roundtrip),
		cmocka_unit_test(test_proto_reply_shutdown_roundtrip),
		cmocka_unit_test(test_proto_reply_error_roundtrip),
		cmocka_unit_test(test_proto_reply_error_code_ok),
		cmocka_unit_test(test_proto_reply_instance),
		cmocka_unit_test(test_proto_reply_wait_missing),
		cmocka_unit_test(test_proto_args_depth),
		cmocka_unit_test(test_proto_json_depth),
		cmocka_unit_test(test_proto_base64),
		cmocka_unit_test(test_proto_output),
		cmocka_unit_test(test_proto_event_output),
		cmocka_unit_test(test_proto_reply_error_unknown_code),
		cmocka_unit_test(test_proto_reply_decode_malformed),
		cmocka_unit_test(test_proto_reply_id_max_exact),
		cmocka_unit_test(test_proto_print_exact_integers),
		cmocka_unit_test(test_proto_print_ms),
		cmocka_unit_test(test_proto_time_round_prints_short),
		cmocka_unit_test(test_proto_event_state_roundtrip),
		cmocka_unit_test(test_proto_event_progress_roundtrip),
		cmocka_unit_test(test_proto_event_decode_garbage),
		cmocka_unit_test(test_proto_err_every_code),
		cmocka_unit_test(test_proto_err_out_of_range),
		cmocka_unit_test(test_proto_err_parse_unknown),
		cmocka_unit_test_setup_teardown(test_proto_default_url_socket,
		    test_proto_env_setup, test_proto_env_teardown),
		cmocka_unit_test_setup_teardown(test_proto_default_url_xdg,
		    test_proto_env_setup, test_proto_env_teardown),
		cmocka_unit_test_setup_teardown(
		    test_proto_default_url_fallback, test_proto_env_setup,
		    test_proto_env_teardown),
		cmocka_unit_test(test_proto_events_url),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
