/* The 16 AT_RANDOM bytes the kernel puts on the initial stack. */
#include <stdio.h>
#include <sys/auxv.h>

int main(void)
{
	const unsigned char *p = (const unsigned char *)getauxval(AT_RANDOM);
	if (!p) {
		printf("AT_RANDOM missing\n");
		return 1;
	}
	printf("AT_RANDOM: ");
	for (int i = 0; i < 16; i++)
		printf("%02x", p[i]);
	printf("\n");
	printf("AT_PAGESZ: %lu\n", getauxval(AT_PAGESZ));
	printf("AT_SECURE: %lu\n", getauxval(AT_SECURE));
	return 0;
}
