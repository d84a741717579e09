/* A parent kills each of 30 children right after the child told it, through a pipe, that
 * its second thread was created; the child's main thread is still running then (it spins
 * without syscalls), so its last calls and its process's end race. Prints its pid and,
 * for each child, the byte it read and how the child ended. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 30

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void child(int out) {
	pthread_t thread;
	if (pthread_create(&thread, NULL, sleeper, NULL) != 0)
		_exit(2);
	char ready = 'r';
	if (write(out, &ready, 1) != 1)
		_exit(3);
	for (volatile unsigned long spin = 0;; spin++)
		;
}

int main(void) {
	printf("pid %d\n", getpid());
	fflush(stdout);
	for (int i = 0; i < CHILDREN; i++) {
		int fds[2];
		if (pipe(fds) != 0)
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fds[0]);
			child(fds[1]);
		}
		close(fds[1]);
		char got = 0;
		ssize_t n = read(fds[0], &got, 1);
		kill(pid, SIGKILL);
		int status = 0;
		waitpid(pid, &status, 0);
		close(fds[0]);
		printf("child %d: read %zd '%c', %s %d\n", i, n, got,
		       WIFSIGNALED(status) ? "killed by" : "exited", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	printf("done\n");
	return 0;
}
