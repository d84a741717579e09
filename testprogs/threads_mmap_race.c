/* The main thread creates ten threads (an mmap and an mprotect for each stack) while the
 * threads already started allocate memory (each new thread's first malloc maps and trims
 * an arena of its own): mappings change from several threads at once, and the kernel
 * places each one according to the order in which the calls really ran. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 10

static void *allocate(void *arg)
{
	long id = (long)arg;
	printf("thread %ld started\n", id);
	char *p = malloc(1000 + id);
	memset(p, (int)id, 1000);
	uintptr_t where = (uintptr_t)p & 0xfff;
	free(p);
	return (void *)where;
}

int main(void)
{
	pthread_t t[THREADS];
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, allocate, (void *)i);
	unsigned long sum = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (unsigned long)(uintptr_t)r;
	}
	printf("threads %d, offsets %lu, pid %d\n", THREADS, sum, getpid());
	return 0;
}
