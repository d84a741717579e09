/* 100000 getppid() calls: the cost of one ptrace round trip per syscall. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	long sum = 0;
	for (int i = 0; i < 100000; i++)
		sum += getppid();
	printf("%ld\n", sum > 0);
	return 0;
}
