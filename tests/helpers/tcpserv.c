/*
 * tcpserv: small TCP servers on 127.0.0.1 for the socket tests and the
 * bench, one thread, poll(2). Listens on an ephemeral port, writes it to
 * PORTFILE (written, then renamed into place), and serves until killed.
 *
 *	tcpserv MODE PORTFILE [UNIXPATH]
 *
 * With UNIXPATH it listens on that Unix socket instead (and writes 0).
 * reply:   reads a line from each client, answers "reply:" and the line,
 *          and closes (the fetch example's server).
 * delay:   the same, 2 ms after the line came, as a server with work to
 *          do would (other clients are served meanwhile).
 * half:    reads, writes "partial" without a newline, and closes.
 * silent:  accepts, reads, and never writes nor closes.
 * stall:   never accepts, and fills its own backlog first, so that the
 *          next connect hangs (a connect timeout).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TCPSERV_MAX	4096
/* The service time of "delay". */
#define TCPSERV_DELAY	0.002

struct tcpserv_conn {
	int	 fd;
	char	 buf[512];
	size_t	 len;
	double	 due;		/* delay: when to answer; 0: not yet */
};

static struct tcpserv_conn	tcpserv_conns[TCPSERV_MAX];
static struct pollfd		tcpserv_pfds[TCPSERV_MAX + 1];

static double
tcpserv_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void
tcpserv_usage(void)
{
	fprintf(stderr, "usage: tcpserv reply|delay|half|silent|stall PORTFILE "
	    "[UNIXPATH]\n");
	exit(2);
}

static void
tcpserv_portfile(const char *path, int port)
{
	char	 tmp[4096];
	FILE	*f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%d\n", port) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		perror(path);
		exit(1);
	}
}

/* A connect that is left pending: it fills the backlog. */
static void
tcpserv_connect(int port)
{
	struct sockaddr_in	sin;
	int			fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1)
		return;
	(void)connect(fd, (struct sockaddr *)&sin, sizeof sin);
}

/* A line has come (or the buffer is full): answer and close. */
static void
tcpserv_answer(struct tcpserv_conn *c)
{
	char	 out[600], *nl;
	int	 k;

	if ((nl = strchr(c->buf, '\n')) == NULL && c->len < sizeof c->buf - 1)
		return;
	k = snprintf(out, sizeof out, "reply:%.*s\n",
	    (int)(nl != NULL ? nl - c->buf : (long)c->len), c->buf);
	if (write(c->fd, out, (size_t)k) != k)
		perror("write");
	close(c->fd);
	c->fd = -1;
}

static void
tcpserv_accept(int lfd)
{
	size_t	i;
	int	fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) == -1)
		return;
	for (i = 0; i < TCPSERV_MAX && tcpserv_conns[i].fd != -1; i++)
		;
	if (i == TCPSERV_MAX) {
		close(fd);
		return;
	}
	tcpserv_conns[i].fd = fd;
	tcpserv_conns[i].len = 0;
	tcpserv_conns[i].due = 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	const char		*mode;
	size_t			 i, n;
	ssize_t			 r;
	double			 now, next;
	int			 lfd, one = 1, port, k, timeout;

	if (argc != 3 && argc != 4)
		tcpserv_usage();
	mode = argv[1];
	if (strcmp(mode, "reply") != 0 && strcmp(mode, "delay") != 0 &&
	    strcmp(mode, "half") != 0 &&
	    strcmp(mode, "silent") != 0 && strcmp(mode, "stall") != 0)
		tcpserv_usage();
	if (argc == 4) {
		struct sockaddr_un	sun;

		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", argv[3]);
		unlink(argv[3]);
		if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    bind(lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
		    listen(lfd, 4096) == -1) {
			perror(argv[3]);
			return (1);
		}
		port = 0;
		goto serve;
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		perror("socket");
		return (1);
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, strcmp(mode, "stall") == 0 ? 0 : 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) == -1) {
		perror("listen");
		return (1);
	}
	port = ntohs(sin.sin_port);
	if (strcmp(mode, "stall") == 0) {
		/* Backlog 0 holds one; a few more make sure it is full. */
		for (k = 0; k < 4; k++)
			tcpserv_connect(port);
		usleep(100000);
		tcpserv_portfile(argv[2], port);
		for (;;)
			pause();
	}
serve:
	tcpserv_portfile(argv[2], port);
	for (i = 0; i < TCPSERV_MAX; i++)
		tcpserv_conns[i].fd = -1;
	for (;;) {
		n = 0;
		tcpserv_pfds[n].fd = lfd;
		tcpserv_pfds[n++].events = POLLIN;
		for (i = 0; i < TCPSERV_MAX; i++) {
			tcpserv_pfds[n].fd = tcpserv_conns[i].fd;
			tcpserv_pfds[n++].events = POLLIN;
		}
		next = 0;
		for (i = 0; i < TCPSERV_MAX; i++) {
			struct tcpserv_conn	*c = &tcpserv_conns[i];

			if (c->fd != -1 && c->due > 0 &&
			    (next == 0 || c->due < next))
				next = c->due;
		}
		timeout = -1;
		if (next > 0) {
			now = tcpserv_now();
			timeout = next <= now ? 0 : (int)((next - now) * 1e3) + 1;
		}
		if (poll(tcpserv_pfds, n, timeout) == -1 && errno != EINTR) {
			perror("poll");
			return (1);
		}
		/* One accept a round: the listening socket blocks. */
		if (tcpserv_pfds[0].revents & POLLIN)
			tcpserv_accept(lfd);
		now = tcpserv_now();
		for (i = 0; i < TCPSERV_MAX; i++) {
			struct tcpserv_conn	*c = &tcpserv_conns[i];

			if (c->fd != -1 && c->due > 0 && c->due <= now) {
				tcpserv_answer(c);
				continue;
			}
			if (c->fd == -1 || !(tcpserv_pfds[i + 1].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c->fd, c->buf + c->len,
			    sizeof c->buf - 1 - c->len);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			c->buf[c->len] = '\0';
			if (strcmp(mode, "half") == 0) {
				/* After reading: a FIN, not a reset. */
				if (write(c->fd, "partial", 7) != 7)
					perror("write");
				close(c->fd);
				c->fd = -1;
			} else if (strcmp(mode, "delay") == 0) {
				if (c->due == 0 && (strchr(c->buf, '\n') != NULL ||
				    c->len == sizeof c->buf - 1))
					c->due = now + TCPSERV_DELAY;
			} else if (strcmp(mode, "silent") != 0)
				tcpserv_answer(c);
		}
	}
}
