/* mremap of shared memory: three pages of MAP_SHARED anonymous memory are moved to a new
 * address with mremap (MREMAP_MAYMOVE | MREMAP_FIXED) and shrunk to two; a forked child
 * writes a random number through the moved mapping, and the parent prints what it sees. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *a = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *target = mmap(NULL, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || target == MAP_FAILED)
		return 1;
	a[page + 1] = 42;
	unsigned *moved = mremap(a, 3 * page, 3 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	if (moved == MAP_FAILED || mremap(moved, 3 * page, 2 * page, 0) != moved)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		getrandom(&moved[2], sizeof moved[2], 0);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	printf("moved: %d, the child wrote %u\n", ((char *)moved)[page + 1], moved[2]);
	return 0;
}
