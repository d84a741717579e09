/* argv[1]: prints its contents, size and mtime (fstat) and the sorted listing of its directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: file_read FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		perror("fstat");
		return 1;
	}
	printf("size=%lld mtime=%lld.%09ld ino=%llu mode=%o\n", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
	       st.st_mtim.tv_nsec, (unsigned long long)st.st_ino, (unsigned)st.st_mode);

	char buf[4096];
	long total = 0;
	printf("contents:\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		total += n;
	}
	printf("\nread %ld bytes\n", total);
	close(fd);

	char *copy = strdup(argv[1]);
	const char *dir = dirname(copy);
	DIR *d = opendir(dir);
	if (!d) {
		perror("opendir");
		return 1;
	}
	char *names[1024];
	int count = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && count < 1024)
		names[count++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)count, sizeof names[0], cmp);
	printf("directory has %d entries:\n", count);
	for (int i = 0; i < count; i++)
		printf("  %s\n", names[i]);
	return 0;
}
