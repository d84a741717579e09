/* Makes in-process calls (getppid, access of a marker file, a 5 ms nanosleep) round after
 * round, with no ptrace stop, until the marker file named by argv[1] appears (at most
 * 4000 rounds); then says how many rounds it made. A log that is streamed while the
 * program runs has these calls before the program's next stop. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	long rounds = 0, sum = 0;
	while (rounds < 4000 && access(argv[1], F_OK) != 0) {
		sum += getppid();
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
		rounds++;
	}
	printf("saw the marker after %s rounds\n", rounds > 0 && sum > 0 ? "some" : "no");
	return rounds < 4000 ? 0 : 1;
}
