/*
 * test_protocol_doc.c: checks proto/PROTOCOL.md against the code.
 *
 * The prose spec and proto/ must not drift apart: every operation has a
 * "### `name`" section, every error code the daemon can send is a row of
 * an error table, every job state is named, and the doc names no
 * operation or error code that the code does not have. Which codes the
 * daemon never sends is read from the "local" marks in asyncd_err.h, so
 * the header stays the one place that says it.
 *
 * The files are found under $ASYNCD_SRCDIR, or under the current directory
 * (tests/run runs from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* A text file split into lines, in one buffer. */
struct test_protocol_doc_file {
	char	 *buf;
	char	**lines;
	size_t	  nlines;
};

struct test_protocol_doc {
	struct test_protocol_doc_file	doc;	/* PROTOCOL.md */
	struct test_protocol_doc_file	hdr;	/* asyncd_err.h */
};

struct test_protocol_doc_err {
	const char	*name;		/* the enum name without ASYNCD_ */
	const char	*code;
};

#define TEST_PROTOCOL_DOC_ERR_(name, code, text) { #name, code },
static const struct test_protocol_doc_err test_protocol_doc_errs[] = {
	ASYNCD_ERRORS(TEST_PROTOCOL_DOC_ERR_)
};
#undef TEST_PROTOCOL_DOC_ERR_

#define TEST_PROTOCOL_DOC_NERRS \
	(sizeof test_protocol_doc_errs / sizeof test_protocol_doc_errs[0])

/* Reads $ASYNCD_SRCDIR/rel (or ./rel) and splits it into lines. */
static int
test_protocol_doc_read(const char *rel, struct test_protocol_doc_file *f)
{
	const char	*dir;
	char		 path[4096], *p;
	FILE		*fp;
	long		 size;
	size_t		 n;

	memset(f, 0, sizeof *f);
	if ((dir = getenv("ASYNCD_SRCDIR")) != NULL && *dir != '\0')
		snprintf(path, sizeof path, "%s/%s", dir, rel);
	else
		snprintf(path, sizeof path, "%s", rel);
	if ((fp = fopen(path, "r")) == NULL) {
		print_error("cannot open %s (set ASYNCD_SRCDIR to the "
		    "repository root)\n", path);
		return (-1);
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 ||
	    (f->buf = malloc((size_t)size + 1)) == NULL ||
	    fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
		print_error("cannot read %s\n", path);
		fclose(fp);
		free(f->buf);
		f->buf = NULL;
		return (-1);
	}
	fclose(fp);
	f->buf[size] = '\0';

	n = 1;
	for (p = f->buf; *p != '\0'; p++)
		n += (*p == '\n');
	if ((f->lines = calloc(n, sizeof *f->lines)) == NULL)
		return (-1);
	for (p = f->buf; p != NULL; ) {
		f->lines[f->nlines++] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	return (0);
}

static void
test_protocol_doc_free(struct test_protocol_doc_file *f)
{
	free(f->lines);
	free(f->buf);
}

static int
test_protocol_doc_setup(void **state)
{
	struct test_protocol_doc	*t;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return (-1);
	if (test_protocol_doc_read("proto/PROTOCOL.md", &t->doc) != 0 ||
	    test_protocol_doc_read("proto/asyncd_err.h", &t->hdr) != 0) {
		test_protocol_doc_free(&t->doc);
		test_protocol_doc_free(&t->hdr);
		free(t);
		return (-1);
	}
	*state = t;
	return (0);
}

static int
test_protocol_doc_teardown(void **state)
{
	struct test_protocol_doc	*t = *state;

	/* cmocka calls this even when the setup failed. */
	if (t == NULL)
		return (0);
	test_protocol_doc_free(&t->doc);
	test_protocol_doc_free(&t->hdr);
	free(t);
	return (0);
}

/*
 * Copies the first cell of a table row ("| `busy` | ..." gives "`busy`")
 * into cell, without surrounding blanks. False if line is not a table row.
 */
static bool
test_protocol_doc_cell(const char *line, char *cell, size_t size)
{
	const char	*end;
	size_t		 n;

	line += strspn(line, " ");
	if (*line++ != '|')
		return (false);
	line += strspn(line, " \t");
	if ((end = strchr(line, '|')) == NULL)
		return (false);
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - line);
	if (n >= size)
		n = size - 1;
	memcpy(cell, line, n);
	cell[n] = '\0';
	return (true);
}

