// A parent sleeps (clock_nanosleep, nanosleep or poll with a timeout) for 400 ms while five
// children exit at staggered times; SIGCHLD has no handler, a handler with SA_RESTART, or one
// without. Natively the sleep ends once (0) without a handler — the kernel restarts it with
// restart_syscall however often SIGCHLD interrupts it — and with EINTR with a handler.
// Usage: sleep_children clock_nanosleep|nanosleep|poll none|restart|norestart
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_chld(int sig) {
	(void)sig;
	handled++;
}

// One sleep of `ms` milliseconds; returns 0 or the error number, as clock_nanosleep does.
static int sleep_once(const char *how, long ms, struct timespec *rem) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	if (strcmp(how, "clock_nanosleep") == 0)
		return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, rem);
	if (strcmp(how, "nanosleep") == 0)
		return nanosleep(&ts, rem) == 0 ? 0 : errno;
	int n = poll(NULL, 0, (int)ms);
	return n < 0 ? errno : 0;
}

static const char *name_of(int err) {
	return err == 0 ? "0" : err == EINTR ? "EINTR" : strerror(err);
}

int main(int argc, char **argv) {
	const char *how = argc > 1 ? argv[1] : "clock_nanosleep";
	const char *mode = argc > 2 ? argv[2] : "none";
	if (strcmp(mode, "none") != 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_chld;
		sa.sa_flags = strcmp(mode, "restart") == 0 ? SA_RESTART : 0;
		sigaction(SIGCHLD, &sa, NULL);
	}
	pid_t kids[5];
	for (int i = 0; i < 5; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			usleep(20000 * (i + 1));
			_exit(10 + i);
		}
	}
	struct timespec rem = {0, 0};
	int first = sleep_once(how, 400, &rem);
	printf("%s (%s): first sleep returned %s\n", how, mode, name_of(first));
	int interrupted = first == EINTR;
	// Sleep out the rest, as a program that wants its full sleep does.
	int err = first;
	for (int tries = 0; err == EINTR && tries < 100; tries++) {
		long ms = how[0] == 'p' ? 50 : rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
		err = sleep_once(how, ms, &rem);
	}
	printf("sleep finished: %s; interrupted at least once: %s\n", name_of(err),
	       interrupted ? "yes" : "no");
	for (int i = 0; i < 5; i++) {
		int status = 0;
		pid_t got;
		do
			got = waitpid(kids[i], &status, 0);
		while (got < 0 && errno == EINTR);
		printf("child %d exited %d\n", i, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	printf("handler ran: %s\n", handled > 0 ? "yes" : "no");
	return 0;
}
