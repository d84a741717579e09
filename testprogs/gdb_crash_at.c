/* For the gdb tests: prints the address it then writes through, which nothing maps. */
#include <stdint.h>
#include <stdio.h>

int main(void)
{
	volatile int *bad = (volatile int *)(uintptr_t)0x5a5a0000;
	printf("fault at %p\n", (void *)bad);
	fflush(stdout);
	*bad = 1;
	return 0;
}
