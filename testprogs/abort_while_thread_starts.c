/* 30 children each start a thread and abort() at once, while the new thread is still
 * starting; the parent prints how each ended. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(void) {
	printf("pid %d\n", getpid());
	fflush(stdout);
	for (int i = 0; i < 30; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			pthread_t thread;
			pthread_create(&thread, NULL, sleeper, NULL);
			abort();
		}
		int status = 0;
		waitpid(pid, &status, 0);
		printf("child %d: %s %d\n", i, WIFSIGNALED(status) ? "killed by" : "exited",
		       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	printf("done\n");
	return 0;
}
