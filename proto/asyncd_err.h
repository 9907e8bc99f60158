/*
 * asyncd_err.h: asyncd's error codes, shared by the wire protocol, the
 * daemon and libasyncd.
 *
 * Every error has a number (enum asyncd_err, for C callers), a stable wire
 * code (lower snake case, what travels in {"error":{"code":...}} and what
 * scripts branch on) and a one-line description. The numbers are part of
 * libasyncd's ABI: new codes are only ever appended.
 *
 * This header is public: it is installed next to asyncd.h, which includes
 * it.
 */
#ifndef ASYNCD_ERR_H
#define ASYNCD_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The table: X(name, wire code, description). Codes marked "local" are
 * produced by libasyncd itself and never sent by the daemon; "job" codes
 * describe how a job ended.
 */
#define ASYNCD_ERRORS(X)						\
	X(OK,		"ok",		"success")			\
	X(ENOMEM,	"no_memory",	"out of memory")		\
	X(EINVAL,	"invalid_argument", "invalid argument")	/* local */ \
	X(EUNREACHABLE,	"unreachable",	"daemon unreachable")	/* local */ \
	X(ETIMEDOUT,	"timeout",	"timed out waiting")	/* local */ \
	X(EPROTO,	"protocol_error", "malformed reply from daemon") /* local */ \
	X(ECLOSED,	"closed",	"client closed")	/* local */ \
	X(EBADJSON,	"bad_json",	"request is not valid JSON")	\
	X(EBADREQUEST,	"bad_request",	"malformed request")		\
	X(EBADVERSION,	"bad_version",	"unsupported protocol version")	\
	X(EUNKNOWNOP,	"unknown_op",	"unknown operation")		\
	X(EUNKNOWNTYPE,	"unknown_type",	"unknown job type")		\
	X(EUNKNOWNJOB,	"unknown_job",	"no such job")			\
	X(EBADARGS,	"bad_args",	"invalid job arguments")	\
	X(ETOOLARGE,	"too_large",	"too large")			\
	X(EBUSY,	"busy",		"daemon busy, try again later")	\
	X(EPERM,	"permission_denied", "permission denied")	\
	X(ESHUTDOWN,	"shutting_down", "daemon is shutting down")	\
	X(EINTERNAL,	"internal",	"internal error")		\
	X(EFAILED,	"failed",	"job failed")		/* job */ \
	X(ECANCELED,	"cancelled",	"job cancelled")	/* job */ \
	X(EJOBTIMEDOUT,	"timed_out",	"job timed out")	/* job */ \
	X(EDONE,	"already_done",	"job already finished")		\
	X(EINTERRUPTED,	"interrupted",	"job interrupted by a daemon restart") /* job */ \
	X(EEXPIRED,	"expired",	"job removed by retention")	\
	X(ESTORAGE,	"storage_error", "the job store cannot be written")

#define ASYNCD_ERR_ENUM_(name, code, text) ASYNCD_##name,
enum asyncd_err {
	ASYNCD_ERRORS(ASYNCD_ERR_ENUM_)
	ASYNCD_ERR_COUNT_
};
#undef ASYNCD_ERR_ENUM_

/* A description of err for people; never NULL. */
const char	*asyncd_strerror(int err);
/* The wire code of err ("unknown_job"); "internal" for unknown numbers. */
const char	*asyncd_errcode(int err);
/*
 * The number of a wire code. A code this version does not know (a newer
 * daemon, or a code chosen by a job) maps to ASYNCD_EFAILED.
 */
int		 asyncd_errparse(const char *code);

#ifdef __cplusplus
}
#endif

#endif /* ASYNCD_ERR_H */
