/*
 * bench_fetch.c: the baseline for 1,000 socket coroutines: one blocking
 * client doing the same work one connection after another (connect, send
 * a line, read the line back, close), against the same server.
 *
 *   bench_fetch HOST_IPV4 PORT N		prints seconds=
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "bench.h"

static int
bench_fetch_one(const struct sockaddr_in *sin, size_t i)
{
	char	req[32], buf[128];
	size_t	got = 0;
	ssize_t	n;
	int	fd, len;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) == -1)
		goto fail;
	len = snprintf(req, sizeof req, "r%zu\n", i);
	if (write(fd, req, (size_t)len) != len)
		goto fail;
	while (got == 0 || buf[got - 1] != '\n') {
		if ((n = read(fd, buf + got, sizeof buf - got)) <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	return (0);
fail:
	close(fd);
	return (-1);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	sin;
	size_t			n, i;
	double			t0;

	if (argc != 4) {
		fprintf(stderr, "usage: bench_fetch HOST_IPV4 PORT N\n");
		return (2);
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1)
		return (2);
	n = strtoul(argv[3], NULL, 10);
	t0 = bench_now();
	for (i = 0; i < n; i++) {
		if (bench_fetch_one(&sin, i) != 0) {
			perror("bench_fetch");
			return (1);
		}
	}
	printf("seconds=%.4f\n", bench_now() - t0);
	return (0);
}
