/* Syscall numbers no kernel has (negative, far past the table): each says ENOSYS. Prints
 * the results and the pid. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long numbers[] = {-10, 5000, 99999};
    for (int i = 0; i < 3; i++) {
        errno = 0;
        long r = syscall(numbers[i]);
        printf("syscall(%ld): %ld (%s)\n", numbers[i], r, strerror(errno));
    }
    printf("pid %d done\n", getpid());
    return 0;
}
