/* Prints, then sends SIGABRT to its whole process group with kill(0, …): dies by SIGABRT
 * (as would the shell's other jobs in that group). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("pid %d aborting the group\n", getpid());
    fflush(stdout);
    kill(0, SIGABRT);
    printf("still here\n");
    return 0;
}