/* True if some table row has "`word`" as its first cell. */
static bool
test_protocol_doc_has_row(const struct test_protocol_doc_file *f,
    const char *word)
{
	char	cell[128], want[128];
	size_t	i;

	snprintf(want, sizeof want, "`%s`", word);
	for (i = 0; i < f->nlines; i++) {
		if (test_protocol_doc_cell(f->lines[i], cell, sizeof cell) &&
		    strcmp(cell, want) == 0)
			return (true);
	}
	return (false);
}

/*
 * True if "`word`" occurs in a line; with first_cell, only in table rows
 * whose first cell is first_cell.
 */
static bool
test_protocol_doc_mentions(const struct test_protocol_doc_file *f,
    const char *word, const char *first_cell)
{
	char	cell[128], want[128];
	size_t	i;

	snprintf(want, sizeof want, "`%s`", word);
	for (i = 0; i < f->nlines; i++) {
		if (first_cell != NULL &&
		    (!test_protocol_doc_cell(f->lines[i], cell, sizeof cell) ||
		    strcmp(cell, first_cell) != 0))
			continue;
		if (strstr(f->lines[i], want) != NULL)
			return (true);
	}
	return (false);
}

/*
 * True if asyncd_err.h marks the error "local" (made by libasyncd, never
 * sent by the daemon). Fails the test if the error's line is not found.
 */
static bool
test_protocol_doc_is_local(const struct test_protocol_doc_file *hdr,
    const struct test_protocol_doc_err *e)
{
	char	want[64];
	size_t	i;

	snprintf(want, sizeof want, "X(%s,", e->name);
	for (i = 0; i < hdr->nlines; i++) {
		if (strstr(hdr->lines[i], want) != NULL)
			return (strstr(hdr->lines[i], "/* local */") != NULL);
	}
	fail_msg("asyncd_err.h has no line with \"%s\"", want);
	return (false);
}

/* True if line is text, give or take trailing blanks. */
static bool
test_protocol_doc_line_is(const char *line, const char *text)
{
	size_t	n = strlen(text);

	return (strncmp(line, text, n) == 0 &&
	    line[n + strspn(line + n, " \t\r")] == '\0');
}

