/* vfork_exec PROG ARGS… — vfork; the child execs PROG (with PROG ARGS… as its argv) by a name kept in
 * a buffer of the parent's memory, which the child shares; the parent prints that buffer and the
 * child's exit code once the child is gone. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[4096];

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: vfork_exec PROG ARGS...\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s", argv[1]);
	printf("pid %d\n", getpid());
	fflush(stdout);
	pid_t pid = vfork();
	if (pid == 0) {
		execv(path, argv + 1);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	printf("the parent's buffer: %s\nchild exit %d\n", path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
