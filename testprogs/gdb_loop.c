/* For the gdb tests: a loop whose values the recording prints (PIE). */
#include <stdio.h>

int counter;

int square(int x)
{
	int y = x * x;
	return y;
}

int main(void)
{
	for (int i = 0; i < 5; i++) {
		counter += square(i);
		printf("i=%d counter=%d\n", i, counter);
		fflush(stdout);
	}
	printf("done %d\n", counter);
	return 0;
}
