/* argv[1]: maps it MAP_PRIVATE read-only, MAP_SHARED read-only and MAP_PRIVATE writable, prints what it sees. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long sum(const unsigned char *p, size_t n)
{
	unsigned long h = 5381;
	for (size_t i = 0; i < n; i++)
		h = h * 33 + p[i];
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: mmap_file FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	struct stat st;
	fstat(fd, &st);
	size_t size = (size_t)st.st_size;
	printf("size=%zu\n", size);
	if (size == 0)
		return 1;

	const unsigned char *priv = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (priv == MAP_FAILED) {
		perror("mmap private");
		return 1;
	}
	printf("MAP_PRIVATE: %.*s\n", (int)size, (const char *)priv);
	printf("MAP_PRIVATE hash=%lu\n", sum(priv, size));

	const unsigned char *shared = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (shared == MAP_FAILED) {
		perror("mmap shared");
		return 1;
	}
	printf("MAP_SHARED: %.*s\n", (int)size, (const char *)shared);
	printf("MAP_SHARED hash=%lu\n", sum(shared, size));
	printf("same contents: %d\n", memcmp(priv, shared, size) == 0);

	unsigned char *cow = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (cow == MAP_FAILED) {
		perror("mmap cow");
		return 1;
	}
	cow[0] = '#';
	printf("MAP_PRIVATE writable after write: %.*s\n", (int)size, (const char *)cow);
	printf("read-only private unchanged: %d\n", priv[0] != '#' || shared[0] == '#');

	munmap(cow, size);
	munmap((void *)shared, size);
	munmap((void *)priv, size);
	close(fd);
	return 0;
}