static void
test_protocol_doc_ops(void **state)
{
	struct test_protocol_doc	*t = *state;
	const char			*name;
	char				 want[64];
	size_t				 i, missing = 0;
	int				 op;
	bool				 found;

	for (op = 0; op < PROTO_OP_COUNT; op++) {
		name = proto_op_name(op);
		assert_non_null(name);
		snprintf(want, sizeof want, "### `%s`", name);
		found = false;
		for (i = 0; i < t->doc.nlines && !found; i++)
			found = test_protocol_doc_line_is(t->doc.lines[i],
			    want);
		if (!found) {
			print_error("PROTOCOL.md: no heading \"%s\"\n", want);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* Every "### `x`" heading documents an operation that exists. */
static void
test_protocol_doc_no_unknown_ops(void **state)
{
	struct test_protocol_doc	*t = *state;
	const char			*line, *end;
	char				 name[64];
	size_t				 i, unknown = 0, n;

	for (i = 0; i < t->doc.nlines; i++) {
		line = t->doc.lines[i];
		if (strncmp(line, "### `", 5) != 0)
			continue;
		line += 5;
		if ((end = strchr(line, '`')) == NULL ||
		    (n = (size_t)(end - line)) >= sizeof name)
			n = 0;
		memcpy(name, line, n);
		name[n] = '\0';
		if (proto_op_parse(name) == -1) {
			print_error("PROTOCOL.md:%zu: heading for unknown "
			    "operation \"%s\"\n", i + 1, name);
			unknown++;
		}
	}
	assert_int_equal(unknown, 0);
}

static void
test_protocol_doc_error_codes(void **state)
{
	struct test_protocol_doc		*t = *state;
	const struct test_protocol_doc_err	*e;
	size_t					 i, missing = 0, local = 0;

	for (i = 0; i < TEST_PROTOCOL_DOC_NERRS; i++) {
		e = &test_protocol_doc_errs[i];
		if (i == ASYNCD_OK)
			continue;
		if (test_protocol_doc_is_local(&t->hdr, e)) {
			local++;
			continue;
		}
		if (!test_protocol_doc_has_row(&t->doc, e->code)) {
			print_error("PROTOCOL.md: error code `%s` "
			    "(ASYNCD_%s) is in no table\n", e->code, e->name);
			missing++;
		}
	}
	/* If the marks cannot be read, every code would count as sent. */
	assert_true(local > 0);
	assert_int_equal(missing, 0);
}

/* The local codes are named too, as codes clients may see. */
static void
test_protocol_doc_local_codes(void **state)
{
	struct test_protocol_doc		*t = *state;
	const struct test_protocol_doc_err	*e;
	size_t					 i, missing = 0;

	for (i = 0; i < TEST_PROTOCOL_DOC_NERRS; i++) {
		e = &test_protocol_doc_errs[i];
		if (!test_protocol_doc_is_local(&t->hdr, e))
			continue;
		if (!test_protocol_doc_mentions(&t->doc, e->code, NULL)) {
			print_error("PROTOCOL.md: local code `%s` is not "
			    "mentioned\n", e->code);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/*
 * Every row of an error table (a table whose header is "| code | ...")
 * names a code that exists: a typo in the doc is caught as well.
 */
static void
test_protocol_doc_no_unknown_codes(void **state)
{
	struct test_protocol_doc	*t = *state;
	char				 cell[128];
	size_t				 i, n, unknown = 0, rows = 0;
	bool				 in_table = false;
	int				 err;

	for (i = 0; i < t->doc.nlines; i++) {
		if (!test_protocol_doc_cell(t->doc.lines[i], cell,
		    sizeof cell)) {
			in_table = false;
			continue;
		}
		if (strcmp(cell, "code") == 0) {
			in_table = true;
			continue;
		}
		if (!in_table || strspn(cell, "-:") == strlen(cell))
			continue;
		rows++;
		n = strlen(cell);
		err = -1;
		if (n > 2 && cell[0] == '`' && cell[n - 1] == '`') {
			cell[n - 1] = '\0';
			err = asyncd_errparse(cell + 1);
			/* Unknown codes parse as "failed", so check back. */
			if (strcmp(asyncd_errcode(err), cell + 1) != 0)
				err = -1;
		}
		if (err <= 0) {
			print_error("PROTOCOL.md:%zu: error table row \"%s\" "
			    "is no error code\n", i + 1, t->doc.lines[i]);
			unknown++;
		}
	}
	assert_true(rows > 0);
	assert_int_equal(unknown, 0);
}

static void
test_protocol_doc_states(void **state)
{
	struct test_protocol_doc	*t = *state;
	const char			*name;
	size_t				 missing = 0;
	int				 s;

	for (s = 0; s < PROTO_STATE_COUNT; s++) {
		name = proto_state_name(s);
		assert_non_null(name);
		/* The job object table's "state" row lists them all. */
		if (!test_protocol_doc_mentions(&t->doc, name, "`state`")) {
			print_error("PROTOCOL.md: state `%s` is not in a "
			    "`state` table row\n", name);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* The version the doc's title names is the one the code speaks. */
static void
test_protocol_doc_version(void **state)
{
	struct test_protocol_doc	*t = *state;
	char				 want[64];

	snprintf(want, sizeof want, "# The asyncd wire protocol, version %d",
	    PROTO_VERSION);
	assert_string_equal(t->doc.lines[0], want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol_doc_version),
		cmocka_unit_test(test_protocol_doc_ops),
		cmocka_unit_test(test_protocol_doc_no_unknown_ops),
		cmocka_unit_test(test_protocol_doc_error_codes),
		cmocka_unit_test(test_protocol_doc_local_codes),
		cmocka_unit_test(test_protocol_doc_no_unknown_codes),
		cmocka_unit_test(test_protocol_doc_states),
	};

	return (cmocka_run_group_tests(tests, test_protocol_doc_setup,
	    test_protocol_doc_teardown));
}
