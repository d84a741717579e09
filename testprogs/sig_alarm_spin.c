/* SIGALRM arrives while the main thread spins in a loop with no syscalls and an empty body. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t flag;

static void handler(int sig)
{
	(void)sig;
	flag = 1;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);

	printf("pid %d spinning until SIGALRM\n", (int)getpid());
	fflush(stdout);
	alarm(1);
	while (!flag)
		;
	printf("flag seen: %d\n", (int)flag);
	return 0;
}
