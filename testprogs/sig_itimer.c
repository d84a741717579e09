/* ITIMER_REAL every 10 ms while the main loop makes getppid() syscalls, until 20 signals. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define WANT 20
static volatile int count;
static volatile long calls;
static long calls_at[WANT];

static void handler(int sig)
{
	(void)sig;
	/* A signal after the last one wanted (the timer runs until it is stopped) is not
	 * counted: how many more come before setitimer stops it depends on timing. */
	if (count < WANT)
		calls_at[count++] = calls;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);

	struct itimerval it = {{0, 10000}, {0, 10000}};
	setitimer(ITIMER_REAL, &it, NULL);
	pid_t ppid = 0;
	while (count < WANT) {
		ppid = getppid();
		calls++;
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);

	for (int i = 0; i < WANT; i++)
		printf("signal %d after %ld getppid calls\n", i, calls_at[i]);
	printf("signals=%d getppid_calls=%ld last_ppid=%d\n", count, calls, (int)ppid);
	return 0;
}
