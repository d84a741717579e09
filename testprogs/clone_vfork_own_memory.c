/* clone(CLONE_VFORK | SIGCHLD) without CLONE_VM: the parent waits until the child is done,
 * but the child writes its own copy of the memory. The first child changes a global and
 * exits 5, the second execs /bin/true; the parent prints the global and both statuses. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int shared_looking = 1;
static char stack[64 * 1024] __attribute__((aligned(16)));

static int change_and_exit(void *arg) {
    (void)arg;
    shared_looking = 99;
    _exit(5);
}

static int exec_true(void *arg) {
    execl((char *)arg, (char *)arg, (char *)NULL);
    _exit(127);
}

int main(void) {
    int status;
    pid_t c = clone(change_and_exit, stack + sizeof(stack), CLONE_VFORK | SIGCHLD, NULL);
    waitpid(c, &status, 0);
    printf("pid %d first child exited %d, global still %d\n", getpid(), WEXITSTATUS(status),
           shared_looking);
    c = clone(exec_true, stack + sizeof(stack), CLONE_VFORK | SIGCHLD, "/bin/true");
    waitpid(c, &status, 0);
    printf("second child (exec of /bin/true) exited %d\n", WEXITSTATUS(status));
    return 0;
}
