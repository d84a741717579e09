/* TCP over loopback inside one process (listen, connect, send, accept, recv), then a UNIX socketpair. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int recv_all(int fd, char *buf, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t n = recv(fd, buf + got, want - got, 0);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	buf[got] = 0;
	return 0;
}

int main(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {0};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 4) != 0) {
		perror("bind/listen");
		return 1;
	}
	socklen_t len = sizeof addr;
	getsockname(lfd, (struct sockaddr *)&addr, &len);
	printf("listening on port %d\n", ntohs(addr.sin_port));

	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(cfd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("connect");
		return 1;
	}
	struct sockaddr_in local;
	len = sizeof local;
	getsockname(cfd, (struct sockaddr *)&local, &len);
	printf("client port %d\n", ntohs(local.sin_port));

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char msg[128];
	int mlen = snprintf(msg, sizeof msg, "hello at %lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
	ssize_t sent = send(cfd, msg, (size_t)mlen, 0);
	printf("sent %zd bytes\n", sent);

	struct sockaddr_in peer;
	len = sizeof peer;
	int afd = accept4(lfd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
	if (afd < 0) {
		perror("accept");
		return 1;
	}
	printf("accepted from %s:%d\n", inet_ntoa(peer.sin_addr), ntohs(peer.sin_port));

	char buf[256];
	if (recv_all(afd, buf, (size_t)mlen) != 0) {
		printf("recv failed\n");
		return 1;
	}
	printf("server received: %s\n", buf);

	const char *reply = "reply from server";
	send(afd, reply, strlen(reply), 0);
	if (recv_all(cfd, buf, strlen(reply)) != 0) {
		printf("client recv failed\n");
		return 1;
	}
	printf("client received: %s\n", buf);
	close(afd);
	ssize_t eof = recv(cfd, buf, sizeof buf, 0);
	printf("client recv after close: %zd\n", eof);
	close(cfd);
	close(lfd);

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		perror("socketpair");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	mlen = snprintf(msg, sizeof msg, "pair message pid %d mono %lld.%09ld", (int)getpid(), (long long)ts.tv_sec,
			ts.tv_nsec);
	write(sv[0], msg, (size_t)mlen);
	ssize_t n = read(sv[1], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("socketpair read %zd: %s\n", n, buf);
	write(sv[1], "back", 4);
	n = read(sv[0], buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("socketpair read back %zd: %s\n", n, buf);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
