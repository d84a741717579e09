/* getrandom(2) through glibc and as a raw syscall. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

static void hex(const char *label, long r, const unsigned char *b, size_t n)
{
	printf("%s: r=%ld ", label, r);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

int main(void)
{
	unsigned char buf[64];

	ssize_t r = getrandom(buf, 16, 0);
	hex("getrandom 16", (long)r, buf, 16);

	r = getrandom(buf, 32, GRND_NONBLOCK);
	hex("getrandom 32 nonblock", (long)r, buf, 32);

	r = getrandom(buf, 8, GRND_RANDOM | GRND_NONBLOCK);
	hex("getrandom 8 random|nonblock", (long)r, buf, r > 0 ? (size_t)r : 0);

	long s = syscall(SYS_getrandom, buf, 64, 0);
	hex("syscall getrandom 64", s, buf, 64);

	/* Several small calls in a row. */
	for (int i = 0; i < 4; i++) {
		unsigned int v = 0;
		r = getrandom(&v, sizeof v, 0);
		printf("u32[%d]: r=%ld %08x\n", i, (long)r, v);
	}
	return 0;
}
