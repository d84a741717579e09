/* Clocks read through the vDSO (and once through the real syscall), printed with ns. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void show(const char *name, clockid_t id)
{
	struct timespec ts;
	int r = clock_gettime(id, &ts);
	printf("%s: r=%d %lld.%09ld\n", name, r, (long long)ts.tv_sec, ts.tv_nsec);
}

int main(void)
{
	for (int round = 0; round < 3; round++) {
		printf("round %d\n", round);
		show("CLOCK_REALTIME", CLOCK_REALTIME);
		show("CLOCK_MONOTONIC", CLOCK_MONOTONIC);
		show("CLOCK_BOOTTIME", CLOCK_BOOTTIME);
		show("CLOCK_MONOTONIC_RAW", CLOCK_MONOTONIC_RAW);
		show("CLOCK_REALTIME_COARSE", CLOCK_REALTIME_COARSE);
		show("CLOCK_MONOTONIC_COARSE", CLOCK_MONOTONIC_COARSE);
		show("CLOCK_PROCESS_CPUTIME_ID", CLOCK_PROCESS_CPUTIME_ID);
		show("CLOCK_THREAD_CPUTIME_ID", CLOCK_THREAD_CPUTIME_ID);

		struct timeval tv;
		int r = gettimeofday(&tv, NULL);
		printf("gettimeofday: r=%d %lld.%06ld\n", r, (long long)tv.tv_sec, (long)tv.tv_usec);

		time_t t2;
		time_t t = time(&t2);
		printf("time: %lld (out %lld)\n", (long long)t, (long long)t2);

		struct timespec ts;
		long sr = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
		printf("syscall clock_gettime MONOTONIC: r=%ld %lld.%09ld\n", sr, (long long)ts.tv_sec, ts.tv_nsec);

		struct timespec res;
		clock_getres(CLOCK_MONOTONIC, &res);
		printf("clock_getres MONOTONIC: %lld.%09ld\n", (long long)res.tv_sec, res.tv_nsec);
	}
	return 0;
}
