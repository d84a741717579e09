/* Setting CLOCK_MONOTONIC, which the kernel refuses with EINVAL, and a raw settimeofday that
 * changes nothing (both arguments NULL): prints each result and errno, and the pid. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    errno = 0;
    int r = clock_settime(CLOCK_MONOTONIC, &now);
    printf("pid %d clock_settime(CLOCK_MONOTONIC): %d (%s)\n", getpid(), r, strerror(errno));
    errno = 0;
    r = syscall(SYS_settimeofday, NULL, NULL);
    printf("settimeofday(NULL, NULL): %d (%s)\n", r, strerror(errno));
    return 0;
}
