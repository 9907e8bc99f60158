/*
 * test_wire.c: the daemon's ipc:// transport (daemon/conn.c), spoken byte
 * by byte.
 *
 * Each test starts its own asyncd (tests/helpers/daemon.c) and talks to it
 * over plain AF_UNIX stream sockets, writing nng's SP bytes itself with
 * proto/sp.c's helpers (PROTOCOL.md, "Transport"): the hellos, frames,
 * request ids and backtraces, pipelining, what the daemon drops or closes,
 * and the bounds conn.c promises (--max-msg, --contexts, a peer that does
 * not read its replies). Every test ends by stopping its daemon, which
 * must exit 0: under ASan, a connection freed too early or never fails it.
 *
 * Nothing waits by sleeping. A reply is polled for up to WIRE_BOUND_MS.
 * That the daemon has read what a test wrote is seen from the test's own
 * end of the socket (SIOCOUTQ: the bytes the peer has not consumed yet),
 * so a test knows its requests are in the daemon's hands before it goes
 * on. The one "must not happen yet" check (a request held back at
 * --contexts) watches for WIRE_QUIET_MS while the requests filling the
 * daemon's slots are held for WIRE_HOLD seconds by the daemon itself; and
 * what it proves does not rest on that margin alone: when the held request
 * is answered, a reply to one of the slots must already have been sent.
 *
 * A watchdog alarm bounds every test: if it fires, the daemon is killed
 * and the binary exits 1.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "proto.h"
/* Not daemon/daemon.h, which -Idaemon would find first. */
#include "../helpers/daemon.h"

#define NITEMS(a)		(sizeof(a) / sizeof((a)[0]))

/* What each test may take before the watchdog ends the run. */
#define WIRE_WATCHDOG		120
/* Longest wait for anything that must happen: a reply, a close. */
#define WIRE_BOUND_MS		15000
/* Longest wait for all of the slow reader's replies together. */
#define WIRE_DRAIN_MS		60000
/* How long a request held back at --contexts must stay unanswered. */
#define WIRE_QUIET_MS		300
/* Connections one test holds at most. */
#define WIRE_CONNS		8
/* The smallest --max-msg and --contexts the daemon takes (main.c). */
#define WIRE_MAX_MSG		1024
#define WIRE_CONTEXTS		16
/* test_wire_idle_reader_not_in_line: five echo results of 1 MB. */
#define WIRE_HUGE_JOBS		5
#define WIRE_HUGE_ARG		(1000 * 1000)
/* Waits one connection queues in test_wire_contexts_take_turns. */
#define WIRE_TURN_WAITS		(4u * WIRE_CONTEXTS)
/*
 * How long the daemon holds the waits that fill its slots, in seconds:
 * far past the quiet window, and below the daemon's --wait-cap (5).
 */
#define WIRE_HOLD		4
/*
 * The echo job the slow readers ask about. Its status reply carries the
 * string twice (args and result), about 96 KiB, so that the replies to one
 * read of requests (conn.c reads 16 KiB at a time: 80 padded requests)
 * are more than the 4 MiB of replies conn.c buffers for a peer.
 */
#define WIRE_BIG		(48 * 1024)
/* The slow reader's requests, each padded to WIRE_PAD bytes: 40 KiB. */
#define WIRE_SLOW_N		200
#define WIRE_PAD		200
/* Round trips on another connection that let the daemon's loop turn. */
#define WIRE_TURNS		10
/* Request ids of a batch start here (the top bit is added on the wire). */
#define WIRE_BATCH		0x1000u
/* The longest reply the test accepts. */
#define WIRE_REPLY_MAX		((uint64_t)64 << 20)
/* The user the peer-credentials test becomes, if run as root. */
#define WIRE_NOBODY		65534

#define WIRE_PING		"{\"v\":1,\"op\":\"ping\"}"
/* A job that outlasts every test; held requests wait on it. */
#define WIRE_SLEEP_LONG		"\"type\":\"sleep\",\"args\":{\"seconds\":30}"

/* wire_fill and wire_read_msg. */
enum wire_rv {
	WIRE_OK,
	WIRE_TIMEOUT,		/* nothing (more) came by the deadline */
	WIRE_CLOSED,		/* the end of the stream, or a reset */
	WIRE_BAD		/* not a reply the test can read; errno */
};

/* One reply: its header (the backtrace the daemon echoed) and body. */
struct wire_msg {
	unsigned char	 hdr[4 * 8];
	size_t		 hdrlen;
	uint32_t	 id;		/* the header's last word */
	char		*body;		/* NUL-terminated */
	size_t		 len;
	cJSON		*json;		/* the body, parsed */
};

/* Bytes to write in one go: hellos and frames. */
struct wire_out {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

/*
 * A connection owns what is written and read on it, the last reply
 * included, so that a test that fails half-way leaks nothing: the
 * teardown closes every connection.
 */
struct wire_conn {
	int		 fd;		/* -1: not open */
	unsigned char	*buf;		/* read from the socket */
	size_t		 off;		/* taken from buf */
	size_t		 len;
	size_t		 cap;
	struct wire_out	 out;		/* to write (wire_send) */
	struct wire_msg	 msg;		/* the last reply read */
};

struct env {
	struct testd		 d;
	struct wire_conn	 conns[WIRE_CONNS];
	pid_t			 child;		/* -1: none */
	int			 pipe;		/* from the child; -1: none */
};

#define ENV	((struct env *)*state)

/* The daemon running, for the watchdog to kill. */
static struct testd	*wire_daemon;

/* ---- time */

static int64_t
wire_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A poll(2) timeout for the time left until deadline; 0 if none is. */
static int
wire_left(int64_t deadline)
{
	int64_t	left = deadline - wire_now_ms();

	if (left <= 0)
		return (0);
	return (left > INT_MAX ? INT_MAX : (int)left);
}

/* ---- bytes on a socket: no cmocka here, the child uses them too */

/* Connects to the unix socket at path. Returns the descriptor or -1. */
static int
wire_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Writes all of p, waiting until deadline for room. 0, or -1 and errno. */
static int
wire_write_all(int fd, const void *p, size_t n, int64_t deadline)
{
	const unsigned char	*q = p;
	struct pollfd		 pfd;
	ssize_t			 sent;

	while (n > 0) {
		sent = send(fd, q, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent > 0) {
			q += sent;
			n -= (size_t)sent;
			continue;
		}
		if (sent == -1 && errno == EINTR)
			continue;
		if (sent == -1 && errno != EAGAIN)
			return (-1);
		if (wire_left(deadline) == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, wire_left(deadline)) == -1 && errno != EINTR)
			return (-1);
	}
	return (0);
}

/*
 * Reads what c's socket holds into its buffer, waiting until deadline for
 * something to come.
 */
static enum wire_rv
wire_fill(struct wire_conn *c, int64_t deadline)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	size_t		 cap;
	void		*p;

	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->cap - c->len < 65536) {
		/* Taken bytes go first; then grow if that is not enough. */
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < 65536) {
			cap = c->cap * 2 > c->len + 65536 ? c->cap * 2 :
			    c->len + 65536;
			if ((p = realloc(c->buf, cap)) == NULL)
				return (WIRE_BAD);
			c->buf = p;
			c->cap = cap;
		}
	}
	for (;;) {
		n = recv(c->fd, c->buf + c->len, c->cap - c->len,
		    MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
			return (WIRE_OK);
		}
		if (n == 0 || errno == ECONNRESET)
			return (WIRE_CLOSED);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return (WIRE_BAD);
		if (wire_left(deadline) == 0)
			return (WIRE_TIMEOUT);
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, wire_left(deadline)) == -1 && errno != EINTR)
			return (WIRE_BAD);
	}
}

