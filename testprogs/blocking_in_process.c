/* Calls that block, in a process with one thread (or, with the argument `threaded`, with a
 * second thread that waits on a condition variable until the end, SIGALRM blocked): reads of a pipe that wait for a child
 * (which writes only once /proc shows the parent asleep in read, and waits for its reply), a read cut short by a
 * SIGALRM handler without SA_RESTART (EINTR), one with SA_RESTART that goes on until data
 * comes, sleeps and a poll that times out. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int alarms;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;
static volatile pid_t idle_tid;

static void *idle(void *arg)
{
	(void)arg;
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	pthread_mutex_lock(&lock);
	idle_tid = gettid();
	while (!done)
		pthread_cond_wait(&done_cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void on_alarm(int s)
{
	(void)s;
	alarms++;
}

/* Waits until the thread whose /proc/.../syscall is `path` sleeps inside syscall `nr`. */
static void wait_until_in(const char *path, int nr)
{
	char buf[128], want[16];
	snprintf(want, sizeof want, "%d ", nr);
	for (int tries = 0; tries < 20000; tries++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = 0;
		if (strncmp(buf, want, strlen(want)) == 0)
			return;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "%s never showed syscall %d\n", path, nr);
	exit(2);
}

/* Waits until process `pid` sleeps inside a read (syscall 0). */
static void wait_until_reading(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/syscall", pid);
	wait_until_in(path, 0);
}

static void arm(int restart)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 0}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_t t;
	int threaded = argc > 1 && strcmp(argv[1], "threaded") == 0;
	if (threaded) {
		/* The reads below should find the second thread already asleep in its futex,
		 * not starting up (and wanting a turn) while they wait. */
		pthread_create(&t, NULL, idle, NULL);
		while (idle_tid == 0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%d/syscall", idle_tid);
		wait_until_in(path, 202);
	}
	int p[2], ack[2];
	if (pipe(p) != 0 || pipe(ack) != 0)
		return 1;
	pid_t parent = getpid();
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 3; i++) {
			wait_until_reading(parent);
			char msg[16];
			int n = snprintf(msg, sizeof msg, "ping %d", i);
			write(p[1], msg, n);
			read(ack[0], msg, 1);
		}
		_exit(0);
	}
	for (int i = 0; i < 3; i++) {
		char buf[32];
		ssize_t n = read(p[0], buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = 0;
		printf("read %zd \"%s\"\n", n, buf);
		write(ack[1], "k", 1);
	}
	char buf[32];
	arm(0);
	ssize_t n = read(p[0], buf, sizeof buf);
	printf("without SA_RESTART: read %zd (%s), handler ran %d\n", n,
	       n < 0 ? strerror(errno) : "data", alarms);
	/* The writer starts before the timer: a fork under recording can take longer than
	 * the timer, whose signal must find the read asleep. */
	if (fork() == 0) {
		struct timespec ts = {0, 400000000};
		nanosleep(&ts, NULL);
		write(p[1], "late", 4);
		_exit(0);
	}
	arm(1);
	n = read(p[0], buf, sizeof buf);
	printf("with SA_RESTART: read %zd, handler ran %d\n", n, alarms);
	for (int i = 0; i < 3; i++) {
		struct timespec ts = {0, 5000000}, rem;
		printf("nanosleep %d\n", nanosleep(&ts, &rem));
	}
	struct pollfd pfd = {p[0], POLLIN, 0};
	for (int i = 0; i < 3; i++)
		printf("poll %d\n", poll(&pfd, 1, 10));
	if (threaded) {
		pthread_mutex_lock(&lock);
		done = 1;
		pthread_cond_signal(&done_cond);
		pthread_mutex_unlock(&lock);
		pthread_join(t, NULL);
		printf("joined\n");
	}
	printf("pid %d\n", getpid());
	return 0;
}
