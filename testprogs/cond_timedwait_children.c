// A parent waits in pthread_cond_timedwait (nobody signals; a 400 ms timeout) while five
// children exit at staggered times, SIGCHLD left at its default. Natively the wait times out
// (ETIMEDOUT) however often SIGCHLD interrupts the futex wait underneath.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	pid_t kids[5];
	for (int i = 0; i < 5; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			usleep(20000 * (i + 1));
			_exit(20 + i);
		}
	}
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 400000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	int r;
	do
		r = pthread_cond_timedwait(&cv, &mu, &deadline);
	while (r == 0);
	pthread_mutex_unlock(&mu);
	printf("pthread_cond_timedwait returned %s\n", r == ETIMEDOUT ? "ETIMEDOUT" : strerror(r));
	for (int i = 0; i < 5; i++) {
		int status = 0;
		waitpid(kids[i], &status, 0);
		printf("child %d exited %d\n", i, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return 0;
}
