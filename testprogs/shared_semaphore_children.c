/* Processes that share memory and lock it with a semaphore in it: three forked children
 * each add 1 to a counter in MAP_SHARED anonymous memory 2000 times, with a read, a
 * pause and a write that race unless a process-shared POSIX semaphore (sem_t in the same
 * memory: futexes across processes) guards them. Each child also notes, in the shared
 * memory, the order in which it took the semaphore for the last time. The parent prints
 * the count (6000 when the lock works), that order, and a random number. */
#include <semaphore.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 3
#define ROUNDS 2000

struct shared {
	sem_t lock;
	volatile long count;
	int finished;
	int order[CHILDREN];
};

int main(void)
{
	struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED || sem_init(&s->lock, 1, 1) != 0)
		return 1;
	for (int c = 0; c < CHILDREN; c++) {
		if (fork() == 0) {
			for (int i = 0; i < ROUNDS; i++) {
				sem_wait(&s->lock);
				long v = s->count;
				if (i % 500 == 0)
					usleep(100); /* another child wants the lock meanwhile */
				s->count = v + 1;
				if (i == ROUNDS - 1)
					s->order[s->finished++] = c;
				sem_post(&s->lock);
			}
			_exit(0);
		}
	}
	for (int c = 0; c < CHILDREN; c++)
		wait(NULL);
	unsigned r;
	getrandom(&r, sizeof r, 0);
	printf("count %ld, finished in order %d %d %d, random %u\n", s->count, s->order[0], s->order[1],
	       s->order[2], r);
	return 0;
}
