/* Calls syscalls ftrun refuses (mincore, futex_waitv) and prints what came back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	unsigned char vec[1];
	long r = syscall(SYS_mincore, (void *)((unsigned long)&vec & ~4095UL), 4096, vec);
	printf("mincore: %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
	r = syscall(449 /* futex_waitv */, NULL, 0, 0, NULL, 0);
	printf("futex_waitv: %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
	printf("pid %d still running\n", (int)getpid());
	return 0;
}
