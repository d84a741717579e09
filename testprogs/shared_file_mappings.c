/* MAP_SHARED writes seen through another mapping of the same file: a file is mapped twice
 * (read-write and read-only) in one process; random values written through one mapping
 * are printed as read through the other, and a forked child writes through its inherited
 * mapping what the parent then reads through its read-only one. The file (named by pid
 * under TMPDIR or /tmp) is removed before the end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[4096];
	snprintf(path, sizeof path, "%s/ftrun-shared-file-%d", dir, getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 8192) != 0)
		return 1;
	unsigned *rw = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned *ro = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED || ro == MAP_FAILED)
		return 1;
	unlink(path);
	getrandom(&rw[0], sizeof rw[0], 0);
	rw[1500] = rw[0] ^ 0x5a5a5a5a; /* on the second page */
	printf("written %u, read through the other mapping %u and %u\n", rw[0], ro[0], ro[1500] ^ 0x5a5a5a5a);
	pid_t child = fork();
	if (child == 0) {
		getrandom(&rw[7], sizeof rw[7], 0);
		_exit(0);
	}
	waitpid(child, NULL, 0);
	printf("the child wrote %u\n", ro[7]);
	return 0;
}
