/* A thread computes without syscalls for about half a second (a loop in registers, then a
 * loop that writes a global at every pass) while another wakes every 2 ms; prints the
 * longest the ticker waited between two wake-ups. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static volatile int done;
static volatile unsigned long shared;
static long longest_us;

static long now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static void *ticker(void *arg)
{
	(void)arg;
	long last = now_us();
	while (!done) {
		usleep(2000);
		long t = now_us();
		if (t - last > longest_us)
			longest_us = t - last;
		last = t;
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, ticker, NULL);
	unsigned long x = 88172645463325252UL, acc = 0;
	for (long i = 0; i < 150000000L; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc += x & 0xff;
	}
	for (unsigned long i = 0; i < 100000000UL; i++)
		shared = shared * 6364136223846793005UL + i;
	done = 1;
	pthread_join(t, NULL);
	printf("%lu %lu\nticker's longest wait %ld ms\n", acc, shared, longest_us / 1000);
	return 0;
}
