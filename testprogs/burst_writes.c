/* Twenty lines written one after another with nothing read between them, then one input
 * (getppid), then five more lines: under fault tolerance the outputs of a burst wait for
 * one acknowledgement together. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void line(const char *what, int i)
{
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%s %d\n", what, i);
	write(1, buf, n);
}

int main(void)
{
	for (int i = 0; i < 20; i++)
		line("burst", i);
	pid_t parent = getppid();
	for (int i = 0; i < 5; i++)
		line(parent > 0 ? "after" : "orphan", i);
	return 0;
}
