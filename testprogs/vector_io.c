/* Vectored and message I/O, many rounds: writev into a pipe and readv back into two
 * buffers, sendmsg over a socket pair and recvmsg into three, writev to stdout; and the same calls with
 * an iovec array that is not mapped, which fail with EFAULT. Under the fast path they run
 * in-process from the second round on. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void)
{
	int p[2], sv[2];
	if (pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 1;
	unsigned long sum = 0;
	for (int round = 0; round < 100; round++) {
		char a[8], b[8], c[16];
		snprintf(a, sizeof a, "r%03d-", round);
		struct iovec out[3] = {{a, 5}, {"abc", 3}, {"defgh", 5}};
		if (writev(p[1], out, 3) != 13)
			return 2;
		memset(b, 0, sizeof b);
		memset(c, 0, sizeof c);
		struct iovec in[2] = {{b, 6}, {c, 7}};
		if (readv(p[0], in, 2) != 13)
			return 3;
		struct msghdr m = {0};
		struct iovec sent[2] = {{b, 6}, {c, 7}};
		m.msg_iov = sent;
		m.msg_iovlen = 2;
		if (sendmsg(sv[0], &m, 0) != 13)
			return 4;
		char back[32] = {0}, from[3][8];
		struct iovec parts[3] = {{from[0], 4}, {from[1], 4}, {back, sizeof back}};
		struct msghdr got = {0};
		got.msg_iov = parts;
		got.msg_iovlen = 3;
		if (recvmsg(sv[1], &got, 0) != 13)
			return 5;
		memmove(back + 8, back, 5);
		memcpy(back, from[0], 4);
		memcpy(back + 4, from[1], 4);
		for (int i = 0; back[i]; i++)
			sum = sum * 31 + (unsigned char)back[i];
		if (round % 25 == 0) {
			struct iovec line[3] = {{"line ", 5}, {back, 13}, {"\n", 1}};
			writev(1, line, 3);
		}
	}
	volatile uintptr_t unmapped = 16;
	struct iovec *bad = (struct iovec *)unmapped;
	errno = 0;
	long w = writev(p[1], bad, 2);
	int werr = errno;
	errno = 0;
	long r = readv(p[0], bad, 2);
	int rerr = errno;
	printf("sum %lu; bad writev %ld errno %d, bad readv %ld errno %d\n", sum, w, werr, r, rerr);
	return 0;
}
