/* exit_group while another thread keeps making syscalls: a thread loops on getppid and
 * short sleeps; main sleeps 30 ms, prints how many rounds it has seen, and returns (exit_group
 * ends the thread wherever it is). */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static volatile long rounds;

static void *busy(void *arg)
{
	(void)arg;
	struct timespec ms = {0, 1000000};
	for (;;) {
		getppid();
		nanosleep(&ms, NULL);
		rounds++;
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	pthread_create(&t, NULL, busy, NULL);
	struct timespec wait = {0, 30000000};
	nanosleep(&wait, NULL);
	printf("the thread made %ld rounds\n", rounds);
	fflush(stdout);
	return 0;
}
