/* For the gdb tests: a loop writes each slot of a MAP_SHARED mapping once, with a traced
 * call each round (so checkpoints lie all along); going back must see the slots after the
 * one reached still unwritten. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 60

long *slots;

void mark(long i)
{
	(void)i;
}

int main(void)
{
	slots = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return 1;
	for (long i = 1; i < SLOTS; i++) {
		slots[i] = i * 7;
		getppid();
		mark(i);
	}
	printf("slot 10 %ld slot 50 %ld\n", slots[10], slots[50]);
	return 0;
}
