/* For the gdb tests: a loop whose only calls run in-process (clock_gettime), so that the
 * replay stops only where the ring of in-process calls runs out; prints the running total
 * at two rounds. An exit handler runs code after the program's last output. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

long total;
long odd;
long finished;

void last_words(void)
{
	finished = total + 1;
}

static void at_end(void)
{
	fflush(stdout);
	last_words();
}

void tick(long i, long ns)
{
	total += i;
	odd += ns & 1;
}

void mark(long i)
{
	printf("at %ld: %ld\n", i, total);
}

int main(void)
{
	struct timespec now;
	atexit(at_end);
	for (long i = 0; i < 2000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		tick(i, now.tv_nsec);
		if (i == 1000 || i == 1990)
			mark(i);
	}
	printf("total %ld odd %ld\n", total, odd);
	return 0;
}
