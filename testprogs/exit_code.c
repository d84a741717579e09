/* Prints and exits with status 42. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	printf("pid %d exiting with 42\n", (int)getpid());
	fprintf(stderr, "a line on stderr\n");
	exit(42);
}
