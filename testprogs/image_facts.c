/* What an exec handed the program about its own image: argv, AT_EXECFN, the PT_INTERP string as it
 * is in memory, and (with an argument that names a file) that file mapped and printed. Built with
 * -DVERSION=N the tests make a "rebuilt" program of the same size; the exit code is VERSION. */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION 1
#endif

int main(int argc, char **argv)
{
	printf("pid %d version %d\n", getpid(), VERSION);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] %s\n", i, argv[i]);
	printf("execfn %s\n", (const char *)getauxval(AT_EXECFN));
	const ElfW(Phdr) *ph = (const void *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	uintptr_t bias = 0;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR)
			bias = (uintptr_t)ph - ph[i].p_vaddr;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_INTERP)
			printf("interp %s\n", (const char *)(bias + ph[i].p_vaddr));
	for (int i = 1; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0)
			continue;
		const char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			continue;
		printf("mapped %s: %.*s\n", argv[i], (int)st.st_size, p);
		close(fd);
	}
	return VERSION;
}
