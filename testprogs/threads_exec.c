/* exec in a process with threads: a thread other than the main one execs /bin/echo while
 * another sleeps in pause() and the main one waits to join it; the exec ends both. Were
 * the exec to fail, the main thread would exec instead. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *sleeper(void *a)
{
	(void)a;
	for (;;)
		pause();
	return NULL;
}

static void *exec_from_thread(void *a)
{
	(void)a;
	char *argv[] = {"/bin/echo", "exec from a thread", NULL};
	execv(argv[0], argv);
	printf("exec from a thread failed: %s\n", strerror(errno));
	return NULL;
}

int main(void)
{
	pthread_t s, t;
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_create(&s, NULL, sleeper, NULL);
	pthread_create(&t, NULL, exec_from_thread, NULL);
	pthread_join(t, NULL);
	char *argv[] = {"/bin/echo", "exec from main", NULL};
	execv(argv[0], argv);
	return 1;
}
