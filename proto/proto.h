/*
 * proto.h: asyncd's wire contract, version 1 (see PROTOCOL.md).
 *
 * Requests and replies are single JSON objects carried by nng REQ/REP. This
 * module holds the only encoder and decoder of them: the daemon decodes
 * requests and encodes replies, libasyncd does the opposite, and both use
 * the functions below so the two sides cannot drift apart.
 *
 * Decoding turns a message into an owned C struct and deletes the JSON tree,
 * except for job arguments and results, which stay JSON (cJSON trees)
 * because their shape belongs to the job type.
 *
 * No threads, no globals, no I/O: every function may be called from any
 * thread on distinct objects.
 *
 * Don't forget to bump PROTO_VERSION if any of these change incompatibly!
 */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/un.h>

#include <cjson/cJSON.h>

#include "asyncd_err.h"

#define PROTO_VERSION		1

/*
 * Default largest request the daemon accepts. Bigger ones get "too_large"
 * up to PROTO_MSG_CEILING times this, past which the daemon drops the
 * connection without reading the message (the memory bound).
 */
#define PROTO_MAX_MSG		(1024 * 1024)
#define PROTO_MSG_CEILING	4

/* Job ids are integers exactly representable in a double: any JSON reader
 * gets them right. */
#define PROTO_ID_MAX		((UINT64_C(1) << 53) - 1)

/* Length limits on names, so one request cannot make the job table huge. */
#define PROTO_MAX_TYPE		64
#define PROTO_MAX_KEY		256
#define PROTO_MAX_MESSAGE	4096	/* error and progress messages */
/* Ids in one wait; 1024 lets a client watch a large fan-out in one poll. */
#define PROTO_MAX_IDS		1024
/* Jobs in one list reply, default and most. */
#define PROTO_LIST_DEFAULT	100
#define PROTO_LIST_MAX		1000
/* Longest timeout or wait a request may name: 30 days, in seconds. */
#define PROTO_MAX_SECONDS	(30.0 * 24 * 3600)
/*
 * How deep a job's arguments may nest. cJSON reads at most 1000 levels,
 * and a reply wraps a result in four more ({"jobs":[{"result":...}]}), so
 * arguments are held well below that: echo returns them, gather nests its
 * children's results one level deeper each. A result is held to
 * PROTO_MAX_RESULT_DEPTH, so every reply the daemon sends can be read.
 */
#define PROTO_MAX_DEPTH		256
#define PROTO_MAX_RESULT_DEPTH	960
/* Longest daemon instance id ("instance" in every reply). */
#define PROTO_MAX_INSTANCE	64

enum proto_op {
	PROTO_PING,
	PROTO_SUBMIT,
	PROTO_WAIT,
	PROTO_STATUS,
	PROTO_LIST,
	PROTO_CANCEL,
	PROTO_TYPES,
	PROTO_STATS,
	PROTO_SHUTDOWN,
	PROTO_OUTPUT,
	PROTO_FORGET,
	PROTO_OP_COUNT
};

enum proto_state {
	/*
	 * Not a job's state: an entry of a "wait" reply for an id the daemon
	 * cannot answer for (unknown, another user's); its error says why.
	 */
	PROTO_NO_STATE = -1,
	PROTO_QUEUED,
	PROTO_RUNNING,
	PROTO_SUCCEEDED,
	PROTO_FAILED,
	PROTO_CANCELLED,
	PROTO_TIMED_OUT,
	PROTO_INTERRUPTED,	/* was running when the daemon died */
	PROTO_STATE_COUNT
};

/* Operation and state names; NULL/-1 for values out of range/unknown. */
const char	*proto_op_name(enum proto_op op);
int		 proto_op_parse(const char *name);
const char	*proto_state_name(enum proto_state state);
int		 proto_state_parse(const char *name);
/* True for the states a job never leaves (and PROTO_NO_STATE). */
bool		 proto_state_terminal(enum proto_state state);
/* How deep a JSON value nests (a scalar is 1), without recursing. */
int		 proto_json_depth(const cJSON *item);

/* Requests. Strings and trees are owned by the struct (see _fini). */
struct proto_submit {
	char		*type;
	cJSON		*args;		/* any JSON value; NULL means null */
	char		*key;		/* NULL: no key */
	double		 timeout;	/* run time limit in seconds; 0: none */
	double		 wait;		/* hold the reply up to this long for the
					   result; 0: reply once accepted */
	int		 priority;	/* higher runs first among ready jobs */
	double		 delay;		/* seconds before it may start; 0: none */
	double		 not_before;	/* Unix time it may start; 0: now */
	unsigned	 retries;	/* runs after a failure; 0: none */
	double		 retry_delay;	/* before the first retry; 0: default */
	double		 retry_backoff;	/* each retry's delay grows by; 0: dflt */
};

