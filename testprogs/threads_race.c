/* N threads increment one shared counter without a lock and note the order in which they
 * finish. Now and then a thread makes a syscall between reading the counter and writing
 * it back, where another thread may run: updates are lost, and how many, and the finishing
 * order, depend on the interleaving. A replay must print exactly what the recording did. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define THREADS 4
#define CHUNKS 50
#define PER_CHUNK 2000

static volatile long counter;
static int finished[THREADS];
static int finished_count;
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;

static void *work(void *arg)
{
	int id = (int)(long)arg;
	for (int c = 0; c < CHUNKS; c++) {
		for (int i = 0; i < PER_CHUNK; i++) {
			long v = counter;
			if (i % 500 == id)
				getppid(); /* another thread may run here: its updates are lost */
			counter = v + 1;
		}
	}
	pthread_mutex_lock(&order_lock);
	finished[finished_count++] = id;
	pthread_mutex_unlock(&order_lock);
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, work, (void *)i) != 0)
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("counter %ld of %d\n", counter, THREADS * CHUNKS * PER_CHUNK);
	printf("finished:");
	for (int i = 0; i < THREADS; i++)
		printf(" %d", finished[i]);
	printf("\n");
	return 0;
}
