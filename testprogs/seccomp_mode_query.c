/* prctl(PR_GET_SECCOMP) from a program that installed no filter: prints the mode (0 when
 * run directly from a shell without one) and the pid. */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
    int mode = prctl(PR_GET_SECCOMP);
    printf("pid %d seccomp mode: %d\n", getpid(), mode);
    return 0;
}
