// madvise(MADV_DONTNEED) and mprotect over a range with a hole: both fail with ENOMEM,
// yet change the part that is mapped.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    char *area = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area + 4096, 4096);
    memset(area, 'x', 4096);
    int r = madvise(area, 3 * 4096, MADV_DONTNEED);
    printf("madvise: %d (%s), first byte now %d\n", r, errno == ENOMEM ? "ENOMEM" : "other",
           area[0]);
    r = mprotect(area, 3 * 4096, PROT_READ);
    printf("mprotect: %d (%s); pid %d\n", r, errno == ENOMEM ? "ENOMEM" : "other", getpid());
    return 0;
}
