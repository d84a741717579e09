// Runs a program with some signals ignored, blocked or at their default and a given umask,
// as a parent (nohup, a shell's trap, CI) hands them down.
// Usage: with_signals [ignore SIG | block SIG | default SIG | umask OCTAL]... -- PROG ARGS...
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int i = 1;
	sigset_t mask;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
		int sig = atoi(argv[i + 1]);
		if (strcmp(argv[i], "ignore") == 0)
			signal(sig, SIG_IGN);
		else if (strcmp(argv[i], "default") == 0)
			signal(sig, SIG_DFL);
		else if (strcmp(argv[i], "block") == 0)
			sigaddset(&mask, sig);
		else if (strcmp(argv[i], "umask") == 0)
			umask((mode_t)strtol(argv[i + 1], NULL, 8));
		else {
			fprintf(stderr, "with_signals: unknown %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
		fprintf(stderr, "usage: with_signals [ignore|block|default SIG | umask OCTAL]... -- PROG ARGS...\n");
		return 2;
	}
	sigprocmask(SIG_SETMASK, &mask, NULL);
	execvp(argv[i + 1], argv + i + 1);
	perror("with_signals: exec");
	return 127;
}
