/* Memory calls made round after round (the fast path runs them in-process): anonymous
 * mappings written and unmapped, mprotect to read-only and back, the break moved; and in
 * each round a page made PROT_NONE whose touch faults into a SIGSEGV handler that gives
 * the access back: a replay that did not make the mprotect itself would not fault. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile int faults;

static void on_segv(int s)
{
	(void)s;
	faults++;
	siglongjmp(back, 1);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	long sum = 0;
	for (int round = 0; round < 200; round++) {
		char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		memset(p, round & 0x7f, 65536);
		mprotect(p, 65536, PROT_READ);
		sum += p[round * 100];
		mprotect(p + 4096, 4096, PROT_NONE);
		if (sigsetjmp(back, 1) == 0)
			sum += p[4096 + round];
		mprotect(p, 65536, PROT_READ | PROT_WRITE);
		madvise(p, 65536, MADV_DONTNEED);
		sum += p[8192];
		munmap(p, 65536);
		char *b = sbrk(4096);
		if (b != (void *)-1) {
			b[0] = (char)round;
			sum += b[0];
			sbrk(-4096);
		}
	}
	printf("sum %ld faults %d\n", sum, faults);
	return 0;
}
