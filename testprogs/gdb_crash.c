/* For the gdb tests: prints a value, then writes through a null pointer. */
#include <stdio.h>

int *target;
int before = 41;

void crash(int v)
{
	*target = v;
}

int main(void)
{
	before++;
	printf("before=%d\n", before);
	fflush(stdout);
	crash(before);
	return 0;
}
