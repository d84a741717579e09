/* For the gdb tests: a loop that makes a traced syscall each round (the replay stops there,
 * which is where checkpoints are taken) and prints the running total at two rounds. */
#include <sched.h>
#include <stdio.h>

long total;
long marked;

void step(long i)
{
	total += i * i;
}

void mark(long i)
{
	marked = i;
	printf("at %ld: %ld\n", i, total);
	fflush(stdout);
}

int main(void)
{
	for (long i = 0; i < 300; i++) {
		step(i);
		if (i == 100 || i == 250)
			mark(i);
		sched_yield();
	}
	printf("total %ld\n", total);
	return 0;
}
