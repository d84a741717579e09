/* prctl(PR_GET_TSC): the timestamp counter mode a program sees (PR_TSC_ENABLE, 1, unless it
 * asked otherwise), then an rdtsc that must not fault. Prints the pid too. */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <x86intrin.h>

int main(void) {
    int mode = -1;
    int r = prctl(PR_GET_TSC, &mode);
    printf("pid %d PR_GET_TSC: %d, tsc mode: %d\n", getpid(), r, mode);
    r = prctl(PR_SET_TSC, PR_TSC_ENABLE);
    printf("PR_SET_TSC(PR_TSC_ENABLE): %d\n", r);
    printf("rdtsc is nonzero: %d\n", __rdtsc() != 0);
    return 0;
}