/* Reads until c's buffer holds n bytes not yet taken. */
static enum wire_rv
wire_need(struct wire_conn *c, size_t n, int64_t deadline)
{
	enum wire_rv	rv;

	while (c->len - c->off < n) {
		if ((rv = wire_fill(c, deadline)) != WIRE_OK)
			return (rv);
	}
	return (WIRE_OK);
}

/* True if the n bytes c's buffer holds next are the daemon's hello. */
static bool
wire_take_hello(struct wire_conn *c)
{
	unsigned char	want[PROTO_SP_HELLO];

	proto_sp_hello(want, PROTO_SP_REP);
	if (c->len - c->off < sizeof want ||
	    memcmp(c->buf + c->off, want, sizeof want) != 0)
		return (false);
	c->off += sizeof want;
	return (true);
}

static void
wire_msg_fini(struct wire_msg *m)
{
	cJSON_Delete(m->json);
	free(m->body);
	memset(m, 0, sizeof *m);
}

/*
 * Reads one reply frame into c->msg (the one before is gone). The header
 * is the words up to and including the first with its top bit set (as the
 * daemon splits a request); the body must be one JSON value filling the
 * rest of the frame exactly, so a reply whose length was miscounted does
 * not pass.
 */
static enum wire_rv
wire_read_msg(struct wire_conn *c, int64_t deadline)
{
	struct wire_msg		*m = &c->msg;
	const unsigned char	*p;
	const char		*end = NULL;
	uint64_t		 len;
	size_t			 bt;
	enum wire_rv		 rv;

	wire_msg_fini(m);
	if ((rv = wire_need(c, PROTO_SP_FRAME, deadline)) != WIRE_OK)
		return (rv);
	p = c->buf + c->off;
	len = proto_get_be(p + 1, 8);
	if (p[0] != PROTO_SP_MSG || len > WIRE_REPLY_MAX) {
		errno = EPROTO;
		return (WIRE_BAD);
	}
	if ((rv = wire_need(c, PROTO_SP_FRAME + (size_t)len, deadline)) !=
	    WIRE_OK)
		return (rv);
	p = c->buf + c->off + PROTO_SP_FRAME;
	for (bt = 4; bt <= len && bt <= sizeof m->hdr; bt += 4) {
		if (proto_get_be(p + bt - 4, 4) & PROTO_SP_ID_END)
			break;
	}
	c->off += PROTO_SP_FRAME + (size_t)len;
	if (bt > len || bt > sizeof m->hdr) {
		errno = EPROTO;
		return (WIRE_BAD);
	}
	memcpy(m->hdr, p, bt);
	m->hdrlen = bt;
	m->id = (uint32_t)proto_get_be(p + bt - 4, 4);
	m->len = (size_t)len - bt;
	if ((m->body = malloc(m->len + 1)) == NULL)
		return (WIRE_BAD);
	memcpy(m->body, p + bt, m->len);
	m->body[m->len] = '\0';
	m->json = cJSON_ParseWithLengthOpts(m->body, m->len, &end, false);
	if (m->json == NULL || end != m->body + m->len) {
		errno = EPROTO;
		return (WIRE_BAD);
	}
	return (WIRE_OK);
}

static const char *
wire_rv_name(enum wire_rv rv)
{
	switch (rv) {
	case WIRE_OK:
		return ("ok");
	case WIRE_TIMEOUT:
		return ("nothing came in time");
	case WIRE_CLOSED:
		return ("the daemon closed the connection");
	case WIRE_BAD:
	default:
		return ("not a reply frame");
	}
}

/* The bytes c has written that the daemon has not read yet. */
static int
wire_unread(const struct wire_conn *c)
{
	int	n = -1;

	if (ioctl(c->fd, SIOCOUTQ, &n) == -1)
		return (-1);
	return (n);
}

/* ---- composing requests */

