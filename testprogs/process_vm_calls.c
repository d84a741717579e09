/* process_vm_readv and process_vm_writev on its own memory (through iovecs of several
 * parts) and process_vm_readv of a child's memory, which the child filled with its pid
 * after the fork; then process_vm_writev into the child, which ftrun refuses. Prints what
 * each call returned and the bytes it moved. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char shared_text[64];

int main(void) {
	printf("pid %d\n", getpid());
	char source[] = "read from my own memory";
	char first[9] = {0}, second[32] = {0};
	struct iovec local[2] = {{first, 8}, {second, sizeof source - 8}};
	struct iovec remote[1] = {{source, sizeof source}};
	ssize_t n = process_vm_readv(getpid(), local, 2, remote, 1, 0);
	printf("readv of myself: %zd: '%s' + '%s'\n", n, first, second);

	char target[40] = "........................................";
	char part1[] = "written", part2[] = " in two parts";
	struct iovec from[2] = {{part1, strlen(part1)}, {part2, strlen(part2)}};
	struct iovec into[1] = {{target, strlen(part1) + strlen(part2)}};
	n = process_vm_writev(getpid(), from, 2, into, 1, 0);
	printf("writev into myself: %zd: '%.39s'\n", n, target);

	int ready[2];
	if (pipe(ready) != 0)
		return 1;
	pid_t child = fork();
	if (child == 0) {
		snprintf(shared_text, sizeof shared_text, "child %d was here", getpid());
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char byte;
	if (read(ready[0], &byte, 1) != 1)
		return 1;
	char got[64] = {0};
	struct iovec mine[1] = {{got, sizeof got}};
	struct iovec theirs[1] = {{shared_text, sizeof shared_text}};
	n = process_vm_readv(child, mine, 1, theirs, 1, 0);
	printf("readv of the child: %zd: '%s'\n", n, got);
	char text[] = "parent";
	struct iovec out[1] = {{text, sizeof text}};
	n = process_vm_writev(child, out, 1, theirs, 1, 0);
	printf("writev into the child: %zd%s\n", n, n < 0 ? (errno == ENOSYS ? " (ENOSYS)" : " (error)") : "");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return 0;
}
