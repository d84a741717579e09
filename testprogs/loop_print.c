/* Prints a numbered line every 50 ms, 400 times. With argument "handle", SIGINT and SIGTERM are caught:
 * the handler notes the signal and the program prints it and exits 5. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t caught;

static void handler(int sig)
{
	caught = sig;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "handle") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (int i = 0; i < 400; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		printf("line %d at %lld.%09ld\n", i, (long long)ts.tv_sec, ts.tv_nsec);
		fflush(stdout);
		struct timespec d = {0, 50 * 1000 * 1000};
		nanosleep(&d, NULL);
		if (caught) {
			printf("caught signal %d after line %d\n", (int)caught, i);
			return 5;
		}
	}
	printf("finished without a signal\n");
	return 0;
}
