/* Built with -static: time(), getrandom and rdtsc without the dynamic loader. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

int main(void)
{
	printf("hello from a static binary\n");
	printf("time=%lld\n", (long long)time(NULL));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	printf("monotonic=%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	unsigned long long r = 0;
	ssize_t n = getrandom(&r, sizeof r, 0);
	printf("getrandom r=%zd value=%016llx\n", n, r);
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	printf("rdtsc=%llu\n", ((unsigned long long)hi << 32) | lo);
	return 0;
}
