// A program that leaves a daemon behind: its child forks a grandchild that starts a
// session of its own (setsid), tells the program it is ready, and sleeps for ever; the
// program and its child exit.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        if (fork() == 0) {
            setsid();
            write(ready[1], "d", 1);
            for (;;)
                sleep(1000);
        }
        _exit(0);
    }
    waitpid(child, NULL, 0);
    char c = 0;
    read(ready[0], &c, 1);
    printf("the daemon said %c; pid %d\n", c, getpid());
    return 0;
}
