/* A thread spins on a flag that only another thread sets, in three ways: a bare loop,
 * a loop with `pause`, and a loop with sched_yield. With one thread running at a time,
 * the spinner must be preempted (or yield) for the setter to run at all. The order of
 * the hand-offs is printed; a replay must print the same. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

static volatile int flag[3];
static volatile int ack[3];

static void *setter(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++) {
		usleep(2000); /* gives the spinner time to start spinning */
		flag[i] = 1;
		while (!ack[i]) /* and now this side spins until the spinner answers */
			__builtin_ia32_pause();
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pthread_create(&t, NULL, setter, NULL) != 0)
		return 1;
	while (!flag[0])
		; /* bare spin */
	ack[0] = 1;
	printf("bare spin saw the flag\n");
	while (!flag[1])
		__builtin_ia32_pause();
	ack[1] = 1;
	printf("pause spin saw the flag\n");
	while (!flag[2])
		sched_yield();
	ack[2] = 1;
	printf("yield spin saw the flag\n");
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
