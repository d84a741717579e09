/* alarm(1) then pause(): the SIGALRM handler prints with write(2). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t fired;

static void handler(int sig)
{
	static const char msg[] = "handler: SIGALRM\n";
	(void)sig;
	fired++;
	write(1, msg, sizeof msg - 1);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);

	printf("pid %d arming alarm\n", (int)getpid());
	fflush(stdout);
	unsigned prev = alarm(1);
	int r = pause();
	int e = errno;
	printf("previous alarm=%u pause returned %d errno=%s fired=%d\n", prev, r, e == EINTR ? "EINTR" : "other",
	       (int)fired);
	printf("alarm(0) after=%u\n", alarm(0));
	return 0;
}
