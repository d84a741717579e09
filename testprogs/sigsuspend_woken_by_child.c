// sigsuspend ended by a child's kill, twenty times over: the parent blocks SIGUSR1, forks,
// and waits for it in sigsuspend; the child sends it and exits.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t woken;

static void on_usr1(int sig) {
    (void)sig;
    woken++;
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    sigset_t usr1, before;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, &before);
    int suspends = 0;
    for (int round = 0; round < 20; round++) {
        int goal = woken + 1;
        pid_t child = fork();
        if (child == 0) {
            kill(getppid(), SIGUSR1);
            _exit(0);
        }
        while (woken < goal) {
            sigsuspend(&before);
            suspends++;
        }
        waitpid(child, NULL, 0);
    }
    printf("woken %d times, sigsuspend returned %d times\n", (int)woken, suspends);
    printf("pid %d\n", getpid());
    return 0;
}
