/* Writes its pid to argv[1], then sleeps in a loop until SIGUSR1 arrives from outside.
 * Exits 0 after the signal, 3 if none came within 20 s. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static volatile int from_code;

static void handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	from_code = si->si_code;
	got = 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sig_external PIDFILE\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	/* Write to a temporary name and rename, so a reader never sees a partial file. */
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		perror("fopen");
		return 1;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	if (rename(tmp, argv[1]) != 0) {
		perror("rename");
		return 1;
	}
	printf("pid file written, waiting for SIGUSR1\n");
	fflush(stdout);

	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	long sleeps = 0;
	while (!got) {
		if (sleeps % 2 == 0) {
			struct timespec d = {0, 10 * 1000 * 1000};
			nanosleep(&d, NULL);
		} else {
			usleep(10000);
		}
		sleeps++;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!got && now.tv_sec - start.tv_sec >= 20) {
			printf("timeout: no SIGUSR1 after %ld sleeps\n", sleeps);
			return 3;
		}
	}
	printf("got SIGUSR1 (si_code=%d) after %ld sleeps\n", from_code, sleeps);
	return 0;
}
