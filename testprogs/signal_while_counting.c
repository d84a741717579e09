// Asynchronous signals while the program computes: SIGALRM (with a handler) lands in a
// loop that counts in memory and writes a line now and then; SIGCHLD (default action,
// ignored) arrives while the parent counts without any syscall.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int alarms;
static volatile unsigned long counter;

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    struct itimerval every = {{0, 30 * 1000}, {0, 30 * 1000}};
    setitimer(ITIMER_REAL, &every, NULL);
    while (alarms < 3) {
        counter++;
        if (counter % (1 << 22) == 0)
            write(1, ".", 1);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("\nthree alarms, counter %lu\n", counter);

    pid_t child = fork();
    if (child == 0)
        _exit(3);
    for (unsigned long i = 0; i < (1ul << 27); i++)
        counter += i & 1;
    int status;
    waitpid(child, &status, 0);
    printf("child exited %d while the parent counted to %lu; pid %d\n", WEXITSTATUS(status),
           counter, getpid());
    return 0;
}
