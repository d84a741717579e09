/* clone of a child in a new user namespace whose id maps its parent writes through
 * /proc/PID/{setgroups,uid_map,gid_map}, as sandbox launchers do; the child waits on a
 * pipe for them, prints its ids, then runs itself again, where only a mapped uid 0 keeps
 * the namespace's capabilities for a new mount namespace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(long pid, const char *name, const char *text) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, name);
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
	if (argc > 1) {
		int r = unshare(CLONE_NEWNS);
		printf("child after execve: uid %d, unshare(CLONE_NEWNS): %d%s%s\n", getuid(), r,
		       r ? " " : "", r ? strerror(errno) : "");
		return 0;
	}
	int go[2];
	if (pipe(go))
		return 1;
	fflush(stdout);
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		printf("clone(CLONE_NEWUSER): %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		char c;
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		printf("child mapped: uid %d gid %d\n", getuid(), getgid());
		fflush(stdout);
		execl("/proc/self/exe", argv[0], "again", (char *)NULL);
		_exit(3);
	}
	char map[64];
	printf("parent writes setgroups: %d\n", write_file(pid, "setgroups", "deny"));
	snprintf(map, sizeof map, "0 %d 1\n", getuid());
	printf("parent writes uid_map: %d\n", write_file(pid, "uid_map", map));
	snprintf(map, sizeof map, "0 %d 1\n", getgid());
	printf("parent writes gid_map: %d\n", write_file(pid, "gid_map", map));
	fflush(stdout);
	if (write(go[1], "g", 1) != 1)
		return 1;
	int status;
	waitpid(pid, &status, 0);
	printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
