/* Three forked children, one after the other, each making many cheap calls without exec:
 * each gets a ring of its own, so its calls run in-process too. */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	for (int k = 0; k < 3; k++) {
		pid_t p = fork();
		if (p == 0) {
			long ok = 0;
			struct timespec t = {0, 0};
			for (int i = 0; i < 5000; i++) {
				ok += getppid() > 0;
				clock_gettime(CLOCK_MONOTONIC, &t);
			}
			printf("child %d saw its parent %ld times, clock %ld\n", k, ok, t.tv_nsec);
			return 0;
		}
		int st;
		waitpid(p, &st, 0);
	}
	printf("parent done\n");
	return 0;
}
