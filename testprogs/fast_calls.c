/* The calls a server lives on, many times over, through libc's own syscall sites: the
 * in-process fast path runs them without ptrace stops once each site is rewritten. Prints a
 * digest of what it saw (pids, clock readings' order, bytes read back, stat sizes). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 2000;
	int p[2];
	if (pipe(p) != 0)
		return 1;
	long ppid_sum = 0, clock_steps = 0, bytes = 0, sizes = 0;
	struct timespec last = {0, 0};
	char buf[64];
	for (long i = 0; i < rounds; i++) {
		ppid_sum += getppid() > 0;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > last.tv_sec || (now.tv_sec == last.tv_sec && now.tv_nsec >= last.tv_nsec))
			clock_steps++;
		last = now;
		int n = snprintf(buf, sizeof buf, "round %ld %ld\n", i, now.tv_nsec);
		if (write(p[1], buf, n) != n)
			return 2;
		char back[64];
		bytes += read(p[0], back, sizeof back);
		struct stat st;
		if (fstat(p[0], &st) == 0)
			sizes += S_ISFIFO(st.st_mode);
	}
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t got = fd >= 0 ? read(fd, buf, 4) : -1;
	printf("rounds %ld ppid %ld monotonic %ld bytes %ld fifo %ld status %zd %.4s last %ld\n",
	       rounds, ppid_sum, clock_steps, bytes, sizes, got, got > 0 ? buf : "", last.tv_nsec);
	return 0;
}
