/* Signal dispositions, masks and anonymous memory changed round after round: each round
 * installs a SIGUSR1 handler and reads the old one back, blocks SIGUSR2 and reads the
 * mask, maps, protects and unmaps a page. Every 20th round raises SIGUSR1 (delivered at
 * once) and SIGUSR2 (pending while blocked), then unblocks SIGUSR2, which delivers it. A
 * replay that did not make the sigaction, sigprocmask and mprotect calls itself would
 * deliver, fault or count differently. ROUNDS (default 500) as argv[1]. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int got1, got2, faults;
static sigjmp_buf back;

static void on_usr1(int s) { (void)s; got1++; }
static void on_usr2(int s) { (void)s; got2++; }
static void on_segv(int s) { (void)s; faults++; siglongjmp(back, 1); }

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 500;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sigset_t usr2;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	long same_handler = 0, masked = 0, sum = 0;
	for (int round = 0; round < rounds; round++) {
		sa.sa_handler = on_usr1;
		sigaction(SIGUSR1, &sa, &old);
		same_handler += old.sa_handler == on_usr1;
		sigprocmask(SIG_BLOCK, &usr2, NULL);
		sigset_t now;
		sigprocmask(SIG_BLOCK, NULL, &now);
		masked += sigismember(&now, SIGUSR2);
		char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		p[round % 8192] = 1;
		mprotect(p, 4096, PROT_NONE);
		if (round % 50 == 0 && sigsetjmp(back, 1) == 0)
			sum += p[round];
		sum += p[4096];
		munmap(p, 8192);
		if (round % 20 == 19) {
			raise(SIGUSR1);
			raise(SIGUSR2);
			sigset_t pending;
			sigpending(&pending);
			masked += sigismember(&pending, SIGUSR2) * 1000;
			sigprocmask(SIG_UNBLOCK, &usr2, NULL);
		}
	}
	printf("usr1 %d usr2 %d faults %d same handler %ld masked %ld sum %ld pid %d\n", got1,
	       got2, faults, same_handler, masked, sum, getpid());
	return 0;
}
