/* About half a second of arithmetic without a syscall. */
#include <stdio.h>

int main(void)
{
	unsigned long x = 88172645463325252UL, acc = 0;
	for (long i = 0; i < 300000000L; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		acc += x & 0xff;
	}
	printf("%lu\n", acc);
	return 0;
}
