/* nanosleep and clock_nanosleep (relative and absolute), elapsed time measured with clock_gettime. */
#include <stdio.h>
#include <time.h>

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int main(void)
{
	struct timespec t0, t1, t2, t3, rem = {0, 0};
	const struct timespec d = {0, 20 * 1000 * 1000};

	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r1 = nanosleep(&d, &rem);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int r2 = clock_nanosleep(CLOCK_MONOTONIC, 0, &d, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	struct timespec until = t2;
	until.tv_nsec += 20 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	int r3 = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	int r4 = clock_nanosleep(CLOCK_REALTIME, 0, &d, NULL);

	printf("start=%lld\n", ns(&t0));
	printf("nanosleep r=%d elapsed=%lld ns enough=%d\n", r1, ns(&t1) - ns(&t0), ns(&t1) - ns(&t0) >= 20000000);
	printf("clock_nanosleep rel r=%d elapsed=%lld ns enough=%d\n", r2, ns(&t2) - ns(&t1),
	       ns(&t2) - ns(&t1) >= 20000000);
	printf("clock_nanosleep abs r=%d elapsed=%lld ns reached=%d\n", r3, ns(&t3) - ns(&t2), ns(&t3) >= ns(&until));
	printf("clock_nanosleep realtime r=%d\n", r4);
	return 0;
}
