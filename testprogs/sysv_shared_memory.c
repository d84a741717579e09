// A SysV shared memory segment: attached twice in the parent (both attachments see one
// write), written by a forked child through its inherited attachment, attached again in
// the child after a fork, detached after part of it was unmapped, and its state read with
// shmctl(IPC_STAT).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (3 * 4096 - 100)

int main(void) {
    int id = shmget(IPC_PRIVATE, SIZE, 0600);
    if (id < 0) {
        perror("shmget");
        return 1;
    }
    char *a = shmat(id, NULL, 0);
    char *b = shmat(id, NULL, 0);
    strcpy(a, "written through the first attachment");
    printf("second attachment reads: %s\n", b);
    pid_t child = fork();
    if (child == 0) {
        strcpy(a + 5000, "the child was here");
        char *c = shmat(id, NULL, SHM_RDONLY);
        printf("child's own attachment reads: %s\n", c);
        fflush(stdout);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    printf("after the child: %s\n", b + 5000);
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    printf("segment of %zu bytes, %lu attachments, pid %d\n", (size_t)ds.shm_segsz,
           (unsigned long)ds.shm_nattch, getpid());
    munmap(b, 4096);
    printf("shmdt after a partial munmap: %d\n", shmdt(b));
    printf("shmdt of the first: %d\n", shmdt(a));
    char *again = shmat(id, NULL, 0);
    printf("attached again: %s / %s\n", again, again + 5000);
    shmdt(again);
    shmctl(id, IPC_RMID, NULL);
    return 0;
}
