// Group stops: a child stops itself with SIGSTOP and stays stopped (the parent sees it
// has not exited after a while, then sees the stop with WUNTRACED), until the parent
// sends SIGCONT; a second child is stopped by its parent and killed while stopped.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct timespec nap = {0, 50 * 1000 * 1000};
    pid_t child = fork();
    if (child == 0) {
        raise(SIGSTOP);
        printf("child continues after SIGCONT\n");
        fflush(stdout);
        _exit(7);
    }
    nanosleep(&nap, NULL);
    int status = -1;
    printf("WNOHANG after a while: %d\n", waitpid(child, &status, WNOHANG));
    waitpid(child, &status, WUNTRACED);
    printf("stopped: %d by %d\n", WIFSTOPPED(status), WSTOPSIG(status));
    fflush(stdout);
    kill(child, SIGCONT);
    waitpid(child, &status, 0);
    printf("then exited with %d\n", WEXITSTATUS(status));

    pid_t second = fork();
    if (second == 0) {
        for (;;)
            pause();
    }
    kill(second, SIGSTOP);
    waitpid(second, &status, WUNTRACED);
    printf("second child stopped: %d; pid %d\n", WIFSTOPPED(status), getpid());
    kill(second, SIGKILL);
    waitpid(second, &status, 0);
    printf("killed while stopped: %d\n", WTERMSIG(status));
    return 0;
}
