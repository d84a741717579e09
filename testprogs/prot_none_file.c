/* A PROT_NONE region of a file: FILE is mapped privately with PROT_NONE (a reservation),
 * then mprotect makes it readable and its first line is printed with a random number. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd = open(argc > 1 ? argv[1] : "/etc/passwd", O_RDONLY);
	if (fd < 0)
		return 1;
	char *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED || mprotect(p, 4096, PROT_READ) != 0)
		return 1;
	unsigned r;
	getrandom(&r, sizeof r, 0);
	printf("%.*s (random %u)\n", (int)strcspn(p, "\n"), p, r);
	return 0;
}
