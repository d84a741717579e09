/* Forks while earlier children exit: 30 children are forked one after the other without
 * waiting, each exiting at once, so SIGCHLD (at its default) keeps arriving while the
 * parent is inside fork; then all are reaped. Prints how many were reaped, the sum of
 * their exit codes and the parent's pid. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	for (int i = 0; i < 30; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(i % 7);
		if (p < 0)
			return 1;
	}
	int reaped = 0, sum = 0, status;
	while (wait(&status) > 0) {
		reaped++;
		sum += WEXITSTATUS(status);
	}
	printf("reaped %d, codes sum to %d, parent %d\n", reaped, sum, getpid());
	return 0;
}
