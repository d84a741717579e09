/* unshare of a new user namespace, then the id maps a sandbox writes: "deny" to
 * /proc/self/setgroups, the outer uid and gid mapped to 0 in uid_map and gid_map. Prints
 * the ids seen before and after, the maps as read back, and a mount namespace made with
 * the capabilities the new user namespace gives; then runs itself again inside, where
 * only a mapped uid 0 keeps those capabilities across the execve. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_file(const char *path, const char *text) {
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void print_file(const char *path) {
	char buf[256];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		printf("%s: %s\n", path, strerror(errno));
		return;
	}
	buf[n] = 0;
	printf("%s: %s", path, buf);
}

static void report(const char *path, int r) {
	printf("write %s: %d%s%s\n", path, r, r ? " " : "", r ? strerror(errno) : "");
}

static void try_mount_namespace(const char *where) {
	int r = unshare(CLONE_NEWNS);
	printf("unshare(CLONE_NEWNS) %s: %d%s%s\n", where, r, r ? " " : "", r ? strerror(errno) : "");
}

int main(int argc, char **argv) {
	if (argc > 1) {
		printf("after execve: uid %d gid %d\n", getuid(), getgid());
		try_mount_namespace("after execve");
		return 0;
	}
	uid_t uid = getuid();
	gid_t gid = getgid();
	printf("before: uid %d gid %d\n", uid == 0 ? 0 : 1, gid == 0 ? 0 : 1);
	int r = unshare(CLONE_NEWUSER);
	printf("unshare(CLONE_NEWUSER): %d%s%s\n", r, r ? " " : "", r ? strerror(errno) : "");
	if (r)
		return 1;
	printf("unmapped: uid %d gid %d\n", getuid(), getgid());
	char map[64];
	report("/proc/self/setgroups", write_file("/proc/self/setgroups", "deny"));
	snprintf(map, sizeof map, "0 %d 1\n", uid);
	report("/proc/self/uid_map", write_file("/proc/self/uid_map", map));
	snprintf(map, sizeof map, "0 %d 1\n", gid);
	report("/proc/self/gid_map", write_file("/proc/self/gid_map", map));
	printf("mapped: uid %d gid %d euid %d\n", getuid(), getgid(), geteuid());
	print_file("/proc/self/uid_map");
	print_file("/proc/self/gid_map");
	print_file("/proc/self/setgroups");
	try_mount_namespace("inside");
	fflush(stdout);
	execl("/proc/self/exe", argv[0], "again", (char *)NULL);
	printf("execve: %s\n", strerror(errno));
	return 1;
}