/* The bounds of the submit fields above. */
#define PROTO_MAX_PRIORITY	1000000
#define PROTO_MAX_RETRIES	1000
#define PROTO_MAX_BACKOFF	100.0

struct proto_wait {
	uint64_t	*ids;
	size_t		 nids;
	bool		 any;		/* done when one is done, not all */
	double		 timeout;	/* 0: just report, do not hold */
};

struct proto_list {
	int		 state;		/* enum proto_state, or -1: all */
	char		*type;		/* NULL: all */
	uint64_t	 before;	/* only ids below this; 0: from newest */
	size_t		 limit;
	char		*key;		/* NULL: all */
	bool		 by_owner;	/* only the jobs of owner */
	uint32_t	 owner;		/* a uid (by_owner) */
	double		 since;		/* created at or after (Unix time);
					   0: any */
	double		 until;		/* created before (Unix time); 0: any */
};

/* The largest uid "owner" may name: (uid_t)-1 is no user. */
#define PROTO_MAX_UID		4294967294.0

/* forget: one job (id), or the finished jobs that match. */
struct proto_forget {
	uint64_t	 id;		/* 0: by state and time */
	int		 state;		/* a final state, or -1: any */
	double		 before;	/* finished before (Unix time); 0: any */
};

struct proto_cancel {
	uint64_t	 id;
	double		 wait;		/* hold the reply up to this long for
					   the job to finish cancelling */
};

/* The output streams of a job, as bits and as indexes. */
#define PROTO_STDOUT		0
#define PROTO_STDERR		1
#define PROTO_STREAMS_BOTH	0x3
/* Bytes one "output" reply carries, by default and at most. */
#define PROTO_OUTPUT_DEFAULT	(1024 * 1024)
#define PROTO_OUTPUT_MAX	(4 * 1024 * 1024)

struct proto_output {
	uint64_t	 id;
	uint64_t	 offset[2];	/* where to read from, per stream */
	int		 streams;	/* bits 1 << PROTO_STDOUT ... */
	size_t		 max;		/* bytes, both streams together */
	double		 wait;		/* hold until there is some */
};

struct proto_req {
	enum proto_op	 op;
	union {
		struct proto_submit	submit;
		struct proto_wait	wait;
		uint64_t		status;	/* the job id */
		struct proto_list	list;
		struct proto_cancel	cancel;
		struct proto_output	output;
		struct proto_forget	forget;
	} u;
};

/*
 * Decodes a request. On success fills *req (release with proto_req_fini)
 * and returns 0. On failure returns ASYNCD_EBADJSON, EBADREQUEST,
 * EBADVERSION, EUNKNOWNOP or ENOMEM and, if cause is not NULL, sets *cause
 * to an allocated message for the peer (caller frees). The size limit is
 * the caller's to check: it is configuration, not protocol.
 */
int	proto_req_decode(const void *buf, size_t len, struct proto_req *req,
	    char **cause);
/* Encodes a request into an allocated NUL-terminated string. */
int	proto_req_encode(const struct proto_req *req, char **out);
void	proto_req_fini(struct proto_req *req);

/*
 * A job as the wire shows it. Encoding borrows every pointer; a decoded job
 * owns them (release with proto_job_fini).
 */
struct proto_job {
	uint64_t	 id;
	char		*type;		/* NULL only with PROTO_NO_STATE */
	char		*key;		/* NULL: none */
	enum proto_state state;		/* PROTO_NO_STATE: see err_code */
	uint64_t	 parent;	/* 0: submitted by a client */
	double		 created;	/* Unix time, seconds; 0: not yet */
	double		 started;
	double		 finished;
	double		 timeout;	/* 0: none */
	cJSON		*args;		/* NULL: not included */
	cJSON		*result;	/* NULL: none or not included */
	char		*err_code;	/* NULL unless failed/cancelled/... */
	char		*err_message;
	double		 progress;	/* 0..1; negative: never reported */
	char		*progress_msg;
	bool		 cancel_requested;
	uint64_t	 attempts;	/* runs begun; 0: never ran */
	char		*delivery;	/* at_most_once...; NULL: not said */
	double		 priority;	/* higher runs first; 0: default */
	double		 not_before;	/* Unix time it may start; 0: any */
	uint64_t	 retries;	/* runs after failures it may have */
	cJSON		*attempt_errors; /* [{attempt,code,message,finished}],
					   failed attempts; NULL: none */
};

