/* Process identity: every id the process can ask about. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	printf("getpid=%d\n", (int)getpid());
	printf("getppid=%d\n", (int)getppid());
	printf("gettid=%d\n", (int)gettid());
	printf("syscall gettid=%ld\n", syscall(SYS_gettid));
	printf("getuid=%d geteuid=%d\n", (int)getuid(), (int)geteuid());
	printf("getgid=%d getegid=%d\n", (int)getgid(), (int)getegid());
	printf("getpgrp=%d\n", (int)getpgrp());
	printf("getpgid(0)=%d\n", (int)getpgid(0));
	printf("getsid(0)=%d\n", (int)getsid(0));
	printf("pid==tid: %d\n", getpid() == gettid());
	return 0;
}
