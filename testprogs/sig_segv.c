/* Recovers from SIGSEGV (NULL write, write to a read-only page) and SIGFPE (division by zero) with siglongjmp. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;
static volatile int segv_count, fpe_count;

static void handler(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	if (sig == SIGSEGV)
		segv_count++;
	else
		fpe_count++;
	siglongjmp(jb, 1);
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);

	printf("pid %d\n", (int)getpid());
	for (volatile int i = 0; i < 3; i++) {
		if (sigsetjmp(jb, 1) == 0) {
			int *volatile p = NULL;
			*p = 42;
			printf("round %d: NULL write did not fault\n", (int)i);
		} else {
			printf("round %d: caught signal %d code %d addr %p\n", (int)i, got_sig, got_code, got_addr);
		}
	}

	char *volatile page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sigsetjmp(jb, 1) == 0) {
		page[10] = 1;
		printf("read-only write did not fault\n");
	} else {
		printf("read-only page: caught signal %d code %d addr_matches=%d\n", got_sig, got_code,
		       (char *)got_addr == page + 10);
	}

	for (volatile int i = 0; i < 2; i++) {
		volatile int a = 7 + i, b = 0;
		if (sigsetjmp(jb, 1) == 0) {
			int c = a / b;
			printf("division did not fault: %d\n", c);
		} else {
			printf("division %d: caught signal %d code %d\n", (int)i, got_sig, got_code);
		}
	}

	printf("segv_count=%d fpe_count=%d\n", segv_count, fpe_count);
	return 0;
}
