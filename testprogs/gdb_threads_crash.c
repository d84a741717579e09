/* For the gdb tests: two threads each sum their own range into a slot of `sums`, taking
 * turns through a mutex, the main thread prints the sums and then crashes in a function of
 * its own with a value computed from them. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

long sums[2];
long rounds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void add_round(int id, long v)
{
	pthread_mutex_lock(&lock);
	sums[id] += v;
	rounds++;
	pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	for (long i = 1; i <= 20; i++) {
		add_round(id, i * (id + 1));
		getppid();
	}
	return NULL;
}

int *nowhere;

void crash(long v)
{
	*nowhere = (int)v;
}

int main(void)
{
	pthread_t t[2];
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("sums %ld %ld rounds %ld\n", sums[0], sums[1], rounds);
	fflush(stdout);
	crash(sums[0] + sums[1]);
	return 0;
}
