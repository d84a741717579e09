/* For the gdb tests: built without PIE; a sum over an array. */
#include <stdio.h>

long total;
int values[6] = {3, 1, 4, 1, 5, 9};

long add(long acc, int v)
{
	long r = acc + v;
	return r;
}

int main(void)
{
	for (int i = 0; i < 6; i++)
		total = add(total, values[i]);
	printf("total=%ld\n", total);
	return 0;
}
