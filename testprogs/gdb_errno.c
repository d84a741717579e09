/* For the gdb tests: errno set by failing calls in two threads, each then calling a
 * function where gdb stops; `print errno` there must show the thread's own value. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) void seen(int value)
{
	printf("errno=%d\n", value);
	fflush(stdout);
}

static void *other(void *arg)
{
	(void)arg;
	/* EBADF in this thread. */
	if (close(-1) < 0)
		seen(errno);
	return NULL;
}

int main(void)
{
	/* ENOENT in the main thread. */
	if (open("/nonexistent/gdb_errno", O_RDONLY) < 0)
		seen(errno);
	pthread_t t;
	pthread_create(&t, NULL, other, NULL);
	pthread_join(t, NULL);
	seen(errno);
	return 0;
}
