/* Answers each line read from stdin with a line on stdout while a 2 ms interval timer
 * keeps sending it SIGALRM (counted by a handler): under fault tolerance a signal comes
 * while a reply waits at the Output Rule's gate. Ends at end of input with the count. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every = {{0, 2000}, {0, 2000}};
	setitimer(ITIMER_REAL, &every, NULL);
	char buf[256], out[300];
	int lines = 0;
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf - 1);
		if (n <= 0)
			break;
		buf[n] = 0;
		buf[strcspn(buf, "\n")] = 0;
		int len = snprintf(out, sizeof out, "reply %d to %s\n", ++lines, buf);
		write(1, out, len);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	printf("%d lines, %s\n", lines, ticks > 0 ? "timer ticked" : "no ticks");
	return 0;
}
