/* clone(CLONE_NEWPID | SIGCHLD): the child would be pid 1 of a new pid namespace and its own
 * child pid 2. Prints what clone returned and, when it made a child, the pids the child and
 * its child saw and how they ended. Prints the pid too. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("pid %d\n", getpid());
    long c = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
    if (c == 0) {
        printf("child sees pid %d\n", getpid());
        pid_t g = fork();
        if (g == 0)
            _exit(3);
        int st;
        waitpid(g, &st, 0);
        printf("its child was pid %d, exited %d\n", g, WEXITSTATUS(st));
        _exit(5);
    }
    if (c < 0) {
        printf("clone(CLONE_NEWPID): -1 %s\n", strerror(errno));
        return 0;
    }
    int st;
    waitpid(c, &st, 0);
    printf("clone(CLONE_NEWPID): a child, exited %d\n", WEXITSTATUS(st));
    return 0;
}
