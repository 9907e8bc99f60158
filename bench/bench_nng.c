/*
 * bench_nng.c: the baseline. A raw nng REQ/REP echo over the same
 * transport asyncd uses, with the same request bytes, so that asyncd's
 * figures can be quoted as ratios measured in the same run.
 *
 *   bench_nng serve URL                 echo server (replies from the aio
 *                                       callback: nng's fastest shape)
 *   bench_nng latency URL N             N sequential round trips
 *   bench_nng throughput URL C SECONDS  C clients, each its own socket
 */
#include <signal.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"

/* The bytes of an asyncd "submit and wait for an echo job" request. */
static const char bench_nng_payload[] =
    "{\"v\":1,\"op\":\"submit\",\"type\":\"echo\",\"args\":{\"n\":1},"
    "\"wait\":5}";

#define BENCH_NNG_CONTEXTS	64

struct bench_nng_ctx {
	nng_ctx		 ctx;
	nng_aio		*aio;
	int		 sending;
};

static void
bench_nng_cb(void *arg)
{
	struct bench_nng_ctx	*c = arg;

	if (nng_aio_result(c->aio) != 0) {
		if (c->sending)
			nng_msg_free(nng_aio_get_msg(c->aio));
		if (nng_aio_result(c->aio) == NNG_ECLOSED)
			return;
		c->sending = 0;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (c->sending) {
		c->sending = 0;
		nng_ctx_recv(c->ctx, c->aio);
	} else {
		c->sending = 1;
		nng_ctx_send(c->ctx, c->aio);	/* the same message back */
	}
}

static int
bench_nng_serve(const char *url)
{
	struct bench_nng_ctx	c[BENCH_NNG_CONTEXTS];
	nng_socket		sock;
	sigset_t		set;
	int			i, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (nng_rep0_open(&sock) != 0 || nng_listen(sock, url, NULL, 0) != 0) {
		fprintf(stderr, "bench_nng: cannot listen on %s\n", url);
		return (1);
	}
	for (i = 0; i < BENCH_NNG_CONTEXTS; i++) {
		c[i].sending = 0;
		nng_ctx_open(&c[i].ctx, sock);
		nng_aio_alloc(&c[i].aio, bench_nng_cb, &c[i]);
		nng_ctx_recv(c[i].ctx, c[i].aio);
	}
	sigwait(&set, &sig);
	nng_close(sock);
	for (i = 0; i < BENCH_NNG_CONTEXTS; i++)
		nng_aio_free(c[i].aio);
	return (0);
}

/* A REQ client, set up as libasyncd sets up its own. */
static void *
bench_nng_open(const char *url)
{
	nng_socket	*s;
	int		 rv;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (NULL);
	if ((rv = nng_req0_open(s)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 10000)) != 0 ||
	    (rv = nng_dial(*s, url, NULL, 0)) != 0) {
		fprintf(stderr, "bench_nng: %s: %s\n", url, nng_strerror(rv));
		nng_close(*s);
		free(s);
		return (NULL);
	}
	return (s);
}

static int
bench_nng_call(void *arg)
{
	nng_socket	*s = arg;
	char		*buf = NULL;
	size_t		 len;
	int		 rv;

	if ((rv = nng_send(*s, (void *)bench_nng_payload,
	    sizeof bench_nng_payload - 1, 0)) != 0)
		return (rv);
	if ((rv = nng_recv(*s, &buf, &len, NNG_FLAG_ALLOC)) != 0)
		return (rv);
	nng_free(buf, len);
	return (0);
}

static void
bench_nng_close(void *arg)
{
	nng_socket	*s = arg;

	nng_close(*s);
	free(s);
}

static const struct bench_client bench_nng_client = {
	.open = bench_nng_open,
	.call = bench_nng_call,
	.close = bench_nng_close,
};

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return (bench_nng_serve(argv[2]));
	if (argc == 4 && strcmp(argv[1], "latency") == 0)
		return (bench_latency(&bench_nng_client, argv[2],
		    strtoul(argv[3], NULL, 10)));
	if (argc == 5 && strcmp(argv[1], "throughput") == 0)
		return (bench_throughput(&bench_nng_client, argv[2],
		    strtoul(argv[3], NULL, 10), strtod(argv[4], NULL)));
	fprintf(stderr, "usage: bench_nng serve URL | latency URL N | "
	    "throughput URL CLIENTS SECONDS\n");
	return (2);
}
