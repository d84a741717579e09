/* For the gdb tests: early() is called once at the start, hit() every 1000 rounds of a loop
 * of in-process calls (clock_gettime), both on the loop's code page. What each call saw
 * depends on the clock and is printed: a stop at another call shows other values. */
#include <stdio.h>
#include <time.h>

#define ROUNDS 4000

long total;
long seen;

__attribute__((aligned(4096), noinline)) void early(long v)
{
	seen = v;
}

__attribute__((noinline)) void hit(long round)
{
	seen = total + round;
}

int main(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	early(now.tv_nsec % 1000 + 1);
	printf("early %ld\n", seen);
	for (long i = 0; i < ROUNDS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		total += i + (now.tv_nsec & 1);
		if (i % 1000 == 999) {
			hit(i);
			printf("hit %ld: %ld\n", i, seen);
		}
	}
	printf("total %ld\n", total);
	return 0;
}
