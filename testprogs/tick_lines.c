/* Prints "line I" every 20 ms, N lines (argv[1], default 100): a steady stream of inputs
 * (each sleep's result is logged) and outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 0; i < n; i++) {
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
		printf("line %d\n", i);
	}
	return 0;
}
