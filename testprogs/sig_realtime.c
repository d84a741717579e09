/* Real-time signals: SIGRTMIN+2 queued three times with values (all delivered, in order,
 * while blocked then unblocked), and setuid in a threaded process, for which glibc sends a
 * real-time signal of its own to every thread. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int got[8], ngot;

static void on_rt(int s, siginfo_t *info, void *ctx)
{
	(void)s;
	(void)ctx;
	if (ngot < 8)
		got[ngot++] = info->si_value.sival_int;
}

static void *sleeper(void *arg)
{
	(void)arg;
	usleep(200000);
	return NULL;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 2, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (int i = 1; i <= 3; i++) {
		union sigval v = {.sival_int = i * 10};
		sigqueue(getpid(), SIGRTMIN + 2, v);
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("got %d:", ngot);
	for (int i = 0; i < ngot; i++)
		printf(" %d", got[i]);
	printf("\n");
	pthread_t t;
	pthread_create(&t, NULL, sleeper, NULL);
	printf("setuid %d\n", setuid(getuid()));
	pthread_join(t, NULL);
	printf("pid %d\n", getpid());
	return 0;
}
