/*
 * bareconnect.c: connects to a UNIX socket and hangs up at once, without
 * a word of the SP handshake: what a port scanner, "nc -U" or nng_listen's
 * own in-use probe does. nng 1.5.2 stops its listener for good when that
 * happens (nng #1518); the daemon must recover.
 *
 *	bareconnect PATH
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un	sun;
	int			fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof sun.sun_path) {
		fprintf(stderr, "usage: bareconnect PATH\n");
		return (2);
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, argv[1]);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		perror("bareconnect");
		return (1);
	}
	close(fd);
	return (0);
}
