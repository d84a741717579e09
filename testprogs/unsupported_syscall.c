/* Calls syscalls ftrun refuses (kcmp, futex_waitv) and prints what came back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	/* Natively 0: fd 0 of this process is the same file as itself. */
	long r = syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
	printf("kcmp: %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
	r = syscall(449 /* futex_waitv */, NULL, 0, 0, NULL, 0);
	printf("futex_waitv: %ld %s\n", r, r < 0 ? strerror(errno) : "ok");
	printf("pid %d still running\n", (int)getpid());
	return 0;
}
