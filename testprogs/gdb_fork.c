/* For the gdb tests: a child computes a value in a function of its own. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int child_work(int v)
{
	int r = v * 3;
	return r;
}

int main(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		printf("child %d\n", child_work(7));
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("parent done\n");
	return 0;
}
