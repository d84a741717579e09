// ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF every 5 ms while main counts in a loop
// without syscalls, until each has fired three times: several signals land in the loop at
// once.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t real_fired, virtual_fired, prof_fired;

static void on_timer(int sig) {
    if (sig == SIGALRM)
        real_fired++;
    else if (sig == SIGVTALRM)
        virtual_fired++;
    else
        prof_fired++;
}

int main(void) {
    signal(SIGALRM, on_timer);
    signal(SIGVTALRM, on_timer);
    signal(SIGPROF, on_timer);
    struct itimerval every = {{0, 5000}, {0, 5000}}, off;
    memset(&off, 0, sizeof off);
    setitimer(ITIMER_REAL, &every, NULL);
    setitimer(ITIMER_VIRTUAL, &every, NULL);
    setitimer(ITIMER_PROF, &every, NULL);
    volatile unsigned long passes = 0;
    while (real_fired < 3 || virtual_fired < 3 || prof_fired < 3)
        passes++;
    setitimer(ITIMER_REAL, &off, NULL);
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    setitimer(ITIMER_PROF, &off, NULL);
    printf("each timer fired at least 3 times\n");
    printf("pid %d\n", getpid());
    return 0;
}
