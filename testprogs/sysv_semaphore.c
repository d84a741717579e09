// SysV semaphores between processes: three children each take the semaphore (semop with
// SEM_UNDO), bump a counter in shared memory and print it, then give the semaphore back;
// a timed wait that times out, and the set read back with GETALL and IPC_STAT.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void change(int id, int num, int by) {
    struct sembuf op = {.sem_num = num, .sem_op = by, .sem_flg = SEM_UNDO};
    if (semop(id, &op, 1) != 0) {
        perror("semop");
        exit(1);
    }
}

int main(void) {
    int id = semget(IPC_PRIVATE, 2, 0600);
    if (id < 0) {
        perror("semget");
        return 1;
    }
    int *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned short start[2] = {1, 5};
    semctl(id, 0, SETALL, start);
    for (int i = 0; i < 3; i++) {
        if (fork() == 0) {
            change(id, 0, -1);
            int seen = ++*counter;
            printf("child %d holds the semaphore, counter %d\n", i, seen);
            fflush(stdout);
            change(id, 1, -1);
            change(id, 0, 1);
            _exit(0);
        }
    }
    for (int i = 0; i < 3; i++)
        wait(NULL);
    struct sembuf take = {.sem_num = 0, .sem_op = -2, .sem_flg = 0};
    struct timespec brief = {0, 20 * 1000 * 1000};
    int r = semtimedop(id, &take, 1, &brief);
    printf("semtimedop for 2: %d (%s)\n", r, r ? (errno == EAGAIN ? "EAGAIN" : "other") : "ok");
    unsigned short now[2];
    semctl(id, 0, GETALL, now);
    struct semid_ds ds;
    semctl(id, 0, IPC_STAT, &ds);
    printf("values %u %u, %lu semaphores, pid %d\n", now[0], now[1], (unsigned long)ds.sem_nsems,
           getpid());
    semctl(id, 0, IPC_RMID);
    return 0;
}