/* What proto_job_encode puts in beyond the summary fields. */
#define PROTO_JOB_ARGS		0x01
#define PROTO_JOB_RESULT	0x02

/*
 * Encodes a job as a new cJSON object (NULL on allocation failure). args
 * and result are added as references: the caller keeps them alive until
 * the returned tree is deleted.
 */
cJSON	*proto_job_encode(const struct proto_job *job, int flags);
/* Decodes a job object; 0, ASYNCD_EPROTO or ASYNCD_ENOMEM. */
int	 proto_job_decode(const cJSON *obj, struct proto_job *job);
void	 proto_job_fini(struct proto_job *job);

struct proto_type_info {
	char		*name;
	char		*description;
	char		*delivery;	/* NULL: not said (older daemon) */
};

struct proto_stats {
	uint64_t	 counts[PROTO_STATE_COUNT];	/* jobs per state now */
	uint64_t	 submitted;	/* accepted since start */
	uint64_t	 finished;	/* reached a terminal state since start */
	double		 uptime;	/* seconds */
	uint64_t	 max_running;
	uint64_t	 max_queued;
};

/* A piece of one output stream: len bytes from offset. */
struct proto_chunk {
	bool		 present;	/* the stream was asked for */
	uint64_t	 offset;
	char		*data;		/* raw bytes; owned when decoded */
	size_t		 len;
	uint64_t	 size;		/* bytes of the stream kept so far */
	bool		 cut;		/* the log stops at size */
};

struct proto_ping {
	char		*version;	/* the daemon's version string */
	int		 protocol;	/* PROTO_VERSION of the daemon */
	int64_t		 pid;
	char		*events;	/* URL of the event socket; NULL: none */
	char		*durability;	/* none, process, power; NULL: none */
};

/*
 * A reply. err is 0 for {"ok":true,...}; otherwise the error's number and
 * message (the union is unused). Every reply names the daemon instance
 * that sent it (a random id made at each start), so that a client can
 * tell a restarted daemon from the one it asked before. Which union member is used follows the
 * request's op: submit -> submit; wait and list -> jobs; status and
 * cancel -> job; the others by name. shutdown has no body.
 */
struct proto_reply {
	enum proto_op	 op;
	int		 err;
	char		*message;
	char		*instance;	/* the daemon's start; NULL: not sent */
	union {
		struct proto_ping	ping;
		struct {
			struct proto_job job;
			bool		 created;  /* false: the key's job */
		} submit;
		struct {
			struct proto_job *jobs;
			size_t		 njobs;
			bool		 done;	   /* wait: condition met */
			bool		 more;	   /* list: older jobs remain */
		} jobs;
		struct proto_job	job;
		uint64_t		forgotten;	/* forget */
		struct {
			struct proto_type_info *types;
			size_t		 ntypes;
		} types;
		struct proto_stats	stats;
		struct {
			struct proto_job   job;
			struct proto_chunk chunk[2];
			bool		   done;   /* finished, all read */
		} output;
	} u;
};

/*
 * Encodes a reply into an allocated string (*out, *len without the NUL).
 * Borrows everything in rep. Returns 0 or ASYNCD_ENOMEM.
 */
int	proto_reply_encode(const struct proto_reply *rep, char **out,
	    size_t *len);
/* An error reply, encoded; NULL only when out of memory. */
char	*proto_reply_error(int err, const char *message, const char *instance,
	    size_t *len);
/*
 * Decodes the reply to a request of the given op into *rep (owned; release
 * with proto_reply_fini). Returns 0 when decoding worked, whether the reply
 * is a success or an error (check rep->err); ASYNCD_EPROTO if malformed.
 */
int	proto_reply_decode(enum proto_op op, const void *buf, size_t len,
	    struct proto_reply *rep);
void	proto_reply_fini(struct proto_reply *rep);

cJSON	*proto_stats_encode(const struct proto_stats *stats);
int	 proto_stats_decode(const cJSON *obj, struct proto_stats *stats);

/*
 * Events on the PUB socket: a topic "job.<id>.<kind> " followed by a JSON
 * object. Subscribing to "job.<id>." gets every event of one job. The
 * returned buffer is allocated; *len excludes the terminating NUL.
 */
char	*proto_event_state(const struct proto_job *job, size_t *len);
char	*proto_event_progress(uint64_t id, double fraction,
	    const char *message, size_t *len);
