/* A thread waits for a flag that another thread sets, counting its turns in a register:
 * the loop changes state on every pass, so it is no pure spin; the recorder preempts it at
 * an exact state, which replay reaches by putting the recorded registers in place. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static volatile int flag;
static void *setter(void *a) { (void)a; usleep(1000); flag = 1; return NULL; }
int main(void) {
	pthread_t t; unsigned long spins = 0;
	pthread_create(&t, NULL, setter, NULL);
	while (!flag) spins++;
	pthread_join(t, NULL);
	printf("saw the flag after %s spins\n", spins > 0 ? "some" : "no");
	return 0;
}
