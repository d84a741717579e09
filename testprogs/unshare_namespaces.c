/* unshare of the parts of the process it may copy (files, fs, SysV semaphores) and of the
 * mount, UTS, IPC, network and cgroup namespaces (as root), with something seen through
 * each: a hostname set in the new UTS namespace, a connection refused by a loopback that
 * is down in the new network namespace. Then unshare of a new pid namespace. Prints each
 * result. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static void try_unshare(const char *what, int flags) {
	int r = unshare(flags);
	printf("unshare(%s): %d%s%s\n", what, r, r ? " " : "", r ? strerror(errno) : "");
}

int main(void) {
	printf("pid %d\n", getpid());
	try_unshare("CLONE_FILES", CLONE_FILES);
	try_unshare("CLONE_FS", CLONE_FS);
	umask(027);
	printf("umask after: %03o\n", umask(022));
	try_unshare("CLONE_SYSVSEM", CLONE_SYSVSEM);
	try_unshare("CLONE_NEWNS", CLONE_NEWNS);
	try_unshare("CLONE_NEWUTS", CLONE_NEWUTS);
	char name[32];
	snprintf(name, sizeof name, "ftrun-%d", getpid());
	printf("sethostname: %d\n", sethostname(name, strlen(name)));
	struct utsname uts;
	uname(&uts);
	printf("nodename now: %s\n", strcmp(uts.nodename, name) == 0 ? "the new one" : uts.nodename);
	try_unshare("CLONE_NEWIPC", CLONE_NEWIPC);
	try_unshare("CLONE_NEWNET", CLONE_NEWNET);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int c = connect(s, (struct sockaddr *)&to, sizeof to);
	printf("connect in the new network namespace: %d %s\n", c, c ? strerror(errno) : "");
	try_unshare("CLONE_NEWCGROUP", CLONE_NEWCGROUP);
	try_unshare("CLONE_NEWPID", CLONE_NEWPID);
	return 0;
}
