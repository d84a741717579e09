/* Opens that fail: the path given as argv[1] (which should not exist), a literal path under a
 * missing directory, and a directory opened for writing. Prints each result and errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void try_open(const char *path, int flags) {
	int fd = open(path, flags);
	int err = errno;
	if (fd >= 0) {
		printf("open %s: fd %d\n", path, fd);
		close(fd);
	} else {
		printf("open %s: -1 %s\n", path, strerror(err));
	}
}

int main(int argc, char **argv) {
	printf("pid %d\n", getpid());
	try_open(argc > 1 ? argv[1] : "/nonexistent-ftrun-test", O_RDONLY | O_CLOEXEC);
	try_open("/nonexistent-ftrun-dir/file", O_RDONLY);
	try_open("/", O_WRONLY);
	return 0;
}
