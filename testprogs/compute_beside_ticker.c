/* One thread computes without syscalls for a while, writing memory as it goes (a value in a
 * global), while another thread wakes every 2 ms and counts its wake-ups. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static volatile unsigned long value;
static volatile int done;
static void *ticker(void *a) {
	unsigned long *wakes = a;
	while (!done) {
		usleep(2000);
		++*wakes;
	}
	return NULL;
}
int main(int argc, char **argv) {
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000000UL;
	unsigned long wakes = 0;
	pthread_t t;
	pthread_create(&t, NULL, ticker, &wakes);
	for (unsigned long i = 0; i < rounds; i++)
		value = value * 6364136223846793005UL + i;
	done = 1;
	pthread_join(t, NULL);
	printf("value %lx, the ticker woke %s\n", value, wakes > 0 ? "meanwhile" : "never");
	return 0;
}
