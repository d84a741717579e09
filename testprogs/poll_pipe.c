/* A pipe checked with poll and select around writes and reads. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

int main(void)
{
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
		perror("pipe2");
		return 1;
	}
	char buf[64];
	printf("pid %d\n", (int)getpid());

	struct pollfd pfd = {p[0], POLLIN, 0};
	int r = poll(&pfd, 1, 0);
	printf("poll empty: r=%d revents=%#x\n", r, pfd.revents);

	ssize_t n = read(p[0], buf, sizeof buf);
	printf("read empty: n=%zd errno=%s\n", n, errno == EAGAIN ? "EAGAIN" : "other");

	n = write(p[1], "ping", 4);
	printf("write: n=%zd\n", n);
	r = poll(&pfd, 1, 1000);
	printf("poll after write: r=%d revents=%#x\n", r, pfd.revents);
	n = read(p[0], buf, sizeof buf);
	printf("read: n=%zd data=%.*s\n", n, (int)(n > 0 ? n : 0), buf);

	fd_set rfds;
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	struct timeval tv = {0, 0};
	r = select(p[0] + 1, &rfds, NULL, NULL, &tv);
	printf("select empty: r=%d isset=%d\n", r, FD_ISSET(p[0], &rfds));

	write(p[1], "pong!", 5);
	FD_ZERO(&rfds);
	FD_SET(p[0], &rfds);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	r = select(p[0] + 1, &rfds, NULL, NULL, &tv);
	/* Linux writes the time left back into tv. */
	printf("select after write: r=%d isset=%d tv_left=%ld.%06ld\n", r, FD_ISSET(p[0], &rfds), (long)tv.tv_sec,
	       (long)tv.tv_usec);
	n = read(p[0], buf, sizeof buf);
	printf("read: n=%zd data=%.*s\n", n, (int)(n > 0 ? n : 0), buf);

	/* A short wait that times out. */
	r = poll(&pfd, 1, 5);
	printf("poll timeout: r=%d revents=%#x\n", r, pfd.revents);

	close(p[1]);
	r = poll(&pfd, 1, 1000);
	printf("poll after close: r=%d revents=%#x\n", r, pfd.revents);
	n = read(p[0], buf, sizeof buf);
	printf("read at eof: n=%zd\n", n);
	close(p[0]);
	return 0;
}
