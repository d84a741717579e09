/* A reader thread blocks in read() on a pipe that the main thread fills only after a
 * while of calls that run in-process: the blocked read must not hold up the writer. Each
 * message carries the writer's clock, so the output differs from run to run. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG 32

static int p[2];
static char got[8][MSG + 1];

static void *reader(void *arg)
{
	(void)arg;
	/* Messages have a fixed size: two that arrive together are still told apart. */
	for (int i = 0; i < 8; i++) {
		for (size_t have = 0; have < MSG;) {
			ssize_t n = read(p[0], got[i] + have, MSG - have);
			if (n <= 0)
				return NULL;
			have += (size_t)n;
		}
	}
	return NULL;
}

int main(void)
{
	if (pipe(p) != 0)
		return 1;
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	for (int i = 0; i < 8; i++) {
		struct timespec ts;
		for (int k = 0; k < 2000; k++)
			clock_gettime(CLOCK_MONOTONIC, &ts);
		char msg[MSG + 1];
		memset(msg, 0, sizeof msg);
		snprintf(msg, sizeof msg, "message %d at %ld", i, ts.tv_nsec);
		if (write(p[1], msg, MSG) != MSG)
			return 2;
		struct timespec nap = {0, 2000000};
		nanosleep(&nap, NULL);
	}
	pthread_join(t, NULL);
	for (int i = 0; i < 8; i++)
		printf("%s\n", got[i]);
	return 0;
}
