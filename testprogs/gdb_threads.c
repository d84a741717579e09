/* For the gdb tests: two named threads each leave a value in a global, worker 0 first (the
 * tests expect its breakpoint hit first). */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

int results[2];
static sem_t first_done;

void work(int id)
{
	int v = (id + 1) * 100;
	results[id] = v;
}

static void *run(void *arg)
{
	int id = (int)(long)arg;
	char name[16];
	snprintf(name, sizeof name, "worker%d", id);
	pthread_setname_np(pthread_self(), name);
	if (id == 1)
		sem_wait(&first_done);
	work(id);
	if (id == 0)
		sem_post(&first_done);
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	sem_init(&first_done, 0, 0);
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("results %d %d\n", results[0], results[1]);
	return 0;
}