static void
wire_out_add(struct wire_out *o, const void *p, size_t n)
{
	size_t	 cap;
	void	*np;

	if (n == 0)
		return;
	if (o->cap - o->len < n) {
		cap = o->cap * 2 > o->len + n ? o->cap * 2 : o->len + n;
		if ((np = realloc(o->p, cap)) == NULL)
			abort();
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* Our hello: REQ. */
static void
wire_out_hello(struct wire_out *o)
{
	unsigned char	hello[PROTO_SP_HELLO];

	proto_sp_hello(hello, PROTO_SP_REQ);
	wire_out_add(o, hello, sizeof hello);
}

/* A frame: the header words, as they are, then the body. */
static void
wire_out_frame(struct wire_out *o, const uint32_t *words, size_t nwords,
    const void *body, size_t len)
{
	unsigned char	frame[PROTO_SP_FRAME], word[4];
	size_t		i;

	frame[0] = PROTO_SP_MSG;
	proto_put_be(frame + 1, (uint64_t)(4 * nwords + len), 8);
	wire_out_add(o, frame, sizeof frame);
	for (i = 0; i < nwords; i++) {
		proto_put_be(word, words[i], 4);
		wire_out_add(o, word, sizeof word);
	}
	wire_out_add(o, body, len);
}

/*
 * A request with id (the top bit added), its body from fmt padded with
 * spaces to pad bytes (0: not padded; PROTOCOL.md allows trailing
 * whitespace).
 */
static void __attribute__((format(printf, 4, 5)))
wire_out_req_pad(struct wire_out *o, uint32_t id, size_t pad,
    const char *fmt, ...)
{
	va_list		 ap;
	uint32_t	 word = PROTO_SP_ID_END | id;
	char		*body;
	size_t		 len;
	int		 n;

	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	len = (size_t)n;
	if (len < pad) {
		if ((body = realloc(body, pad)) == NULL)
			abort();
		memset(body + len, ' ', pad - len);
		len = pad;
	}
	wire_out_frame(o, &word, 1, body, len);
	free(body);
}

#define wire_out_req(o, id, ...)	wire_out_req_pad(o, id, 0, __VA_ARGS__)

static void
wire_out_fini(struct wire_out *o)
{
	free(o->p);
	memset(o, 0, sizeof *o);
}

/* ---- the test's side of a connection (cmocka) */

/* Connects to the daemon without a word of SP. */
static struct wire_conn *
wire_dial(struct env *e)
{
	struct wire_conn	*c = NULL;
	size_t			 i;

	for (i = 0; i < NITEMS(e->conns); i++) {
		if (e->conns[i].fd == -1) {
			c = &e->conns[i];
			break;
		}
	}
	assert_non_null(c);
	c->fd = wire_connect(e->d.url + strlen("ipc://"));
	if (c->fd == -1)
		fail_msg("connect %s: %s", e->d.url, strerror(errno));
	c->off = c->len = 0;
	return (c);
}

static void
wire_close(struct wire_conn *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->off = c->len = c->cap = 0;
	wire_out_fini(&c->out);
	wire_msg_fini(&c->msg);
}

/* Writes what c->out holds, whole, and empties it. */
static void
wire_send(struct wire_conn *c)
{
	if (wire_write_all(c->fd, c->out.p, c->out.len, wire_now_ms() +
	    WIRE_BOUND_MS) == -1)
		fail_msg("writing %zu bytes: %s", c->out.len, strerror(errno));
	c->out.len = 0;
}

/* Reads the daemon's hello, which must come first and by itself. */
static void
wire_expect_hello(struct wire_conn *c)
{
	enum wire_rv	rv;

	rv = wire_need(c, PROTO_SP_HELLO, wire_now_ms() + WIRE_BOUND_MS);
	if (rv != WIRE_OK)
		fail_msg("no hello from the daemon: %s", wire_rv_name(rv));
	if (!wire_take_hello(c))
		fail_msg("the daemon's hello is %02x %02x %02x %02x %02x %02x "
		    "%02x %02x, not REP's", c->buf[c->off],
		    c->buf[c->off + 1], c->buf[c->off + 2], c->buf[c->off + 3],
		    c->buf[c->off + 4], c->buf[c->off + 5], c->buf[c->off + 6],
		    c->buf[c->off + 7]);
}

/* Connects and greets: the daemon's hello read, ours sent. */
static struct wire_conn *
wire_open(struct env *e)
{
	struct wire_conn	*c = wire_dial(e);

	wire_expect_hello(c);
	wire_out_hello(&c->out);
	wire_send(c);
	return (c);
}

/* Reads the next reply, which must come by deadline and be well formed. */
static const struct wire_msg *
wire_recv(struct wire_conn *c, int64_t deadline)
{
	enum wire_rv	rv;

	if ((rv = wire_read_msg(c, deadline)) != WIRE_OK)
		fail_msg("no reply: %s%s%s", wire_rv_name(rv),
		    c->msg.body != NULL ? ": " : "",
		    c->msg.body != NULL ? c->msg.body : "");
	return (&c->msg);
}

/* Reads the next reply, which must be the one to request id. */
static const struct wire_msg *
wire_expect(struct wire_conn *c, uint32_t id)
{
	const struct wire_msg	*m;

	m = wire_recv(c, wire_now_ms() + WIRE_BOUND_MS);
	if (m->id != (PROTO_SP_ID_END | id))
		fail_msg("the next reply is to request %#x, not %#x: %s",
		    (unsigned)m->id, (unsigned)(PROTO_SP_ID_END | id),
		    m->body);
	return (m);
}

/* The daemon sends c nothing for ms (0: nothing has come yet). */
static void
wire_expect_quiet(struct wire_conn *c, int ms, const char *what)
{
	enum wire_rv	rv;

	rv = wire_fill(c, wire_now_ms() + ms);
	if (rv != WIRE_TIMEOUT || c->len != c->off)
		fail_msg("%s: %s (%zu bytes)", what, rv == WIRE_TIMEOUT ?
		    "a reply came" : wire_rv_name(rv), c->len - c->off);
}

/* True if c has a reply (or part of one) to read right now. */
static bool
wire_readable(struct wire_conn *c)
{
	struct pollfd	pfd;

	if (c->len > c->off)
		return (true);
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	return (poll(&pfd, 1, 0) == 1);
}

/* The daemon closes c without a reply. */
static void
wire_expect_closed(struct wire_conn *c, const char *what)
{
	int64_t		deadline = wire_now_ms() + WIRE_BOUND_MS;
	enum wire_rv	rv;

	while ((rv = wire_fill(c, deadline)) == WIRE_OK)
		;
	if (rv != WIRE_CLOSED)
		fail_msg("%s: the connection was not closed: %s", what,
		    wire_rv_name(rv));
	if (c->len != c->off)
		fail_msg("%s: %zu bytes came before the close", what,
		    c->len - c->off);
}

/* Waits until the daemon has read every byte written on c. */
static void
wire_expect_consumed(struct wire_conn *c)
{
	int64_t	deadline = wire_now_ms() + WIRE_BOUND_MS;
	int	n;

	while ((n = wire_unread(c)) != 0) {
		if (n == -1)
			fail_msg("ioctl SIOCOUTQ: %s", strerror(errno));
		if (wire_now_ms() > deadline)
			fail_msg("the daemon left %d bytes unread for %d ms",
			    n, WIRE_BOUND_MS);
		(void)poll(NULL, 0, 1);
	}
}

/* ---- replies */

static const cJSON *
wire_field(const cJSON *obj, const char *name)
{
	return (cJSON_GetObjectItemCaseSensitive(obj, name));
}

static void
wire_expect_ok(const struct wire_msg *m)
{
	if (!cJSON_IsTrue(wire_field(m->json, "ok")))
		fail_msg("reply is not ok: %s", m->body);
}

static void
wire_expect_error(const struct wire_msg *m, const char *code)
{
	const cJSON	*c = wire_field(wire_field(m->json, "error"), "code");

	if (!cJSON_IsFalse(wire_field(m->json, "ok")) || !cJSON_IsString(c) ||
	    strcmp(c->valuestring, code) != 0)
		fail_msg("reply is not a %s error: %s", code, m->body);
}

static double
wire_number(const struct wire_msg *m, const cJSON *item, const char *what)
{
	if (!cJSON_IsNumber(item))
		fail_msg("reply has no number %s: %s", what, m->body);
	return (item->valuedouble);
}

/* The job id of a reply carrying a job. */
static uint64_t
wire_job_id(const struct wire_msg *m)
{
	return ((uint64_t)wire_number(m, wire_field(wire_field(m->json,
	    "job"), "id"), "job.id"));
}

static const char *
wire_job_state(const struct wire_msg *m)
{
	const cJSON	*s = wire_field(wire_field(m->json, "job"), "state");

	if (!cJSON_IsString(s))
		fail_msg("reply has no job.state: %s", m->body);
	return (s->valuestring);
}

/* Sends one request and reads its reply. */
static const struct wire_msg * __attribute__((format(printf, 3, 4)))
wire_call(struct wire_conn *c, uint32_t id, const char *fmt, ...)
{
	va_list	 ap;
	char	*body;

	va_start(ap, fmt);
	if (vasprintf(&body, fmt, ap) < 0)
		abort();
	va_end(ap);
	wire_out_req(&c->out, id, "%s", body);
	free(body);
	wire_send(c);
	return (wire_expect(c, id));
}

/* A ping on c, answered. */
static void
wire_ping(struct wire_conn *c, uint32_t id)
{
	wire_expect_ok(wire_call(c, id, WIRE_PING));
}

/* Submits a job (fields: the request's own, after "op"); returns its id. */
static uint64_t
wire_submit(struct wire_conn *c, uint32_t id, const char *fields)
{
	const struct wire_msg	*m;
	uint64_t		 job;

	m = wire_call(c, id, "{\"v\":1,\"op\":\"submit\",%s}", fields);
	wire_expect_ok(m);
	job = wire_job_id(m);
	assert_true(job >= 1);
	return (job);
}

static void
wire_cancel(struct wire_conn *c, uint32_t id, uint64_t job)
{
	wire_expect_ok(wire_call(c, id, "{\"v\":1,\"op\":\"cancel\","
	    "\"id\":%llu}", (unsigned long long)job));
}

/*
 * Submits an echo job of a WIRE_BIG-byte string, and waits for it; returns
 * its id. The request is bigger than conn.c's 16 KiB read buffer.
 */
static uint64_t
wire_submit_big(struct wire_conn *c, uint32_t id)
{
	const struct wire_msg	*m;
	char			*big;

	if ((big = malloc(WIRE_BIG + 1)) == NULL)
		abort();
	memset(big, 'x', WIRE_BIG);
	big[WIRE_BIG] = '\0';
	wire_out_req(&c->out, id, "{\"v\":1,\"op\":\"submit\",\"type\":"
	    "\"echo\",\"args\":{\"s\":\"%s\"},\"wait\":5}", big);
	free(big);
	wire_send(c);
	m = wire_expect(c, id);
	wire_expect_ok(m);
	assert_string_equal(wire_job_state(m), "succeeded");
	return (wire_job_id(m));
}

/* True if a list of owner's jobs holds job. */
static bool
wire_list_has(struct wire_conn *c, uint32_t id, uint64_t owner, uint64_t job)
{
	const struct wire_msg	*m;
	const cJSON		*jobs, *j;
	bool			 found = false;

	m = wire_call(c, id, "{\"v\":1,\"op\":\"list\",\"owner\":%llu,"
	    "\"limit\":1000}", (unsigned long long)owner);
	wire_expect_ok(m);
	jobs = wire_field(m->json, "jobs");
	if (!cJSON_IsArray(jobs))
		fail_msg("list reply without jobs: %s", m->body);
	cJSON_ArrayForEach(j, jobs) {
		if ((uint64_t)wire_number(m, wire_field(j, "id"), "id") == job)
			found = true;
	}
	return (found);
}

/* ---- fixture */

static void
wire_watchdog(int sig)
{
	static const char	msg[] = "test_wire: watchdog: a test ran too "
	    "long; killing its daemon\n";
	ssize_t			n;

	(void)sig;
	n = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)n;
	if (wire_daemon != NULL && wire_daemon->pid > 0)
		kill(wire_daemon->pid, SIGKILL);
	_exit(1);
}

static int
wire_setup(void **state)
{
	struct env	*e;
	size_t		 i;

	alarm(WIRE_WATCHDOG);
	if ((e = calloc(1, sizeof *e)) == NULL)
		return (-1);
	e->d.pid = -1;
	e->child = -1;
	e->pipe = -1;
	for (i = 0; i < NITEMS(e->conns); i++)
		e->conns[i].fd = -1;
	*state = e;
	return (0);
}

/* Starts the test's daemon with extra arguments (NULL-terminated, or NULL). */
static void
wire_start(struct env *e, const char *const args[])
{
	assert_int_equal(testd_start(&e->d, args), 0);
	wire_daemon = &e->d;
}

static int
wire_teardown(void **state)
{
	struct env	*e = *state;
	size_t		 i;
	int		 status = 0;

	if (e->child > 0) {
		kill(e->child, SIGKILL);
		while (waitpid(e->child, NULL, 0) == -1 && errno == EINTR)
			;
	}
	if (e->pipe != -1)
		close(e->pipe);
	for (i = 0; i < NITEMS(e->conns); i++)
		wire_close(&e->conns[i]);
	if (e->d.pid > 0)
		status = testd_stop(&e->d);
	wire_daemon = NULL;
	free(e);
	alarm(0);
	if (status != 0) {
		fprintf(stderr, "test_wire: the daemon exited with status "
		    "%d\n", status);
		return (-1);
	}
	return (0);
}

/* ---- the tests */

/*
 * The daemon greets first, with REP's hello; after ours, a ping is
 * answered under its own request id, whatever the id.
 */
static void
test_wire_greeting(void **state)
{
	static const uint32_t	 ids[] = { 0x1234, 0, 0x7fffffff };
	struct env		*e = ENV;
	struct wire_conn	*c;
	const struct wire_msg	*m;
	size_t			 i;

	wire_start(e, NULL);
	c = wire_dial(e);
	/* Nothing sent yet: the hello comes anyway, 00 S P 00 00 31 00 00. */
	assert_int_equal(wire_need(c, PROTO_SP_HELLO, wire_now_ms() +
	    WIRE_BOUND_MS), WIRE_OK);
	assert_int_equal(c->buf[c->off + 5], 0x31);
	wire_expect_hello(c);

	wire_out_hello(&c->out);
	wire_out_req(&c->out, ids[0], WIRE_PING);
	wire_send(c);
	m = wire_expect(c, ids[0]);
	assert_int_equal(m->hdrlen, 4);
	wire_expect_ok(m);
	assert_int_equal((long long)wire_number(m, wire_field(m->json, "pid"),
	    "pid"), (long long)e->d.pid);
	assert_int_equal((int)wire_number(m, wire_field(m->json, "protocol"),
	    "protocol"), PROTO_VERSION);

	/* The lowest and highest ids (0x80000000, 0xffffffff). */
	for (i = 1; i < NITEMS(ids); i++)
		wire_ping(c, ids[i]);
}

/*
 * A hello and a request written a byte at a time, each byte read by the
 * daemon before the next is sent, are taken as if whole.
 */
static void
test_wire_byte_at_a_time(void **state)
{
	struct env		*e = ENV;
	struct wire_conn	*c;
	struct wire_out		*o;
	size_t			 i;

	wire_start(e, NULL);
	c = wire_dial(e);
	o = &c->out;
	wire_expect_hello(c);
	wire_out_hello(o);
	wire_out_req(o, 7, WIRE_PING);
	for (i = 0; i < o->len; i++) {
		assert_int_equal(wire_write_all(c->fd, o->p + i, 1,
		    wire_now_ms() + WIRE_BOUND_MS), 0);
		wire_expect_consumed(c);
	}
	o->len = 0;
	wire_expect_ok(wire_expect(c, 7));
	/* And the stream is where it should be for the next. */
	wire_ping(c, 8);
}

/*
 * Two requests pipelined on one connection, written with the hello in one
 * go before the daemon's hello is read: the quick one (a ping) is answered
 * first, then the long one (a submit holding its reply for a 1 s job),
 * each under its own id.
 */
static void
test_wire_pipelined_by_id(void **state)
{
	struct env		*e = ENV;
	struct wire_conn	*c;
	const struct wire_msg	*m;

	wire_start(e, NULL);
	c = wire_dial(e);
	wire_out_hello(&c->out);
	wire_out_req(&c->out, 0xa, "{\"v\":1,\"op\":\"submit\",\"type\":"
	    "\"sleep\",\"args\":{\"seconds\":1},\"wait\":5}");
	wire_out_req(&c->out, 0xb, WIRE_PING);
	wire_send(c);
	wire_expect_hello(c);

	m = wire_recv(c, wire_now_ms() + WIRE_BOUND_MS);
	if (m->id != (PROTO_SP_ID_END | 0xb))
		fail_msg("the first reply is to %#x, not the ping: %s",
		    (unsigned)m->id, m->body);
	wire_expect_ok(m);
	assert_non_null(wire_field(m->json, "pid"));

	m = wire_expect(c, 0xa);
	wire_expect_ok(m);
	assert_string_equal(wire_job_state(m), "succeeded");
}

/*
 * A backtrace of device hops before the request id comes back whole, the
 * reply's length counting it: two words, and eight (nng's most). Nine
 * are more hops than REP allows: dropped, with no reply.
 */
static void
test_wire_backtrace_echoed(void **state)
{
	static const uint32_t	 two[] = { 0x00000007, 0x80000042 };
	uint32_t		 eight[8], nine[9];
	struct env		*e = ENV;
	struct wire_conn	*c;
	const struct wire_msg	*m;
	unsigned char		 want[sizeof eight];
	size_t			 i;

	wire_start(e, NULL);
	c = wire_open(e);

	wire_out_frame(&c->out, two, NITEMS(two), WIRE_PING,
	    strlen(WIRE_PING));
	wire_send(c);
	m = wire_recv(c, wire_now_ms() + WIRE_BOUND_MS);
	assert_int_equal(m->hdrlen, 8);
	for (i = 0; i < NITEMS(two); i++)
		proto_put_be(want + 4 * i, two[i], 4);
	assert_memory_equal(m->hdr, want, 8);
	wire_expect_ok(m);

	for (i = 0; i < NITEMS(eight); i++)
		eight[i] = i + 1 < NITEMS(eight) ? 0x100 + (uint32_t)i :
		    0x80000043;
	wire_out_frame(&c->out, eight, NITEMS(eight), WIRE_PING,
	    strlen(WIRE_PING));
	wire_send(c);
	m = wire_recv(c, wire_now_ms() + WIRE_BOUND_MS);
	assert_int_equal(m->hdrlen, sizeof eight);
	for (i = 0; i < NITEMS(eight); i++)
		proto_put_be(want + 4 * i, eight[i], 4);
	assert_memory_equal(m->hdr, want, sizeof eight);
	wire_expect_ok(m);

	for (i = 0; i < NITEMS(nine); i++)
		nine[i] = i + 1 < NITEMS(nine) ? 0x200 + (uint32_t)i :
		    0x80000044;
	wire_out_frame(&c->out, nine, NITEMS(nine), WIRE_PING,
	    strlen(WIRE_PING));
	wire_out_req(&c->out, 0x45, WIRE_PING);
	wire_send(c);
	/* The next reply is the ping's: the stream is still in step. */
	m = wire_expect(c, 0x45);
	assert_int_equal(m->hdrlen, 4);
	wire_expect_ok(m);
}

/*
 * Messages with no request id (no word with its top bit set) are dropped
 * without a reply and leave the connection working; a request id with an
 * empty body is a request, answered bad_json.
 */
static void
test_wire_no_request_id(void **state)
{
	static const uint32_t	 one = 0x00000001, empty_id = 0x80000077;
	static const char	 junk[3] = { 0x00, 0x00, 0x01 };
	static const char	 padded[] = "{\"v\":1,\"op\":\"ping\","
	    "\"padding\":\"................................\"}";
	struct env		*e = ENV;
	struct wire_conn	*c;

	wire_start(e, NULL);
	c = wire_open(e);
	/* 0x00000001, then a request body: all of it scanned, no id. */
	wire_out_frame(&c->out, &one, 1, WIRE_PING, strlen(WIRE_PING));
	/* A long body: past the most hops, no id. */
	wire_out_frame(&c->out, &one, 1, padded, strlen(padded));
	/* The word alone; three bytes; nothing at all. */
	wire_out_frame(&c->out, &one, 1, "", 0);
	wire_out_frame(&c->out, NULL, 0, junk, sizeof junk);
	wire_out_frame(&c->out, NULL, 0, "", 0);
	wire_out_req(&c->out, 0x55, WIRE_PING);
	wire_send(c);
	wire_expect_ok(wire_expect(c, 0x55));

	wire_out_frame(&c->out, &empty_id, 1, "", 0);
	wire_send(c);
	wire_expect_error(wire_expect(c, 0x77), "bad_json");
	wire_ping(c, 0x56);
}

/*
 * A peer that does not greet as REQ, or sends a frame that is not a
 * message, is closed without a reply; the daemon goes on answering others.
 */
static void
test_wire_bad_hello_closed(void **state)
{
	static const unsigned char	 garbage[PROTO_SP_HELLO] = {
		'G', 'E', 'T', ' ', '/', ' ', 'H', 'T' };
	struct env			*e = ENV;
	struct wire_conn		*c;
	unsigned char			 hello[PROTO_SP_HELLO];

	wire_start(e, NULL);

	/* PUB's hello, and a request after it. */
	c = wire_dial(e);
	wire_expect_hello(c);
	proto_sp_hello(hello, 0x20);
	wire_out_add(&c->out, hello, sizeof hello);
	wire_out_req(&c->out, 1, WIRE_PING);
	wire_send(c);
	wire_expect_closed(c, "a PUB hello");
	wire_close(c);

	/* Not SP at all. */
	c = wire_dial(e);
	wire_expect_hello(c);
	wire_out_add(&c->out, garbage, sizeof garbage);
	wire_send(c);
	wire_expect_closed(c, "an HTTP request");
	wire_close(c);

	/* REQ, but the reserved bytes are not zero. */
	c = wire_dial(e);
	wire_expect_hello(c);
	proto_sp_hello(hello, PROTO_SP_REQ);
	hello[7] = 1;
	wire_out_add(&c->out, hello, sizeof hello);
	wire_send(c);
	wire_expect_closed(c, "a REQ hello with reserved bits");
	wire_close(c);

	/* A good hello, then a frame of type 2. */
	c = wire_open(e);
	wire_out_req(&c->out, 2, WIRE_PING);
	c->out.p[0] = 0x02;
	wire_send(c);
	wire_expect_closed(c, "a frame of type 2");
	wire_close(c);

	c = wire_open(e);
	wire_ping(c, 3);
}

/*
 * A peer that connects and never greets is closed once its 10 s are up
 * (as nng's ipc transport does), and not before: it is still open a
 * second in.
 */
static void
test_wire_silent_peer_closed(void **state)
{
	struct env		*e = ENV;
	struct wire_conn	*c;

	wire_start(e, NULL);
	c = wire_dial(e);
	wire_expect_hello(c);
	wire_expect_quiet(c, 1000, "a silent peer a second in");
	wire_expect_closed(c, "a peer that never greeted");
	wire_close(c);

	c = wire_open(e);
	wire_ping(c, 1);
}

/*
 * With --max-msg 1024: a 1024-byte request is served; one of 1025 bytes,
 * and a message of 4 x 1024 bytes, are read and answered too_large on a
 * connection that goes on working; a frame claiming more than that closes
 * the connection with nothing but its header read.
 */
static void
test_wire_max_msg(void **state)
{
	static const char *const	 args[] = { "--max-msg", "1024",
					    NULL };
	static const uint64_t		 huge[] = {
		PROTO_MSG_CEILING * WIRE_MAX_MSG + 1, (uint64_t)1 << 62,
		UINT64_MAX };
	struct env			*e = ENV;
	struct wire_conn		*c, *b;
	unsigned char			 frame[PROTO_SP_FRAME];
	size_t				 i;

	wire_start(e, args);
	c = wire_open(e);
	wire_out_req_pad(&c->out, 1, WIRE_MAX_MSG, WIRE_PING);
	assert_int_equal(c->out.len, PROTO_SP_FRAME + 4 + WIRE_MAX_MSG);
	wire_send(c);
	wire_expect_ok(wire_expect(c, 1));

	wire_out_req_pad(&c->out, 2, WIRE_MAX_MSG + 1, WIRE_PING);
	wire_send(c);
	wire_expect_error(wire_expect(c, 2), "too_large");

	/* The largest message read: the id and 4092 bytes. */
	wire_out_req_pad(&c->out, 3, PROTO_MSG_CEILING * WIRE_MAX_MSG - 4,
	    WIRE_PING);
	wire_send(c);
	wire_expect_error(wire_expect(c, 3), "too_large");
	wire_ping(c, 4);

	for (i = 0; i < NITEMS(huge); i++) {
		b = wire_open(e);
		frame[0] = PROTO_SP_MSG;
		proto_put_be(frame + 1, huge[i], 8);
		wire_out_add(&b->out, frame, sizeof frame);
		wire_send(b);
		wire_expect_closed(b, "an oversized frame");
		wire_close(b);
	}
	wire_ping(c, 5);
	b = wire_open(e);
	wire_ping(b, 6);
}

/*
 * Writes on a WIRE_CONTEXTS waits for job, each held WIRE_HOLD s by the
 * daemon (ids WIRE_BATCH on), then a ping (the next id), in one go.
 */
static void
wire_send_held(struct wire_conn *a, uint64_t job)
{
	uint32_t	i;

	for (i = 0; i < WIRE_CONTEXTS; i++)
		wire_out_req(&a->out, WIRE_BATCH + i, "{\"v\":1,\"op\":"
		    "\"wait\",\"ids\":[%llu],\"timeout\":%d}",
		    (unsigned long long)job, WIRE_HOLD);
	wire_out_req(&a->out, WIRE_BATCH + WIRE_CONTEXTS, WIRE_PING);
	wire_send(a);
}

/*
 * With --contexts 16 and 16 requests held (waits the daemon holds for
 * WIRE_HOLD s) on one connection, no more are read: not a 17th on that
 * connection, not one on a connection that was idle, not one on a
 * connection accepted meanwhile (which is still greeted). Once the held
 * ones are answered, all of them are.
 */
static void
test_wire_contexts_hold_requests(void **state)
{
	static const char *const	 args[] = { "--contexts", "16", NULL };
	struct env			*e = ENV;
	struct wire_conn		*s, *a, *b, *c;
	const struct wire_msg		*m;
	bool				 seen[WIRE_CONTEXTS + 1] = { false };
	uint64_t			 job;
	uint32_t			 i, k;

	wire_start(e, args);
	s = wire_open(e);
	job = wire_submit(s, 1, WIRE_SLEEP_LONG);
	b = wire_open(e);
	wire_ping(b, 2);

	a = wire_open(e);
	wire_send_held(a, job);
	/* All of it read: the 16 waits are held, the ping is not served. */
	wire_expect_consumed(a);

	wire_out_req(&b->out, 3, WIRE_PING);
	wire_send(b);
	c = wire_open(e);
	wire_out_req(&c->out, 4, WIRE_PING);
	wire_send(c);
	wire_expect_quiet(b, WIRE_QUIET_MS, "a ping while every context is "
	    "held");
	wire_expect_quiet(c, 0, "a new connection's ping while every context "
	    "is held");
	wire_expect_quiet(a, 0, "a 17th request while every context is held");

	wire_expect_ok(wire_expect(b, 3));
	/* b was read again only once one of the held ones was answered. */
	if (!wire_readable(a))
		fail_msg("a ping was answered before any held request");
	wire_expect_ok(wire_expect(c, 4));

	for (i = 0; i <= WIRE_CONTEXTS; i++) {
		m = wire_recv(a, wire_now_ms() + WIRE_BOUND_MS);
		k = (m->id & ~PROTO_SP_ID_END) - WIRE_BATCH;
		if (k > WIRE_CONTEXTS || seen[k])
			fail_msg("reply %u is to request %#x: %s", (unsigned)i,
			    (unsigned)m->id, m->body);
		seen[k] = true;
		wire_expect_ok(m);
		if (i == 0 && k == WIRE_CONTEXTS)
			fail_msg("the 17th request was answered first");
		if (k < WIRE_CONTEXTS)
			assert_true(cJSON_IsFalse(wire_field(m->json,
			    "done")));
	}
	wire_cancel(s, 5, job);
}

/*
 * Connections take turns for slots: with --contexts 16, one connection
 * pipelines four times as many waits as there are slots (each held 1 s)
 * and a client that connects after them, its greeting read though every
 * slot is taken, sends a ping. The ping is served at one of the first
 * slots that free, long before the last batch of waits; without turns the
 * first connection refilled every slot and the ping came after all of
 * them.
 */
static void
test_wire_contexts_take_turns(void **state)
{
	static const char *const	 args[] = { "--contexts", "16", NULL };
	struct env			*e = ENV;
	struct wire_conn		*s, *a, *b;
	const struct wire_msg		*m;
	bool				 seen[WIRE_TURN_WAITS] = { false };
	uint64_t			 job;
	uint32_t			 i, k, early = 0;

	wire_start(e, args);
	s = wire_open(e);
	job = wire_submit(s, 1, WIRE_SLEEP_LONG);
	a = wire_open(e);
	for (i = 0; i < WIRE_TURN_WAITS; i++)
		wire_out_req(&a->out, WIRE_BATCH + i, "{\"v\":1,\"op\":"
		    "\"wait\",\"ids\":[%llu],\"timeout\":1}",
		    (unsigned long long)job);
	wire_send(a);
	wire_expect_consumed(a);

	b = wire_open(e);
	wire_ping(b, 2);

	/* What the first connection has had by then. */
	while (wire_read_msg(a, wire_now_ms()) == WIRE_OK) {
		k = (a->msg.id & ~PROTO_SP_ID_END) - WIRE_BATCH;
		if (k >= WIRE_TURN_WAITS || seen[k])
			fail_msg("reply to %#x", (unsigned)a->msg.id);
		seen[k] = true;
		early++;
	}
	if (early > WIRE_TURN_WAITS - WIRE_CONTEXTS)
		fail_msg("the ping waited for %u of %u waits", (unsigned)early,
		    (unsigned)WIRE_TURN_WAITS);
	for (i = early; i < WIRE_TURN_WAITS; i++) {
		m = wire_recv(a, wire_now_ms() + WIRE_BOUND_MS);
		k = (m->id & ~PROTO_SP_ID_END) - WIRE_BATCH;
		if (k >= WIRE_TURN_WAITS || seen[k])
			fail_msg("reply to %#x", (unsigned)m->id);
		seen[k] = true;
		wire_expect_ok(m);
	}
	wire_cancel(s, 3, job);
}

/*
 * A connection whose one request has a reply bigger than a peer may leave
 * unread (so it is no longer read) reads that reply while every slot is
 * taken. It has nothing more to send, so it must not be put in line for a
 * slot: the slot it was given would stay reserved until it sent again.
 * With 15 slots held 4 s and one held 1 s, a new client's ping is served
 * when the short hold ends, long before the others.
 */
static void
test_wire_idle_reader_not_in_line(void **state)
{
	static const char *const	 args[] = { "--contexts", "16", NULL };
	struct env			*e = ENV;
	struct wire_conn		*s, *a, *b, *d;
	const struct wire_msg		*m;
	uint64_t			 job, big[WIRE_HUGE_JOBS];
	char				*pad;
	unsigned			 early = 0;
	uint32_t			 i;

	wire_start(e, args);
	s = wire_open(e);
	job = wire_submit(s, 1, WIRE_SLEEP_LONG);
	if ((pad = malloc(WIRE_HUGE_ARG + 1)) == NULL)
		abort();
	memset(pad, 'x', WIRE_HUGE_ARG);
	pad[WIRE_HUGE_ARG] = '\0';
	for (i = 0; i < WIRE_HUGE_JOBS; i++) {
		m = wire_call(s, 2 + i, "{\"v\":1,\"op\":\"submit\",\"type\":"
		    "\"echo\",\"args\":\"%s\",\"wait\":5}", pad);
		wire_expect_ok(m);
		big[i] = wire_job_id(m);
	}
	free(pad);

	/* One wait whose reply (their results) is past CONN_OUT_MAX. */
	d = wire_open(e);
	wire_out_req(&d->out, 0x20, "{\"v\":1,\"op\":\"wait\",\"ids\":"
	    "[%llu,%llu,%llu,%llu,%llu],\"timeout\":5}",
	    (unsigned long long)big[0], (unsigned long long)big[1],
	    (unsigned long long)big[2], (unsigned long long)big[3],
	    (unsigned long long)big[4]);
	wire_send(d);
	wire_expect_consumed(d);

	a = wire_open(e);
	for (i = 0; i + 1 < WIRE_CONTEXTS; i++)
		wire_out_req(&a->out, WIRE_BATCH + i, "{\"v\":1,\"op\":"
		    "\"wait\",\"ids\":[%llu],\"timeout\":%d}",
		    (unsigned long long)job, WIRE_HOLD);
	wire_out_req(&a->out, WIRE_BATCH + i, "{\"v\":1,\"op\":\"wait\","
	    "\"ids\":[%llu],\"timeout\":1}", (unsigned long long)job);
	wire_send(a);
	wire_expect_consumed(a);

	/* d catches up while every slot is held. */
	wire_expect_ok(wire_expect(d, 0x20));

	b = wire_open(e);
	wire_ping(b, 3);
	/* By then only the short hold may have ended. */
	while (wire_read_msg(a, wire_now_ms()) == WIRE_OK)
		early++;
	if (early > 1)
		fail_msg("the ping waited for %u held waits", early);
	for (i = early; i < WIRE_CONTEXTS; i++)
		wire_expect_ok(wire_recv(a, wire_now_ms() + WIRE_BOUND_MS));
	wire_cancel(s, 4, job);
}

/*
 * Writes WIRE_SLOW_N status requests of job on c (ids WIRE_BATCH on),
 * padded to WIRE_PAD bytes, after whatever c->out holds.
 */
static void
wire_send_slow(struct wire_conn *c, uint64_t job)
{
	uint32_t	i;

	for (i = 0; i < WIRE_SLOW_N; i++)
		wire_out_req_pad(&c->out, WIRE_BATCH + i, WIRE_PAD,
		    "{\"v\":1,\"op\":\"status\",\"id\":%llu}",
		    (unsigned long long)job);
	wire_send(c);
}

/*
 * A peer that sends many requests with big replies and reads none: the
 * daemon stops reading it (its requests stay in the socket, unread, while
 * the daemon's loop goes on), answers another connection meanwhile, and
 * once the replies are read, answers every request exactly once.
 */
static void
test_wire_slow_reader(void **state)
{
	struct env		*e = ENV;
	struct wire_conn	*s, *a;
	const struct wire_msg	*m;
	const cJSON		*str;
	bool			 seen[WIRE_SLOW_N] = { false };
	uint64_t		 job;
	int64_t			 deadline;
	uint32_t		 i, k;
	int			 q1, q2;

	wire_start(e, NULL);
	s = wire_open(e);
	job = wire_submit_big(s, 1);

	a = wire_open(e);
	wire_send_slow(a, job);
	for (i = 0; i < WIRE_TURNS; i++)
		wire_ping(s, 2 + i);
	q1 = wire_unread(a);
	for (i = 0; i < WIRE_TURNS; i++)
		wire_ping(s, 2 + WIRE_TURNS + i);
	q2 = wire_unread(a);
	if (q1 <= 0 || q1 != q2)
		fail_msg("a peer that reads no replies: the daemon read on "
		    "(%d bytes unread, then %d)", q1, q2);
	if (!wire_readable(a))
		fail_msg("a peer that reads no replies got none at all");

	deadline = wire_now_ms() + WIRE_DRAIN_MS;
	for (i = 0; i < WIRE_SLOW_N; i++) {
		m = wire_recv(a, deadline);
		k = (m->id & ~PROTO_SP_ID_END) - WIRE_BATCH;
		if (k >= WIRE_SLOW_N || seen[k])
			fail_msg("reply %u is to request %#x", (unsigned)i,
			    (unsigned)m->id);
		seen[k] = true;
		wire_expect_ok(m);
		assert_int_equal(wire_job_id(m), job);
		str = wire_field(wire_field(wire_field(m->json, "job"),
		    "result"), "s");
		assert_true(cJSON_IsString(str));
		assert_int_equal(strlen(str->valuestring), WIRE_BIG);
	}
	wire_ping(a, 0x100);
}

/*
 * Peers that hang up with a request held: one right after the daemon read
 * it, one with megabytes of replies it never read as well. The daemon goes
 * on, and is still well once the held requests' replies come due (a later
 * wait of the same job, held longer, is answered after them).
 */
static void
test_wire_disconnect_pending(void **state)
{
	struct env		*e = ENV;
	struct wire_conn	*s, *x;
	const struct wire_msg	*m;
	uint64_t		 job, big;
	uint32_t		 i;

	wire_start(e, NULL);
	s = wire_open(e);
	job = wire_submit(s, 1, WIRE_SLEEP_LONG);
	big = wire_submit_big(s, 2);

	x = wire_open(e);
	wire_out_req(&x->out, 0x10, "{\"v\":1,\"op\":\"wait\",\"ids\":[%llu],"
	    "\"timeout\":1}", (unsigned long long)job);
	wire_send(x);
	wire_expect_consumed(x);
	wire_close(x);

	/* The wait first: once any status is answered, it is held. */
	x = wire_open(e);
	wire_out_req(&x->out, 0x20, "{\"v\":1,\"op\":\"wait\",\"ids\":[%llu],"
	    "\"timeout\":1}", (unsigned long long)job);
	wire_send_slow(x, big);
	for (i = 0; i < WIRE_TURNS; i++)
		wire_ping(s, 3 + i);
	assert_true(wire_readable(x));
	wire_close(x);

	wire_ping(s, 0x30);
	m = wire_call(s, 0x31, "{\"v\":1,\"op\":\"stats\"}");
	wire_expect_ok(m);
	assert_non_null(wire_field(m->json, "stats"));

	m = wire_call(s, 0x32, "{\"v\":1,\"op\":\"wait\",\"ids\":[%llu],"
	    "\"timeout\":2}", (unsigned long long)job);
	wire_expect_ok(m);
	assert_true(cJSON_IsFalse(wire_field(m->json, "done")));

	wire_ping(s, 0x33);
	wire_expect_ok(wire_call(s, 0x34, "{\"v\":1,\"op\":\"stats\"}"));
	x = wire_open(e);
	wire_ping(x, 0x35);
	wire_cancel(s, 0x36, job);
	assert_int_equal(kill(e->d.pid, 0), 0);
}

/* Reads c until the daemon closes it, keeping nothing. */
static void
wire_drain_to_close(struct wire_conn *c, const char *what)
{
	int64_t		deadline = wire_now_ms() + WIRE_BOUND_MS;
	enum wire_rv	rv;

	while ((rv = wire_fill(c, deadline)) == WIRE_OK)
		c->off = c->len = 0;
	if (rv != WIRE_CLOSED)
		fail_msg("%s: not closed at shutdown: %s", what,
		    wire_rv_name(rv));
}

/*
 * Reads whole replies from c until the daemon closes it: the close must
 * come between two replies, never in the middle of one (the daemon's
 * shutdown waits for the replies it has not written yet). Returns how
 * many came.
 */
static unsigned
wire_drain_whole(struct wire_conn *c, const char *what)
{
	int64_t		deadline = wire_now_ms() + WIRE_BOUND_MS;
	enum wire_rv	rv;
	unsigned	n = 0;

	while ((rv = wire_read_msg(c, deadline)) == WIRE_OK)
		n++;
	if (rv != WIRE_CLOSED)
		fail_msg("%s: not closed at shutdown: %s", what,
		    wire_rv_name(rv));
	if (c->len != c->off)
		fail_msg("%s: closed %zu bytes into a reply", what,
		    c->len - c->off);
	return (n);
}

/*
 * SIGTERM while connections are in every state: every context held by a
 * wait, with a request behind them on the same connection and one on
 * another; a peer with megabytes of replies unread and requests unread
 * behind them. The held waits are answered, the replies already made are
 * all written whole, every connection is closed, and the daemon exits 0 (the teardown checks: under ASan, nothing
 * leaked).
 */
static void
test_wire_shutdown_with_connections(void **state)
{
	static const char *const	 args[] = { "--contexts", "16",
					    "--drain-timeout", "10", NULL };
	struct env			*e = ENV;
	struct wire_conn		*s, *a, *b, *d;
	const struct wire_msg		*m;
	bool				 seen[WIRE_CONTEXTS + 1] = { false };
	int64_t				 deadline;
	uint64_t			 job, big;
	enum wire_rv			 rv;
	uint32_t			 i, k, waits = 0;

	wire_start(e, args);
	s = wire_open(e);
	job = wire_submit(s, 1, WIRE_SLEEP_LONG);
	big = wire_submit_big(s, 2);
	b = wire_open(e);
	d = wire_open(e);
	wire_send_slow(d, big);
	for (i = 0; i < WIRE_TURNS; i++)
		wire_ping(b, 3 + i);
	assert_true(wire_readable(d));

	a = wire_open(e);
	wire_send_held(a, job);
	wire_expect_consumed(a);
	wire_out_req(&b->out, 0x40, WIRE_PING);
	wire_send(b);

	assert_int_equal(testd_kill(&e->d, SIGTERM), 0);

	/*
	 * The peer that read nothing reads now: the daemon waits (a second
	 * at most) for it to take the replies it made, and closes it only
	 * between two of them.
	 */
	if (wire_drain_whole(d, "a peer that reads no replies") == 0)
		fail_msg("a peer that read late had no reply");
	/* Every held wait is answered, once; then the connection closes. */
	deadline = wire_now_ms() + WIRE_BOUND_MS;
	while ((rv = wire_read_msg(a, deadline)) == WIRE_OK) {
		m = &a->msg;
		k = (m->id & ~PROTO_SP_ID_END) - WIRE_BATCH;
		if (k > WIRE_CONTEXTS || seen[k])
			fail_msg("a reply to request %#x: %s", (unsigned)m->id,
			    m->body);
		seen[k] = true;
		if (k < WIRE_CONTEXTS) {
			wire_expect_ok(m);
			waits++;
		}
	}
	if (rv != WIRE_CLOSED)
		fail_msg("the held connection at shutdown: %s",
		    wire_rv_name(rv));
	assert_int_equal(waits, WIRE_CONTEXTS);
	wire_drain_to_close(b, "a connection held back");
	wire_drain_to_close(s, "an idle connection");
}

/*
 * In a child that has become uid: submits an echo job, asks for the
 * parent's job and for the parent's list, and writes "<job> <code> <code>"
 * to out. No cmocka here: a failed assert would jump into the parent's
 * copy of the test. Exits 0, or non-zero with the reason on stderr.
 */
static void
wire_child(const char *path, uid_t uid, gid_t gid, uint64_t theirs,
    uid_t their_uid, int out)
{
	struct wire_conn	 c = { .fd = -1 };
	const cJSON		*got[3] = { NULL, NULL, NULL };
	int64_t			 deadline = wire_now_ms() + WIRE_BOUND_MS;
	enum wire_rv		 rv;
	uint32_t		 k;
	int			 i;

	if (setgroups(0, NULL) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1) {
		perror("test_wire: child: setuid");
		_exit(2);
	}
	if ((c.fd = wire_connect(path)) == -1) {
		perror("test_wire: child: connect");
		_exit(2);
	}
	if (wire_need(&c, PROTO_SP_HELLO, deadline) != WIRE_OK ||
	    !wire_take_hello(&c)) {
		fprintf(stderr, "test_wire: child: no hello\n");
		_exit(2);
	}
	wire_out_hello(&c.out);
	wire_out_req(&c.out, 1, "{\"v\":1,\"op\":\"submit\",\"type\":\"echo\","
	    "\"args\":1}");
	wire_out_req(&c.out, 2, "{\"v\":1,\"op\":\"status\",\"id\":%llu}",
	    (unsigned long long)theirs);
	wire_out_req(&c.out, 3, "{\"v\":1,\"op\":\"list\",\"owner\":%llu}",
	    (unsigned long long)their_uid);
	if (wire_write_all(c.fd, c.out.p, c.out.len, deadline) == -1) {
		perror("test_wire: child: write");
		_exit(2);
	}
	/* Matched by id: a submit's reply waits for the store's commit. */
	for (i = 0; i < 3; i++) {
		if ((rv = wire_read_msg(&c, deadline)) != WIRE_OK) {
			fprintf(stderr, "test_wire: child: reply %d: %s\n", i,
			    wire_rv_name(rv));
			_exit(2);
		}
		k = c.msg.id & ~PROTO_SP_ID_END;
		if (k < 1 || k > 3 || got[k - 1] != NULL) {
			fprintf(stderr, "test_wire: child: reply to %#x\n",
			    (unsigned)c.msg.id);
			_exit(2);
		}
		if (k == 1)
			got[0] = wire_field(wire_field(c.msg.json, "job"),
			    "id");
		else
			got[k - 1] = wire_field(wire_field(c.msg.json,
			    "error"), "code");
		/* Kept: the next read must not free this tree. */
		got[k - 1] = cJSON_Duplicate(got[k - 1], true);
		if (got[k - 1] == NULL) {
			fprintf(stderr, "test_wire: child: reply %u: %s\n",
			    (unsigned)k, c.msg.body);
			_exit(2);
		}
	}
	if (!cJSON_IsNumber(got[0])) {
		fprintf(stderr, "test_wire: child: no job id\n");
		_exit(2);
	}
	dprintf(out, "%.0f %s %s\n", got[0]->valuedouble,
	    cJSON_IsString(got[1]) ? got[1]->valuestring : "none",
	    cJSON_IsString(got[2]) ? got[2]->valuestring : "none");
	_exit(0);
}

/*
 * The daemon takes a request's user from the socket's peer credentials:
 * a job submitted here is listed under getuid() and not under another
 * uid. As root, a child that becomes nobody submits too: its job is
 * listed under nobody's uid only, and it may not see ours.
 */
static void
test_wire_peer_uid(void **state)
{
	static const char *const	 args[] = { "--socket-mode", "0666",
					    NULL };
	struct env			*e = ENV;
	struct wire_conn		*s;
	struct passwd			*pw;
	struct pollfd			 pfd;
	uid_t				 me = getuid(), nobody = WIRE_NOBODY;
	gid_t				 nogroup = WIRE_NOBODY;
	uint64_t			 job;
	unsigned long long		 theirs = 0;
	char				 line[256], code1[64], code2[64];
	size_t				 len = 0;
	ssize_t				 n;
	int				 p[2], status;

	wire_start(e, args);
	s = wire_open(e);
	job = wire_submit(s, 1, "\"type\":\"echo\",\"args\":{\"n\":1}");
	assert_true(wire_list_has(s, 2, me, job));
	if ((double)me < PROTO_MAX_UID)
		assert_false(wire_list_has(s, 3, me + 1, job));

	if (me != 0) {
		fprintf(stderr, "test_wire: not root: another user's view "
		    "skipped\n");
		return;
	}
	if ((pw = getpwnam("nobody")) != NULL) {
		nobody = pw->pw_uid;
		nogroup = pw->pw_gid;
	}
	/* The directory mkdtemp made is ours alone; nobody must get in. */
	assert_int_equal(chmod(e->d.dir, 0711), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	e->pipe = p[0];
	if ((e->child = fork()) == 0) {
		close(p[0]);
		wire_child(e->d.url + strlen("ipc://"), nobody, nogroup, job,
		    me, p[1]);
	}
	close(p[1]);
	assert_true(e->child > 0);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		assert_int_equal(poll(&pfd, 1, WIRE_BOUND_MS), 1);
		n = read(p[0], line + len, sizeof line - 1 - len);
		assert_true(n >= 0);
		if (n == 0)
			break;
		len += (size_t)n;
		assert_true(len < sizeof line - 1);
	}
	line[len] = '\0';
	assert_int_equal(waitpid(e->child, &status, 0), e->child);
	e->child = -1;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (sscanf(line, "%llu %63s %63s", &theirs, code1, code2) != 3)
		fail_msg("the child said \"%s\"", line);
	assert_string_equal(code1, "permission_denied");
	assert_string_equal(code2, "permission_denied");
	assert_true(theirs >= 1);
	assert_true(wire_list_has(s, 4, nobody, theirs));
	assert_false(wire_list_has(s, 5, nobody, job));
	assert_false(wire_list_has(s, 6, me, theirs));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define WIRE_TEST(t)	cmocka_unit_test_setup_teardown(t, wire_setup, \
			    wire_teardown)
		WIRE_TEST(test_wire_greeting),
		WIRE_TEST(test_wire_byte_at_a_time),
		WIRE_TEST(test_wire_pipelined_by_id),
		WIRE_TEST(test_wire_backtrace_echoed),
		WIRE_TEST(test_wire_no_request_id),
		WIRE_TEST(test_wire_bad_hello_closed),
		WIRE_TEST(test_wire_silent_peer_closed),
		WIRE_TEST(test_wire_max_msg),
		WIRE_TEST(test_wire_contexts_hold_requests),
		WIRE_TEST(test_wire_contexts_take_turns),
		WIRE_TEST(test_wire_idle_reader_not_in_line),
		WIRE_TEST(test_wire_slow_reader),
		WIRE_TEST(test_wire_disconnect_pending),
		WIRE_TEST(test_wire_shutdown_with_connections),
		WIRE_TEST(test_wire_peer_uid),
#undef WIRE_TEST
	};

	signal(SIGALRM, wire_watchdog);
	signal(SIGPIPE, SIG_IGN);
	/* TEST_FILTER=test_wire_max_* runs a subset. */
	if (getenv("TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
