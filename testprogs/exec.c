/* Stage 1 execs itself (via /proc/self/exe) with "stage2"; stage 2 execs /bin/echo. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void show(const char *stage)
{
	unsigned int r = 0;
	getrandom(&r, sizeof r, 0);
	printf("%s: pid=%d random=%08x\n", stage, (int)getpid(), r);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "stage2") == 0) {
		show("stage2");
		execl("/bin/echo", "echo", "stage3 from /bin/echo", (char *)NULL);
		perror("execl /bin/echo");
		return 1;
	}
	show("stage1");
	execl("/proc/self/exe", argv[0], "stage2", (char *)NULL);
	perror("execl /proc/self/exe");
	return 1;
}
