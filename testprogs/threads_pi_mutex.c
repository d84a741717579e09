/* Four threads take turns on a priority-inheritance mutex (FUTEX_LOCK_PI/UNLOCK_PI in
 * the kernel when contended) after a condition-variable broadcast wakes them; the order in
 * which they finish depends on the interleaving, and a replay must print the same. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static pthread_mutex_t pi;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int go, shared, order[8], n;
static void *w(void *a) {
	long id = (long)a;
	pthread_mutex_lock(&m);
	while (!go) pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&pi);
		shared += id;
		if (i % 50 == 0) usleep(100);
		pthread_mutex_unlock(&pi);
	}
	pthread_mutex_lock(&pi); order[n++] = id; pthread_mutex_unlock(&pi);
	return NULL;
}
int main(void) {
	pthread_mutexattr_t at; pthread_mutexattr_init(&at);
	pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT);
	pthread_mutex_init(&pi, &at);
	pthread_t t[4];
	for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, w, (void *)(i + 1));
	usleep(2000);
	pthread_mutex_lock(&m); go = 1; pthread_cond_broadcast(&c); pthread_mutex_unlock(&m);
	for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
	printf("shared %d order %d %d %d %d\n", shared, order[0], order[1], order[2], order[3]);
	return 0;
}
