/* A thread other than the main one execs this program again while the main thread sleeps
 * in pause(); the second stage, now its own process's only thread with the old pid, starts
 * a thread that execs once more, and the third stage exits 7. A child does the same
 * before, and the parent prints how it ended. Prints each stage with its pid and tid. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *next_stage;

static void *exec_again(void *arg) {
	(void)arg;
	printf("thread %ld execs stage %s\n", (long)syscall(SYS_gettid), next_stage);
	fflush(stdout);
	char *argv[] = {"/proc/self/exe", next_stage, NULL};
	execv("/proc/self/exe", argv);
	perror("execv");
	exit(2);
}

static void exec_from_a_thread(char *stage) {
	next_stage = stage;
	pthread_t thread;
	if (pthread_create(&thread, NULL, exec_again, NULL) != 0)
		exit(3);
	for (;;)
		pause();
}

int main(int argc, char **argv) {
	const char *stage = argc > 1 ? argv[1] : "first";
	printf("stage %s: pid %d, tid %ld\n", stage, getpid(), (long)syscall(SYS_gettid));
	fflush(stdout);
	if (strcmp(stage, "first") == 0) {
		pid_t child = fork();
		if (child == 0)
			exec_from_a_thread("second");
		int status = 0;
		waitpid(child, &status, 0);
		printf("child ended: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		fflush(stdout);
		exec_from_a_thread("second");
	}
	if (strcmp(stage, "second") == 0)
		exec_from_a_thread("third");
	return 7;
}
