/* ITIMER_REAL signals interrupt a counting loop with no syscalls; the handler notes the count each time,
 * so the output pins down exactly where each signal landed. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define HITS 10
static volatile unsigned long n;
static volatile int hits;
static unsigned long seen[HITS];

static void handler(int sig)
{
	(void)sig;
	if (hits < HITS)
		seen[hits] = n;
	hits++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);

	struct itimerval it = {{0, 5000}, {0, 5000}};
	setitimer(ITIMER_REAL, &it, NULL);
	while (hits < HITS)
		n++;
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);

	for (int i = 0; i < HITS; i++)
		printf("signal %d at count %lu\n", i, seen[i]);
	printf("final count %lu hits %d\n", n, hits);
	return 0;
}
