/* A parent and its forked child share anonymous memory (MAP_SHARED | MAP_ANONYMOUS): the
 * child writes a random number there, the parent prints what it sees after waiting. */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	unsigned *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED)
		return 1;
	shared[0] = 1;
	pid_t pid = fork();
	if (pid == 0) {
		getrandom(&shared[1], sizeof shared[1], 0);
		shared[0] = 42;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	printf("parent sees %u and %u\n", shared[0], shared[1]);
	return 0;
}
