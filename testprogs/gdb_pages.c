/* For the gdb tests: a loop of in-process calls (clock_gettime) that calls rare(), alone on
 * a code page of its own, in three rounds only: in round 0 itself, in rounds 1500 and 3000
 * from a thread it starts and joins (the replay has no checkpoints while it runs), and in
 * round 3000 that thread first gives rare()'s page its protection again (mprotect), as a
 * program that changes its code's protections would. Prints the total each call saw. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#define ROUNDS 4000
#define MIDDLE 1500
#define LATE 3000

long total;
long seen;

void done(void)
{
	printf("total %ld\n", total);
}

void rare(long round);

static void *in_thread(void *arg)
{
	long round = (long)arg;
	if (round == LATE) {
		void *page = (void *)((uintptr_t)rare & ~(uintptr_t)4095);
		if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0)
			perror("mprotect");
	}
	rare(round);
	return NULL;
}

__attribute__((aligned(4096), noinline)) void rare(long round)
{
	seen = total + round;
}

__attribute__((aligned(4096))) int main(void)
{
	struct timespec now;
	for (long i = 0; i < ROUNDS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		total += i + (now.tv_nsec & 1);
		if (i == 0)
			rare(i);
		if (i == MIDDLE || i == LATE) {
			pthread_t t;
			pthread_create(&t, NULL, in_thread, (void *)i);
			pthread_join(t, NULL);
		}
		if (i == 0 || i == MIDDLE || i == LATE)
			printf("rare %ld: %ld\n", i, seen);
	}
	done();
	return 0;
}
