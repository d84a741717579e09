/* fork + pipe + waitpid + SIGCHLD: the child sends its pid and a random number through a
 * pipe and exits 7; the parent prints what it read, the child's status and SIGCHLD count. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld;

static void on_chld(int sig)
{
	(void)sig;
	chld++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	int fds[2];
	if (pipe(fds) != 0)
		return 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		unsigned r;
		getrandom(&r, sizeof r, 0);
		char buf[64];
		int n = snprintf(buf, sizeof buf, "child %d random %u\n", (int)getpid(), r);
		write(fds[1], buf, (size_t)n);
		_exit(7);
	}
	close(fds[1]);
	char buf[128] = {0};
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		;
	printf("parent %d forked %d\nread %zd bytes: %s", (int)getpid(), (int)pid, n, buf);
	printf("child exited %d, SIGCHLD seen %d\n", WEXITSTATUS(status), (int)chld);
	return 0;
}
