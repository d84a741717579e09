/* Prints, then sends itself SIGTERM with the default action: the process dies by SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	signal(SIGTERM, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	printf("about to die by SIGTERM, pid %d\n", (int)getpid());
	fflush(stdout);
	kill(getpid(), SIGTERM);
	printf("still alive after SIGTERM\n");
	return 1;
}