char	*proto_event_output(uint64_t id, int stream, uint64_t offset,
	    const void *data, size_t len, size_t *olen);
/* Splits an event into its id, kind ("state", "progress") and JSON body. */
int	 proto_event_decode(const void *buf, size_t len, uint64_t *id,
	    char *kind, size_t kindsz, cJSON **body);

/*
 * Addresses (PROTOCOL.md, "Addresses"). proto_default_url writes the
 * request socket's URL: $ASYNCD_SOCKET if set, else the default for this
 * user; the daemon listens there. proto_client_url writes the URL a client
 * given none dials: $ASYNCD_SOCKET if set, else the same default, unless
 * that socket file does not exist and the system daemon's
 * (PROTO_SYSTEM_URL) does. proto_fallback_url is that last choice for any
 * pair: fallback if preferred is an ipc:// path that does not exist and
 * fallback an ipc:// path that is a socket, else preferred (buf may be
 * preferred's own buffer). Each looks at
 * the file system at the moment it is called. proto_events_url derives the
 * event socket's URL from a request socket's, for ipc:// URLs only (a port
 * cannot be guessed). All return 0, or ASYNCD_EINVAL if there is no such
 * URL or it does not fit.
 */
int	 proto_default_url(char *buf, size_t len);
int	 proto_client_url(char *buf, size_t len);
/* A unix socket address for path; false if the path does not fit. */
bool	 proto_unix_addr(const char *path, struct sockaddr_un *sun);
int	 proto_fallback_url(const char *preferred, const char *fallback,
	    char *buf, size_t len);
int	 proto_events_url(const char *url, char *buf, size_t len);
#define PROTO_URL_MAX		512
/* The system daemon's request socket (systemd/asyncd.service). */
#define PROTO_SYSTEM_URL	"ipc:///run/asyncd/asyncd.sock"

/*
 * base64.c. proto_b64_encode returns an allocated string (NULL: out of
 * memory); proto_b64_decode, with out NULL, only checks the text, and
 * returns 0, -1 (not base64) or ASYNCD_ENOMEM.
 */
char	*proto_b64_encode(const void *, size_t);
int	 proto_b64_decode(const char *, char **out, size_t *len);
/* "stdout", "stderr"; -1 for another name. */
const char *proto_stream_name(int);
int	 proto_stream_parse(const char *);

/* Helpers shared by both sides, also used by the daemon's schema checks. */
int	 proto_get_id(const cJSON *item, uint64_t *id);
int	 proto_get_seconds(const cJSON *item, double *seconds);
/*
 * An RFC 3339 time ("2026-12-02T01:30:00Z", "...T01:30:00.5+01:00") as
 * Unix time. Returns 0 or ASYNCD_EBADREQUEST.
 */
int	 proto_parse_time(const char *text, double *t);
/*
 * Prints a tree for the wire: cJSON_PrintUnformatted, except that integers
 * from 2^52 up (job ids reach 2^53-1) print exactly, which cJSON's own
 * printer does not guarantee. It may rewrite such numbers in obj as raw
 * JSON, so print a tree from proto_job_encode with it and then delete it.
 * Returns an allocated string, or NULL when out of memory.
 */
char	*proto_print(cJSON *obj);
/* Rounds a Unix time to milliseconds so it prints short and round-trips. */
double	 proto_time_round(double t);

/*
 * sp.c: nng's SP framing on a unix stream (PROTOCOL.md, "Transport").
 * Each side first sends PROTO_SP_HELLO bytes naming its protocol; then
 * each message is PROTO_SP_FRAME bytes (0x01, the length in 64 bits
 * big-endian) and the message, whose REQ/REP header is a 32-bit request
 * id with its top bit set, which the reply echoes.
 */
#define PROTO_SP_REQ		0x30
#define PROTO_SP_REP		0x31
#define PROTO_SP_HELLO		8
#define PROTO_SP_FRAME		9
#define PROTO_SP_MSG		0x01	/* the frame's type byte */
#define PROTO_SP_ID_END		0x80000000u	/* the last word of a header */
void	 proto_sp_hello(unsigned char out[PROTO_SP_HELLO], uint16_t self);
bool	 proto_sp_hello_is(const unsigned char in[PROTO_SP_HELLO],
	    uint16_t peer);
/* n bytes of v, big-endian; and back. */
void	 proto_put_be(unsigned char *p, uint64_t v, int n);
uint64_t proto_get_be(const unsigned char *p, int n);

#endif /* PROTO_H */
