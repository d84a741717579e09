/* SIGUSR1 sent to itself with raise() twice and kill(getpid()), plus once while blocked. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t counter;
static char order[64];
static volatile int pos;
static volatile int last_code, last_pid;

static void mark(char c)
{
	if (pos < (int)sizeof order - 1)
		order[pos++] = c;
}

static void handler(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	(void)sig;
	counter++;
	last_code = si->si_code;
	last_pid = si->si_pid;
	mark('H');
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	printf("pid %d\n", (int)getpid());
	mark('1');
	raise(SIGUSR1);
	mark('2');
	raise(SIGUSR1);
	mark('3');
	kill(getpid(), SIGUSR1);
	mark('4');
	printf("after kill: counter=%d si_code=%d si_pid_is_self=%d\n", (int)counter, last_code, last_pid == getpid());

	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	mark('5');
	sigpending(&pending);
	printf("pending while blocked: %d, counter=%d\n", sigismember(&pending, SIGUSR1), (int)counter);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	mark('6');

	order[pos] = 0;
	printf("counter=%d\n", (int)counter);
	printf("order=%s\n", order);
	return 0;
}
