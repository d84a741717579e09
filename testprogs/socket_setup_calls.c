#define _GNU_SOURCE
/* A server's set-up of each connection, N times: a non-blocking listener on loopback,
 * a client connect, accept4 with the peer's address, getsockname/getpeername,
 * setsockopt/getsockopt, epoll_ctl add and del, and one byte each way. Prints what the
 * calls returned (ports are those of this run: replay must print the same). Also one
 * getpeername into memory the kernel cannot write (EFAULT), as a program may. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 50;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof addr;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&addr, &len))
		return perror("listen"), 1;
	int ep = epoll_create1(0);
	unsigned long sum = 0;
	int again = 0;
	for (int i = 0; i < rounds; i++) {
		struct sockaddr_in peer, mine;
		socklen_t plen = sizeof peer, mlen = sizeof mine;
		if (accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK) < 0 && errno == EAGAIN)
			again++;
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&addr, sizeof addr))
			return perror("connect"), 1;
		int s;
		while ((s = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
			if (errno != EAGAIN)
				return perror("accept4"), 1;
		int one = 1, got = 0;
		socklen_t glen = sizeof got;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &got, &glen);
		getpeername(s, (struct sockaddr *)&peer, &plen);
		getsockname(c, (struct sockaddr *)&mine, &mlen);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
		char b = 'x';
		write(c, &b, 1);
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, 1000);
		read(s, &b, 1);
		epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev);
		sum += ntohs(peer.sin_port) + ntohs(mine.sin_port) + got + glen + plen + n;
		if (i == 0)
			printf("first peer port %d, own port %d, nodelay %d (%u bytes)\n",
			       ntohs(peer.sin_port), ntohs(mine.sin_port), got, glen);
		if (i == rounds - 1) {
			socklen_t bad = 16;
			int r1 = getpeername(s, (struct sockaddr *)8, &bad);
			int e1 = errno;
			int r2 = getpeername(s, (struct sockaddr *)&peer, (socklen_t *)8);
			printf("bad buffer %d errno %d, bad length %d errno %d\n", r1, e1, r2, errno);
		}
		close(s);
		close(c);
	}
	printf("rounds %d sum %lu eagain %d\n", rounds, sum, again);
	return 0;
}
