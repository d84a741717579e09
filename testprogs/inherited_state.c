// Prints the signal state and umask the program was started with: which signals are
// ignored (SIG_IGN), which are blocked, and the umask; then its pid. With the argument
// `raise` it also raises SIGINT and SIGHUP and says it survived them (it dies unless they
// are ignored or blocked).
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	sigset_t blocked;
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	printf("ignored:");
	for (int s = 1; s < 65; s++) {
		struct sigaction sa;
		if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			printf(" %d", s);
	}
	printf("\nblocked:");
	for (int s = 1; s < 65; s++)
		if (sigismember(&blocked, s) == 1)
			printf(" %d", s);
	mode_t mask = umask(0);
	umask(mask);
	printf("\numask: %03o\n", (unsigned)mask);
	if (argc > 1 && strcmp(argv[1], "raise") == 0) {
		fflush(stdout);
		raise(SIGINT);
		raise(SIGHUP);
		printf("survived SIGINT and SIGHUP\n");
	}
	printf("pid %d\n", (int)getpid());
	return 0;
}
