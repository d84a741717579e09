// Robust mutexes whose owner died: a thread that ends holding one, and a child process
// killed while holding one in shared memory; the next locker gets EOWNERDEAD each time.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t *mutex;

static void *hold_and_end(void *arg) {
    (void)arg;
    pthread_mutex_lock(mutex);
    return NULL;
}

static const char *name(int r) {
    return r == EOWNERDEAD ? "EOWNERDEAD" : r == 0 ? "ok" : "other";
}

int main(void) {
    mutex = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(mutex, &attr);

    pthread_t t;
    pthread_create(&t, NULL, hold_and_end, NULL);
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(mutex);
    printf("after the thread ended: %s\n", name(r));
    pthread_mutex_consistent(mutex);
    pthread_mutex_unlock(mutex);

    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        pthread_mutex_lock(mutex);
        write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    read(ready[0], &c, 1);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    r = pthread_mutex_lock(mutex);
    printf("after the child was killed: %s; pid %d\n", name(r), getpid());
    pthread_mutex_consistent(mutex);
    pthread_mutex_unlock(mutex);
    return 0;
}
