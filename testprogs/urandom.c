/* Reads /dev/urandom (and /dev/random) through read(2) and stdio. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static void hex(const char *label, long r, const unsigned char *b, long n)
{
	printf("%s: r=%ld ", label, r);
	for (long i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void)
{
	unsigned char buf[32];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	printf("open /dev/urandom: %s\n", fd >= 0 ? "ok" : "failed");
	if (fd < 0)
		return 1;
	for (int i = 0; i < 3; i++) {
		ssize_t r = read(fd, buf, sizeof buf);
		hex("read /dev/urandom", (long)r, buf, r > 0 ? r : 0);
	}
	close(fd);

	FILE *f = fopen("/dev/urandom", "rb");
	if (f) {
		size_t n = fread(buf, 1, 16, f);
		hex("fread /dev/urandom", (long)n, buf, (long)n);
		fclose(f);
	}

	fd = open("/dev/random", O_RDONLY | O_NONBLOCK);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, 8);
		hex("read /dev/random", (long)r, buf, r > 0 ? r : 0);
		close(fd);
	}
	return 0;
}
