/* Signals aimed at threads, and threads ending in every way:
 *   a worker with SIGUSR1 unblocked gets pthread_kill'd by main (which blocks it);
 *   a worker blocked in read() on a pipe is woken by a write from another thread;
 *   main ends with pthread_exit while a worker still prints, and that worker then
 *   ends the process with exit_group while another worker is still blocked in read(). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static int pipe_fds[2];
static int never[2];

static void on_usr1(int sig)
{
	(void)sig;
	got++;
}

static void *receiver(void *arg)
{
	(void)arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!got)
		pause();
	printf("receiver got SIGUSR1 %d time(s)\n", (int)got);
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	char buf[32] = {0};
	ssize_t n = read(pipe_fds[0], buf, sizeof buf - 1);
	printf("reader read %zd bytes: %s\n", n, buf);
	return NULL;
}

static void *blocked_forever(void *arg)
{
	(void)arg;
	char c;
	read(never[0], &c, 1); /* ends only with the process */
	return NULL;
}

static void *last_one(void *arg)
{
	pthread_t main_thread = *(pthread_t *)arg;
	(void)main_thread;
	usleep(1000);
	printf("last thread still running after main's pthread_exit\n");
	fflush(stdout);
	exit(3); /* exit_group with another thread blocked in read() */
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by the threads made below */
	if (pipe(pipe_fds) || pipe(never))
		return 1;

	pthread_t r, w;
	pthread_create(&r, NULL, receiver, NULL);
	pthread_create(&w, NULL, reader, NULL);
	usleep(1000);
	pthread_kill(r, SIGUSR1);
	pthread_join(r, NULL);
	write(pipe_fds[1], "hello", 5);
	pthread_join(w, NULL);

	pthread_t b, l;
	static pthread_t self;
	self = pthread_self();
	pthread_create(&b, NULL, blocked_forever, NULL);
	pthread_create(&l, NULL, last_one, &self);
	printf("main leaves with pthread_exit\n");
	pthread_exit(NULL);
}
